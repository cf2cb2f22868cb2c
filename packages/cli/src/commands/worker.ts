import { ConfigError, type Diff2sContainer } from '@diff2s/core';
import { startWorker } from '../queue/worker';

export interface WorkerFlags {
  queue: string;
  root?: string[];
  concurrency?: number;
  lockDuration?: number;
  stalledInterval?: number;
  quiet?: boolean;
}

function envMs(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`expected a positive integer (milliseconds) in $${name}, got "${v}"`);
  return n;
}

/**
 * `diff2s worker`: run queued jobs until SIGTERM/SIGINT, which finish the jobs in hand and exit 0 (a second signal
 * exits at once). Lock and stalled-check times: the flags, else $DIFF2S_QUEUE_LOCK_MS / $DIFF2S_QUEUE_STALLED_MS.
 */
export async function workerCommand(flags: WorkerFlags, container: Diff2sContainer): Promise<number> {
  const log = (m: string) => { if (!flags.quiet) process.stderr.write(`${m}\n`); };
  const w = await startWorker({
    queue: flags.queue,
    roots: flags.root && flags.root.length ? flags.root : [process.cwd()],
    concurrency: flags.concurrency,
    lockDuration: flags.lockDuration ?? envMs('DIFF2S_QUEUE_LOCK_MS'),
    stalledInterval: flags.stalledInterval ?? envMs('DIFF2S_QUEUE_STALLED_MS'),
    container,
    log: (m) => (m.includes('ERROR') ? process.stderr.write(`${m}\n`) : log(m)),
  });
  let signals = 0;
  const onSignal = (sig: string) => {
    signals++;
    if (signals > 1) process.exit(130);
    process.stderr.write(`diff2s worker: ${sig}: finishing the current job, then exiting\n`);
    void w.close();
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  await w.closed;
  process.stderr.write(`diff2s worker: stopped after ${w.processed} job(s)\n`);
  return 0;
}
