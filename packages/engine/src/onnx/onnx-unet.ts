/**
 * {@link OnnxUNet}: a native diff2s UNet run by onnxruntime — the same surface as the tfjs `NativeUNet` (a core
 * `Denoiser` plus the refiner's `UNetParts`: encode / middle / decode / releaseSkips / encodeMiddlePair).
 *
 * The ONNX graphs are exported in memory from the model's {@link NetworkDef} and weights (no files are cached: the
 * export is a copy of the weights into protobuf bytes, fast next to session creation, and can never go stale).
 * Sessions are created lazily, each on first use: `encoder`, `middle`, `decoder` for the parts API (inputs and
 * outputs live in JavaScript typed arrays between the parts, where a caller can swap channels); `full` (x, noise →
 * output) for `predict` and one fused `refine` graph per swap setting for {@link OnnxUNet.predictSwapped} (the path
 * the refiner takes, one onnxruntime run per step), both exported with the input size fixed, per size.
 *
 * Buffers: `predict` returns a buffer reused by the next `predict` (core's Denoiser contract); the network input is
 * built into reused buffers; the encoder's outputs (h₋₁ and the skips, the large tensors) are written by
 * onnxruntime into buffers from a small pool, which `releaseSkips` refills. Runs on one instance are serialised (an
 * internal queue), so concurrent callers cannot overwrite each other's input buffers; `predict`'s result is still
 * the shared reused buffer.
 */
import * as path from 'path';
import {
  assertSameShape, Conditioning, Denoiser, DenoiserStep, InputError, ModelError, PredictionType, Rng, Tensor4,
} from '@diff2s/core';
import { receptiveField, type NetworkDef, type ReceptiveField } from '../net/def';
import { initWeights } from '../net/init';
import { assertUNetSize, buildUNetInput, noiseLevelFor, writeUNetInput } from '../net/input';
import type { WeightMap } from '../net/types';
import { defineUNet, imageInputChannels, isConditional, resolveUNetConfig, UNetConfig, UNetSpec } from '../net/unet';
import { ModelCard, readModel } from '../io/model-io';
import {
  buildOnnxModel, buildOnnxRefineModel, exportNetworkToOnnx, ONNX_NAMES, ONNX_REFINE_NAMES, OnnxPartName, onnxPartSignature, OnnxRefineSwap,
} from './export';
import { encodeOnnxModel, OnnxModel } from './proto';
import { loadOrtSession, OrtFeed, OrtLoadOptions, OrtSession } from './ort';

/** Default intra-op threads of OnnxUNet sessions. */
export const ONNX_UNET_DEFAULT_THREADS = 2;

/** Options of {@link OnnxUNet.create} / {@link loadOnnxModel}. */
export interface OnnxUNetOptions {
  /** Initial weights (canonical layouts); otherwise initialised from `seed`. */
  weights?: WeightMap;
  /** Seed of the deterministic initialisation (default 0). */
  seed?: number | string | Rng;
  /** onnxruntime intra-op threads per session (default {@link ONNX_UNET_DEFAULT_THREADS}). */
  intraOpNumThreads?: number;
  /** Other onnxruntime session options (providers, optimisation level, log level). */
  session?: Omit<OrtLoadOptions, 'intraOpNumThreads' | 'name'>;
  /** Create the part sessions (encoder, middle, decoder) at once instead of on first use. */
  eager?: boolean;
  /** Name for logs. */
  name?: string;
}

/** One tensor held in JavaScript: data (possibly a view of a pooled buffer) and NCHW dims. */
export interface OnnxValue {
  data: Float32Array;
  dims: number[];
}

/** The skips of one `encode` (the encoder's outputs after h₋₁), kept as typed arrays. Free with `releaseSkips`. */
export class OnnxSkips {
  /** @internal pooled buffers to return on release. */
  constructor(public values: OnnxValue[], readonly batch: number, readonly owned: Float32Array[]) {}
  get released(): boolean { return this.values.length === 0; }
}

