/**
 * `patch` guide: classical non-local patch-based inpainting after Newson, Almansa, Gousseau & Pérez,
 * "Non-Local Patch-Based Image Inpainting", IPOL 7 (2017), and its video version (SIAM J. Imaging Sci. 7, 2014).
 * No training.
 *
 * - A pyramid (factor 2) whose depth comes from the hole's erosion depth: the fewest levels for which the hole, at the
 *   coarsest level, is at most `coarsestDepth` pixels deep (14 by default: measured, reports/patch-guide; the former
 *   rule, half a patch, made coarse levels of 16–32 px on 128² images whose few sources gave poor copies).
 * - At each level, alternately (EM) a PatchMatch nearest-neighbour field (NNF) of the patches overlapping the hole to
 *   fully-known source patches (propagation + random search with radius ratio α), and a reconstruction of each
 *   hole pixel as the weighted average of what the patches covering it propose, with weights
 *   exp(−d / 2σ²) and σ² the 75th percentile of those patches' distances (adaptive per pixel).
 * - Onion-peel initialisation at the coarsest level: the patches centred on known pixels that meet the hole are
 *   matched first, then the hole layer by layer from its border; each layer is matched with the distance over the
 *   already-known part of its patches (exhaustively when the level is small, `exactSearchPairs`) and reconstructed by
 *   the weighted mean of the matched patches covering it (`init: onion-centre`, the former variant, copied the centre
 *   of each pixel's own match). NNF upsampling between levels; best-patch reconstruction at the finest level
 *   (sharper than the average).
 * - Texture features (|∂x u|, |∂y u| of the grey image averaged over a window) appended to the colour channels in the
 *   patch distance, reconstructed in the hole like colours.
 * - `blend: poisson` (default; not in the paper): the finest hole is re-solved in the gradient domain with the
 *   gradients of the source pixels it was copied from and the known pixels as boundary values, which removes the
 *   steps where copies from differently lit places meet (sky gradients, large holes in photos).
 *
 * Work is bounded: at most `emIterations` EM steps of at most `pmIterations` PatchMatch passes per level, one pass of
 * the onion peel, an exhaustive search only below `exactSearchPairs` patch pairs, at most 2000 conjugate-gradient
 * iterations; each is linear in the number of hole pixels.
 *
 * Internals use interleaved (HWC) float32 buffers per level so that one patch row is one contiguous run; source
 * patches lie fully inside the image and fully in the known region of the level where they are searched.
 */
import { z } from 'zod';
import { assertBinaryMask, InputError, Rng, Tensor4 } from '@diff2s/core';
import type { Guide, GuideContext, GuideOptions, Logger, RegistryEntry, SizeSupport } from '@diff2s/core';
import { nearestKnown } from './baselines';
import { focusOf, runPerImage, throwIfAborted, yieldToEventLoop } from './common';

/** Options of the patch guide (see {@link patchGuideConfig} for defaults). */
export interface PatchOptions {
  /** Patch side (odd). Newson et al. use 7. */
  patchSize: number;
  /** Pyramid levels, or `auto` (from the hole's erosion depth). */
  levels: 'auto' | number;
  /** PatchMatch iterations per EM step. */
  pmIterations: number;
  /** Stop PatchMatch early once an iteration lowers the total patch distance by less than this fraction (0 = never). */
  pmMinChange: number;
  /** Most EM steps (NNF + reconstruction) at the coarsest level. */
  emIterations: number;
  /** Most EM steps at the finest level; levels in between interpolate linearly (fine levels start from a good NNF). */
  emIterationsFinest: number;
  /** Stop a level's EM loop when the mean absolute change of the hole (in [-1,1] units) falls below this. */
  emTolerance: number;
  /** Random-search radius ratio α (radius halves for α = 0.5). */
  alpha: number;
  /** Percentile (0–100) of the patch distances covering a pixel used as σ² of the weights. */
  sigmaPercentile: number;
  /**
   * Add gradient texture features to the patch distance (default on: without them the blurred coarse
   * reconstructions tend to match smooth source regions, leaving pale, flat fills in textured images).
   */
  textureFeatures: boolean;
  /** Weight λ of the texture features in the squared distance (features in the same [-1,1] units as colours). */
  featureWeight: number;
  /** Reconstruct the finest level from the single best patch (true, as in the paper) or by the weighted average. */
  bestPatchAtFinest: boolean;
  /**
   * Pyramid depth rule (`levels: auto`): the fewest levels for which the hole's erosion depth at the coarsest level
   * is at most this many pixels (the patch half-size r when `null`).
   */
  coarsestDepth: number | null;
  /** Pyramid filter: `box` (2×2 mean) or `gaussian` (a 4×4 binomial kernel over the known pixels, then decimation). */
  downsample: 'box' | 'gaussian';
  /**
   * Coarsest-level initialisation: `onion-centre` (each layer pixel copies the centre of its best partial match) or
   * `onion` (each layer is matched with the partial distance, then reconstructed by the weighted mean of the
   * patches already matched that cover it).
   */
  init: 'onion-centre' | 'onion';
  /**
   * Search exhaustively (every source for every patch) in the initialisation when the level's sources × targets is at
   * most this many patch pairs (0 = never); the work stays bounded whatever the hole.
   */
  exactSearchPairs: number;
  /**
   * `poisson`: after the finest reconstruction, re-solve the hole colours in the gradient domain (Δu = div v with
   * u = the known pixels on the hole's border, v the gradients of the source pixels each hole pixel was copied from),
   * so that copies from differently lit places meet without a step. `none`: the reconstruction as it is.
   */
  blend: 'none' | 'poisson';
}

/** One pyramid level: interleaved data (K values per pixel) and its hole (1 = hole). */
export interface PatchLevel {
  w: number;
  h: number;
  /** Values per pixel: image channels (+ 2 texture features). */
  k: number;
  data: Float32Array;
  hole: Uint8Array;
}

/** Grow a binary H×W map by `r` pixels (square element), separably. */
export function dilateBinary(src: Uint8Array, h: number, w: number, r: number): Uint8Array {
  if (r <= 0) return src.slice();
  const tmp = new Uint8Array(h * w);
  const out = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    let last = -1e9;
    for (let x = 0; x < w; x++) {
      if (src[row + x]) last = x;
      if (x - last <= r) tmp[row + x] = 1;
    }
    last = 1e9;
    for (let x = w - 1; x >= 0; x--) {
      if (src[row + x]) last = x;
      if (last - x <= r) tmp[row + x] = 1;
    }
  }
  for (let x = 0; x < w; x++) {
    let last = -1e9;
    for (let y = 0; y < h; y++) {
      if (tmp[y * w + x]) last = y;
      if (y - last <= r) out[y * w + x] = 1;
    }
    last = 1e9;
    for (let y = h - 1; y >= 0; y--) {
      if (tmp[y * w + x]) last = y;
      if (last - y <= r) out[y * w + x] = 1;
    }
  }
  return out;
}

