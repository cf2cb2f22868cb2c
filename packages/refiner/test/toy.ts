import { Conditioning, DenoiserStep, Rng, Tensor4 } from '@diff2s/core';
import type { UNetParts } from '@diff2s/refiner';

/**
 * A small analytic "UNet" with real encoder / middle / decoder structure for refiner tests:
 * encoder: 2x2 average pool of a fixed linear mix of [x_t, x_m, mask] into 4 channels (+ tanh); skips = x_t;
 * middle: channel-mixing matrix + tanh; decoder: nearest 2x upsample, linear map to C channels, plus 0.1·skip.
 */
export class ToyUNet implements UNetParts<Tensor4> {
  readonly predictionType: 'epsilon' | 'x0';
  readonly conditional = true;
  readonly calls = { encode: 0, middle: 0, decode: 0 };
  /** The [H, W] of every encoder input. */
  readonly sizes: [number, number][] = [];
  /** What it declares: its output at a pixel reads only the pixel's aligned 2×2 block (unless told otherwise). */
  readonly receptiveField?: { radius: number; multiple: number };
  /** Scale of the x_m inputs (0: the network ignores x_m, whose hole is drawn noise). */
  private readonly xmWeight: number;
  private readonly wEnc: Float64Array;
  private readonly wMid: Float64Array;
  private readonly wDec: Float64Array;
  constructor(readonly channels = 3, readonly hidden = 4, seed = 5, opts: { predictionType?: 'epsilon' | 'x0'; receptiveField?: { radius: number; multiple: number }; xmWeight?: number } = {}) {
    this.xmWeight = opts.xmWeight ?? 1;
    this.predictionType = opts.predictionType ?? 'epsilon';
    if (opts.receptiveField) this.receptiveField = opts.receptiveField;
    const r = new Rng(seed);
    this.wEnc = Float64Array.from({ length: hidden * (2 * channels + 1) }, () => r.normal() * 0.5);
    this.wMid = Float64Array.from({ length: hidden * hidden }, () => r.normal() * 0.5);
    this.wDec = Float64Array.from({ length: channels * hidden }, () => r.normal() * 0.5);
  }

  async encode(xt: Tensor4, step: DenoiserStep, cond: Conditioning): Promise<{ h: Tensor4; skips: Tensor4 }> {
    this.calls.encode++;
    this.sizes.push([xt.h, xt.w]);
    const { n, c, h, w } = xt;
    const H = h >> 1, W = w >> 1, K = this.hidden, inC = 2 * c + 1;
    const out = new Tensor4([n, K, H, W]);
    for (let i = 0; i < n; i++) for (let k = 0; k < K; k++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      let s = step.alphaBar * 0.1;
      for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) {
        for (let ch = 0; ch < inC; ch++) {
          const v = ch < c ? xt.data[xt.index(i, ch, 2 * y + dy, 2 * x + dx)]
            : ch < 2 * c ? this.xmWeight * cond.xm.data[cond.xm.index(i, ch - c, 2 * y + dy, 2 * x + dx)]
              : cond.mask.data[cond.mask.index(i, 0, 2 * y + dy, 2 * x + dx)];
          s += (this.wEnc[k * inC + ch] * v) / 4;
        }
      }
      out.data[out.index(i, k, y, x)] = Math.tanh(s);
    }
    return { h: out, skips: xt.clone() };
  }

  async middle(h: Tensor4): Promise<Tensor4> {
    this.calls.middle++;
    const out = h.zerosLike();
    const K = this.hidden, hw = h.h * h.w;
    for (let i = 0; i < h.n; i++) for (let k = 0; k < K; k++) for (let p = 0; p < hw; p++) {
      let s = 0;
      for (let j = 0; j < K; j++) s += this.wMid[k * K + j] * h.data[(i * K + j) * hw + p];
      out.data[(i * K + k) * hw + p] = Math.tanh(s);
    }
    return out;
  }

  async decode(h: Tensor4, skips: Tensor4): Promise<Tensor4> {
    this.calls.decode++;
    const { n, c, h: H, w: W } = skips;
    const out = new Tensor4([n, c, H, W]);
    const K = this.hidden;
    for (let i = 0; i < n; i++) for (let ch = 0; ch < c; ch++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += this.wDec[ch * K + k] * h.data[h.index(i, k, y >> 1, x >> 1)];
      out.data[out.index(i, ch, y, x)] = s + 0.1 * skips.data[skips.index(i, ch, y, x)];
    }
    return out;
  }
}
