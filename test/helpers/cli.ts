import { spawn, spawnSync, SpawnSyncReturns } from 'child_process';
import { tmpdir } from 'os';
import * as path from 'path';

export const ROOT = path.resolve(__dirname, '../..');
export const BIN = path.join(ROOT, 'packages/cli/dist/bin.js');
/** Fitted models of the tests go to a folder of this test process, never to the user's cache. */
export const TEST_CACHE_DIR = path.join(tmpdir(), `diff2s-test-cache-${process.pid}`);

/** Run the built CLI synchronously (the README's `pnpm diff2s …` without pnpm's banner). */
export function runCli(args: string[], opts: { cwd?: string; timeoutMs?: number; env?: Record<string, string> } = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 300000,
    env: { ...process.env, CI: 'true', DIFF2S_CACHE_DIR: TEST_CACHE_DIR, ...opts.env },
  });
}

/** Start the built CLI as a child process. */
export function startCli(args: string[], cwd = ROOT) {
  return spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, CI: 'true', DIFF2S_CACHE_DIR: TEST_CACHE_DIR }, stdio: ['ignore', 'pipe', 'pipe'] });
}