/** A pool of Float32Arrays by length (encoder outputs are the same sizes every step). */
class BufferPool {
  private readonly free = new Map<number, Float32Array[]>();
  take(n: number): Float32Array {
    return this.free.get(n)?.pop() ?? new Float32Array(n);
  }
  give(a: Float32Array): void {
    let l = this.free.get(a.length);
    if (!l) this.free.set(a.length, (l = []));
    if (l.length < 4 && !l.includes(a)) l.push(a);
  }
  clear(): void { this.free.clear(); }
}

const dimsOf = (n: number, c: number, h: number, w: number): number[] => [n, c, h, w];

/** `out` when it has exactly `dims`, else a new tensor (outputs reused from call to call). */
const reuseOr = (out: Tensor4 | undefined, dims: number[]): Tensor4 =>
  (out && out.n === dims[0] && out.c === dims[1] && out.h === dims[2] && out.w === dims[3] ? out : new Tensor4(dims));

/**
 * A UNet (any {@link UNetConfig}) run by onnxruntime on Tensor4 values; see the file comment. Structurally a core
 * `Denoiser` and the refiner's `UNetParts<OnnxSkips>`.
 */
export class OnnxUNet implements Denoiser {
  /** The engine it runs on (a {@link NativeUNet} says `tfjs`). */
  readonly engine = 'onnx' as const;
  readonly predictionType: PredictionType;
  readonly conditional: boolean;
  /** How far an output pixel sees (undefined: the whole image); the refiner crops around the hole by it. */
  readonly receptiveField: ReceptiveField | undefined;
  readonly name: string;
  /** Declared graph inputs per part (`noise` only where the graph uses it). */
  private readonly inputNames: Record<OnnxPartName, Set<string>>;
  private readonly sessions: Partial<Record<OnnxPartName, Promise<OrtSession>>> = {};
  /** Fixed-shape sessions: the fused refine step by swap and shape ({@link predictSwapped}), `full` by shape. */
  private readonly shapedSessions = new Map<string, { session: Promise<OrtSession>; usesNoise: boolean }>();
  private refineOut?: Tensor4;
  private readonly pool = new BufferPool();
  private noiseBuf = new Float32Array(0);
  private readonly inputBufs = new Map<number, Float32Array>();
  private outBuf?: Tensor4;
  private disposed = false;
  /** Serialises runs: input buffers are filled and consumed by onnxruntime under it. */
  private lock: Promise<void> = Promise.resolve();

  /** @param weights canonical-layout weights of `def` (kept for the lazy export of each part). */
  constructor(
    readonly config: UNetConfig,
    readonly def: NetworkDef,
    private readonly weights: WeightMap,
    private readonly options: Omit<OnnxUNetOptions, 'weights' | 'seed'> = {},
  ) {
    this.predictionType = config.predictionType;
    this.conditional = isConditional(config);
    this.name = options.name ?? `onnx-unet(${config.layout}, ${config.baseChannels}ch)`;
    this.receptiveField = receptiveField(def);
    const names = (p: OnnxPartName) => new Set(onnxPartSignature(def, p).inputs.map((s) => s.name));
    this.inputNames = { encoder: names('encoder'), middle: names('middle'), decoder: names('decoder'), full: names('full') };
  }

  /** Build from a config (weights given, or seeded init); with `eager`, the part sessions are created before returning. */
  static async create(config: UNetSpec | UNetConfig, options: OnnxUNetOptions = {}): Promise<OnnxUNet> {
    const cfg = resolveUNetConfig(config);
    const def = defineUNet(cfg);
    const weights = options.weights ?? initWeights(def, options.seed ?? 0);
    const { weights: _w, seed: _s, ...rest } = options;
    const model = new OnnxUNet(cfg, def, weights, rest);
    if (options.eager) await model.prepare();
    return model;
  }

  /**
   * Create the sessions of the given parts (symbolic shapes) now; default the refiner's three parts. `predict` and
   * `predictSwapped` use fixed-shape graphs, created for each input size on first use.
   */
  async prepare(parts: readonly OnnxPartName[] = ['encoder', 'middle', 'decoder']): Promise<void> {
    for (const p of parts) await this.session(p);
  }