/**
 * Erosion depth of a hole: how many 1-pixel erosions (square element) make it vanish, i.e. the largest chessboard
 * distance from a hole pixel to the known region (0 for no hole).
 */
export function erosionDepth(hole: Uint8Array, h: number, w: number): number {
  if (!hole.subarray(0, h * w).includes(0)) return Math.max(h, w);
  const { distance } = nearestKnown(hole, h, w);
  let depth = 0;
  for (let p = 0; p < distance.length; p++) if (distance[p] > depth) depth = distance[p];
  return depth;
}

/** Level 0 of the pyramid from a [1,C,H,W] image and mask (+ texture features when asked). */
export function makeFinestLevel(image: Tensor4, mask: Tensor4, features: { window: number; weight: number } | null): PatchLevel {
  const { c, h, w } = image;
  const hw = h * w;
  const k = c + (features ? 2 : 0);
  const data = new Float32Array(hw * k);
  assertBinaryMask(mask, 'patch guide: mask');
  const hole = Uint8Array.from(mask.data.subarray(0, hw));
  for (let ch = 0; ch < c; ch++) {
    const b = ch * hw;
    for (let p = 0; p < hw; p++) data[p * k + ch] = hole[p] ? 0 : image.data[b + p];
  }
  if (features) addTextureFeatures(image, hole, data, k, c, features.window, Math.sqrt(features.weight));
  return { w, h, k, data, hole };
}

/**
 * Texture features (Newson et al. §2.3): |∂x u| and |∂y u| of the grey image u (channel mean), forward differences
 * between known pixels only, averaged over a (2·window+1)² box among the known derivatives; scaled by √λ so the
 * squared distance weighs them by λ. Written at channel offsets c and c+1 of the interleaved data.
 */
function addTextureFeatures(image: Tensor4, hole: Uint8Array, data: Float32Array, k: number, c: number, window: number, scale: number): void {
  const { h, w } = image;
  const hw = h * w;
  const gray = new Float32Array(hw);
  for (let ch = 0; ch < c; ch++) for (let p = 0; p < hw; p++) gray[p] += image.data[ch * hw + p] / c;
  // integral images of gx, gy and of their validity
  const W1 = w + 1;
  const ix = new Float64Array((h + 1) * W1), iy = new Float64Array((h + 1) * W1);
  const nx = new Float64Array((h + 1) * W1), ny = new Float64Array((h + 1) * W1);
  for (let y = 0; y < h; y++) {
    let sx = 0, sy = 0, cx = 0, cy = 0;
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      if (x + 1 < w && !hole[p] && !hole[p + 1]) { sx += Math.abs(gray[p + 1] - gray[p]); cx++; }
      if (y + 1 < h && !hole[p] && !hole[p + w]) { sy += Math.abs(gray[p + w] - gray[p]); cy++; }
      const i = (y + 1) * W1 + x + 1;
      ix[i] = ix[i - W1] + sx; iy[i] = iy[i - W1] + sy; nx[i] = nx[i - W1] + cx; ny[i] = ny[i - W1] + cy;
    }
  }
  const box = (a: Float64Array, x0: number, y0: number, x1: number, y1: number): number =>
    a[y1 * W1 + x1] - a[y0 * W1 + x1] - a[y1 * W1 + x0] + a[y0 * W1 + x0];
  for (let y = 0; y < h; y++) {
    const y0 = Math.max(0, y - window), y1 = Math.min(h, y + window + 1);
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      if (hole[p]) continue;
      const x0 = Math.max(0, x - window), x1 = Math.min(w, x + window + 1);
      const cxv = box(nx, x0, y0, x1, y1), cyv = box(ny, x0, y0, x1, y1);
      data[p * k + c] = cxv > 0 ? (scale * box(ix, x0, y0, x1, y1)) / cxv : 0;
      data[p * k + c + 1] = cyv > 0 ? (scale * box(iy, x0, y0, x1, y1)) / cyv : 0;
    }
  }
}

/** Binomial taps [1,3,3,1]/8 around the two children 2x, 2x+1 (offsets −1..2). */
const BINOMIAL4 = [1 / 8, 3 / 8, 3 / 8, 1 / 8];

/**
 * Halve a level: a pixel is hole if any of its (up to 4) children is; values are the children's mean (`box`) or the
 * 4×4 binomial average of the known fine pixels around them (`gaussian`: a low-pass before decimation that sees no
 * hole value).
 */
export function downsampleLevel(src: PatchLevel, filter: 'box' | 'gaussian' = 'box'): PatchLevel {
  if (filter === 'gaussian') return downsampleGaussian(src);
  const { w, h, k } = src;
  const w2 = (w + 1) >> 1, h2 = (h + 1) >> 1;
  const data = new Float32Array(w2 * h2 * k);
  const hole = new Uint8Array(w2 * h2);
  for (let y = 0; y < h2; y++) {
    for (let x = 0; x < w2; x++) {
      const q = y * w2 + x;
      let n = 0, anyHole = 0;
      for (let dy = 0; dy < 2; dy++) {
        const yy = 2 * y + dy;
        if (yy >= h) continue;
        for (let dx = 0; dx < 2; dx++) {
          const xx = 2 * x + dx;
          if (xx >= w) continue;
          const p = yy * w + xx;
          anyHole |= src.hole[p];
          for (let c = 0; c < k; c++) data[q * k + c] += src.data[p * k + c];
          n++;
        }
      }
      for (let c = 0; c < k; c++) data[q * k + c] /= n;
      hole[q] = anyHole;
    }
  }
  return { w: w2, h: h2, k, data, hole };
}

function downsampleGaussian(src: PatchLevel): PatchLevel {
  const { w, h, k } = src;
  const w2 = (w + 1) >> 1, h2 = (h + 1) >> 1;
  const data = new Float32Array(w2 * h2 * k);
  const hole = new Uint8Array(w2 * h2);
  const acc = new Float64Array(k);
  for (let y = 0; y < h2; y++) {
    for (let x = 0; x < w2; x++) {
      const q = y * w2 + x;
      let anyHole = 0;
      for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) {
        const yy = 2 * y + dy, xx = 2 * x + dx;
        if (yy < h && xx < w) anyHole |= src.hole[yy * w + xx];
      }
      hole[q] = anyHole;
      if (anyHole) continue; // hole values are filled by the inpainting; known ones never see a hole value
      acc.fill(0);
      let wsum = 0;
      for (let ty = 0; ty < 4; ty++) {
        const yy = 2 * y - 1 + ty;
        if (yy < 0 || yy >= h) continue;
        for (let tx = 0; tx < 4; tx++) {
          const xx = 2 * x - 1 + tx;
          if (xx < 0 || xx >= w) continue;
          const p = yy * w + xx;
          if (src.hole[p]) continue;
          const wt = BINOMIAL4[ty] * BINOMIAL4[tx];
          wsum += wt;
          for (let c = 0; c < k; c++) acc[c] += wt * src.data[p * k + c];
        }
      }
      for (let c = 0; c < k; c++) data[q * k + c] = acc[c] / wsum;
    }
  }
  return { w: w2, h: h2, k, data, hole };
}

