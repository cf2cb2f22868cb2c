/**
 * Mask generators: pure functions of a size and an {@link Rng} (same seed → same mask), each returning a
 * [1, 1, H, W] tensor with 1 = hole, 0 = known.
 *
 * - `freeform`: free-form brush strokes of DeepFill v2 (Yu et al. 2019): 1–3 strokes of 4–12 vertices,
 *   width 12–40 px at 256 px (scaled to the image size), round joints, random flips.
 * - `mat-small` / `mat-large`: MAT's training/evaluation masks (Li et al. 2022, `mask_generator_512[_small].py`):
 *   random rectangles plus brush strokes, resampled until the hole fraction is inside the hole range.
 * - RePaint's test masks: `thick` and `thin` (LaMa's `random_thick_256` / `random_thin_256` generators that
 *   RePaint's thick/thin sets come from), `ex64` (keep only a 64×64 centre), `genhalf` (half the image is hole),
 *   `nn2` (super-resolution ×2: keep every 2nd pixel of every 2nd row), `ev2li` (keep every 2nd row).
 * {@link generateMask} dispatches on the type name.
 */
import { ConfigError } from '../errors';
import type { Rng } from '../rng';
import { Tensor4 } from '../tensor';

/** A mask size: a square side, or width × height. */
export type MaskSize = number | { width: number; height: number };

/** The generator names {@link generateMask} accepts. */
export const MASK_TYPES = ['freeform', 'thick', 'thin', 'ex64', 'genhalf', 'nn2', 'ev2li', 'mat-small', 'mat-large'] as const;
export type MaskType = (typeof MASK_TYPES)[number];

function dims(size: MaskSize): { width: number; height: number } {
  const d = typeof size === 'number' ? { width: size, height: size } : size;
  if (!Number.isInteger(d.width) || !Number.isInteger(d.height) || d.width < 1 || d.height < 1) {
    throw new ConfigError(`mask size must be positive integers, got ${d.width}x${d.height}`);
  }
  return d;
}

/** Uniform integer in [lo, hi] (inclusive). */
function intIn(rng: Rng, lo: number, hi: number): number {
  return hi <= lo ? lo : lo + rng.int(hi - lo + 1);
}

/** Set to 1 every pixel whose centre lies within `radius` of the segment (x0,y0)–(x1,y1): a thick line, round caps. */
function drawCapsule(m: Float32Array, w: number, h: number, x0: number, y0: number, x1: number, y1: number, radius: number): void {
  const r = Math.max(radius, 0.5);
  const xa = Math.max(0, Math.floor(Math.min(x0, x1) - r)), xb = Math.min(w - 1, Math.ceil(Math.max(x0, x1) + r));
  const ya = Math.max(0, Math.floor(Math.min(y0, y1) - r)), yb = Math.min(h - 1, Math.ceil(Math.max(y0, y1) + r));
  const dx = x1 - x0, dy = y1 - y0;
  const len2 = dx * dx + dy * dy;
  const r2 = r * r;
  for (let y = ya; y <= yb; y++) {
    for (let x = xa; x <= xb; x++) {
      let u = len2 > 0 ? ((x - x0) * dx + (y - y0) * dy) / len2 : 0;
      u = u < 0 ? 0 : u > 1 ? 1 : u;
      const px = x0 + u * dx - x, py = y0 + u * dy - y;
      if (px * px + py * py <= r2) m[y * w + x] = 1;
    }
  }
}

/** Hole = 1 on the clipped rectangle [x, x+rw) × [y, y+rh). */
function fillRect(m: Float32Array, w: number, h: number, x: number, y: number, rw: number, rh: number): void {
  for (let yy = Math.max(0, y); yy < Math.min(h, y + rh); yy++) {
    for (let xx = Math.max(0, x); xx < Math.min(w, x + rw); xx++) m[yy * w + xx] = 1;
  }
}

