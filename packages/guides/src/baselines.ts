/**
 * Baseline guides: cheap fills for tests and for measuring how much the refiner adds.
 * - `mean`: every hole pixel gets the known pixels' per-channel mean.
 * - `nearest`: every hole pixel copies its nearest known pixel (8-connected breadth-first distance).
 * - `harmonic`: the hole solves Laplace's equation with the known pixels as boundary values (membrane /
 *   diffusion fill, iterative averaging from the border), by successive over-relaxation from the nearest fill.
 * - `constant`: every hole pixel gets one value (−1 black, 0 mid grey, 1 white): the masked input left unfilled.
 */
import { z } from 'zod';
import { applyMask, knownMean, Tensor4 } from '@diff2s/core';
import type { Guide, GuideContext, GuideOptions, RegistryEntry, SizeSupport } from '@diff2s/core';
import { runPerImage } from './common';

const ANY_SIZE_NEEDS_KNOWN: SizeSupport = { min: 1, max: Infinity, multiple: 1, fullMask: false };

/** Fill the hole of one [1,C,H,W] image in place with the known pixels' per-channel mean. */
export function meanFill(image: Tensor4, mask: Tensor4): Tensor4 {
  return applyMask(image, mask, knownMean(image, mask), image);
}

/**
 * Breadth-first search from the known pixels of an H×W mask (0 = known, non-zero = hole) over 8-neighbours: for each
 * pixel the index of a nearest known pixel (in chessboard steps; ties go to the first reached) and that distance.
 * Known pixels map to themselves at distance 0; both are -1 everywhere when the mask has no known pixel.
 */
export function nearestKnown(mask: ArrayLike<number>, h: number, w: number): { index: Int32Array; distance: Int32Array } {
  const hw = h * w;
  const src = new Int32Array(hw).fill(-1);
  const dist = new Int32Array(hw).fill(-1);
  const queue = new Int32Array(hw);
  let head = 0, tail = 0;
  for (let p = 0; p < hw; p++) if (mask[p] === 0) { src[p] = p; dist[p] = 0; queue[tail++] = p; }
  while (head < tail) {
    const p = queue[head++];
    const y = (p / w) | 0, x = p - y * w;
    const s = src[p], d = dist[p] + 1;
    for (let dy = -1; dy <= 1; dy++) {
      const yy = y + dy;
      if (yy < 0 || yy >= h) continue;
      for (let dx = -1; dx <= 1; dx++) {
        const xx = x + dx;
        if (xx < 0 || xx >= w) continue;
        const q = yy * w + xx;
        if (src[q] < 0) { src[q] = s; dist[q] = d; queue[tail++] = q; }
      }
    }
  }
  return { index: src, distance: dist };
}

/** {@link nearestKnown}'s index of a nearest known pixel for each pixel (-1 when the mask has no known pixel). */
export function nearestKnownIndex(mask: Float32Array | Uint8Array, h: number, w: number): Int32Array {
  return nearestKnown(mask, h, w).index;
}

/** Fill the hole of one [1,C,H,W] image in place by copying each hole pixel's nearest known pixel. */
export function nearestFill(image: Tensor4, mask: Tensor4): Tensor4 {
  const { h, w } = image;
  const hw = h * w;
  const src = nearestKnownIndex(mask.data, h, w);
  const d = image.data, m = mask.data;
  for (let c = 0; c < image.c; c++) {
    const b = c * hw;
    for (let p = 0; p < hw; p++) if (m[p] !== 0 && src[p] >= 0) d[b + p] = d[b + src[p]];
  }
  return image;
}

/** Options of {@link harmonicFill}. */
export interface HarmonicOptions {
  /** Most sweeps (default 2000). */
  iterations: number;
  /** Stop when no hole value changes by more than this in a sweep (default 1e-5). */
  tolerance: number;
  /** Over-relaxation factor in (0, 2) (default 1.8; 1 = Gauss–Seidel). */
  omega: number;
}

/**
 * Harmonic (membrane) fill of one [1,C,H,W] image in place: starts from the nearest fill, then successive
 * over-relaxation of the 4-neighbour average inside the hole (known pixels fixed, reflecting image borders).
 * Returns the number of sweeps run.
 */
export function harmonicFill(image: Tensor4, mask: Tensor4, options: HarmonicOptions, signal?: AbortSignal): number {
  nearestFill(image, mask);
  const { h, w } = image;
  const hw = h * w;
  const holes: number[] = [];
  for (let p = 0; p < hw; p++) if (mask.data[p] !== 0) holes.push(p);
  const idx = Int32Array.from(holes);
  const d = image.data;
  const { omega, tolerance } = options;
  let sweeps = 0;
  for (; sweeps < options.iterations; sweeps++) {
    if (signal?.aborted) break;
    let maxChange = 0;
    for (let c = 0; c < image.c; c++) {
      const b = c * hw;
      for (let k = 0; k < idx.length; k++) {
        const p = idx[k];
        const y = (p / w) | 0, x = p - y * w;
        let s = 0, n = 0;
        if (x > 0) { s += d[b + p - 1]; n++; }
        if (x < w - 1) { s += d[b + p + 1]; n++; }
        if (y > 0) { s += d[b + p - w]; n++; }
        if (y < h - 1) { s += d[b + p + w]; n++; }
        if (n === 0) continue;
        const old = d[b + p];
        const next = old + omega * (s / n - old);
        d[b + p] = next;
        const ch = next > old ? next - old : old - next;
        if (ch > maxChange) maxChange = ch;
      }
    }
    if (maxChange < tolerance) { sweeps++; break; }
  }
  return sweeps;
}