/**
 * Sum of squared differences between the patch (half-size r) at target `q` and at source `s` of interleaved data
 * with k values per pixel, over the in-image part of the target patch (the source patch is inside the image).
 * Stops early (after a pixel) once the sum reaches `best`.
 */
function patchDistance(data: Float32Array, w: number, h: number, k: number, r: number, q: number, s: number, best: number): number {
  const qy = (q / w) | 0, qx = q - qy * w;
  const y0 = qy < r ? -qy : -r, y1 = h - 1 - qy < r ? h - 1 - qy : r;
  const x0 = qx < r ? -qx : -r, x1 = w - 1 - qx < r ? w - 1 - qx : r;
  const len = (x1 - x0 + 1) * k;
  const rowStep = w * k;
  let a = (q + y0 * w + x0) * k;
  let b = (s + y0 * w + x0) * k;
  let sum = 0;
  for (let dy = y0; dy <= y1; dy++, a += rowStep, b += rowStep) {
    for (let i = 0; i < len;) {
      for (const e = i + k; i < e; i++) {
        const d = data[a + i] - data[b + i];
        sum += d * d;
      }
      if (sum >= best) return sum;
    }
  }
  return sum;
}

/** The `rank`-th smallest (0-based) of `a[0..n)`, which it reorders (Hoare's quickselect, median-of-three pivots). */
function selectRank(a: Float64Array, n: number, rank: number): number {
  let lo = 0, hi = n - 1;
  while (hi > lo) {
    const mid = (lo + hi) >> 1;
    // median of a[lo], a[mid], a[hi] as the pivot
    let x = a[lo], y = a[mid], z = a[hi];
    if (x > y) { const t = x; x = y; y = t; }
    if (y > z) { y = z; if (x > y) y = x; }
    const pivot = y;
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) { const t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
    }
    if (rank <= j) hi = j;
    else if (rank >= i) lo = i;
    else return a[rank];
  }
  return a[rank];
}

/**
 * The weighted mean of the n values proposed at `sbuf[j]` (pixel indices of interleaved `data`, k values each) with
 * weights exp(−d_j/(2σ²)), d_j = `dbuf[j]` (mean squared patch distances) and σ² their `percentile`-th percentile;
 * written to `vals`. `sorted` is scratch space of at least n values.
 */
function weightedValue(data: Float32Array, k: number, dbuf: Float64Array, sbuf: Int32Array, sorted: Float64Array, n: number, percentile: number, vals: Float64Array): void {
  // sigma^2 = percentile of the distances: the rank-th smallest (selected in a preallocated buffer), and the minimum
  let dmin = Infinity;
  for (let j = 0; j < n; j++) {
    const v = dbuf[j];
    sorted[j] = v;
    if (v < dmin) dmin = v;
  }
  const rank = Math.min(n - 1, Math.max(0, Math.ceil((percentile / 100) * n) - 1));
  const sigma2 = Math.max(selectRank(sorted, n, rank), 1e-12);
  const inv = -1 / (2 * sigma2);
  vals.fill(0);
  let wsum = 0;
  for (let j = 0; j < n; j++) {
    const wt = Math.exp((dbuf[j] - dmin) * inv); // shifted by the minimum: same ratios, no underflow
    wsum += wt;
    const b = sbuf[j] * k;
    for (let c = 0; c < k; c++) vals[c] += wt * data[b + c];
  }
  for (let c = 0; c < k; c++) vals[c] /= wsum;
}

/**
 * PatchMatch and reconstruction on one level, for patches of half-size `r`.
 * Targets: pixels whose patch meets the hole. Sources: pixels whose patch lies inside the image and in the known
 * region. Distances are sums of squared differences over the in-image part of the target patch (early-terminated).
 */
export class LevelMatcher {
  readonly valid: Uint8Array;
  readonly sources: Int32Array;
  /** Pixels whose patch meets the hole (or, after {@link restrict}, the pixels being filled). */
  targets: Int32Array;
  /** The hole pixels being filled (all of the level's hole, or the focus after {@link restrict}). */
  holes: Int32Array;
  /** NNF: per pixel the source pixel index of its match (-1 for non-targets). */
  readonly nnf: Int32Array;
  /** Per pixel the (unnormalised) distance to its match. */
  readonly dist: Float64Array;
  /** Per hole pixel: the source pixel its value was copied from by the last `best` reconstruction (-1 before). */
  readonly copiedFrom: Int32Array;
  private readonly dbuf: Float64Array;
  private readonly sortbuf: Float64Array;
  private readonly sbuf: Int32Array;