function flipInPlace(m: Float32Array, w: number, h: number, horizontal: boolean): void {
  if (horizontal) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w >> 1; x++) {
        const a = y * w + x, b = y * w + (w - 1 - x);
        const t = m[a]; m[a] = m[b]; m[b] = t;
      }
    }
  } else {
    for (let y = 0; y < h >> 1; y++) {
      for (let x = 0; x < w; x++) {
        const a = y * w + x, b = (h - 1 - y) * w + x;
        const t = m[a]; m[a] = m[b]; m[b] = t;
      }
    }
  }
}

function fraction(m: Float32Array): number {
  let s = 0;
  for (let i = 0; i < m.length; i++) s += m[i];
  return s / m.length;
}

// ---------------------------------------------------------------------------------------------------------------
// Free-form strokes (DeepFill v2) and MAT

/** Options of {@link freeformMask}; ranges are inclusive, widths in pixels at `referenceSize`. */
export interface FreeformMaskOptions {
  minStrokes?: number;
  maxStrokes?: number;
  minVertices?: number;
  maxVertices?: number;
  minWidth?: number;
  maxWidth?: number;
  /** The image side the widths are given for (default 256); widths scale by min(H, W) / referenceSize. */
  referenceSize?: number;
  /** Mean turning angle (default 2π/5) and its random range (default 2π/15). */
  meanAngle?: number;
  angleRange?: number;
}

/**
 * Draw `strokes` DeepFill-v2 brush strokes into `m`: each a polyline from a random vertex, segment lengths
 * N(r̄, r̄/2) clipped to [0, 2r̄] with r̄ = √(H²+W²)/8, turning angles alternating around ±meanAngle, one width per
 * stroke, round joints.
 */
function drawStrokes(
  m: Float32Array, w: number, h: number, rng: Rng, strokes: number,
  o: { minVertices: number; maxVertices: number; minWidth: number; maxWidth: number; meanAngle: number; angleRange: number },
): void {
  const avgRadius = Math.sqrt(h * h + w * w) / 8;
  for (let s = 0; s < strokes; s++) {
    const nv = intIn(rng, o.minVertices, o.maxVertices);
    const angleMin = o.meanAngle - rng.range(0, o.angleRange);
    const angleMax = o.meanAngle + rng.range(0, o.angleRange);
    const angles: number[] = [];
    for (let i = 0; i < nv; i++) {
      const a = rng.range(angleMin, angleMax);
      angles.push(i % 2 === 0 ? 2 * Math.PI - a : a);
    }
    const verts: [number, number][] = [[rng.int(w), rng.int(h)]];
    for (let i = 0; i < nv; i++) {
      const r = Math.min(Math.max(avgRadius + (avgRadius / 2) * rng.normal(), 0), 2 * avgRadius);
      const [px, py] = verts[verts.length - 1];
      const nx = Math.min(Math.max(px + r * Math.cos(angles[i]), 0), w);
      const ny = Math.min(Math.max(py + r * Math.sin(angles[i]), 0), h);
      verts.push([Math.trunc(nx), Math.trunc(ny)]);
    }
    const width = Math.max(1, rng.range(o.minWidth, o.maxWidth));
    for (let i = 1; i < verts.length; i++) {
      drawCapsule(m, w, h, verts[i - 1][0], verts[i - 1][1], verts[i][0], verts[i][1], width / 2);
    }
  }
}

/** DeepFill v2 free-form mask (Yu et al.): 1–3 strokes, 4–12 vertices, width 12–40 at 256 px; random flips. */
export function freeformMask(size: MaskSize, rng: Rng, options: FreeformMaskOptions = {}): Tensor4 {
  const { width: w, height: h } = dims(size);
  const scale = Math.min(w, h) / (options.referenceSize ?? 256);
  const m = new Float32Array(w * h);
  const strokes = intIn(rng, options.minStrokes ?? 1, options.maxStrokes ?? 3);
  drawStrokes(m, w, h, rng, strokes, {
    minVertices: options.minVertices ?? 4,
    maxVertices: options.maxVertices ?? 12,
    minWidth: (options.minWidth ?? 12) * scale,
    maxWidth: (options.maxWidth ?? 40) * scale,
    meanAngle: options.meanAngle ?? (2 * Math.PI) / 5,
    angleRange: options.angleRange ?? (2 * Math.PI) / 15,
  });
  if (rng.uniform() > 0.5) flipInPlace(m, w, h, true);
  if (rng.uniform() > 0.5) flipInPlace(m, w, h, false);
  return new Tensor4([1, 1, h, w], m);
}

