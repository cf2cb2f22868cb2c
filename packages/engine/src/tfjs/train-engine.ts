/**
 * The tfjs implementation of the training job's {@link TrainStepEngine}: loss and gradients by TensorFlow.js — in
 * process ({@link TfjsNetwork.lossAndGrads}) or split over worker threads ({@link ParallelGradient}) — then the
 * Adam update in JavaScript.
 */
import type { NetworkDef } from '../net/def';
import { paramCount } from '../net/def';
import { flattenWeights, weightViews, type TrainBatch, type WeightMap } from '../net/types';
import type { Adam } from '../train/adam';
import type { TrainEngineOptions, TrainStepEngine } from '../train/engine';
import { describeBackend, initEngine } from './backend';
import { TfjsNetwork } from './network';
import { ParallelGradient } from './parallel/parallel-grad';

export class TfjsTrainEngine implements TrainStepEngine {
  readonly engine = 'tfjs' as const;
  private local?: TfjsNetwork;
  private readonly grads: Float32Array;
  private viewsOf?: { params: Float32Array; views: WeightMap };

  private constructor(
    readonly def: NetworkDef,
    readonly backend: string,
    private readonly parallel: ParallelGradient | undefined,
  ) {
    this.grads = new Float32Array(paramCount(def));
  }

  /** Initialise tfjs (auto backend) and, with `workers` > 1, start the gradient workers (on the same kind of backend). */
  static async create(def: NetworkDef, options: Omit<TrainEngineOptions, 'engine'> = {}): Promise<TfjsTrainEngine> {
    const info = await initEngine({ logger: options.logger });
    const workers = options.workers ?? 1;
    const parallel = workers > 1
      ? await ParallelGradient.create(def, { workers, backend: info.backend === 'tensorflow' ? 'tensorflow' : 'wasm' })
      : undefined;
    return new TfjsTrainEngine(def, describeBackend(info), parallel);
  }

  get summary(): string {
    return `${this.backend}${this.parallel ? `, ${this.parallel.size} workers` : ''}`;
  }

  private views(params: Float32Array): WeightMap {
    if (this.viewsOf?.params !== params) this.viewsOf = { params, views: weightViews(this.def, params) };
    return this.viewsOf.views;
  }

  async step(params: Float32Array, adam: Adam, batch: TrainBatch, lr: number): Promise<{ loss: number }> {
    const views = this.views(params);
    let g;
    if (this.parallel) g = await this.parallel.lossAndGrads(views, batch);
    else {
      if (this.local) this.local.setWeights(views);
      else this.local = new TfjsNetwork(this.def, views);
      g = this.local.lossAndGrads(batch);
    }
    flattenWeights(this.def, g.grads, this.grads);
    adam.step(params, this.grads, lr);
    return { loss: g.loss };
  }

  async dispose(): Promise<void> {
    await this.parallel?.dispose();
    this.local?.dispose();
  }
}
