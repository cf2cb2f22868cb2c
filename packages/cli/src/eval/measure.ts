/** Per-image metric values of one result against its reference, through core's metric functions. */
import { Tensor4, boundaryConsistency, boundaryJump, holeChromaError, l1, mse, psnr, ssim, swd } from '@diff2s/core';
import type { ClassifyScorer } from './classify';
import type { MetricColumn } from './parse';

/** What metrics beyond the pixels need: the image's file stem and the loaded `classify` scorers (by column key). */
export interface MeasureContext {
  stem: string;
  classifiers?: ReadonlyMap<string, ClassifyScorer>;
}

/**
 * Every column's value for image 0 of `result` vs `reference` (both [1,C,H,W], the result already 8-bit quantised as
 * saved); `mask` is the hole ([1,1,H,W]). Region `hole` passes the mask to the metric, `image` does not. `classify`
 * columns need `context` (1 when the result is recognised as the stem's label, else 0).
 */
export function measure(result: Tensor4, reference: Tensor4, mask: Tensor4, columns: MetricColumn[], context?: MeasureContext): Record<string, number> {
  const out: Record<string, number> = {};
  for (const col of columns) {
    const m = col.region === 'hole' ? mask : undefined;
    let v: number[];
    switch (col.metric) {
      case 'psnr': v = psnr(result, reference, m); break;
      case 'ssim': v = ssim(result, reference, m); break;
      case 'l1': v = l1(result, reference, m); break;
      case 'mse': v = mse(result, reference, m); break;
      case 'swd': {
        const size = Math.min(result.h, result.w);
        const patch = Math.min(col.spec.patch ?? 7, size % 2 === 1 ? size : size - 1);
        v = swd(result, reference, m, { patch, projections: col.spec.projections, maxPatches: col.spec.maxPatches });
        break;
      }
      case 'boundary': v = boundaryConsistency(result, reference, mask); break;
      case 'jump': v = boundaryJump(result, mask); break;
      case 'jump-ref': v = boundaryJump(reference, mask); break;
      case 'chroma': v = holeChromaError(result, reference, mask); break;
      case 'classify': {
        const scorer = context?.classifiers?.get(col.key);
        if (!scorer || !context) throw new Error(`the classify metric's classifier is not loaded (column ${col.key})`);
        v = [scorer.score(result, context.stem)];
        break;
      }
    }
    out[col.key] = v[0];
  }
  return out;
}

/** Mean and (sample) standard deviation of the non-NaN values; `n` counts them. */
export function meanStd(values: number[]): { mean: number; std: number; n: number } {
  const v = values.filter((x) => !Number.isNaN(x));
  const n = v.length;
  if (n === 0) return { mean: NaN, std: NaN, n: 0 };
  const mean = v.reduce((a, b) => a + b, 0) / n;
  if (!Number.isFinite(mean)) return { mean, std: NaN, n };
  const std = n > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, n };
}