  /** The onnxruntime session of one part (exported and created on first use). */
  session(part: OnnxPartName): Promise<OrtSession> {
    if (this.disposed) return Promise.reject(new ModelError(`${this.name} was disposed`));
    let s = this.sessions[part];
    if (!s) {
      s = Promise.resolve().then(() =>
        loadOrtSession(exportNetworkToOnnx(this.def, this.weights, part, { name: this.name }), {
          // the encoder/middle/decoder sessions take turns within a step (a spinning pool would steal the cores the
          // next one needs); `full` runs alone, step after step, like the refine graph
          allowSpinning: part === 'full',
          ...this.options.session,
          intraOpNumThreads: this.options.intraOpNumThreads ?? ONNX_UNET_DEFAULT_THREADS,
          name: `${this.name} ${part}.onnx`,
        }),
      );
      s.catch(() => { if (this.sessions[part] === s) delete this.sessions[part]; });
      this.sessions[part] = s;
    }
    return s;
  }

  /**
   * A session of a graph exported with its input shape fixed — the fused refine step (per swap) and `full` — created
   * on first use; the 3 most recently created are kept (each holds a copy of the weights, ~0.5 GB for the palette
   * UNet). With every shape known, onnxruntime folds the additions and activations after the per-part convolutions
   * into its blocked convolutions (a refinement or a sampler runs hundreds of steps at one size).
   */
  private shapedSession(key: string, build: () => OnnxModel, file: string): { session: Promise<OrtSession>; usesNoise: boolean } {
    if (this.disposed) throw new ModelError(`${this.name} was disposed`);
    let entry = this.shapedSessions.get(key);
    if (!entry) {
      if (this.shapedSessions.size >= 3) {
        const [oldKey, old] = this.shapedSessions.entries().next().value!;
        this.shapedSessions.delete(oldKey);
        void old.session.then((s) => s.release(), () => undefined);
      }
      const model = build();
      const usesNoise = (model.graph?.input ?? []).some((v) => v.name === ONNX_NAMES.noise);
      const session = loadOrtSession(encodeOnnxModel(model), {
        // one session runs step after step: idle threads spin-wait for the next operator instead of sleeping
        // (2-core VM, 256² refine step: 66–72 vs 120–146 ms when the host is contended — waking a sleeping thread for
        // each operator is slow then — and 52–66 vs 55–69 ms when it is quiet)
        allowSpinning: true,
        ...this.options.session,
        intraOpNumThreads: this.options.intraOpNumThreads ?? ONNX_UNET_DEFAULT_THREADS,
        name: `${this.name} ${file}`,
      });
      const e = { session, usesNoise };
      session.catch(() => { if (this.shapedSessions.get(key) === e) this.shapedSessions.delete(key); });
      this.shapedSessions.set(key, (entry = e));
    }
    return entry;
  }

  private refineSession(swap: OnnxRefineSwap, n: number, h: number, w: number): { session: Promise<OrtSession>; usesNoise: boolean } {
    return this.shapedSession(JSON.stringify(['refine', swap.fraction, swap.atHm1, swap.atH, n, h, w]),
      () => buildOnnxRefineModel(this.def, this.weights, swap, { name: this.name, fixedShape: { n, h, w } }), 'refine.onnx');
  }

