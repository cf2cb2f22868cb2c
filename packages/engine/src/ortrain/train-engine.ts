/**
 * The onnxruntime implementation of the training job's {@link TrainStepEngine}: the whole step — forward, masked
 * loss, backward and the Adam update — as one graph run in a worker thread ({@link OrtTrainerWorker}).
 */
import type { NetworkDef } from '../net/def';
import type { TrainBatch } from '../net/types';
import type { Adam } from '../train/adam';
import type { TrainEngineOptions, TrainStepEngine } from '../train/engine';
import { OrtTrainerWorker } from './worker-client';

export class OrtTrainEngine implements TrainStepEngine {
  readonly engine = 'onnx' as const;
  readonly backend: string;

  private constructor(private readonly worker: OrtTrainerWorker) {
    this.backend = worker.describe();
  }

  /** Start the worker (its trainer probes the NCHWc fast path); Adam's hyper-parameters are built into the graph. */
  static async create(def: NetworkDef, options: Omit<TrainEngineOptions, 'engine'> = {}): Promise<OrtTrainEngine> {
    return new OrtTrainEngine(await OrtTrainerWorker.create(def, { beta1: options.beta1, beta2: options.beta2, eps: options.eps }));
  }

  get summary(): string {
    return this.backend;
  }

  async step(params: Float32Array, adam: Adam, batch: TrainBatch, lr: number): Promise<{ loss: number }> {
    const s = await this.worker.step({ params, m: adam.m, v: adam.v, t: adam.t }, batch, lr);
    params.set(s.params);
    adam.m.set(s.m!);
    adam.v.set(s.v!);
    adam.t++;
    return { loss: s.loss };
  }

  dispose(): Promise<void> {
    return this.worker.dispose();
  }
}
