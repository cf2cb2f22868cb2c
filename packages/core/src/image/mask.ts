import sharp from 'sharp';
import type { Metadata, OutputInfo } from 'sharp';
import { InputError } from '../errors';
import { assertBinaryMask, Tensor4, type Rect } from '../tensor';
import { DEFAULT_PIXEL_LIMIT } from './io';
import { readInputFile } from '../fsutil';

/**
 * Mask file polarity. `hole-white` (default): white = hole. `known-white`: white = known (RePaint, MAT masks).
 * In memory a mask is always [N, 1, H, W] with 1 = hole, 0 = known.
 */
export type MaskConvention = 'hole-white' | 'known-white';

export interface LoadMaskOptions {
  convention?: MaskConvention;
  /** Size the mask must have ({ width, height }, usually the image's). */
  expect?: { width: number; height: number };
  /** Resize (nearest neighbour) to `expect` instead of refusing a different size. Default false. */
  resize?: boolean;
  /**
   * How the size-mismatch error tells the user to allow resizing, in their terms (a CLI names its config key).
   * Default: `pass resize: true`.
   */
  resizeHint?: string;
  /** Called with a warning message (non-binary mask thresholded). Default: console.warn. */
  onWarning?: (message: string) => void;
  pixelLimit?: number;
}

/**
 * Load a mask file as [1, 1, H, W] (1 = hole). Colour masks use their luma; an alpha channel is ignored.
 * Values are thresholded at 0.5 (8-bit: ≥ 128 is white); if any value is not pure black or white, a warning says
 * how many were thresholded.
 */
export async function loadMask(file: string, options: LoadMaskOptions = {}): Promise<Tensor4> {
  const input = await readInputFile(file, 'mask');
  return decodeMask(input, file, options);
}

