import { InputError } from './errors';

/** Shape of an image batch: [N, C, H, W]. */
export type Shape4 = readonly [number, number, number, number];

/**
 * A float32 NCHW tensor held in a plain typed array: the engine-neutral currency of diff2s.
 * Images are in [-1, 1]; masks are [N, 1, H, W] with 1 = hole, 0 = known.
 * Engines (tfjs, onnxruntime) convert at their boundary; samplers do their arithmetic on these buffers.
 */
export class Tensor4 {
  readonly shape: Shape4;
  readonly data: Float32Array;

  constructor(shape: Shape4 | number[], data?: Float32Array) {
    if (shape.length !== 4 || shape.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new InputError(`tensor shape must be 4 non-negative integers, got [${shape.join(', ')}]`);
    }
    this.shape = [shape[0], shape[1], shape[2], shape[3]] as const;
    const size = shape[0] * shape[1] * shape[2] * shape[3];
    if (data && data.length !== size) {
      throw new InputError(`tensor data has ${data.length} values, shape [${shape.join(', ')}] needs ${size}`);
    }
    this.data = data ?? new Float32Array(size);
  }

  get n(): number { return this.shape[0]; }
  get c(): number { return this.shape[1]; }
  get h(): number { return this.shape[2]; }
  get w(): number { return this.shape[3]; }
  /** Number of values. */
  get size(): number { return this.data.length; }
  /** Values per image (C·H·W). */
  get imageSize(): number { return this.shape[1] * this.shape[2] * this.shape[3]; }

  /** A new tensor of the given shape filled with `value`. */
  static full(shape: Shape4 | number[], value: number): Tensor4 {
    const t = new Tensor4(shape);
    t.data.fill(value);
    return t;
  }

  /** A deep copy. */
  clone(): Tensor4 {
    return new Tensor4(this.shape, new Float32Array(this.data));
  }

  /** A zero tensor with the same shape. */
  zerosLike(): Tensor4 {
    return new Tensor4(this.shape);
  }

  /** Copy values from `other` (same size) into this tensor; returns this. */
  copyFrom(other: Tensor4): this {
    assertSameShape(this, other, 'copyFrom');
    this.data.set(other.data);
    return this;
  }

  /** Index of (n, c, y, x) in `data`. */
  index(n: number, c: number, y: number, x: number): number {
    return ((n * this.shape[1] + c) * this.shape[2] + y) * this.shape[3] + x;
  }

  /** Image `i` of the batch as a new [1, C, H, W] tensor (a copy). */
  slice(i: number): Tensor4 {
    const s = this.imageSize;
    return new Tensor4([1, this.c, this.h, this.w], this.data.slice(i * s, (i + 1) * s));
  }

  /** Stack [1,C,H,W] (or [k,C,H,W]) tensors along the batch axis. */
  static concatBatch(parts: readonly Tensor4[]): Tensor4 {
    if (parts.length === 0) throw new InputError('concatBatch needs at least one tensor');
    const [, c, h, w] = parts[0].shape;
    let n = 0;
    for (const p of parts) {
      if (p.c !== c || p.h !== h || p.w !== w) {
        throw new InputError(`concatBatch: shape [${p.shape.join(', ')}] does not match [*, ${c}, ${h}, ${w}]`);
      }
      n += p.n;
    }
    const out = new Tensor4([n, c, h, w]);
    let off = 0;
    for (const p of parts) {
      out.data.set(p.data, off);
      off += p.size;
    }
    return out;
  }

  /** Repeat every image `times` times in a row (image 0 ×times, image 1 ×times, …): N samples per image. */
  repeatEach(times: number): Tensor4 {
    const s = this.imageSize;
    const out = new Tensor4([this.n * times, this.c, this.h, this.w]);
    for (let i = 0; i < this.n; i++) {
      const src = this.data.subarray(i * s, (i + 1) * s);
      for (let k = 0; k < times; k++) out.data.set(src, (i * times + k) * s);
    }
    return out;
  }
}

/** Throws unless both tensors have the same shape. */
export function assertSameShape(a: Tensor4, b: Tensor4, what: string): void {
  if (a.shape[0] !== b.shape[0] || a.shape[1] !== b.shape[1] || a.shape[2] !== b.shape[2] || a.shape[3] !== b.shape[3]) {
    throw new InputError(`${what}: shape [${a.shape.join(', ')}] differs from [${b.shape.join(', ')}]`);
  }
}

