/**
 * Data-parallel gradients over `worker_threads`: tfjs runs the wasm backend on one thread in Node, so the batch is
 * split across workers (each its own tfjs engine and wasm instance, 4 GB heap each), each computes the loss and
 * gradient of its part, and the results are averaged weighted by part size — equal to the full-batch gradient
 * because the loss is normalised by a count that does not depend on the split (see TfjsNetwork.lossAndGrads).
 *
 * Weights travel through one SharedArrayBuffer (copied in once per call, read by every worker); gradients come back
 * as transferred buffers.
 *
 * Worker script: the workers run `dist/tfjs/parallel/grad-worker.js` (plain JS, compiled by `tsc -b packages/engine`).
 * From the built package that is the file next to this one; when this module runs from TypeScript sources (jest),
 * the script is looked up in the package's `dist/` — so build first (`pnpm test` runs the build before jest).
 */
import { Worker } from 'worker_threads';
import { InputError, ModelError, Tensor4 } from '@diff2s/core';
import type { NetworkDef } from '../../net/def';
import { paramCount } from '../../net/def';
import { flattenWeights, weightViews, type LossAndGrads, type LossKind, type TrainBatch, type WeightMap } from '../../net/types';
import { engineWorkerScript } from '../../worker-script';
import type { BackendInfo, BackendRequest } from '../backend';
import type { FromWorker, GradMessage, PlainTensor, ToWorker } from './protocol';

/** Options of {@link ParallelGradient.create}. */
export interface ParallelGradientOptions {
  /** Number of workers (default 2: one per core of the reference machine). */
  workers?: number;
  /** Backend inside the workers (default `wasm`). */
  backend?: BackendRequest;
  /** Path of the worker script (default: dist/tfjs/parallel/grad-worker.js, see the module doc). */
  script?: string;
}

/** Locate the compiled worker script, or throw a clear error saying to build the package. */
export function gradWorkerScript(): string {
  return engineWorkerScript('tfjs/parallel/grad-worker.js', 'gradient worker');
}

interface Pending {
  resolve(r: { loss: number; grads: Float32Array }): void;
  reject(e: Error): void;
}

class GradWorker {
  readonly worker: Worker;
  private pending = new Map<number, Pending>();
  private ready?: { resolve(b: BackendInfo): void; reject(e: Error): void };
  private failed?: Error;

  constructor(script: string) {
    this.worker = new Worker(script);
    this.worker.on('message', (m: FromWorker) => this.onMessage(m));
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', (code) => { if (code !== 0) this.fail(new Error(`gradient worker exited with code ${code}`)); });
  }

  private fail(e: Error): void {
    this.failed = e;
    this.ready?.reject(e);
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private onMessage(m: FromWorker): void {
    if (m.type === 'ready') {
      this.ready?.resolve(m.backend);
      this.ready = undefined;
    } else if (m.type === 'result') {
      this.pending.get(m.id)?.resolve({ loss: m.loss, grads: m.grads });
      this.pending.delete(m.id);
    } else {
      const err = new ModelError(`gradient worker: ${m.message}`);
      if (m.id !== undefined && this.pending.has(m.id)) {
        this.pending.get(m.id)!.reject(err);
        this.pending.delete(m.id);
      } else {
        this.fail(err);
      }
    }
  }

  init(msg: ToWorker): Promise<BackendInfo> {
    return new Promise((resolve, reject) => {
      this.ready = { resolve, reject };
      this.worker.postMessage(msg);
    });
  }

  grad(msg: GradMessage): Promise<{ loss: number; grads: Float32Array }> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.pending.set(msg.id, { resolve, reject });
      this.worker.postMessage(msg);
    });
  }

  async close(): Promise<void> {
    const exited = new Promise<void>((r) => this.worker.once('exit', () => r()));
    try {
      this.worker.postMessage({ type: 'close' } satisfies ToWorker);
    } catch {
      /* already gone */
    }
    const timer = setTimeout(() => void this.worker.terminate(), 2000);
    await exited;
    clearTimeout(timer);
  }
}

function plain(t: Tensor4, start: number, count: number): PlainTensor {
  const s = t.imageSize;
  return { shape: [count, t.c, t.h, t.w], data: t.data.slice(start * s, (start + count) * s) };
}

/**
 * A gradient function of (weights, batch) evaluated by several workers in parallel (data parallelism).
 * `lossAndGrads(weights, batch)` returns what `TfjsNetwork.lossAndGrads` returns on the whole batch.
 */
export class ParallelGradient {
  private nextId = 1;
  private closed = false;
  private readonly shared: Float32Array;

  private constructor(
    readonly def: NetworkDef,
    private readonly workers: GradWorker[],
    sab: SharedArrayBuffer,
    /** Backend each worker runs. */
    readonly backends: BackendInfo[],
  ) {
    this.shared = new Float32Array(sab);
  }

  /** Start the workers (each initialises its own engine). */
  static async create(def: NetworkDef, options: ParallelGradientOptions = {}): Promise<ParallelGradient> {
    const n = options.workers ?? 2;
    if (!Number.isInteger(n) || n < 1) throw new InputError(`workers must be a positive integer, got ${n}`);
    const script = options.script ?? gradWorkerScript();
    const sab = new SharedArrayBuffer(paramCount(def) * 4);
    const workers = Array.from({ length: n }, () => new GradWorker(script));
    try {
      const backends = await Promise.all(workers.map((w) => w.init({ type: 'init', def, backend: options.backend ?? 'wasm', weights: sab })));
      return new ParallelGradient(def, workers, sab, backends);
    } catch (err) {
      await Promise.all(workers.map((w) => w.close()));
      throw err;
    }
  }

  /** Number of workers. */
  get size(): number {
    return this.workers.length;
  }

  /**
   * Loss and gradients of `weights` on `batch`, the batch split in contiguous parts over the workers (fewer
   * workers when the batch is smaller), results averaged with weights part/N.
   */
  async lossAndGrads(weights: WeightMap, batch: TrainBatch, loss: LossKind = 'mse'): Promise<LossAndGrads> {
    if (this.closed) throw new ModelError('ParallelGradient was disposed');
    flattenWeights(this.def, weights, this.shared);
    const N = batch.input.n;
    if (N < 1) throw new InputError('empty batch');
    const k = Math.min(this.workers.length, N);
    const parts: { start: number; count: number }[] = [];
    let start = 0;
    for (let i = 0; i < k; i++) {
      const count = Math.floor(N / k) + (i < N % k ? 1 : 0);
      parts.push({ start, count });
      start += count;
    }
    const results = await Promise.all(parts.map((p, i) => this.workers[i].grad({
      type: 'grad',
      id: this.nextId++,
      input: plain(batch.input, p.start, p.count),
      noise: batch.noise.slice(p.start, p.start + p.count),
      target: plain(batch.target, p.start, p.count),
      weight: batch.weight ? plain(batch.weight, p.start, p.count) : undefined,
      loss,
    })));
    const acc = new Float32Array(this.shared.length);
    let lossSum = 0;
    results.forEach((r, i) => {
      const f = parts[i].count / N;
      lossSum += f * r.loss;
      const g = r.grads;
      for (let j = 0; j < acc.length; j++) acc[j] += f * g[j];
    });
    return { loss: lossSum, grads: weightViews(this.def, acc) };
  }

  /** Stop the workers. */
  async dispose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