/** Guide filling the hole with the known pixels' per-channel mean. */
export class MeanGuide implements Guide {
  readonly name = 'mean';
  readonly sizes = ANY_SIZE_NEEDS_KNOWN;
  async inpaint(image: Tensor4, mask: Tensor4, options: GuideOptions): Promise<Tensor4> {
    return runPerImage(image, mask, options, { guide: this.name, fullMask: false, sizes: this.sizes }, (img, m) => meanFill(img.clone(), m));
  }
}

/** Guide copying each hole pixel's nearest known pixel. */
export class NearestGuide implements Guide {
  readonly name = 'nearest';
  readonly sizes = ANY_SIZE_NEEDS_KNOWN;
  async inpaint(image: Tensor4, mask: Tensor4, options: GuideOptions): Promise<Tensor4> {
    return runPerImage(image, mask, options, { guide: this.name, fullMask: false, sizes: this.sizes }, (img, m) => nearestFill(img.clone(), m));
  }
}

/** Guide solving Laplace's equation in the hole (smooth diffusion from the border). */
export class HarmonicGuide implements Guide {
  readonly name = 'harmonic';
  readonly sizes = ANY_SIZE_NEEDS_KNOWN;
  constructor(readonly options: HarmonicOptions) {}
  async inpaint(image: Tensor4, mask: Tensor4, options: GuideOptions): Promise<Tensor4> {
    return runPerImage(image, mask, options, { guide: this.name, fullMask: false, sizes: this.sizes }, (img, m) => {
      const out = img.clone();
      harmonicFill(out, m, this.options, options.signal);
      return out;
    });
  }
}

/** Guide painting the hole with one value in every channel (the unfilled masked image). */
export class ConstantGuide implements Guide {
  readonly name = 'constant';
  readonly sizes: SizeSupport = { min: 1, max: Infinity, multiple: 1, fullMask: true };
  constructor(readonly value: number) {}
  async inpaint(image: Tensor4, mask: Tensor4, options: GuideOptions): Promise<Tensor4> {
    return runPerImage(image, mask, options, { guide: this.name, fullMask: true, sizes: this.sizes }, (img, m) => applyMask(img, m, this.value));
  }
}

/** Config of the `constant` guide: the hole's value in [-1, 1] (default 0, mid grey). */
export const constantGuideConfig = z.object({ value: z.number().min(-1).max(1).default(0) }).strict();

/** Registry entry: `constant`. */
export const constantGuideEntry: RegistryEntry<Guide, z.infer<typeof constantGuideConfig>, GuideContext> = {
  name: 'constant',
  description: 'paints the hole with one value (-1 black, 0 grey, 1 white): the unfilled masked input (baseline)',
  configSchema: constantGuideConfig,
  create: (config) => new ConstantGuide(config.value),
};

/** Config of the `mean` guide (no options). */
export const meanGuideConfig = z.object({}).strict();
/** Config of the `nearest` guide (no options). */
export const nearestGuideConfig = z.object({}).strict();
/** Config of the `harmonic` guide. */
export const harmonicGuideConfig = z
  .object({
    /** SOR sweeps at most (bounded: a request cannot ask for unbounded work). */
    iterations: z.number().int().min(1).max(20000).default(2000),
    tolerance: z.number().positive().default(1e-5),
    omega: z.number().gt(0).lt(2).default(1.8),
  })
  .strict();

/** Registry entry: `mean`. */
export const meanGuideEntry: RegistryEntry<Guide, z.infer<typeof meanGuideConfig>, GuideContext> = {
  name: 'mean',
  description: "fills the hole with the known pixels' per-channel mean (baseline)",
  configSchema: meanGuideConfig,
  create: () => new MeanGuide(),
};

/** Registry entry: `nearest`. */
export const nearestGuideEntry: RegistryEntry<Guide, z.infer<typeof nearestGuideConfig>, GuideContext> = {
  name: 'nearest',
  description: 'copies the nearest known pixel into each hole pixel (baseline)',
  configSchema: nearestGuideConfig,
  create: () => new NearestGuide(),
};

/** Registry entry: `harmonic`. */
export const harmonicGuideEntry: RegistryEntry<Guide, z.infer<typeof harmonicGuideConfig>, GuideContext> = {
  name: 'harmonic',
  description: 'harmonic (diffusion) fill: iterative averaging from the hole border (baseline)',
  configSchema: harmonicGuideConfig,
  create: (config) => new HarmonicGuide(config),
};