  constructor(readonly level: PatchLevel, readonly r: number, readonly rng: Rng, readonly alpha: number) {
    const { w, h, hole } = level;
    const hw = w * h;
    const near = dilateBinary(hole, h, w, r);
    this.valid = new Uint8Array(hw);
    const src: number[] = [];
    const tg: number[] = [];
    const hl: number[] = [];
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const p = y * w + x;
        if (near[p]) tg.push(p);
        if (hole[p]) hl.push(p);
        if (!near[p] && x >= r && x < w - r && y >= r && y < h - r) { this.valid[p] = 1; src.push(p); }
      }
    }
    this.sources = Int32Array.from(src);
    this.targets = Int32Array.from(tg);
    this.holes = Int32Array.from(hl);
    this.nnf = new Int32Array(hw).fill(-1);
    this.dist = new Float64Array(hw);
    this.copiedFrom = new Int32Array(hw).fill(-1);
    const p2 = (2 * r + 1) * (2 * r + 1);
    this.dbuf = new Float64Array(p2);
    this.sortbuf = new Float64Array(p2);
    this.sbuf = new Int32Array(p2);
  }

  /**
   * From now on fill only the hole pixels of `active` (a subset of the level's hole): the targets become the pixels
   * whose patch meets `active`; the rest of the hole keeps its values and is never a source (the sources are those of
   * the whole hole). Their NNF entries are kept.
   */
  restrict(active: Uint8Array): void {
    const { w, h, hole } = this.level;
    const near = dilateBinary(active, h, w, this.r);
    const tg: number[] = [];
    const hl: number[] = [];
    for (let p = 0; p < w * h; p++) {
      if (near[p]) tg.push(p);
      if (active[p] && hole[p]) hl.push(p);
    }
    this.targets = Int32Array.from(tg);
    this.holes = Int32Array.from(hl);
  }

  /** A uniformly drawn source pixel. */
  randomSource(): number {
    return this.sources[this.rng.int(this.sources.length)];
  }

  /** Distance between the patch at target `q` and at source `s`; stops early once it reaches `best`. */
  distance(q: number, s: number, best: number): number {
    const l = this.level;
    return patchDistance(l.data, l.w, l.h, l.k, this.r, q, s, best);
  }

  /** Number of pixels of the in-image part of the patch at `q`. */
  patchArea(q: number): number {
    const { w, h } = this.level;
    const r = this.r;
    const qy = (q / w) | 0, qx = q - qy * w;
    return ((qy < r ? qy : r) + (h - 1 - qy < r ? h - 1 - qy : r) + 1) * ((qx < r ? qx : r) + (w - 1 - qx < r ? w - 1 - qx : r) + 1);
  }

  /** Give every target without a valid match a random source. */
  initRandom(): void {
    const t = this.targets;
    for (let i = 0; i < t.length; i++) {
      const q = t[i];
      if (this.nnf[q] < 0 || !this.valid[this.nnf[q]]) this.nnf[q] = this.randomSource();
    }
  }

  /** Recompute every target's distance to its current match (after the image changed). */
  recomputeDistances(): void {
    const t = this.targets;
    for (let i = 0; i < t.length; i++) this.dist[t[i]] = this.distance(t[i], this.nnf[t[i]], Infinity);
  }

  /** Mean over targets of the per-value squared distance to the match. */
  meanDistance(): number {
    const t = this.targets;
    let s = 0;
    for (let i = 0; i < t.length; i++) s += this.dist[t[i]] / (this.patchArea(t[i]) * this.level.k);
    return t.length ? s / t.length : 0;
  }

  /**
   * One PatchMatch iteration: raster order (even `iter`) or reverse (odd), propagation then random search.
   * Returns the total decrease of the targets' distances (0 when nothing improved).
   */
  iterate(iter: number): number {
    const { w, h } = this.level;
    const r = this.r;
    const t = this.targets, nnf = this.nnf, dist = this.dist, valid = this.valid;
    const forward = iter % 2 === 0;
    const step = forward ? 1 : -1;
    const xlo = r, xhi = w - 1 - r, ylo = r, yhi = h - 1 - r;
    const maxRadius = Math.max(w, h);
    const alpha = this.alpha;
    const rng = this.rng;
    const { data, k } = this.level;
    const dist_ = (q: number, s: number, b: number): number => patchDistance(data, w, h, k, r, q, s, b);
    let improved = 0;
    for (let i = forward ? 0 : t.length - 1; i >= 0 && i < t.length; i += step) {
      const q = t[i];
      const qy = (q / w) | 0, qx = q - qy * w;
      let best = dist[q], bestS = nnf[q];
      // propagation from the left/up (forward) or right/down (backward) neighbour
      const nx = qx - step, ny = qy - step;
      if (nx >= 0 && nx < w) {
        const ns = nnf[q - step];
        if (ns >= 0) {
          const cand = ns + step;
          const cx = cand - ((cand / w) | 0) * w;
          if (cx >= xlo && cx <= xhi && valid[cand] && cand !== bestS) {
            const d = dist_(q, cand, best);
            if (d < best) { best = d; bestS = cand; }
          }
        }
      }
      if (ny >= 0 && ny < h) {
        const ns = nnf[q - step * w];
        if (ns >= 0) {
          const cand = ns + step * w;
          if (cand >= 0 && cand < valid.length && valid[cand] && cand !== bestS) {
            const d = dist_(q, cand, best);
            if (d < best) { best = d; bestS = cand; }
          }
        }
      }
      // random search around the current best, radius ratio alpha
      const sy = (bestS / w) | 0, sx = bestS - sy * w;
      for (let rad = maxRadius; rad >= 1; rad *= alpha) {
        let cx = Math.round(sx + rad * (2 * rng.uniform() - 1));
        let cy = Math.round(sy + rad * (2 * rng.uniform() - 1));
        if (cx < xlo) cx = xlo; else if (cx > xhi) cx = xhi;
        if (cy < ylo) cy = ylo; else if (cy > yhi) cy = yhi;
        const cand = cy * w + cx;
        if (!valid[cand] || cand === bestS) continue;
        const d = dist_(q, cand, best);
        if (d < best) { best = d; bestS = cand; }
      }
      improved += dist[q] - best;
      dist[q] = best;
      nnf[q] = bestS;
    }
    return improved;
  }

  /**
   * Up to `iterations` PatchMatch iterations, stopping early (after at least one forward and one backward pass) once
   * an iteration lowers the targets' total distance by less than the fraction `minChange`. Returns the number run.
   */
  patchMatch(iterations: number, minChange: number): number {
    for (let it = 0; it < iterations; it++) {
      const decrease = this.iterate(it);
      if (it >= 1 && minChange > 0) {
        let total = 0;
        for (let i = 0; i < this.targets.length; i++) total += this.dist[this.targets[i]];
        if (decrease <= minChange * total) return it + 1;
      }
    }
    return iterations;
  }

  /**
   * Rewrite every hole pixel from the patches that cover it: `weighted` = Σ w·value / Σ w with
   * w = exp(−d/(2σ²)), d the patch's mean squared distance and σ² the `percentile`-th percentile of those d;
   * `best` = the value proposed by the closest patch. Returns the mean absolute change of the first `channels` values.
   */
  reconstruct(mode: 'weighted' | 'best', percentile: number, channels: number): number {
    const { w, h, k, data } = this.level;
    const r = this.r;
    const holes = this.holes, nnf = this.nnf, dist = this.dist;
    const dbuf = this.dbuf, sbuf = this.sbuf, sorted = this.sortbuf;
    const vals = new Float64Array(k);
    const fullArea = (2 * r + 1) * (2 * r + 1);
    let change = 0;
    for (let i = 0; i < holes.length; i++) {
      const p = holes[i];
      const py = (p / w) | 0, px = p - py * w;
      let n = 0;
      for (let dy = -r; dy <= r; dy++) {
        const qy = py + dy;
        if (qy < 0 || qy >= h) continue;
        for (let dx = -r; dx <= r; dx++) {
          const qx = px + dx;
          if (qx < 0 || qx >= w) continue;
          const q = qy * w + qx;
          const s = nnf[q];
          if (s < 0) continue;
          dbuf[n] = dist[q] / (qx >= r && qx < w - r && qy >= r && qy < h - r ? fullArea : this.patchArea(q));
          sbuf[n] = s - dy * w - dx;
          n++;
        }
      }
      if (n === 0) continue;
      if (mode === 'best') {
        let bi = 0;
        for (let j = 1; j < n; j++) if (dbuf[j] < dbuf[bi]) bi = j;
        const b = sbuf[bi] * k;
        this.copiedFrom[p] = sbuf[bi];
        for (let c = 0; c < k; c++) vals[c] = data[b + c];
      } else {
        weightedValue(data, k, dbuf, sbuf, sorted, n, percentile, vals);
      }
      const o = p * k;
      for (let c = 0; c < k; c++) {
        if (c < channels) change += Math.abs(vals[c] - data[o + c]);
        data[o + c] = vals[c];
      }
    }
    return holes.length ? change / (holes.length * channels) : 0;
  }

  /**
   * Onion-peel initialisation (coarsest level): fill the hole layer by layer from its border; each pixel gets the
   * centre value of its best match, the distance counting only the already-known pixels of its patch.
   */
  onionPeel(): void {
    const { w, h, k, data, hole } = this.level;
    const r = this.r;
    const hw = w * h;
    const known = new Uint8Array(hw);
    for (let p = 0; p < hw; p++) known[p] = hole[p] ? 0 : 1;
    let remaining = this.holes.length;
    const layer = new Int32Array(this.holes.length);
    const xlo = r, xhi = w - 1 - r, ylo = r, yhi = h - 1 - r;
    const maxRadius = Math.max(w, h);
    const rng = this.rng;
    const maskedDistance = (q: number, s: number): number => {
      const qy = (q / w) | 0, qx = q - qy * w;
      const y0 = qy < r ? -qy : -r, y1 = h - 1 - qy < r ? h - 1 - qy : r;
      const x0 = qx < r ? -qx : -r, x1 = w - 1 - qx < r ? w - 1 - qx : r;
      let sum = 0, cnt = 0;
      for (let dy = y0; dy <= y1; dy++) {
        for (let dx = x0; dx <= x1; dx++) {
          const a = q + dy * w + dx;
          if (!known[a]) continue;
          const b = (s + dy * w + dx) * k;
          const ak = a * k;
          for (let c = 0; c < k; c++) { const e = data[ak + c] - data[b + c]; sum += e * e; }
          cnt++;
        }
      }
      return cnt ? sum / cnt : Infinity;
    };
    while (remaining > 0) {
      let nl = 0;
      for (let i = 0; i < this.holes.length; i++) {
        const p = this.holes[i];
        if (known[p]) continue;
        const py = (p / w) | 0, px = p - py * w;
        let border = false;
        for (let yy = Math.max(0, py - 1); yy <= Math.min(h - 1, py + 1) && !border; yy++) {
          for (let xx = Math.max(0, px - 1); xx <= Math.min(w - 1, px + 1); xx++) if (known[yy * w + xx]) { border = true; break; }
        }
        if (border) layer[nl++] = p;
      }
      if (nl === 0) break; // cannot happen when some pixel is known
      for (let i = 0; i < nl; i++) {
        const p = layer[i];
        const py = (p / w) | 0, px = p - py * w;
        let bestS = this.nnf[p] >= 0 && this.valid[this.nnf[p]] ? this.nnf[p] : this.randomSource();
        let best = maskedDistance(p, bestS);
        // candidates propagated from already-filled hole neighbours
        for (let yy = Math.max(0, py - 1); yy <= Math.min(h - 1, py + 1); yy++) {
          for (let xx = Math.max(0, px - 1); xx <= Math.min(w - 1, px + 1); xx++) {
            const n = yy * w + xx;
            if (n === p || !hole[n] || !known[n]) continue;
            const cand = this.nnf[n] + (p - n);
            if (cand < 0 || cand >= hw) continue;
            const cx = cand - ((cand / w) | 0) * w;
            if (Math.abs(cx - (this.nnf[n] - ((this.nnf[n] / w) | 0) * w)) > 1 || !this.valid[cand]) continue;
            const d = maskedDistance(p, cand);
            if (d < best) { best = d; bestS = cand; }
          }
        }
        for (let j = 0; j < 4; j++) {
          const cand = this.randomSource();
          const d = maskedDistance(p, cand);
          if (d < best) { best = d; bestS = cand; }
        }
        const sy = (bestS / w) | 0, sx = bestS - sy * w;
        for (let rad = maxRadius; rad >= 1; rad *= this.alpha) {
          let cx = Math.round(sx + rad * (2 * rng.uniform() - 1));
          let cy = Math.round(sy + rad * (2 * rng.uniform() - 1));
          if (cx < xlo) cx = xlo; else if (cx > xhi) cx = xhi;
          if (cy < ylo) cy = ylo; else if (cy > yhi) cy = yhi;
          const cand = cy * w + cx;
          if (!this.valid[cand]) continue;
          const d = maskedDistance(p, cand);
          if (d < best) { best = d; bestS = cand; }
        }
        this.nnf[p] = bestS;
        for (let c = 0; c < k; c++) data[p * k + c] = data[bestS * k + c];
      }
      for (let i = 0; i < nl; i++) known[layer[i]] = 1;
      remaining -= nl;
    }
  }

  /**
   * Onion-peel initialisation after Newson et al. (IPOL 2017 and SIAM 2014, "initialisation"): the patches that meet the hole
   * but are centred on known pixels are matched first; then the hole is peeled layer by layer from its border: each
   * layer's patches are matched with the distance over their already-known pixels (known or filled in an earlier
   * layer), then each layer pixel is reconstructed as the weighted mean (weights exp(−d/2σ²), σ² the `percentile`-th
   * percentile of the covering patches' d) of what the matched patches covering it propose. The search is exhaustive
   * when the level's sources × targets is at most `exactPairs`, else PatchMatch-like (propagation from matched neighbours,
   * random candidates, random search).
   */
  onionPeelWeighted(percentile: number, exactPairs: number): void {
    const { w, h, k, data, hole } = this.level;
    const r = this.r;
    const hw = w * h;
    const known = new Uint8Array(hw);
    for (let p = 0; p < hw; p++) known[p] = hole[p] ? 0 : 1;
    const matched = new Uint8Array(hw);
    const nnf = this.nnf, dist = this.dist, valid = this.valid, sources = this.sources;
    const exact = exactPairs > 0 && sources.length * this.targets.length <= exactPairs;
    const xlo = r, xhi = w - 1 - r, ylo = r, yhi = h - 1 - r;
    const maxRadius = Math.max(w, h);
    const rng = this.rng;
    // known pixels of the patch at q (offsets into the level) and their count
    const offs = new Int32Array((2 * r + 1) * (2 * r + 1));
    let nOff = 0;
    const gather = (q: number): void => {
      const qy = (q / w) | 0, qx = q - qy * w;
      nOff = 0;
      for (let dy = -r; dy <= r; dy++) {
        const yy = qy + dy;
        if (yy < 0 || yy >= h) continue;
        for (let dx = -r; dx <= r; dx++) {
          const xx = qx + dx;
          if (xx < 0 || xx >= w || !known[yy * w + xx]) continue;
          offs[nOff++] = dy * w + dx;
        }
      }
    };
    const partial = (q: number, s: number, best: number): number => {
      let sum = 0;
      for (let i = 0; i < nOff; i++) {
        const a = (q + offs[i]) * k, b = (s + offs[i]) * k;
        for (let c = 0; c < k; c++) { const e = data[a + c] - data[b + c]; sum += e * e; }
        if (sum >= best) return sum;
      }
      return sum;
    };
    const matchOne = (q: number): void => {
      gather(q);
      if (nOff === 0) { nnf[q] = this.randomSource(); dist[q] = Infinity; return; }
      let bestS = nnf[q] >= 0 && valid[nnf[q]] ? nnf[q] : this.randomSource();
      let best = partial(q, bestS, Infinity);
      const tryS = (cand: number): void => {
        if (cand === bestS) return;
        const d = partial(q, cand, best);
        if (d < best) { best = d; bestS = cand; }
      };
      if (exact) {
        for (let i = 0; i < sources.length; i++) tryS(sources[i]);
      } else {
        const qy = (q / w) | 0, qx = q - qy * w;
        for (let yy = Math.max(0, qy - 1); yy <= Math.min(h - 1, qy + 1); yy++) {
          for (let xx = Math.max(0, qx - 1); xx <= Math.min(w - 1, qx + 1); xx++) {
            const n = yy * w + xx;
            if (n === q || !matched[n]) continue;
            const ns = nnf[n];
            const sy = ((ns / w) | 0) + (qy - yy), sx = ns - ((ns / w) | 0) * w + (qx - xx);
            if (sx < xlo || sx > xhi || sy < ylo || sy > yhi) continue;
            const cand = sy * w + sx;
            if (valid[cand]) tryS(cand);
          }
        }
        for (let j = 0; j < 8; j++) tryS(this.randomSource());
        for (let pass = 0; pass < 2; pass++) {
          const sy = (bestS / w) | 0, sx = bestS - sy * w;
          for (let rad = maxRadius; rad >= 1; rad *= this.alpha) {
            let cx = Math.round(sx + rad * (2 * rng.uniform() - 1));
            let cy = Math.round(sy + rad * (2 * rng.uniform() - 1));
            if (cx < xlo) cx = xlo; else if (cx > xhi) cx = xhi;
            if (cy < ylo) cy = ylo; else if (cy > yhi) cy = yhi;
            const cand = cy * w + cx;
            if (valid[cand]) tryS(cand);
          }
        }
      }
      nnf[q] = bestS;
      dist[q] = best / nOff;
    };
    // the patches centred on known pixels that meet the hole
    const t = this.targets;
    for (let i = 0; i < t.length; i++) {
      if (!known[t[i]]) continue;
      matchOne(t[i]);
      matched[t[i]] = 1;
    }
    const holes = this.holes;
    const layer = new Int32Array(holes.length);
    const dbuf = this.dbuf, sbuf = this.sbuf, sorted = this.sortbuf;
    const vals = new Float64Array(k);
    let remaining = holes.length;
    while (remaining > 0) {
      let nl = 0;
      for (let i = 0; i < holes.length; i++) {
        const p = holes[i];
        if (known[p]) continue;
        const py = (p / w) | 0, px = p - py * w;
        let border = false;
        for (let yy = Math.max(0, py - 1); yy <= Math.min(h - 1, py + 1) && !border; yy++) {
          for (let xx = Math.max(0, px - 1); xx <= Math.min(w - 1, px + 1); xx++) if (known[yy * w + xx]) { border = true; break; }
        }
        if (border) layer[nl++] = holes[i];
      }
      if (nl === 0) break; // cannot happen when some pixel is known
      for (let i = 0; i < nl; i++) matchOne(layer[i]);
      for (let i = 0; i < nl; i++) matched[layer[i]] = 1;
      for (let i = 0; i < nl; i++) {
        const p = layer[i];
        const py = (p / w) | 0, px = p - py * w;
        let n = 0;
        for (let dy = -r; dy <= r; dy++) {
          const qy = py + dy;
          if (qy < 0 || qy >= h) continue;
          for (let dx = -r; dx <= r; dx++) {
            const qx = px + dx;
            if (qx < 0 || qx >= w) continue;
            const q = qy * w + qx;
            if (!matched[q] || !Number.isFinite(dist[q])) continue;
            dbuf[n] = dist[q];
            sbuf[n] = nnf[q] - dy * w - dx;
            n++;
          }
        }
        if (n === 0) { for (let c = 0; c < k; c++) data[p * k + c] = data[nnf[p] * k + c]; continue; }
        weightedValue(data, k, dbuf, sbuf, sorted, n, percentile, vals);
        for (let c = 0; c < k; c++) data[p * k + c] = vals[c];
      }
      for (let i = 0; i < nl; i++) known[layer[i]] = 1;
      remaining -= nl;
    }
  }

  /**
   * Initialise this (finer) level from the coarser one: the NNF is upsampled (φ(p) = 2φ(⌊p/2⌋) + p mod 2, replaced
   * by a random source where that is not a valid source here) and hole pixels take their parent's value.
   */
  upsampleFrom(coarse: LevelMatcher): void {
    const { w, h, k, data, hole } = this.level;
    const cw = coarse.level.w;
    const cdata = coarse.level.data;
    const t = this.targets;
    for (let i = 0; i < t.length; i++) {
      const q = t[i];
      const qy = (q / w) | 0, qx = q - qy * w;
      const c = (qy >> 1) * cw + (qx >> 1);
      const cs = coarse.nnf[c];
      let s = -1;
      if (cs >= 0) {
        const sy = 2 * ((cs / cw) | 0) + (qy & 1), sx = 2 * (cs - ((cs / cw) | 0) * cw) + (qx & 1);
        if (sx < w && sy < h) {
          const cand = sy * w + sx;
          if (this.valid[cand]) s = cand;
        }
      }
      this.nnf[q] = s >= 0 ? s : this.randomSource();
    }
    const hw = w * h;
    for (let p = 0; p < hw; p++) {
      if (!hole[p]) continue;
      const y = (p / w) | 0, x = p - y * w;
      const c = (y >> 1) * cw + (x >> 1);
      for (let ch = 0; ch < k; ch++) data[p * k + ch] = cdata[c * k + ch];
    }
  }
}