  /**
   * The Diff-2sIR network's whole step in ONE onnxruntime run (refiner parts API fast path; graph:
   * {@link buildOnnxRefineModel}): encoder and middle on x_t and x̄_t, the channel swaps at h₋₁ and/or h, the decoder
   * with the x_t pass's skips — the same values as encodeMiddlePair + swaps + decode, without moving the skips
   * through JavaScript. The result is a buffer reused by the next call.
   */
  predictSwapped(xt: Tensor4, guideT: Tensor4, step: DenoiserStep, cond: Conditioning, swap: OnnxRefineSwap): Promise<Tensor4> {
    return this.exclusive(async () => {
      assertSameShape(xt, guideT, 'guide x̄_t');
      this.checkSize(xt.h, xt.w);
      const n = xt.n;
      const { session, usesNoise } = this.refineSession(swap, n, xt.h, xt.w);
      const s = await session;
      const data = this.inputFor(2 * n, xt.h, xt.w);
      writeUNetInput(this.config, xt, cond, data, 0);
      writeUNetInput(this.config, guideT, cond, data, n);
      const inDims = [n, this.def.shapes.inputChannels, xt.h, xt.w];
      const half = data.length / 2;
      const feeds: Record<string, OrtFeed> = {
        [ONNX_REFINE_NAMES.input]: { dims: inDims, data: data.subarray(0, half) },
        [ONNX_REFINE_NAMES.guideInput]: { dims: inDims, data: data.subarray(half) },
      };
      if (usesNoise) this.feedNoise(feeds, n, this.noiseLevel(step));
      const dims = dimsOf(n, this.def.shapes.outputChannels, xt.h, xt.w);
      const target = reuseOr(this.refineOut, dims);
      await s.run(feeds, [ONNX_REFINE_NAMES.output], { into: { [ONNX_REFINE_NAMES.output]: { dims, data: target.data } } });
      this.refineOut = target;
      return target;
    });
  }

  /** The embedding's scalar for a step (t, ᾱ_t or √ᾱ_t per the config). */
  noiseLevel(step: DenoiserStep): number {
    return noiseLevelFor(this.config, step);
  }

  /** The network input for (x_t, cond) as a new tensor (same layout as NativeUNet's `buildInput`). */
  buildInput(xt: Tensor4, cond?: Conditioning): Tensor4 {
    return buildUNetInput(this.config, xt, cond);
  }

  /** A reused network-input buffer for `images` images of xt's size. */
  private inputFor(images: number, h: number, w: number): Float32Array {
    const size = images * imageInputChannels(this.config) * h * w;
    let buf = this.inputBufs.get(size);
    if (!buf) {
      if (this.inputBufs.size >= 2) this.inputBufs.clear(); // predict (N) and encodeMiddlePair (2N) sizes
      this.inputBufs.set(size, (buf = new Float32Array(size)));
    }
    return buf;
  }

  private checkSize(h: number, w: number): void {
    assertUNetSize(this.def, h, w);
  }

  /** The `noise` feed (when the part's graph declares it). */
  private addNoise(part: OnnxPartName, feeds: Record<string, OrtFeed>, n: number, level: number | ArrayLike<number>): void {
    if (this.inputNames[part].has(ONNX_NAMES.noise)) this.feedNoise(feeds, n, level);
  }

  /** `feeds.noise` = one level per image, in a reused buffer. */
  private feedNoise(feeds: Record<string, OrtFeed>, n: number, level: number | ArrayLike<number>): void {
    if (typeof level !== 'number' && level.length !== n) throw new InputError(`${n} images but ${level.length} noise levels`);
    if (this.noiseBuf.length !== n) this.noiseBuf = new Float32Array(n);
    if (typeof level === 'number') this.noiseBuf.fill(level);
    else this.noiseBuf.set(Array.from(level));
    feeds[ONNX_NAMES.noise] = { dims: [n], data: this.noiseBuf };
  }

  /** Run `f` after every earlier call on this instance has finished (calls may be issued concurrently). */
  private exclusive<T>(f: () => Promise<T>): Promise<T> {
    const run = this.lock.then(f, f);
    this.lock = run.then(() => undefined, () => undefined);
    return run;
  }

  /** Run the whole network (`full` graph) on a prepared input [N, inputChannels, H, W]. */
  forwardInput(input: Tensor4, noise: number | ArrayLike<number>, out?: Tensor4): Promise<Tensor4> {
    return this.exclusive(() => this.forwardUnlocked(input, noise, out));
  }

