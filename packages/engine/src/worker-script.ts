import { existsSync } from 'fs';
import * as path from 'path';
import { ModelError } from '@diff2s/core';

/**
 * Locate a compiled worker script of the engine (`rel` is its path under `dist/`, e.g. `ortrain/worker.js`), or throw
 * a clear error saying to build the package. From the built package that is the file under this module's folder;
 * when the engine runs from its TypeScript sources (jest), the script is taken from the package's `dist/`.
 */
export function engineWorkerScript(rel: string, what: string): string {
  const candidates = [path.resolve(__dirname, rel), path.resolve(__dirname, '../dist', rel)];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new ModelError(`the ${what} script is missing (looked in ${candidates.join(', ')}); build the engine first: npx tsc -b packages/engine`);
  return found;
}