/**
 * Gradient-domain re-solve of the hole (the first `channels` values of `level`): for every hole pixel p and 4-neighbour
 * p', u(p') − u(p) should equal the guidance g(p, p'), the mean of the step at p's source (`from[p]` + (p' − p) minus
 * `from[p]`) and, for a hole neighbour, the same step at p''s source; known neighbours are fixed (Dirichlet). The
 * normal equations (a graph Laplacian, symmetric positive definite) are solved by conjugate gradients from the
 * current values, at most `maxIterations` iterations (the work is linear in the hole per iteration). Values are
 * clamped to [-1, 1].
 */
export function poissonBlend(level: PatchLevel, from: Int32Array, channels: number, maxIterations: number): number {
  const { w, h, k, data, hole } = level;
  const hw = w * h;
  const idx = new Int32Array(hw).fill(-1);
  const px: number[] = [];
  for (let p = 0; p < hw; p++) if (hole[p] && from[p] >= 0) { idx[p] = px.length; px.push(p); }
  const n = px.length;
  if (n === 0) return 0;
  const nb = new Int32Array(n * 4).fill(-2); // -2: outside the image; -1: known; else the unknown's index
  const deg = new Float64Array(n);
  const steps = [-w, w, -1, 1];
  for (let i = 0; i < n; i++) {
    const p = px[i];
    const y = (p / w) | 0, x = p - y * w;
    const inside = [y > 0, y < h - 1, x > 0, x < w - 1];
    for (let j = 0; j < 4; j++) {
      if (!inside[j]) continue;
      const q = p + steps[j];
      nb[i * 4 + j] = idx[q] >= 0 ? idx[q] : -1;
      deg[i]++;
    }
  }
  const b = new Float64Array(n), u = new Float64Array(n), res = new Float64Array(n), dir = new Float64Array(n), ad = new Float64Array(n);
  let iterations = 0;
  for (let c = 0; c < channels; c++) {
    // right-hand side: Σ_neighbours (known value or 0) − Σ g(p, p')
    for (let i = 0; i < n; i++) {
      const p = px[i], s = from[p];
      u[i] = data[p * k + c];
      let rhs = 0;
      for (let j = 0; j < 4; j++) {
        const t = nb[i * 4 + j];
        if (t === -2) continue;
        const q = p + steps[j];
        let g = data[(s + steps[j]) * k + c] - data[s * k + c];
        if (t >= 0) {
          const sq = from[q];
          g = 0.5 * (g + data[sq * k + c] - data[(sq - steps[j]) * k + c]);
        } else {
          rhs += data[q * k + c];
        }
        rhs -= g;
      }
      b[i] = rhs;
    }
    const apply = (v: Float64Array, out: Float64Array): void => {
      for (let i = 0; i < n; i++) {
        let a = deg[i] * v[i];
        for (let j = 0; j < 4; j++) { const t = nb[i * 4 + j]; if (t >= 0) a -= v[t]; }
        out[i] = a;
      }
    };
    apply(u, ad);
    let rr = 0, bb = 0;
    for (let i = 0; i < n; i++) { res[i] = b[i] - ad[i]; dir[i] = res[i]; rr += res[i] * res[i]; bb += b[i] * b[i]; }
    const tol = 1e-10 * Math.max(bb, 1e-12);
    for (let it = 0; it < maxIterations && rr > tol; it++) {
      apply(dir, ad);
      let pAp = 0;
      for (let i = 0; i < n; i++) pAp += dir[i] * ad[i];
      const alpha = rr / pAp;
      let rr2 = 0;
      for (let i = 0; i < n; i++) { u[i] += alpha * dir[i]; res[i] -= alpha * ad[i]; rr2 += res[i] * res[i]; }
      const beta = rr2 / rr;
      rr = rr2;
      for (let i = 0; i < n; i++) dir[i] = res[i] + beta * dir[i];
      iterations++;
    }
    for (let i = 0; i < n; i++) data[px[i] * k + c] = u[i] < -1 ? -1 : u[i] > 1 ? 1 : u[i];
  }
  return iterations;
}