  private async forwardUnlocked(input: Tensor4, noise: number | ArrayLike<number>, out?: Tensor4): Promise<Tensor4> {
    this.checkSize(input.h, input.w);
    if (input.c !== this.def.shapes.inputChannels) throw new InputError(`input has ${input.c} channels, the network takes ${this.def.shapes.inputChannels}`);
    const { n, h, w } = input;
    const s = await this.shapedSession(JSON.stringify(['full', n, h, w]),
      () => buildOnnxModel(this.def, this.weights, 'full', { name: this.name, fixedShape: { n, h, w } }), 'full.onnx').session;
    const dims = dimsOf(input.n, this.def.shapes.outputChannels, input.h, input.w);
    const target = reuseOr(out, dims);
    const feeds: Record<string, OrtFeed> = { [ONNX_NAMES.input]: { dims: [...input.shape], data: input.data } };
    this.addNoise('full', feeds, input.n, noise);
    await s.run(feeds, [ONNX_NAMES.output], { into: { [ONNX_NAMES.output]: { dims, data: target.data } } });
    return target;
  }

  /** Denoiser: the raw prediction (ε / x₀ / v) for x_t at `step`, in a buffer reused by the next call. */
  predict(xt: Tensor4, step: DenoiserStep, cond: Conditioning): Promise<Tensor4> {
    return this.exclusive(async () => {
      this.checkSize(xt.h, xt.w);
      const data = this.inputFor(xt.n, xt.h, xt.w);
      writeUNetInput(this.config, xt, cond, data, 0);
      const input = new Tensor4([xt.n, imageInputChannels(this.config), xt.h, xt.w], data);
      this.outBuf = await this.forwardUnlocked(input, this.noiseLevel(step), this.outBuf);
      return this.outBuf;
    });
  }

  /** Encoder on input data of `n` images: h₋₁ and skips in pooled buffers. */
  private async runEncoder(data: Float32Array, n: number, h: number, w: number, noise: number | ArrayLike<number>): Promise<{ h: OnnxValue; skips: OnnxValue[] }> {
    this.checkSize(h, w);
    const s = await this.session('encoder');
    const sh = this.def.shapes;
    const bf = sh.bottleneckFactor;
    const into: Record<string, OnnxValue> = {};
    const hDims = dimsOf(n, sh.hEncChannels, h / bf, w / bf);
    const hv: OnnxValue = { dims: hDims, data: this.pool.take(hDims[0] * hDims[1] * hDims[2] * hDims[3]) };
    into[ONNX_NAMES.hEnc] = hv;
    const skips = sh.skips.map((k, i) => {
      const dims = dimsOf(n, k.channels, h / k.factor, w / k.factor);
      const v: OnnxValue = { dims, data: this.pool.take(dims[0] * dims[1] * dims[2] * dims[3]) };
      into[ONNX_NAMES.skip(i)] = v;
      return v;
    });
    const feeds: Record<string, OrtFeed> = { [ONNX_NAMES.input]: { dims: [n, sh.inputChannels, h, w], data } };
    this.addNoise('encoder', feeds, n, noise);
    try {
      await s.run(feeds, Object.keys(into), { into });
    } catch (err) {
      this.pool.give(hv.data);
      for (const v of skips) this.pool.give(v.data);
      throw err;
    }
    return { h: hv, skips };
  }

  /** Encoder on a prepared input: h₋₁ (a new Tensor4) and the skips. */
  async encodeInput(input: Tensor4, noise: number | ArrayLike<number>): Promise<{ h: Tensor4; skips: OnnxSkips }> {
    if (input.c !== this.def.shapes.inputChannels) throw new InputError(`input has ${input.c} channels, the network takes ${this.def.shapes.inputChannels}`);
    const r = await this.exclusive(() => this.runEncoder(input.data, input.n, input.h, input.w, noise));
    const [n, c, hh, ww] = r.h.dims;
    const h = new Tensor4([n, c, hh, ww], r.h.data.slice());
    this.pool.give(r.h.data);
    return { h, skips: new OnnxSkips(r.skips, input.n, r.skips.map((v) => v.data)) };
  }

  /** Middle block on h₋₁ [N, hEncChannels, h, w] (a new tensor). */
  middleAt(h: Tensor4, noise: number | ArrayLike<number>): Promise<Tensor4> {
    return this.exclusive(() => this.middleUnlocked(h, noise));
  }