/** Like {@link loadMask} on bytes in memory; `name` is used in messages. */
export async function decodeMask(input: Uint8Array, name: string, options: LoadMaskOptions = {}): Promise<Tensor4> {
  const limit = options.pixelLimit ?? DEFAULT_PIXEL_LIMIT;
  let meta: Metadata;
  try {
    meta = await sharp(input, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new InputError(`mask ${name} is not a readable image (${(err as Error).message})`, name, { cause: err });
  }
  // EXIF orientation is applied, as for images (a mask drawn on a photo as displayed)
  const turned = (meta.orientation ?? 1) >= 5;
  const w0 = (turned ? meta.height : meta.width) ?? 0, h0 = (turned ? meta.width : meta.height) ?? 0;
  if (w0 * h0 > limit) throw new InputError(`mask ${name} is ${w0}x${h0}, over the pixel limit of ${limit}`, name);
  const exp = options.expect;
  if (exp && (exp.width !== w0 || exp.height !== h0) && !options.resize) {
    throw new InputError(
      `mask ${name} is ${w0}x${h0} but the image is ${exp.width}x${exp.height} (${options.resizeHint ?? 'pass resize: true'} to scale it, nearest neighbour)`,
      name,
    );
  }
  let pipe = sharp(input, { limitInputPixels: limit, failOn: 'warning' }).rotate().removeAlpha().greyscale();
  if (exp && (exp.width !== w0 || exp.height !== h0)) {
    pipe = pipe.resize(exp.width, exp.height, { kernel: 'nearest', fit: 'fill' });
  }
  let raw: { data: Buffer; info: OutputInfo };
  try {
    raw = await pipe.raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new InputError(`mask ${name} could not be decoded: ${(err as Error).message}`, name, { cause: err });
  }
  const { width, height, channels } = raw.info;
  const holeIsWhite = (options.convention ?? 'hole-white') === 'hole-white';
  const m = new Tensor4([1, 1, height, width]);
  let grey = 0;
  for (let p = 0; p < width * height; p++) {
    const v = raw.data[p * channels];
    if (v !== 0 && v !== 255) grey++;
    const white = v >= 128;
    m.data[p] = white === holeIsWhite ? 1 : 0;
  }
  if (grey > 0) {
    (options.onWarning ?? ((s: string) => console.warn(s)))(
      `warning: mask ${name} is not binary (${grey} of ${width * height} pixels are neither black nor white); thresholded at 0.5`,
    );
  }
  return m;
}

/** Validate that `mask` is [N,1,H,W] with values in {0,1} and fits an image of `width`×`height`. */
export function validateMask(mask: Tensor4, width: number, height: number, name = 'mask'): void {
  if (mask.c !== 1) throw new InputError(`${name} must have 1 channel, has ${mask.c}`);
  if (mask.w !== width || mask.h !== height) {
    throw new InputError(`${name} is ${mask.w}x${mask.h} but the image is ${width}x${height}`);
  }
  assertBinaryMask(mask, name);
}

/** 1 − mask (hole ↔ known). */
export function invertMask(mask: Tensor4): Tensor4 {
  const out = mask.zerosLike();
  for (let i = 0; i < mask.size; i++) out.data[i] = mask.data[i] !== 0 ? 0 : 1;
  return out;
}

/** A mask as an image in [-1, 1] (same shape): hole white (1), known black (−1), as mask files are drawn. */
export function maskToImage(mask: Tensor4): Tensor4 {
  const out = mask.zerosLike();
  for (let i = 0; i < mask.size; i++) out.data[i] = mask.data[i] !== 0 ? 1 : -1;
  return out;
}

/** Fraction of hole pixels, per image of the batch. */
export function holeFraction(mask: Tensor4): number[] {
  const hw = mask.h * mask.w;
  const out: number[] = [];
  for (let i = 0; i < mask.n; i++) {
    let s = 0;
    for (let p = 0; p < hw; p++) if (mask.data[i * hw + p] !== 0) s++;
    out.push(s / hw);
  }
  return out;
}

/** Bounding box of the hole of image `index`: inclusive x0,y0, exclusive x1,y1; null if there is no hole. */
export function maskBoundingBox(mask: Tensor4, index = 0): { x0: number; y0: number; x1: number; y1: number } | null {
  const { h, w } = mask;
  const base = index * h * w;
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (mask.data[base + y * w + x] !== 0) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  return x1 < 0 ? null : { x0, y0, x1: x1 + 1, y1: y1 + 1 };
}

/** The bounding box of the non-zero pixels of a mask [N,1,H,W] over all its images ({@link maskBoundingBox}'s union); undefined when it has none. */
export function maskBounds(mask: Tensor4): Rect | undefined {
  let out: Rect | undefined;
  for (let i = 0; i < mask.n; i++) {
    const b = maskBoundingBox(mask, i);
    if (!b) continue;
    out = out ? { x0: Math.min(out.x0, b.x0), y0: Math.min(out.y0, b.y0), x1: Math.max(out.x1, b.x1), y1: Math.max(out.y1, b.y1) } : b;
  }
  return out;
}

/**
 * Grow the hole by `radius` pixels (square structuring element, i.e. Chebyshev distance), separably: O(HW·r).
 * `erodeMask` shrinks it. Both return new tensors.
 */
export function dilateMask(mask: Tensor4, radius: number): Tensor4 {
  return morph(mask, radius, true);
}

/** Shrink the hole by `radius` pixels (see {@link dilateMask}). */
export function erodeMask(mask: Tensor4, radius: number): Tensor4 {
  return morph(mask, radius, false);
}

function morph(mask: Tensor4, radius: number, grow: boolean): Tensor4 {
  if (!Number.isInteger(radius) || radius < 0) throw new RangeError(`radius must be a non-negative integer, got ${radius}`);
  const { h, w } = mask;
  const hw = h * w;
  const out = mask.clone();
  if (radius === 0) return out;
  const tmp = new Uint8Array(hw);
  const near = new Float64Array(w);
  const target = grow ? 1 : 0; // value that spreads
  for (let i = 0; i < mask.n; i++) {
    const src = mask.data.subarray(i * hw, (i + 1) * hw);
    const dst = out.data.subarray(i * hw, (i + 1) * hw);
    // horizontal pass: tmp = 1 if any pixel within radius in the row has the spreading value
    for (let y = 0; y < h; y++) {
      let last = -Infinity; // last x with spreading value at or before x+radius
      // scan with a running "distance to nearest spreading value" from left and right
      const row = y * w;
      for (let x = 0; x < w; x++) {
        if (src[row + x] === target) last = x;
        near[x] = x - last;
      }
      last = Infinity;
      for (let x = w - 1; x >= 0; x--) {
        if (src[row + x] === target) last = x;
        near[x] = Math.min(near[x], last - x);
        tmp[row + x] = near[x] <= radius ? 1 : 0;
      }
    }
    // vertical pass over tmp
    const col = new Float64Array(h);
    for (let x = 0; x < w; x++) {
      let last = -Infinity;
      for (let y = 0; y < h; y++) {
        if (tmp[y * w + x]) last = y;
        col[y] = y - last;
      }
      last = Infinity;
      for (let y = h - 1; y >= 0; y--) {
        if (tmp[y * w + x]) last = y;
        const d = Math.min(col[y], last - y);
        dst[y * w + x] = d <= radius ? target : 1 - target;
      }
    }
  }
  return out;
}

/**
 * Apply a mask to an image: returns a copy of `image` (or writes into `out`, which may be `image`) with hole pixels set
 * to `fill` — one value (default 0, mid-grey in [-1,1]) or one per channel.
 */
export function applyMask(image: Tensor4, mask: Tensor4, fill: number | ArrayLike<number> = 0, into?: Tensor4): Tensor4 {
  const out = into ?? image.clone();
  if (into && into !== image) into.copyFrom(image);
  const hw = image.h * image.w;
  for (let i = 0; i < image.n; i++) {
    for (let c = 0; c < image.c; c++) {
      const b = (i * image.c + c) * hw;
      const v = typeof fill === 'number' ? fill : fill[c];
      for (let p = 0; p < hw; p++) if (mask.data[i * hw + p] !== 0) out.data[b + p] = v;
    }
  }
  return out;
}

/** Per-channel mean of the known pixels (mask 0) of image `index`; 0 for an image without known pixels. */
export function knownMean(image: Tensor4, mask: Tensor4, index = 0): number[] {
  const hw = image.h * image.w;
  const m = mask.data.subarray(index * hw, (index + 1) * hw);
  const out: number[] = [];
  for (let c = 0; c < image.c; c++) {
    const b = (index * image.c + c) * hw;
    let s = 0, k = 0;
    for (let p = 0; p < hw; p++) if (m[p] === 0) { s += image.data[b + p]; k++; }
    out.push(k ? s / k : 0);
  }
  return out;
}