/** Options of {@link matMask}. */
export interface MatMaskOptions {
  /** Accepted hole fractions, exclusive bounds (MAT: [0, 1], i.e. any non-empty, non-full mask). */
  holeRange?: [number, number];
  /** Resampling attempts before the last mask is returned anyway (default 100). */
  maxTries?: number;
}

/**
 * MAT's masks (`RandomMask` of mask_generator_512.py / _small.py): up to k₁ rectangles of side < S/2 and k₂ of
 * side < S (each may stick out of the image), plus up to k₃ brush strokes (4–17 vertices, width 12–48 at 512 px);
 * large: k = (5, 3, 9), small: (3, 2, 4). Resampled until the hole fraction is strictly inside `holeRange`.
 */
export function matMask(size: MaskSize, rng: Rng, variant: 'small' | 'large', options: MatMaskOptions = {}): Tensor4 {
  const { width: w, height: h } = dims(size);
  const [lo, hi] = options.holeRange ?? [0, 1];
  const coef = Math.min(lo + hi, 1);
  const [k1, k2, k3] = variant === 'large' ? [5, 3, 9] : [3, 2, 4];
  const scale = Math.min(w, h) / 512;
  const tries = options.maxTries ?? 100;
  let m = new Float32Array(w * h);
  for (let attempt = 0; attempt < tries; attempt++) {
    m = new Float32Array(w * h);
    const multiFill = (maxTries: number, maxW: number, maxH: number) => {
      const n = maxTries > 0 ? rng.int(maxTries) : 0;
      for (let i = 0; i < n; i++) {
        const rw = rng.int(Math.max(1, maxW)), rh = rng.int(Math.max(1, maxH));
        const ww = rw >> 1, hh = rh >> 1;
        const x = intIn(rng, -ww, w - rw + ww - 1), y = intIn(rng, -hh, h - rh + hh - 1);
        fillRect(m, w, h, x, y, rw, rh);
      }
    };
    multiFill(Math.trunc(k1 * coef), w >> 1, h >> 1);
    multiFill(Math.trunc(k2 * coef), w, h);
    const brushTries = Math.trunc(k3 * coef);
    const strokes = brushTries > 0 ? rng.int(brushTries) : 0;
    const brush = new Float32Array(w * h);
    drawStrokes(brush, w, h, rng, strokes, {
      minVertices: 4, maxVertices: 17, minWidth: 12 * scale, maxWidth: 48 * scale,
      meanAngle: (2 * Math.PI) / 5, angleRange: (2 * Math.PI) / 15,
    });
    if (rng.uniform() > 0.5) flipInPlace(brush, w, h, false);
    if (rng.uniform() > 0.5) flipInPlace(brush, w, h, true);
    for (let i = 0; i < m.length; i++) if (brush[i] > 0) m[i] = 1;
    const f = fraction(m);
    if (f > lo && f < hi) break;
  }
  return new Tensor4([1, 1, h, w], m);
}

// ---------------------------------------------------------------------------------------------------------------
// LaMa thick / thin (RePaint's thick and thin test sets)

/** Options of {@link thickMask} / {@link thinMask}: LaMa's irregular-stroke and box parameters at 256 px. */
export interface LamaMaskOptions {
  minTimes?: number;
  maxTimes?: number;
  maxWidth?: number;
  maxAngle?: number;
  maxLen?: number;
  /** Probability weight of a box mask instead of strokes (thick: 0.3 against strokes' 1; thin: 0). */
  boxProba?: number;
  /** Masks with a larger hole fraction are redrawn (LaMa's max_tamper_area, 0.5). */
  maxHoleFraction?: number;
  /** Image side the pixel parameters are given for (256); they scale by min(H, W) / referenceSize. */
  referenceSize?: number;
}