/** Throws unless `mask` is [N,1,H,W] matching `image` [N,C,H,W]. */
export function assertMaskFits(image: Tensor4, mask: Tensor4, what = 'mask'): void {
  if (mask.c !== 1 || mask.n !== image.n || mask.h !== image.h || mask.w !== image.w) {
    throw new InputError(
      `${what} has shape [${mask.shape.join(', ')}], expected [${image.n}, 1, ${image.h}, ${image.w}] to match the image`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Hole masks
//
// Invariant: a hole mask handed from one part of diff2s to another is [N,1,H,W] with every value exactly 0 (known)
// or 1 (hole). A mask is made binary once, where it comes into being — mask files (`loadMask`/`decodeMask`, 8-bit
// threshold 128), an image's alpha, the mask generators, or {@link binaryMask} for one built in memory — and the
// public entry points (the samplers, the guides' frame, `refine`/`inpaint`, the metrics, the training source) check
// it with {@link assertBinaryMask}. Everything after that reads the values plainly: `m !== 0` is a hole, `m === 0`
// is known; nothing re-applies the threshold.

/** The one threshold of soft mask values: v ≥ 0.5 is a hole (8-bit files: ≥ 128). Used by {@link binaryMask} only. */
export const MASK_THRESHOLD = 0.5;

/** A binary copy of `mask`: 1 where a value is ≥ {@link MASK_THRESHOLD} (a hole), else 0. */
export function binaryMask(mask: Tensor4): Tensor4 {
  const out = mask.zerosLike();
  const src = mask.data, dst = out.data;
  for (let i = 0; i < src.length; i++) dst[i] = src[i] >= MASK_THRESHOLD ? 1 : 0;
  return out;
}

/** Whether every value of `mask` is exactly 0 or 1. */
export function isBinaryMask(mask: Tensor4): boolean {
  const d = mask.data;
  for (let i = 0; i < d.length; i++) if (d[i] !== 0 && d[i] !== 1) return false;
  return true;
}

/** Throws {@link InputError} unless every value of `mask` is exactly 0 (known) or 1 (hole). */
export function assertBinaryMask(mask: Tensor4, what = 'mask'): void {
  const d = mask.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v !== 0 && v !== 1) {
      throw new InputError(`${what} must be binary (0 = known, 1 = hole); found ${v} (threshold it with binaryMask)`);
    }
  }
}

/**
 * The paste: out = m ⊙ a + (1 − m) ⊙ b per channel, with a binary mask m [N,1,H,W] (1 = hole). Writes into `out`
 * (may alias a or b). It copies b's values exactly where m = 0: the known-pixel paste-back of every part of diff2s
 * (guides, samplers at every step, the refiner and the pipeline).
 */
export function blendByMask(a: Tensor4, b: Tensor4, mask: Tensor4, out: Tensor4): Tensor4 {
  assertSameShape(a, b, 'blendByMask');
  assertSameShape(a, out, 'blendByMask');
  assertMaskFits(a, mask);
  const { n, c } = a;
  const hw = a.h * a.w;
  const ad = a.data, bd = b.data, md = mask.data, od = out.data;
  for (let i = 0; i < n; i++) {
    const mbase = i * hw;
    for (let ch = 0; ch < c; ch++) {
      const base = (i * c + ch) * hw;
      for (let p = 0; p < hw; p++) {
        od[base + p] = md[mbase + p] !== 0 ? ad[base + p] : bd[base + p];
      }
    }
  }
  return out;
}

/** A rectangle [x0, x1) × [y0, y1) of an image. */
export interface Rect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** The crop `r` of every image of `t` (`t` itself when `r` is the whole image). */
export function cropRect(t: Tensor4, r: Rect): Tensor4 {
  const cw = r.x1 - r.x0, ch = r.y1 - r.y0;
  if (r.x0 === 0 && r.y0 === 0 && cw === t.w && ch === t.h) return t;
  const out = new Tensor4([t.n, t.c, ch, cw]);
  for (let i = 0; i < t.n; i++) for (let c = 0; c < t.c; c++) for (let y = 0; y < ch; y++) {
    const src = t.index(i, c, r.y0 + y, r.x0);
    out.data.set(t.data.subarray(src, src + cw), out.index(i, c, y, 0));
  }
  return out;
}

/** Paste `part` (every image, every channel) into `into` at `r`'s top-left corner (`part` is r's size). */
export function pasteRect(into: Tensor4, part: Tensor4, r: Rect): void {
  const cw = r.x1 - r.x0, ch = r.y1 - r.y0;
  if (part.n !== into.n || part.c !== into.c || part.h !== ch || part.w !== cw) {
    throw new Error(`pasteRect: part [${part.shape.join(',')}] does not fit the ${cw}×${ch} rectangle of [${into.shape.join(',')}]`);
  }
  for (let i = 0; i < into.n; i++) for (let c = 0; c < into.c; c++) for (let y = 0; y < ch; y++) {
    const dst = into.index(i, c, r.y0 + y, r.x0);
    into.data.set(part.data.subarray(part.index(i, c, y, 0), part.index(i, c, y, 0) + cw), dst);
  }
}

/** Whether an image is grey in content: one channel, or RGB with every pixel's channels within half an 8-bit level. */
export function isGreyContent(t: Tensor4): boolean {
  if (t.c === 1) return true;
  if (t.c < 3) return false;
  const hw = t.h * t.w;
  for (let n = 0; n < t.n; n++) {
    const b = n * t.c * hw;
    for (let p = 0; p < hw; p++) {
      const r = t.data[b + p], g = t.data[b + hw + p], bl = t.data[b + 2 * hw + p];
      if (Math.abs(r - g) > 1 / 255 || Math.abs(g - bl) > 1 / 255) return false;
    }
  }
  return true;
}

/** Expand [N,1,H,W] or [N,3,H,W] to C channels (gray → RGB by repetition; RGB → gray by luma). */
export function toChannels(t: Tensor4, channels: number): Tensor4 {
  if (t.c === channels) return t;
  const hw = t.h * t.w;
  const out = new Tensor4([t.n, channels, t.h, t.w]);
  for (let i = 0; i < t.n; i++) {
    if (t.c === 1) {
      const src = t.data.subarray(i * hw, (i + 1) * hw);
      for (let ch = 0; ch < channels; ch++) out.data.set(src, (i * channels + ch) * hw);
    } else if (channels === 1 && t.c >= 3) {
      const b = i * t.c * hw;
      for (let p = 0; p < hw; p++) {
        out.data[i * hw + p] = 0.299 * t.data[b + p] + 0.587 * t.data[b + hw + p] + 0.114 * t.data[b + 2 * hw + p];
      }
    } else {
      throw new InputError(`cannot convert ${t.c} channels to ${channels}`);
    }
  }
  return out;
}