/** Result of {@link computeNnf}. */
export interface NnfResult {
  /** Per pixel: index (y·W + x) of the matched source patch centre, -1 for pixels whose patch misses the hole. */
  nnf: Int32Array;
  /** Mean per-value squared patch distance over the targets after the random initialisation and each iteration. */
  meanDistances: number[];
}

/**
 * A PatchMatch NNF on a single image (no pyramid, no reconstruction): for every patch that meets the hole of `mask`,
 * the best fully-known source patch. `image`'s hole values are used as they are (fill them first).
 * Exposed for tests and experiments; distances never increase from one iteration to the next.
 */
export function computeNnf(
  image: Tensor4,
  mask: Tensor4,
  options: { rng: Rng; patchSize?: number; iterations?: number; alpha?: number },
): NnfResult {
  const level = makeFinestLevel(image, mask, null);
  // keep the hole's given values (makeFinestLevel zeroes them)
  const hw = image.h * image.w;
  for (let c = 0; c < image.c; c++) for (let p = 0; p < hw; p++) level.data[p * level.k + c] = image.data[c * hw + p];
  const r = ((options.patchSize ?? 7) - 1) >> 1;
  const m = new LevelMatcher(level, r, options.rng, options.alpha ?? 0.5);
  if (m.sources.length === 0) throw new InputError('no fully-known patch inside the image to match against');
  m.initRandom();
  m.recomputeDistances();
  const meanDistances = [m.meanDistance()];
  for (let it = 0; it < (options.iterations ?? 10); it++) {
    m.iterate(it);
    meanDistances.push(m.meanDistance());
  }
  return { nnf: m.nnf, meanDistances };
}

