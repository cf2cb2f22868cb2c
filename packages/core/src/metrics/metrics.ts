/**
 * Image quality measures for inpainting. Inputs are [N,C,H,W] tensors in [-1, 1] (mapped to [0, 1] internally,
 * data range 1); "hole" variants average over the mask's hole pixels only. Each returns one value per image.
 */
import { InputError } from '../errors';
import { Rng } from '../rng';
import { quantize8 } from '../image/io';
import { assertBinaryMask, assertMaskFits, assertSameShape, Tensor4 } from '../tensor';

function checkPair(a: Tensor4, b: Tensor4, mask?: Tensor4): void {
  assertSameShape(a, b, 'metric');
  if (mask) checkMask(a, mask, 'metric mask');
}

/** A mask (or region) fits `t` and is binary: metrics read `m !== 0` as hole (see core's mask invariant). */
function checkMask(t: Tensor4, mask: Tensor4, what: string): void {
  assertMaskFits(t, mask, what);
  assertBinaryMask(mask, what);
}

/** Mean absolute error on [0,1] values, over the whole image or (with `mask`) the hole. */
export function l1(a: Tensor4, b: Tensor4, mask?: Tensor4): number[] {
  checkPair(a, b, mask);
  return perImage(a, mask, (i, p, c) => Math.abs(a.data[a.index(i, c, 0, 0) + p] - b.data[b.index(i, c, 0, 0) + p]) / 2);
}

/** Mean squared error on [0,1] values. */
export function mse(a: Tensor4, b: Tensor4, mask?: Tensor4): number[] {
  checkPair(a, b, mask);
  return perImage(a, mask, (i, p, c) => {
    const d = (a.data[a.index(i, c, 0, 0) + p] - b.data[b.index(i, c, 0, 0) + p]) / 2;
    return d * d;
  });
}

/** PSNR in dB with data range 1 (Infinity for identical images). */
export function psnr(a: Tensor4, b: Tensor4, mask?: Tensor4): number[] {
  return mse(a, b, mask).map((m) => (m === 0 ? Infinity : -10 * Math.log10(m)));
}

function perImage(t: Tensor4, mask: Tensor4 | undefined, f: (i: number, p: number, c: number) => number): number[] {
  const hw = t.h * t.w;
  const out: number[] = [];
  for (let i = 0; i < t.n; i++) {
    let s = 0, count = 0;
    for (let p = 0; p < hw; p++) {
      if (mask && mask.data[i * hw + p] === 0) continue;
      for (let c = 0; c < t.c; c++) s += f(i, p, c);
      count += t.c;
    }
    out.push(count ? s / count : NaN);
  }
  return out;
}

/** A normalised 1-D Gaussian kernel of standard deviation `sigma` over −radius…radius. */
export function gaussianKernel(sigma: number, radius: number): Float64Array {
  const k = new Float64Array(2 * radius + 1);
  let s = 0;
  for (let i = -radius; i <= radius; i++) s += k[i + radius] = Math.exp(-(i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] /= s;
  return k;
}

/** Separable blur of one w×h plane by the 1-D kernel `k` (odd length), edges replicated; `tmp` and `out` are w×h. */
export function blurPlane(src: Float64Array, w: number, h: number, k: Float64Array, tmp: Float64Array, out: Float64Array): void {
  const r = (k.length - 1) / 2;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let j = -r; j <= r; j++) {
        const xx = x + j < 0 ? 0 : x + j >= w ? w - 1 : x + j;
        s += k[j + r] * src[y * w + xx];
      }
      tmp[y * w + x] = s;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let j = -r; j <= r; j++) {
        const yy = y + j < 0 ? 0 : y + j >= h ? h - 1 : y + j;
        s += k[j + r] * tmp[yy * w + x];
      }
      out[y * w + x] = s;
    }
  }
}

/**
 * SSIM (Wang et al. 2004): Gaussian window σ = 1.5 (radius 5), K1 = 0.01, K2 = 0.03, data range 1, averaged over
 * channels; over the whole image or (with `mask`) the SSIM map averaged over the hole pixels.
 */
