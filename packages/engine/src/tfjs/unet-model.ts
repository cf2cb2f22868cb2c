/**
 * {@link NativeUNet}: a UNet run by tfjs, at the Tensor4 level — a core `Denoiser` (`predict`) and the
 * encoder / middle / decoder parts the Diff-2sIR refiner needs (structurally the refiner's `UNetParts`).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import * as path from 'path';
import {
  assertSameShape, Conditioning, Denoiser, DenoiserStep, InputError, ModelError, PredictionType, Rng, Tensor4,
} from '@diff2s/core';
import { receptiveField, type NetworkDef, type ReceptiveField } from '../net/def';
import { initWeights } from '../net/init';
import { assertUNetSize, buildUNetInput, noiseLevelFor, sliceBatch } from '../net/input';
import type { WeightMap } from '../net/types';
import { defineUNet, isConditional, resolveUNetConfig, UNetConfig, UNetSpec } from '../net/unet';
import { type ModelCard, readModel } from '../io/model-io';
import { BackendRequest, initEngine } from './backend';
import { fromNHWC, TfjsNetwork, toNHWC } from './network';

/** Skip tensors of one `encode` call, kept on the tfjs side (NHWC). Free with `releaseSkips`. */
export class TfjsSkips {
  constructor(public tensors: Tensor[]) {}
  /** Number of images they belong to. */
  get batch(): number { return this.tensors[0]?.shape[0] ?? 0; }
  dispose(): void {
    for (const t of this.tensors) t.dispose();
    this.tensors = [];
  }
}

/** Options of {@link NativeUNet.create}. */
export interface NativeUNetOptions {
  /** Initial weights (canonical layouts); otherwise initialised from `seed`. */
  weights?: WeightMap;
  /** Seed of the deterministic initialisation (default 0). */
  seed?: number | string | Rng;
  /** Backend request for `initEngine` (default auto). */
  backend?: BackendRequest;
  /** Name for logs. */
  name?: string;
}

/**
 * A UNet (any {@link UNetConfig}) run by tfjs on Tensor4 values.
 *
 * - `predict(xt, step, cond)` — core's Denoiser: builds the input, runs the net, returns the raw prediction
 *   (ε / x₀ / v per `predictionType`) in a buffer reused by the next call.
 * - `encode` / `middle` / `decode` / `releaseSkips` / `encodeMiddlePair` — the refiner's parts API (h₋₁ and h as
 *   Tensor4, skips kept as tfjs tensors in a {@link TfjsSkips}).
 * - `net` — the underlying {@link TfjsNetwork} (NHWC tf tensors, loss + gradients).
 */
export class NativeUNet implements Denoiser {
  /** The engine it runs on (an {@link OnnxUNet} says `onnx`). */
  readonly engine = 'tfjs' as const;
  readonly predictionType: PredictionType;
  readonly conditional: boolean;
  /** How far an output pixel sees (undefined: the whole image); the refiner crops around the hole by it. */
  readonly receptiveField: ReceptiveField | undefined;
  readonly name: string;
  private outBuf?: Tensor4;

  constructor(readonly config: UNetConfig, readonly def: NetworkDef, readonly net: TfjsNetwork, name?: string) {
    this.predictionType = config.predictionType;
    this.conditional = isConditional(config);
    this.name = name ?? `native-unet(${config.layout}, ${config.baseChannels}ch)`;
    this.receptiveField = receptiveField(def);
  }

  /** Initialise the engine and build the network (weights given, or seeded init). */
  static async create(config: UNetSpec | UNetConfig, options: NativeUNetOptions = {}): Promise<NativeUNet> {
    await initEngine({ backend: options.backend });
    const cfg = resolveUNetConfig(config);
    const def = defineUNet(cfg);
    const weights = options.weights ?? initWeights(def, options.seed ?? 0);
    return new NativeUNet(cfg, def, new TfjsNetwork(def, weights), options.name);
  }

  /** The embedding's scalar for a step. */
  noiseLevel(step: DenoiserStep): number {
    return noiseLevelFor(this.config, step);
  }

  /** The network input for (x_t, cond). */
  buildInput(xt: Tensor4, cond?: Conditioning): Tensor4 {
    return buildUNetInput(this.config, xt, cond);
  }

  private checkSize(t: Tensor4): void {
    assertUNetSize(this.def, t.h, t.w);
  }

  private noiseTensor(n: number, level: number | ArrayLike<number>): Tensor {
    if (typeof level === 'number') return tf.fill([n], level, 'float32');
    if (level.length !== n) throw new InputError(`${n} images but ${level.length} noise levels`);
    return tf.tensor1d(Array.from(level), 'float32');
  }

  private withEmb<T>(n: number, level: number | ArrayLike<number>, f: (emb: Tensor[]) => T): T {
    const noise = this.noiseTensor(n, level);
    const emb = this.net.embed(noise);
    try {
      return f(emb);
    } finally {
      noise.dispose();
      for (const e of emb) e.dispose();
    }
  }

  /** Run the whole network on a prepared input [N, inputChannels, H, W] with per-sample (or one) noise level. */
  forwardInput(input: Tensor4, noise: number | ArrayLike<number>, out?: Tensor4): Tensor4 {
    this.checkSize(input);
    const x = toNHWC(input);
    const nz = this.noiseTensor(input.n, noise);
    try {
      const y = this.net.forward(x, nz);
      try {
        return fromNHWC(y, out);
      } finally {
        y.dispose();
      }
    } finally {
      x.dispose();
      nz.dispose();
    }
  }

