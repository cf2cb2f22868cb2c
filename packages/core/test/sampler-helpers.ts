import {
  Conditioning, Denoiser, DenoiserStep, linearSchedule, NoiseSchedule, Rng, SampleRequest, StepInfo, Tensor4,
} from '@diff2s/core';

/** A short schedule whose ᾱ_T ≈ 0.005, so a noise start is really noise. */
export function testSchedule(T = 50): NoiseSchedule {
  return linearSchedule(T, 1e-4, Math.min(0.5, 0.2 * (50 / T)));
}

/** A clean image in [-0.9, 0.9], [n, c, h, w]. */
export function testImage(n = 1, c = 3, h = 8, w = 8, seed = 11): Tensor4 {
  const t = new Tensor4([n, c, h, w]);
  new Rng(seed).fillUniform(t.data, -0.9, 0.9);
  return t;
}

/** A [n,1,h,w] mask whose hole is the rectangle [y0,y1)×[x0,x1) (default: the central half of each side). */
export function rectMask(n = 1, h = 8, w = 8, box?: { x0: number; y0: number; x1: number; y1: number }): Tensor4 {
  const b = box ?? { x0: w >> 2, y0: h >> 2, x1: w - (w >> 2), y1: h - (h >> 2) };
  const m = new Tensor4([n, 1, h, w]);
  for (let i = 0; i < n; i++) {
    for (let y = b.y0; y < b.y1; y++) for (let x = b.x0; x < b.x1; x++) m.data[(i * h + y) * w + x] = 1;
  }
  return m;
}

/** `image` with its hole pixels replaced by `fill` (what a sampler is given: hole content must not matter). */
export function withHole(image: Tensor4, mask: Tensor4, fill = 0): Tensor4 {
  const out = image.clone();
  const hw = image.h * image.w;
  for (let i = 0; i < image.n; i++) {
    for (let c = 0; c < image.c; c++) {
      for (let p = 0; p < hw; p++) if (mask.data[i * hw + p] >= 0.5) out.data[(i * image.c + c) * hw + p] = fill;
    }
  }
  return out;
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Values of `t` at hole (which = 'hole') or known pixels, all channels. */
export function pick(t: Tensor4, mask: Tensor4, which: 'hole' | 'known'): number[] {
  const out: number[] = [];
  const hw = t.h * t.w;
  for (let i = 0; i < t.n; i++) {
    for (let c = 0; c < t.c; c++) {
      for (let p = 0; p < hw; p++) {
        const hole = mask.data[i * hw + p] >= 0.5;
        if (hole === (which === 'hole')) out.push(t.data[(i * t.c + c) * hw + p]);
      }
    }
  }
  return out;
}

export function meanStd(v: number[]): { mean: number; std: number } {
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const varc = v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length;
  return { mean, std: Math.sqrt(varc) };
}

/** An event of a recorded run. */
export type RunEvent =
  | { kind: 'fill'; values: Float32Array }
  | { kind: 'predict'; t: number; alphaBar: number; xt: Float32Array }
  | { kind: 'step'; info: { index: number; total: number; t: number }; xt: Float32Array; x0: Float32Array };

/** An Rng that logs a copy of every Gaussian buffer it fills. */
export class RecordingRng extends Rng {
  constructor(seed: number, readonly log: RunEvent[]) {
    super(seed);
  }
  override fillNormal(out: Float32Array, mean = 0, std = 1): Float32Array {
    super.fillNormal(out, mean, std);
    this.log.push({ kind: 'fill', values: out.slice() });
    return out;
  }
}

/** Wraps a denoiser: logs each call's input copy, and the distinct input/xm buffers it was handed. */
export class RecordingDenoiser implements Denoiser {
  readonly xtBuffers = new Set<Float32Array>();
  readonly xmBuffers = new Set<Float32Array>();
  readonly calls: DenoiserStep[] = [];
  constructor(readonly inner: Denoiser, readonly log?: RunEvent[]) {}
  get predictionType() { return this.inner.predictionType; }
  get conditional() { return this.inner.conditional; }
  get name() { return `recording(${this.inner.name ?? ''})`; }
  predict(xt: Tensor4, step: DenoiserStep, cond: Conditioning): Promise<Tensor4> {
    this.xtBuffers.add(xt.data);
    this.xmBuffers.add(cond.xm.data);
    this.calls.push({ ...step });
    this.log?.push({ kind: 'predict', t: step.t, alphaBar: step.alphaBar, xt: xt.data.slice() });
    return this.inner.predict(xt, step, cond);
  }
}

/** onStep that logs copies of the step's tensors. */
export function stepLogger(log: RunEvent[]): (info: StepInfo) => void {
  return (info) => {
    log.push({ kind: 'step', info: { index: info.index, total: info.total, t: info.t }, xt: info.xt.data.slice(), x0: info.x0Pred.data.slice() });
  };
}

/** A request with defaults. */
export function request(over: Partial<SampleRequest> & Pick<SampleRequest, 'denoiser' | 'image' | 'mask'>): SampleRequest {
  return { schedule: testSchedule(), rng: new Rng(1), ...over };
}

/**
 * Counts Float32Array allocations of at least `minLength` values (views on an existing buffer — subarray — are
 * not allocations and are not counted) while `fn` runs, by swapping the global constructor for a counting subclass.
 */
export async function countFloat32Allocations(minLength: number, fn: () => Promise<unknown>): Promise<number> {
  const g = globalThis as { Float32Array: Float32ArrayConstructor };
  const Orig = g.Float32Array;
  let count = 0;
  class Counting extends Orig {
    constructor(...args: unknown[]) {
      super(...(args as [number]));
      const view = args[0] instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && args[0] instanceof SharedArrayBuffer);
      if (!view && this.length >= minLength) count++;
    }
  }
  g.Float32Array = Counting as unknown as Float32ArrayConstructor;
  try {
    await fn();
  } finally {
    g.Float32Array = Orig;
  }
  return count;
}