export function ssim(a: Tensor4, b: Tensor4, mask?: Tensor4): number[] {
  checkPair(a, b, mask);
  const { h, w } = a;
  const hw = h * w;
  const k = gaussianKernel(1.5, Math.min(5, Math.floor((Math.min(h, w) - 1) / 2)));
  const C1 = 0.01 ** 2, C2 = 0.03 ** 2;
  const x = new Float64Array(hw), y = new Float64Array(hw), tmp = new Float64Array(hw);
  const mx = new Float64Array(hw), my = new Float64Array(hw), sxx = new Float64Array(hw), syy = new Float64Array(hw), sxy = new Float64Array(hw);
  const prod = new Float64Array(hw);
  const out: number[] = [];
  for (let i = 0; i < a.n; i++) {
    let total = 0, count = 0;
    for (let c = 0; c < a.c; c++) {
      const base = a.index(i, c, 0, 0);
      for (let p = 0; p < hw; p++) {
        x[p] = (a.data[base + p] + 1) / 2;
        y[p] = (b.data[base + p] + 1) / 2;
      }
      blurPlane(x, w, h, k, tmp, mx);
      blurPlane(y, w, h, k, tmp, my);
      for (let p = 0; p < hw; p++) prod[p] = x[p] * x[p];
      blurPlane(prod, w, h, k, tmp, sxx);
      for (let p = 0; p < hw; p++) prod[p] = y[p] * y[p];
      blurPlane(prod, w, h, k, tmp, syy);
      for (let p = 0; p < hw; p++) prod[p] = x[p] * y[p];
      blurPlane(prod, w, h, k, tmp, sxy);
      for (let p = 0; p < hw; p++) {
        if (mask && mask.data[i * hw + p] === 0) continue;
        const vx = sxx[p] - mx[p] * mx[p], vy = syy[p] - my[p] * my[p], cxy = sxy[p] - mx[p] * my[p];
        total += ((2 * mx[p] * my[p] + C1) * (2 * cxy + C2)) / ((mx[p] * mx[p] + my[p] * my[p] + C1) * (vx + vy + C2));
        count++;
      }
    }
    out.push(count ? total / count : NaN);
  }
  return out;
}

export interface SwdOptions {
  /** Patch size (default 7). */
  patch?: number;
  /** Random projections (default 128). */
  projections?: number;
  /** At most this many patches per image (random subset; default 4096). */
  maxPatches?: number;
  /** Generator for projections and subsets (default seed 0: the measure is deterministic). */
  rng?: Rng;
}

/**
 * Sliced Wasserstein distance between the distributions of patches of `a` and `b` (values in [0,1]):
 * the mean over random unit directions of the 1-D Wasserstein-1 distance of the projected patch sets.
 * With `mask`, only patches whose centre lies in the hole are used. Needs no downloaded network.
 */
export function swd(a: Tensor4, b: Tensor4, mask?: Tensor4, options: SwdOptions = {}): number[] {
  return swdAgainst([a], b, mask, options)[0];
}

/**
 * {@link swd} of several candidates against one reference on the same mask, in one pass: the reference's patches and
 * projections are computed once per direction. Returns, per candidate, the per-image values — without `options.rng`
 * the same numbers as `swd(candidate, ref, mask)` for each (with it, the candidates share each image's directions).
 */
export function swdAgainst(candidates: Tensor4[], ref: Tensor4, mask?: Tensor4, options: SwdOptions = {}): number[][] {
  for (const a of candidates) checkPair(a, ref, mask);
  return patchSwd(candidates, ref, options, (i, P, rng, max) => {
    const centres = patchCentres(ref, i, P, mask);
    rng.shuffle(centres);
    const used = centres.slice(0, max);
    return [used, used];
  });
}

/**
 * Sliced Wasserstein distance between two patch sets of one image: patches of `a` centred where `regionA` is 1 vs
 * patches of `b` centred where `regionB` is 1 (values in [0,1]; both sets subsampled to the same count, at most
 * `maxPatches`). Reference-free texture agreement: e.g. a fill's hole patches against the image's known patches.
 */