function lamaMask(size: MaskSize, rng: Rng, defaults: Required<Omit<LamaMaskOptions, 'referenceSize' | 'maxHoleFraction'>>, options: LamaMaskOptions): Tensor4 {
  const { width: w, height: h } = dims(size);
  const o = { ...defaults, ...options };
  const scale = Math.min(w, h) / (options.referenceSize ?? 256);
  const maxFrac = options.maxHoleFraction ?? 0.5;
  let m = new Float32Array(w * h);
  for (let attempt = 0; attempt < 100; attempt++) {
    m = new Float32Array(w * h);
    const useBox = o.boxProba > 0 && rng.uniform() * (1 + o.boxProba) >= 1;
    if (useBox) {
      const margin = Math.round(10 * scale);
      const bmin = Math.max(1, Math.round(30 * scale));
      const bmax = Math.max(bmin + 1, Math.min(Math.round(150 * scale), h - 2 * margin, w - 2 * margin));
      const times = intIn(rng, 1, 3);
      for (let i = 0; i < times; i++) {
        const bw = intIn(rng, bmin, bmax - 1), bh = intIn(rng, bmin, bmax - 1);
        const x = intIn(rng, margin, Math.max(margin, w - margin - bw));
        const y = intIn(rng, margin, Math.max(margin, h - margin - bh));
        fillRect(m, w, h, x, y, bw, bh);
      }
    } else {
      const times = intIn(rng, o.minTimes, o.maxTimes);
      for (let i = 0; i < times; i++) {
        let sx = rng.int(w), sy = rng.int(h);
        const segments = 1 + rng.int(5);
        for (let j = 0; j < segments; j++) {
          let angle = 0.01 + rng.int(o.maxAngle);
          if (i % 2 === 0) angle = 2 * Math.PI - angle;
          const length = (10 + rng.int(o.maxLen)) * scale;
          const brush = Math.max(1, (5 + rng.int(o.maxWidth)) * scale);
          const ex = Math.min(Math.max(Math.trunc(sx + length * Math.sin(angle)), 0), w);
          const ey = Math.min(Math.max(Math.trunc(sy + length * Math.cos(angle)), 0), h);
          drawCapsule(m, w, h, sx, sy, ex, ey, brush / 2);
          sx = ex;
          sy = ey;
        }
      }
    }
    const f = fraction(m);
    if (f > 0 && f <= maxFrac) break;
  }
  return new Tensor4([1, 1, h, w], m);
}

/** LaMa's `random_thick_256` (RePaint's "thick"): 1–5 wide strokes (width 5–104 at 256 px), or 1–3 boxes (p ≈ 0.23). */
export function thickMask(size: MaskSize, rng: Rng, options: LamaMaskOptions = {}): Tensor4 {
  return lamaMask(size, rng, { minTimes: 1, maxTimes: 5, maxWidth: 100, maxAngle: 4, maxLen: 200, boxProba: 0.3 }, options);
}

/** LaMa's `random_thin_256` (RePaint's "thin"): 4–50 thin strokes (width 5–14 at 256 px). */
export function thinMask(size: MaskSize, rng: Rng, options: LamaMaskOptions = {}): Tensor4 {
  return lamaMask(size, rng, { minTimes: 4, maxTimes: 50, maxWidth: 10, maxAngle: 4, maxLen: 40, boxProba: 0 }, options);
}

// ---------------------------------------------------------------------------------------------------------------
// Fixed patterns

