import {
  assertMaskFits, Conditioning, Denoiser, DenoiserStep, noiseToLevel, PredictionType, Rng, Tensor4,
} from '@diff2s/core';
import type { RefinerOptions } from './config';
import type { UNetParts } from './parts';
import { swapChannels } from './swap';

/**
 * The Diff-2sIR refiner network as a {@link Denoiser} (seed 002, eqs. 15–17).
 *
 * At step t it noises the guide image to x̄_t, runs the encoder and middle block twice with the same weights — on
 * (x_m, x_t) and on (x_m, x̄_t) — and swaps channels:
 *   h₋₁ = Cat[F_e(x_t)¹, F_e(x̄_t)²]           (eq. 15, input of the middle block)
 *   h   = Cat[F_m(h₋₁)¹, F_m(F_e(x̄_t))²]      (eq. 16, input of the decoder)
 *   out = F_D(h, skips of the x_t pass)       (eq. 17)
 * Choices the paper leaves open, made here: skips come from the x_t pass; the guide's middle pass in eq. 16 runs on
 * the guide's own (unswapped) encoder output, as eq. 16 is written; "first half" means the first C − round(C·f)
 * channels. With `swapSpaces: 'h'`, the middle block of the x_t pass sees F_e(x_t) unswapped.
 */
export class RefinerDenoiser<S = unknown> implements Denoiser {
  readonly predictionType: PredictionType;
  readonly conditional: boolean;
  readonly name = 'diff2sir-refiner';
  private readonly guideT: Tensor4;
  /** ε′: one value per pixel, or (noise in the hole only) per hole pixel, in (image, channel, hole pixel) order. */
  private readonly noise: Float32Array;
  private noiseDrawn = false;
  private readonly holeOnly: boolean;
  private readonly holes?: Int32Array[];

  /**
   * @param net the split UNet
   * @param guide x̄_0, the stage-1 result [N,C,H,W]
   * @param image the known image x_0 (its known pixels are used where x̄_t is not noised)
   * @param mask [N,1,H,W], 1 = hole
   * @param rng source of the guide noise
   */
  constructor(
    private readonly net: UNetParts<S>,
    private readonly guide: Tensor4,
    private readonly image: Tensor4,
    private readonly mask: Tensor4,
    private readonly rng: Rng,
    private readonly options: Pick<RefinerOptions, 'swapFraction' | 'swapSpaces' | 'guideNoise' | 'noiseRegion'>,
  ) {
    assertMaskFits(guide, mask, 'refiner mask');
    this.predictionType = net.predictionType;
    this.conditional = net.conditional;
    this.guideT = guide.zerosLike();
    this.holeOnly = options.noiseRegion === 'hole' || (options.noiseRegion === 'auto' && net.conditional);
    const hw = guide.h * guide.w;
    if (this.holeOnly) {
      // hole pixels (mask 1) per image; ε′ is drawn for these only (the known pixels of x̄_t are x_0's)
      const m = mask.data;
      this.holes = [];
      for (let i = 0; i < guide.n; i++) {
        const idx: number[] = [];
        for (let p = 0; p < hw; p++) if (m[i * hw + p] !== 0) idx.push(p);
        this.holes.push(Int32Array.from(idx));
      }
      this.noise = new Float32Array(guide.c * this.holes.reduce((a, h) => a + h.length, 0));
    } else {
      this.noise = new Float32Array(guide.size);
    }
  }

  /** x̄_t = √ᾱ_t·x̄_0 + √(1−ᾱ_t)·ε′ (in the hole only, or everywhere); written into a reused buffer. */
  noisedGuide(step: DenoiserStep): Tensor4 {
    if (this.options.guideNoise === 'fresh' || !this.noiseDrawn) {
      this.rng.fillNormal(this.noise);
      this.noiseDrawn = true;
    }
    const a = Math.sqrt(step.alphaBar), s = Math.sqrt(1 - step.alphaBar);
    const { n, c } = this.guide;
    const hw = this.guide.h * this.guide.w;
    const g = this.guide.data, e = this.noise, out = this.guideT.data;
    if (this.holes) {
      out.set(this.image.data);
      let j = 0;
      for (let i = 0; i < n; i++) {
        const hole: Int32Array = this.holes[i];
        for (let ch = 0; ch < c; ch++) {
          const base = (i * c + ch) * hw;
          for (let q = 0; q < hole.length; q++) {
            const k = base + hole[q];
            out[k] = a * g[k] + s * e[j++];
          }
        }
      }
    } else {
      noiseToLevel(g, step.alphaBar, e, out);
    }
    return this.guideT;
  }

  predict(xt: Tensor4, step: DenoiserStep, cond: Conditioning): Promise<Tensor4> {
    return this.predictWithGuide(xt, this.noisedGuide(step), step, cond);
  }

  /** The swapped network's prediction for a given x̄_t (exposed for the x̄_t = x_t invariant). */
  async predictWithGuide(xt: Tensor4, guideT: Tensor4, step: DenoiserStep, cond: Conditioning): Promise<Tensor4> {
    const { swapFraction: f, swapSpaces } = this.options;
    const atHm1 = swapSpaces !== 'h';
    const atH = swapSpaces !== 'h-1';
    const net = this.net;
    if (net.predictSwapped) return net.predictSwapped(xt, guideT, step, cond, { fraction: f, atHm1, atH });
    if (net.encodeMiddlePair) {
      const pair = await net.encodeMiddlePair(xt, guideT, step, cond, (a, b) => (atHm1 ? swapChannels(a, b, f, a) : a));
      try {
        const h = atH ? swapChannels(pair.mid, pair.midGuide, f, pair.mid) : pair.mid;
        return await net.decode(h, pair.skips, step, cond);
      } finally {
        net.releaseSkips?.(pair.skips);
      }
    }
    const e1 = await net.encode(xt, step, cond);
    const e2 = await net.encode(guideT, step, cond);
    try {
      net.releaseSkips?.(e2.skips);
      const hm1 = atHm1 ? swapChannels(e1.h, e2.h, f) : e1.h;
      const mid = await net.middle(hm1, step, cond);
      let h = mid;
      if (atH) {
        const midGuide = await net.middle(e2.h, step, cond);
        h = swapChannels(mid, midGuide, f, mid === e1.h ? undefined : mid);
      }
      return await net.decode(h, e1.skips, step, cond);
    } finally {
      net.releaseSkips?.(e1.skips);
    }
  }
}