export function swdRegions(a: Tensor4, regionA: Tensor4, b: Tensor4, regionB: Tensor4, options: SwdOptions = {}): number[] {
  checkPair(a, b, regionA);
  checkMask(b, regionB, 'swd region');
  return patchSwd([a], b, options, (i, P, rng, max) => {
    const ca = patchCentres(a, i, P, regionA), cb = patchCentres(b, i, P, regionB);
    const n = Math.min(ca.length, cb.length, max);
    rng.shuffle(ca);
    rng.shuffle(cb);
    return [ca.slice(0, n), cb.slice(0, n)];
  })[0];
}

/**
 * Per candidate, per image: the sliced W1 of the candidate's patches and `b`'s at the centres `pick` chooses (the
 * candidates' patches at its first list; NaN when it picks none).
 */
function patchSwd(
  as: Tensor4[], b: Tensor4, options: SwdOptions,
  pick: (i: number, P: number, rng: Rng, maxPatches: number) => [number[], number[]],
): number[][] {
  const P = options.patch ?? 7;
  const nProj = options.projections ?? 128;
  const maxPatches = options.maxPatches ?? 4096;
  const out: number[][] = as.map(() => []);
  for (let i = 0; i < b.n; i++) {
    const rng = options.rng ? options.rng.split() : new Rng(0);
    const [ca, cb] = pick(i, P, rng, maxPatches);
    const values = ca.length === 0 ? as.map(() => NaN)
      : slicedW1(as.map((a) => extractPatches(a, i, ca, P)), extractPatches(b, i, cb, P), ca.length, b.c * P * P, nProj, rng);
    values.forEach((v, k) => out[k].push(v));
  }
  return out;
}

/**
 * For each of `pas`: the mean over `nProj` random unit directions (drawn once for all) of the 1-D Wasserstein-1
 * distance of its n patches and `pb`'s (dim values each); `pb` is projected once per direction.
 */
function slicedW1(pas: Float64Array[], pb: Float64Array, n: number, dim: number, nProj: number, rng: Rng): number[] {
  const dir = new Float64Array(dim);
  const qa = new Float64Array(n), qb = new Float64Array(n);
  const totals = pas.map(() => 0);
  for (let k = 0; k < nProj; k++) {
    let norm = 0;
    for (let d = 0; d < dim; d++) norm += (dir[d] = rng.normal()) ** 2;
    norm = Math.sqrt(norm);
    for (let j = 0; j < n; j++) {
      let sb = 0;
      for (let d = 0; d < dim; d++) sb += pb[j * dim + d] * dir[d];
      qb[j] = sb / norm;
    }
    qb.sort();
    for (let m = 0; m < pas.length; m++) {
      const pa = pas[m];
      for (let j = 0; j < n; j++) {
        let sa = 0;
        for (let d = 0; d < dim; d++) sa += pa[j * dim + d] * dir[d];
        qa[j] = sa / norm;
      }
      qa.sort();
      let s = 0;
      for (let j = 0; j < n; j++) s += Math.abs(qa[j] - qb[j]);
      totals[m] += s / n;
    }
  }
  return totals.map((t) => t / nProj);
}

function patchCentres(t: Tensor4, i: number, P: number, mask?: Tensor4): number[] {
  const r = Math.floor(P / 2);
  const { h, w } = t;
  if (h < P || w < P) throw new InputError(`swd: image ${w}x${h} is smaller than the ${P}x${P} patch`);
  const out: number[] = [];
  for (let y = r; y < h - r; y++) {
    for (let x = r; x < w - r; x++) {
      if (mask && mask.data[i * h * w + y * w + x] === 0) continue;
      out.push(y * w + x);
    }
  }
  return out;
}