  private async middleUnlocked(h: Tensor4, noise: number | ArrayLike<number>, out?: Float32Array): Promise<Tensor4> {
    if (h.c !== this.def.shapes.hEncChannels) throw new InputError(`middle block: h₋₁ has ${h.c} channels, expected ${this.def.shapes.hEncChannels}`);
    const s = await this.session('middle');
    const dims = dimsOf(h.n, this.def.shapes.hMidChannels, h.h, h.w);
    const size = dims[0] * dims[1] * dims[2] * dims[3];
    const data = out && out.length === size ? out : new Float32Array(size);
    const feeds: Record<string, OrtFeed> = { [ONNX_NAMES.hEnc]: { dims: [...h.shape], data: h.data } };
    this.addNoise('middle', feeds, h.n, noise);
    await s.run(feeds, [ONNX_NAMES.hMid], { into: { [ONNX_NAMES.hMid]: { dims, data } } });
    return new Tensor4(dims, data);
  }

  /** Decoder on h [N, hMidChannels, h, w] and the skips of an encode of the same batch size (a new tensor). */
  decodeAt(h: Tensor4, skips: OnnxSkips, noise: number | ArrayLike<number>, out?: Tensor4): Promise<Tensor4> {
    return this.exclusive(() => this.decodeUnlocked(h, skips, noise, out));
  }

  private async decodeUnlocked(h: Tensor4, skips: OnnxSkips, noise: number | ArrayLike<number>, out?: Tensor4): Promise<Tensor4> {
    if (skips.released) throw new ModelError('the skips were released');
    if (skips.batch !== h.n) throw new InputError(`decoder: h has ${h.n} images but the skips ${skips.batch}`);
    if (h.c !== this.def.shapes.hMidChannels) throw new InputError(`decoder: h has ${h.c} channels, expected ${this.def.shapes.hMidChannels}`);
    const s = await this.session('decoder');
    const bf = this.def.shapes.bottleneckFactor;
    const dims = dimsOf(h.n, this.def.shapes.outputChannels, h.h * bf, h.w * bf);
    const target = reuseOr(out, dims);
    const feeds: Record<string, OrtFeed> = { [ONNX_NAMES.hMid]: { dims: [...h.shape], data: h.data } };
    skips.values.forEach((v, i) => { feeds[ONNX_NAMES.skip(i)] = v; });
    this.addNoise('decoder', feeds, h.n, noise);
    await s.run(feeds, [ONNX_NAMES.output], { into: { [ONNX_NAMES.output]: { dims, data: target.data } } });
    return target;
  }

  /** Refiner parts API — F_e on (x_t, cond): h₋₁ and skips. */
  async encode(xt: Tensor4, step: DenoiserStep, cond: Conditioning): Promise<{ h: Tensor4; skips: OnnxSkips }> {
    return this.encodeInput(this.buildInput(xt, cond), this.noiseLevel(step));
  }

  /** Refiner parts API — F_m: h₋₁ → h (a new tensor). */
  async middle(h: Tensor4, step: DenoiserStep, _cond?: Conditioning): Promise<Tensor4> {
    return this.middleAt(h, this.noiseLevel(step));
  }

  /** Refiner parts API — F_D: (h, skips) → prediction (a new tensor). */
  async decode(h: Tensor4, skips: OnnxSkips, step: DenoiserStep, _cond?: Conditioning): Promise<Tensor4> {
    return this.decodeAt(h, skips, this.noiseLevel(step));
  }

  /** Free the skips of an encode (their buffers go back to the pool; idempotent). */
  releaseSkips(skips: OnnxSkips): void {
    if (skips.released) return;
    skips.values = [];
    for (const a of skips.owned) this.pool.give(a);
    skips.owned.length = 0;
  }

