/**
 * A second fill on another core: the validating guard's held-out hole is filled by the same guide in a worker thread
 * ({@link runGuideInWorker}, dist/guide-worker.js) while the pipeline fills the user's hole, so the guard's stage 1
 * costs no wall time on a machine with a core to spare. Only guides that compute on the CPU from their config alone
 * run there ({@link WORKER_GUIDES}); the result equals what `inpaint()` returns in the pipeline's thread.
 */
import { existsSync } from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { CancelledError, Tensor4 } from '@diff2s/core';
import { PlainError, PlainTensor, plainTensor, reviveError, tensorOf } from './messages';

/** Guides that may fill a hole in the worker: pure CPU code, no files, no models, no engine. */
export const WORKER_GUIDES: ReadonlySet<string> = new Set(['patch', 'harmonic', 'mean', 'nearest', 'constant']);

/** Pipeline → guide worker. */
export interface GuideWorkerRequest {
  /** The pipeline's `guide` config (type and options). */
  guide: { type: string; [key: string]: unknown };
  baseDir: string;
  image: PlainTensor;
  mask: PlainTensor;
  seed: number;
  /** The hole pixels whose fill is used (GuideOptions.focus); default all of them. */
  focus?: PlainTensor;
}

/** Guide worker → pipeline. */
export type GuideWorkerReply =
  | { type: 'result'; stage1: PlainTensor; guideMs: number }
  | { type: 'error'; error: PlainError };

/** The built worker script (dist/guide-worker.js) beside this file or in the package's dist folder; undefined if absent. */
export function guideWorkerScript(): string | undefined {
  return [path.resolve(__dirname, 'guide-worker.js'), path.resolve(__dirname, '../dist/guide-worker.js')].find((p) => existsSync(p));
}

/** The end of the last worker run started (see {@link runGuideInWorker}). */
let queue: Promise<void> = Promise.resolve();

/**
 * Fill `mask`'s hole of `image` ([1,C,H,W], 1 = hole) with the guide `guide` in a worker thread, with the derived
 * streams of `inpaint({ seed, samples: 1 })`. Resolves to stage 1 (known pixels pasted) and the guide's time; rejects
 * with the guide's own error class; an abort of `signal` stops the worker and rejects with {@link CancelledError}.
 * Undefined when the guide cannot run there (not in {@link WORKER_GUIDES}, or the worker script is not built).
 */
export function runGuideInWorker(req: GuideWorkerRequest, signal?: AbortSignal): Promise<{ stage1: Tensor4; guideMs: number }> | undefined {
  const script = WORKER_GUIDES.has(req.guide.type) ? guideWorkerScript() : undefined;
  if (!script) return undefined;
  // one worker at a time (the HD runner starts one per region): the next waits for the previous to end
  const turn = queue;
  const run = turn.then(() => new Promise<{ stage1: Tensor4; guideMs: number }>((resolve, reject) => {
    const worker = new Worker(script);
    let settled = false;
    const settle = (f: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      void worker.terminate();
      f();
    };
    const onAbort = () => settle(() => reject(new CancelledError('cancelled')));
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (m: GuideWorkerReply) => settle(() => (m.type === 'result'
      ? resolve({ stage1: tensorOf(m.stage1), guideMs: m.guideMs })
      : reject(reviveError(m.error)))));
    worker.once('error', (err) => settle(() => reject(err)));
    worker.once('exit', (code) => settle(() => reject(new Error(`the guide worker exited (code ${code}) before its result`))));
    worker.postMessage(req);
  }));
  queue = run.then(() => undefined, () => undefined);
  return run;
}

/** {@link GuideWorkerRequest}'s tensors from the pipeline's (copied into the message). */
export function guideWorkerRequest(guide: GuideWorkerRequest['guide'], baseDir: string, image: Tensor4, mask: Tensor4, seed: number,
  focus?: Tensor4): GuideWorkerRequest {
  return { guide, baseDir, image: plainTensor(image), mask: plainTensor(mask), seed, ...(focus ? { focus: plainTensor(focus) } : {}) };
}