function extractPatches(t: Tensor4, i: number, centres: number[], P: number): Float64Array {
  const r = Math.floor(P / 2);
  const { c: C, w } = t;
  const dim = C * P * P;
  const out = new Float64Array(centres.length * dim);
  for (let j = 0; j < centres.length; j++) {
    const cy = Math.floor(centres[j] / w), cx = centres[j] % w;
    let d = j * dim;
    for (let c = 0; c < C; c++) {
      const base = t.index(i, c, 0, 0);
      for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) out[d++] = (t.data[base + (cy + dy) * w + cx + dx] + 1) / 2;
    }
  }
  return out;
}

/**
 * Mean absolute intensity step (on [0,1], averaged over channels) across the mask border: over all 4-neighbour pixel
 * pairs with one pixel in the hole and one known. The paper's stated problem is a visible seam; compare a result's
 * value with the reference image's own value on the same mask (see {@link boundaryConsistency}).
 */
export function boundaryJump(t: Tensor4, mask: Tensor4): number[] {
  checkMask(t, mask, 'boundary mask');
  const { h, w } = t;
  const hw = h * w;
  const out: number[] = [];
  for (let i = 0; i < t.n; i++) {
    let s = 0, count = 0;
    const m = (p: number) => mask.data[i * hw + p] !== 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const p = y * w + x;
        for (const q of [x + 1 < w ? p + 1 : -1, y + 1 < h ? p + w : -1]) {
          if (q < 0 || m(p) === m(q)) continue;
          for (let c = 0; c < t.c; c++) {
            const base = t.index(i, c, 0, 0);
            s += Math.abs(t.data[base + p] - t.data[base + q]) / 2;
          }
          count += t.c;
        }
      }
    }
    out.push(count ? s / count : NaN);
  }
  return out;
}

/**
 * Hole colour error: the distance between the mean chroma (Cb, Cr of BT.601 on [0,1]) of the hole in `result` and in
 * `reference`. 0 for grey images. A grey or wrongly tinted fill of a colour image raises it.
 */
export function holeChromaError(result: Tensor4, reference: Tensor4, mask: Tensor4): number[] {
  checkPair(result, reference, mask);
  const { h, w } = result;
  const hw = h * w;
  const out: number[] = [];
  for (let i = 0; i < result.n; i++) {
    if (result.c < 3) {
      out.push(0);
      continue;
    }
    const mean = (t: Tensor4) => {
      let cb = 0, cr = 0, n = 0;
      const b = t.index(i, 0, 0, 0);
      for (let p = 0; p < hw; p++) {
        if (mask.data[i * hw + p] === 0) continue;
        const r = (t.data[b + p] + 1) / 2, g = (t.data[b + hw + p] + 1) / 2, bl = (t.data[b + 2 * hw + p] + 1) / 2;
        cb += -0.168736 * r - 0.331264 * g + 0.5 * bl;
        cr += 0.5 * r - 0.418688 * g - 0.081312 * bl;
        n++;
      }
      return n ? [cb / n, cr / n] : [NaN, NaN];
    };
    const [a1, a2] = mean(result), [b1, b2] = mean(reference);
    out.push(Math.hypot(a1 - b1, a2 - b2));
  }
  return out;
}

/**
 * Boundary consistency: |jump(result) − jump(reference)| on the same mask. 0 means the seam is as smooth as the
 * real image's own pixels there; a visible seam raises it.
 */
export function boundaryConsistency(result: Tensor4, reference: Tensor4, mask: Tensor4): number[] {
  const a = boundaryJump(result, mask), b = boundaryJump(reference, mask);
  return a.map((v, i) => Math.abs(v - b[i]));
}

/** Count of known pixels (mask 0) where `result` differs from `input` after 8-bit quantization. Must be 0. */
export function knownPixelViolations(result: Tensor4, input: Tensor4, mask: Tensor4): number {
  checkPair(result, input, mask);
  const hw = result.h * result.w;
  let bad = 0;
  for (let i = 0; i < result.n; i++) {
    for (let c = 0; c < result.c; c++) {
      const base = result.index(i, c, 0, 0);
      for (let p = 0; p < hw; p++) {
        if (mask.data[i * hw + p] !== 0) continue;
        if (quantize8(result.data[base + p]) !== quantize8(input.data[base + p])) bad++;
      }
    }
  }
  return bad;
}
