import { ConfigError, exitCodeFor } from '@diff2s/core';
import { ConfigErrors } from './config/load';

/** Print an error the way the CLI promises: one line per problem, `ERROR: …`; stack only with --debug. */
export function reportError(err: unknown, debug: boolean): number {
  if (err instanceof ConfigErrors) {
    for (const e of err.errors) process.stderr.write(`ERROR: ${e.message}\n`);
  } else if (err instanceof Error) {
    process.stderr.write(`ERROR: ${err.message.split('\n')[0]}\n`);
    if (debug && err.stack) process.stderr.write(`${err.stack}\n`);
    else if (!(err instanceof ConfigError) && exitCodeFor(err) === 1) process.stderr.write('(run with --debug for the stack trace)\n');
  } else {
    process.stderr.write(`ERROR: ${String(err)}\n`);
  }
  return exitCodeFor(err instanceof ConfigErrors ? err.errors[0] : err);
}