  /** Denoiser: the raw prediction for x_t at `step` (output buffer reused across calls). */
  async predict(xt: Tensor4, step: DenoiserStep, cond: Conditioning): Promise<Tensor4> {
    const input = this.buildInput(xt, cond);
    this.outBuf = this.forwardInput(input, this.noiseLevel(step), this.outBuf);
    return this.outBuf;
  }

  /** Encoder on a prepared input: h₋₁ (Tensor4) and the skips. */
  encodeInput(input: Tensor4, noise: number | ArrayLike<number>): { h: Tensor4; skips: TfjsSkips } {
    this.checkSize(input);
    return this.withEmb(input.n, noise, (emb) => {
      const x = toNHWC(input);
      try {
        const { h, skips } = this.net.encode(x, emb);
        try {
          return { h: fromNHWC(h), skips: new TfjsSkips(skips) };
        } finally {
          h.dispose();
        }
      } finally {
        x.dispose();
      }
    });
  }

  /** Middle block on h₋₁ [N, hEncChannels, h, w]. */
  middleAt(h: Tensor4, noise: number | ArrayLike<number>): Tensor4 {
    return this.withEmb(h.n, noise, (emb) => {
      const x = toNHWC(h);
      try {
        const y = this.net.middle(x, emb);
        try { return fromNHWC(y); } finally { y.dispose(); }
      } finally {
        x.dispose();
      }
    });
  }

  /** Decoder on h [N, hMidChannels, h, w] and the skips of an encode of the same batch size. */
  decodeAt(h: Tensor4, skips: TfjsSkips, noise: number | ArrayLike<number>, out?: Tensor4): Tensor4 {
    if (skips.tensors.length === 0) throw new ModelError('the skips were released');
    if (skips.batch !== h.n) throw new InputError(`decoder: h has ${h.n} images but the skips ${skips.batch}`);
    return this.withEmb(h.n, noise, (emb) => {
      const x = toNHWC(h);
      try {
        const y = this.net.decode(x, skips.tensors, emb);
        try { return fromNHWC(y, out); } finally { y.dispose(); }
      } finally {
        x.dispose();
      }
    });
  }

  /** Refiner parts API — F_e on (x_t, cond): h₋₁ and skips. */
  async encode(xt: Tensor4, step: DenoiserStep, cond: Conditioning): Promise<{ h: Tensor4; skips: TfjsSkips }> {
    return this.encodeInput(this.buildInput(xt, cond), this.noiseLevel(step));
  }

  /** Refiner parts API — F_m: h₋₁ → h. */
  async middle(h: Tensor4, step: DenoiserStep, _cond?: Conditioning): Promise<Tensor4> {
    return this.middleAt(h, this.noiseLevel(step));
  }

  /** Refiner parts API — F_D: (h, skips) → prediction (a new tensor). */
  async decode(h: Tensor4, skips: TfjsSkips, step: DenoiserStep, _cond?: Conditioning): Promise<Tensor4> {
    return this.decodeAt(h, skips, this.noiseLevel(step));
  }

  /** Free the skips of an encode. */
  releaseSkips(skips: TfjsSkips): void {
    skips.dispose();
  }

  /**
   * Encoder then middle on x_t and on x̄_t as ONE batch of 2N (shared weights): the encoder runs on
   * [input(x_t); input(x̄_t)], `swapAtHm1(a, b)` builds the x_t pass's middle input from the two h₋₁ (a = x_t pass,
   * b = guide pass; return `a` for no swap), then the middle runs on [swapped; b]. Returns the two middle outputs and
   * the skips of the x_t pass.
   */
  async encodeMiddlePair(
    xt: Tensor4, guideT: Tensor4, step: DenoiserStep, cond: Conditioning, swapAtHm1: (a: Tensor4, b: Tensor4) => Tensor4,
  ): Promise<{ mid: Tensor4; midGuide: Tensor4; skips: TfjsSkips }> {
    assertSameShape(xt, guideT, 'guide x̄_t');
    const n = xt.n;
    const input = Tensor4.concatBatch([this.buildInput(xt, cond), this.buildInput(guideT, cond)]);
    const level = this.noiseLevel(step);
    const enc = this.encodeInput(input, level);
    // keep the x_t half of the skips
    const skips = new TfjsSkips(enc.skips.tensors.map((s) => tf.slice(s, [0, 0, 0, 0], [n, -1, -1, -1])));
    enc.skips.dispose();
    const a = sliceBatch(enc.h, 0, n);
    const b = sliceBatch(enc.h, n, n);
    const hm1 = swapAtHm1(a, b);
    const mids = this.middleAt(Tensor4.concatBatch([hm1, b]), level);
    return { mid: sliceBatch(mids, 0, n), midGuide: sliceBatch(mids, n, n), skips };
  }

  /** Free the network's tensors. */
  dispose(): void {
    this.net.dispose();
  }
}

/** A model folder loaded on tfjs: the network plus its card. */
export type LoadedTfjsModel = NativeUNet & { card: ModelCard };

/**
 * Load a native model folder (model.json + weights) on tfjs, as a {@link NativeUNet}. `loadModel` (engines.ts) picks
 * the engine; this is its tfjs branch.
 */
export async function loadTfjsModel(dir: string, options: { backend?: BackendRequest } = {}): Promise<LoadedTfjsModel> {
  const { card, weights } = await readModel(dir);
  const model = await NativeUNet.create(card.config, { weights, backend: options.backend, name: `native:${path.basename(dir)}` });
  return Object.assign(model, { card });
}