  /**
   * Encoder then middle on x_t and on x̄_t as ONE batch of 2N (one encoder run, one middle run): the encoder runs on
   * [input(x_t); input(x̄_t)]; `swapAtHm1(a, b)` builds the x_t pass's middle input from the two h₋₁ (a = x_t pass,
   * b = guide pass; `a` and `b` are views of the encoder's output buffer, and writing the result into `a` — or
   * returning `a` — costs no copy); the middle runs on [swapped; b]. `mid` and `midGuide` are views of one new
   * buffer; `skips` are the x_t half of the encoder's skips (views of pooled buffers; release them).
   */
  encodeMiddlePair(
    xt: Tensor4, guideT: Tensor4, step: DenoiserStep, cond: Conditioning, swapAtHm1: (a: Tensor4, b: Tensor4) => Tensor4,
  ): Promise<{ mid: Tensor4; midGuide: Tensor4; skips: OnnxSkips }> {
    return this.exclusive(() => this.pairUnlocked(xt, guideT, step, cond, swapAtHm1));
  }

  private async pairUnlocked(
    xt: Tensor4, guideT: Tensor4, step: DenoiserStep, cond: Conditioning, swapAtHm1: (a: Tensor4, b: Tensor4) => Tensor4,
  ): Promise<{ mid: Tensor4; midGuide: Tensor4; skips: OnnxSkips }> {
    assertSameShape(xt, guideT, 'guide x̄_t');
    const n = xt.n;
    const data = this.inputFor(2 * n, xt.h, xt.w);
    writeUNetInput(this.config, xt, cond, data, 0);
    writeUNetInput(this.config, guideT, cond, data, n);
    const level = this.noiseLevel(step);
    const enc = await this.runEncoder(data, 2 * n, xt.h, xt.w, level);
    try {
      const [, c, hh, ww] = enc.h.dims;
      const half = n * c * hh * ww;
      const a = new Tensor4([n, c, hh, ww], enc.h.data.subarray(0, half));
      const b = new Tensor4([n, c, hh, ww], enc.h.data.subarray(half));
      const hm1 = swapAtHm1(a, b);
      if (hm1 !== a) {
        if (hm1.n !== n || hm1.c !== c || hm1.h !== hh || hm1.w !== ww) throw new InputError(`swapAtHm1 returned [${hm1.shape.join(', ')}], expected [${a.shape.join(', ')}]`);
        a.data.set(hm1.data);
      }
      const mids = await this.middleUnlocked(new Tensor4([2 * n, c, hh, ww], enc.h.data), level);
      const mc = mids.c;
      const mhalf = n * mc * hh * ww;
      const skips = new OnnxSkips(
        enc.skips.map((v) => ({ dims: [n, ...v.dims.slice(1)], data: v.data.subarray(0, v.data.length / 2) })),
        n,
        enc.skips.map((v) => v.data),
      );
      return {
        mid: new Tensor4([n, mc, hh, ww], mids.data.subarray(0, mhalf)),
        midGuide: new Tensor4([n, mc, hh, ww], mids.data.subarray(mhalf)),
        skips,
      };
    } catch (err) {
      for (const v of enc.skips) this.pool.give(v.data);
      throw err;
    } finally {
      this.pool.give(enc.h.data);
    }
  }

  /** Release the sessions (idempotent). */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.lock; // let runs in flight finish
    const all = [...Object.values(this.sessions), ...[...this.shapedSessions.values()].map((e) => e.session)];
    for (const k of Object.keys(this.sessions)) delete this.sessions[k as OnnxPartName];
    this.shapedSessions.clear();
    this.pool.clear();
    for (const s of all) await (await s!.catch(() => undefined))?.release();
  }
}

/** A model folder loaded on onnxruntime: the network plus its card. */
export type LoadedOnnxModel = OnnxUNet & { card: ModelCard };

/**
 * Load a native model folder (model.json + weights) as an {@link OnnxUNet} (graphs exported in memory). `loadModel`
 * (engines.ts) picks the engine; this is its onnxruntime branch.
 */
export async function loadOnnxModel(dir: string, options: Omit<OnnxUNetOptions, 'weights' | 'seed'> = {}): Promise<LoadedOnnxModel> {
  const { card, weights } = await readModel(dir);
  const model = await OnnxUNet.create(card.config, { ...options, weights, name: options.name ?? `onnx:${path.basename(dir)}` });
  return Object.assign(model, { card });
}