/** ex64 ("expand"): hole everywhere except a centred `keep`×`keep` square (default 64; smaller images keep all). */
export function ex64Mask(size: MaskSize, options: { keep?: number } = {}): Tensor4 {
  const { width: w, height: h } = dims(size);
  const keep = options.keep ?? 64;
  const kw = Math.min(keep, w), kh = Math.min(keep, h);
  const x0 = Math.floor((w - kw) / 2), y0 = Math.floor((h - kh) / 2);
  const m = new Float32Array(w * h).fill(1);
  for (let y = y0; y < y0 + kh; y++) for (let x = x0; x < x0 + kw; x++) m[y * w + x] = 0;
  return new Tensor4([1, 1, h, w], m);
}

/** Which half {@link genhalfMask} makes the hole. */
export type HalfSide = 'left' | 'right' | 'top' | 'bottom';

/**
 * genhalf: one half of the image is hole (default the right half: columns ⌊W/2⌋..W−1), or the side
 * `options.side`; `side: 'random'` picks one with `rng`.
 */
export function genhalfMask(size: MaskSize, rng?: Rng, options: { side?: HalfSide | 'random' } = {}): Tensor4 {
  const { width: w, height: h } = dims(size);
  let side = options.side ?? 'right';
  if (side === 'random') {
    if (!rng) throw new ConfigError('genhalf with side "random" needs an Rng');
    side = (['left', 'right', 'top', 'bottom'] as const)[rng.int(4)];
  }
  const m = new Float32Array(w * h);
  const hw = Math.floor(w / 2), hh = Math.floor(h / 2);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const hole = side === 'right' ? x >= hw : side === 'left' ? x < w - hw : side === 'bottom' ? y >= hh : y < h - hh;
      m[y * w + x] = hole ? 1 : 0;
    }
  }
  return new Tensor4([1, 1, h, w], m);
}

/** nn2 (super-resolution ×stride): known only where y % stride = 0 and x % stride = 0 (default stride 2: 3/4 hole). */
export function nn2Mask(size: MaskSize, options: { stride?: number } = {}): Tensor4 {
  const { width: w, height: h } = dims(size);
  const s = options.stride ?? 2;
  const m = new Float32Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) m[y * w + x] = y % s === 0 && x % s === 0 ? 0 : 1;
  return new Tensor4([1, 1, h, w], m);
}

/** ev2li (alternating lines): rows with y % stride = 0 are known, the others hole (default stride 2: 1/2 hole). */
export function ev2liMask(size: MaskSize, options: { stride?: number } = {}): Tensor4 {
  const { width: w, height: h } = dims(size);
  const s = options.stride ?? 2;
  const m = new Float32Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) m[y * w + x] = y % s === 0 ? 0 : 1;
  return new Tensor4([1, 1, h, w], m);
}

/** Options of {@link generateMask}, per type (each generator reads only its own keys). */
export type GenerateMaskOptions = FreeformMaskOptions & MatMaskOptions & LamaMaskOptions & {
  keep?: number;
  side?: HalfSide | 'random';
  stride?: number;
};

/**
 * A mask of the named type ([1, 1, H, W], 1 = hole), deterministic for a given generator state.
 * Types: freeform | thick | thin | ex64 | genhalf | nn2 | ev2li | mat-small | mat-large.
 */
export function generateMask(type: MaskType | string, size: MaskSize, rng: Rng, options: GenerateMaskOptions = {}): Tensor4 {
  switch (type) {
    case 'freeform': return freeformMask(size, rng, options);
    case 'thick': return thickMask(size, rng, options);
    case 'thin': return thinMask(size, rng, options);
    case 'ex64': return ex64Mask(size, options);
    case 'genhalf': return genhalfMask(size, rng, options);
    case 'nn2': return nn2Mask(size, options);
    case 'ev2li': return ev2liMask(size, options);
    case 'mat-small': return matMask(size, rng, 'small', options);
    case 'mat-large': return matMask(size, rng, 'large', options);
    default:
      throw new ConfigError(`unknown mask type "${type}"; known: ${MASK_TYPES.join(', ')}`, 'mask.type');
  }
}