/** Config of the `patch` guide. */
export const patchGuideConfig = z
  .object({
    patchSize: z.number().int().min(3).max(21).refine((v) => v % 2 === 1, 'patchSize must be odd').default(7),
    levels: z.union([z.literal('auto'), z.number().int().min(1).max(12)]).default('auto'),
    pmIterations: z.number().int().min(1).max(100).default(10),
    pmMinChange: z.number().min(0).max(1).default(0.01),
    emIterations: z.number().int().min(1).max(100).default(10),
    emIterationsFinest: z.number().int().min(1).max(100).default(3),
    emTolerance: z.number().min(0).default(2e-3),
    alpha: z.number().gt(0).lt(1).default(0.5),
    sigmaPercentile: z.number().gt(0).max(100).default(75),
    textureFeatures: z.boolean().default(true),
    featureWeight: z.number().min(0).default(50),
    bestPatchAtFinest: z.boolean().default(true),
    coarsestDepth: z.number().positive().nullable().default(14),
    downsample: z.enum(['box', 'gaussian']).default('box'),
    init: z.enum(['onion-centre', 'onion']).default('onion'),
    exactSearchPairs: z.number().int().min(0).default(4_000_000),
    blend: z.enum(['none', 'poisson']).default('poisson'),
  })
  .strict();

