/**
 * {@link OrtTrainerWorker}: an {@link OrtTrainer} in a worker thread. onnxruntime-node's `session.run` blocks the
 * calling thread for the whole step (hundreds of milliseconds); in the worker, the main thread's event loop stays
 * free (progress, signals, HTTP servers). Arrays travel by copy into transferred buffers (≈1 ms per step at the
 * frugal size). The worker runs `dist/ortrain/worker.js` (plain JS, compiled by `tsc -b packages/engine`).
 */
import { Worker } from 'worker_threads';
import { ModelError, Tensor4 } from '@diff2s/core';
import type { NetworkDef } from '../net/def';
import type { TrainBatch } from '../net/types';
import { engineWorkerScript } from '../worker-script';
import type { OrtOptimizerState, OrtStepResult, OrtTrainerOptions } from './session';

/** A batch as plain data (internal). */
export interface PlainBatch {
  input: { shape: [number, number, number, number]; data: Float32Array };
  noise: Float32Array;
  target: { shape: [number, number, number, number]; data: Float32Array };
  weight?: { shape: [number, number, number, number]; data: Float32Array };
}

/** Messages to the worker (internal). */
export type OrtWorkerRequest =
  | { type: 'init'; id: number; def: NetworkDef; options: OrtTrainerOptions }
  | { type: 'step'; id: number; state: OrtOptimizerState; batch: PlainBatch; lr: number }
  | { type: 'grads'; id: number; params: Float32Array; batch: PlainBatch }
  | { type: 'close' };

/** Messages from the worker (internal). */
export type OrtWorkerReply =
  | { type: 'ready'; id: number; description: string; block?: number }
  | { type: 'step'; id: number; loss: number; params: Float32Array; m?: Float32Array; v?: Float32Array }
  | { type: 'grads'; id: number; loss: number; grads: Float32Array }
  | { type: 'error'; id?: number; message: string; stack?: string };

/** Locate the compiled worker script, or throw a clear error saying to build the package. */
export function ortWorkerScript(): string {
  return engineWorkerScript('ortrain/worker.js', 'onnxruntime training worker');
}

const plain = (t: Tensor4) => ({ shape: [t.n, t.c, t.h, t.w] as [number, number, number, number], data: new Float32Array(t.data) });

function plainBatch(b: TrainBatch): PlainBatch {
  return { input: plain(b.input), noise: new Float32Array(b.noise), target: plain(b.target), weight: b.weight ? plain(b.weight) : undefined };
}

function transfers(b: PlainBatch, ...more: (Float32Array | undefined)[]): ArrayBuffer[] {
  return [b.input.data, b.noise, b.target.data, b.weight?.data, ...more].filter((a): a is Float32Array => !!a).map((a) => a.buffer as ArrayBuffer);
}

/** {@link OrtTrainer}'s `step` / `lossAndGrads` in a worker thread (same results, inputs are not modified). */
export class OrtTrainerWorker {
  private readonly pending = new Map<number, { resolve: (r: OrtWorkerReply) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private failed?: Error;
  private closed = false;
  private description = 'onnxruntime';

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: OrtWorkerReply) => {
      const p = m.id !== undefined ? this.pending.get(m.id) : undefined;
      if (!p) return;
      this.pending.delete(m.id!);
      if (m.type === 'error') p.reject(new ModelError(`onnxruntime training worker: ${m.message}`));
      else p.resolve(m);
    });
    worker.on('error', (e) => this.fail(e));
    worker.on('exit', (code) => { if (code !== 0 && !this.closed) this.fail(new Error(`onnxruntime training worker exited with code ${code}`)); });
  }

  private fail(e: Error): void {
    this.failed = new ModelError(`onnxruntime training worker failed: ${e.message}`, { cause: e });
    for (const p of this.pending.values()) p.reject(this.failed);
    this.pending.clear();
  }

  private request(msg: OrtWorkerRequest, transfer: ArrayBuffer[] = []): Promise<OrtWorkerReply> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.closed) return Promise.reject(new ModelError('onnxruntime training worker was closed'));
    return new Promise((resolve, reject) => {
      this.pending.set((msg as { id: number }).id, { resolve, reject });
      this.worker.postMessage(msg, transfer);
    });
  }

  /** Start the worker and create its trainer (probing the NCHWc path as {@link OrtTrainer.create} does). */
  static async create(def: NetworkDef, options: OrtTrainerOptions = {}, script = ortWorkerScript()): Promise<OrtTrainerWorker> {
    const w = new OrtTrainerWorker(new Worker(script));
    try {
      const r = await w.request({ type: 'init', id: w.nextId++, def, options });
      if (r.type === 'ready') w.description = r.description;
      return w;
    } catch (err) {
      await w.dispose();
      throw err;
    }
  }

  /** As {@link OrtTrainer.describe}. */
  describe(): string {
    return `${this.description}, worker thread`;
  }

  /** As {@link OrtTrainer.step}. */
  async step(state: OrtOptimizerState, batch: TrainBatch, lr: number): Promise<OrtStepResult> {
    const s = { params: new Float32Array(state.params), m: state.m && new Float32Array(state.m), v: state.v && new Float32Array(state.v), t: state.t };
    const b = plainBatch(batch);
    const r = await this.request({ type: 'step', id: this.nextId++, state: s, batch: b, lr }, transfers(b, s.params, s.m, s.v));
    if (r.type !== 'step') throw new ModelError(`unexpected reply ${r.type}`);
    return { loss: r.loss, params: r.params, m: r.m, v: r.v };
  }

  /** As {@link OrtTrainer.lossAndGrads}. */
  async lossAndGrads(params: Float32Array, batch: TrainBatch): Promise<{ loss: number; grads: Float32Array }> {
    const p = new Float32Array(params);
    const b = plainBatch(batch);
    const r = await this.request({ type: 'grads', id: this.nextId++, params: p, batch: b }, transfers(b, p));
    if (r.type !== 'grads') throw new ModelError(`unexpected reply ${r.type}`);
    return { loss: r.loss, grads: r.grads };
  }

  /** Stop the worker (releases its sessions). */
  async dispose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage({ type: 'close' } satisfies OrtWorkerRequest);
    const timer = setTimeout(() => void this.worker.terminate(), 5000);
    await exited;
    clearTimeout(timer);
  }
}