/** Newson et al.'s non-local patch inpainting (see the file comment). Needs known pixels; any size (small images use smaller patches). */
export class PatchGuide implements Guide {
  readonly name = 'patch';
  readonly sizes: SizeSupport = { min: 1, max: Infinity, multiple: 1, fullMask: false };

  constructor(readonly options: PatchOptions, private readonly logger?: Logger) {}

  async inpaint(image: Tensor4, mask: Tensor4, options: GuideOptions): Promise<Tensor4> {
    return runPerImage(image, mask, options, { guide: this.name, fullMask: false, sizes: this.sizes }, (img, m, i, progress) =>
      this.inpaintOne(img, m, options, progress, focusOf(this.name, options, mask, i)),
    );
  }

  /** One image; with `focus` (H×W, a part of the hole), the finest level fills only that part (see GuideOptions.focus). */
  private async inpaintOne(image: Tensor4, mask: Tensor4, options: GuideOptions, progress: (f: number, label?: string) => void,
    focus?: Uint8Array): Promise<Tensor4> {
    const o = this.options;
    const { h, w, c } = image;
    let r = (o.patchSize - 1) >> 1;
    const hole0 = Uint8Array.from(mask.data);
    // small images / holes leaving no fully-known patch: shrink the patch until some source exists
    const hasSource = (hole: Uint8Array, hh: number, ww: number, rr: number): boolean => {
      if (ww < 2 * rr + 1 || hh < 2 * rr + 1) return false;
      const near = dilateBinary(hole, hh, ww, rr);
      for (let y = rr; y < hh - rr; y++) for (let x = rr; x < ww - rr; x++) if (!near[y * ww + x]) return true;
      return false;
    };
    while (r > 0 && !hasSource(hole0, h, w, r)) r--;
    if (r !== (o.patchSize - 1) >> 1) {
      this.logger?.debug(`patch guide: no fully-known ${o.patchSize}x${o.patchSize} patch in this ${w}x${h} image; using ${2 * r + 1}x${2 * r + 1}`);
    }
    const depth = erosionDepth(hole0, h, w);
    const coarsestDepth = o.coarsestDepth ?? Math.max(r, 1);
    let levels = o.levels === 'auto' ? 1 + Math.max(0, Math.ceil(Math.log2(depth / coarsestDepth))) : o.levels;
    const featureWindow = Math.max(1, 1 << Math.max(0, levels - 1));
    const finest = makeFinestLevel(image, mask, o.textureFeatures ? { window: featureWindow, weight: o.featureWeight } : null);
    const pyramid: PatchLevel[] = [finest];
    while (pyramid.length < levels) {
      const next = downsampleLevel(pyramid[pyramid.length - 1], o.downsample);
      if (Math.min(next.w, next.h) < 2 * r + 1 || !hasSource(next.hole, next.h, next.w, r)) break;
      pyramid.push(next);
    }
    levels = pyramid.length;
    this.logger?.debug(`patch guide: ${w}x${h}, hole depth ${depth}, ${levels} level(s), patch ${2 * r + 1}x${2 * r + 1}`);
    const rng = options.rng;
    let prev: LevelMatcher | null = null;
    // progress weights: proportional to the level's hole size
    const weights = pyramid.map((l) => l.hole.reduce((a, b) => a + b, 0) + 1);
    const total = weights.reduce((a, b) => a + b, 0);
    let done = 0;
    for (let l = levels - 1; l >= 0; l--) {
      const level = pyramid[l];
      const m = new LevelMatcher(level, r, rng, o.alpha);
      if (prev) {
        // Newson et al.: the finer level starts from the image the upsampled NNF reconstructs
        m.upsampleFrom(prev);
        m.recomputeDistances();
        m.reconstruct('weighted', o.sigmaPercentile, c);
      } else {
        m.initRandom();
        if (o.init === 'onion') m.onionPeelWeighted(o.sigmaPercentile, o.exactSearchPairs);
        else m.onionPeel();
      }
      m.initRandom();
      const finestLevel = l === 0;
      if (finestLevel && focus) {
        // the rest of the hole keeps the fill the coarser level's NNF reconstructs (the finest level's start)
        const all = m.holes.length;
        m.restrict(focus);
        this.logger?.debug(`patch guide: the finest level fills the focus only (${m.holes.length} of ${all} hole pixels)`);
      }
      const emIterations = levels === 1 ? o.emIterations : Math.round(o.emIterationsFinest + ((o.emIterations - o.emIterationsFinest) * l) / (levels - 1));
      for (let it = 0; it < emIterations; it++) {
        throwIfAborted(options.signal, 'patch guide');
        m.recomputeDistances();
        m.patchMatch(o.pmIterations, o.pmMinChange);
        const change = m.reconstruct('weighted', o.sigmaPercentile, c);
        progress((done + (weights[l] * (it + 1)) / emIterations) / total, `level ${levels - l}/${levels}, EM ${it + 1}`);
        await yieldToEventLoop();
        if (change < o.emTolerance) break;
      }
      if (finestLevel && o.bestPatchAtFinest) {
        m.recomputeDistances();
        m.patchMatch(o.pmIterations, o.pmMinChange);
        m.reconstruct('best', o.sigmaPercentile, c);
      }
      if (finestLevel && o.blend === 'poisson' && r >= 1) {
        if (!o.bestPatchAtFinest) {
          // the weighted mean has no single source per pixel: take the best covering patch's
          m.recomputeDistances();
          const saved = level.data.slice();
          m.reconstruct('best', o.sigmaPercentile, c);
          level.data.set(saved);
        }
        poissonBlend(level, m.copiedFrom, c, Math.min(2000, 50 + 4 * Math.ceil(Math.sqrt(m.holes.length))));
      }
      done += weights[l];
      prev = m;
    }
    // the finest level, de-interleaved; runPerImage pastes the known pixels back from the input
    const out = image.zerosLike();
    const hw = h * w;
    const k = finest.k;
    for (let ch = 0; ch < c; ch++) {
      const b = ch * hw;
      for (let p = 0; p < hw; p++) out.data[b + p] = finest.data[p * k + ch];
    }
    return out;
  }
}

/** Registry entry: `patch`. */
export const patchGuideEntry: RegistryEntry<Guide, z.infer<typeof patchGuideConfig>, GuideContext> = {
  name: 'patch',
  description: 'non-local patch-based inpainting (Newson et al., IPOL 2017): PatchMatch + multi-scale EM, no training',
  configSchema: patchGuideConfig,
  create: (config, context) => new PatchGuide(config, context.logger),
};
