import {
  assertBinaryMask, assertMaskFits, blendByMask, CancelledError, InputError, Tensor4,
} from '@diff2s/core';
import type { GuideOptions, SizeSupport } from '@diff2s/core';

/**
 * Check what every guide needs of its inputs: `image` [N,C,H,W] with N ≥ 1 and C ≥ 1, `mask` [N,1,H,W] and binary
 * (exactly 0 or 1: guides read `m !== 0` as hole), and a size within `sizes`. Throws {@link InputError} naming the guide.
 */
export function checkGuideInputs(guide: string, sizes: SizeSupport, image: Tensor4, mask: Tensor4): void {
  if (image.n < 1 || image.c < 1 || image.h < 1 || image.w < 1) {
    throw new InputError(`${guide} guide: empty image of shape [${image.shape.join(', ')}]`);
  }
  assertMaskFits(image, mask, `${guide} guide: mask`);
  assertBinaryMask(mask, `${guide} guide: mask`);
  const { h, w } = image;
  if (h < sizes.min || w < sizes.min) {
    throw new InputError(`${guide} guide: image is ${w}x${h}, smaller than the minimum of ${sizes.min}x${sizes.min}`);
  }
  if (h > sizes.max || w > sizes.max) {
    throw new InputError(`${guide} guide: image is ${w}x${h}, larger than the maximum of ${sizes.max}x${sizes.max}`);
  }
  if (sizes.multiple > 1 && (h % sizes.multiple !== 0 || w % sizes.multiple !== 0)) {
    throw new InputError(`${guide} guide: image is ${w}x${h}; width and height must be multiples of ${sizes.multiple}`);
  }
}

/**
 * Image `index`'s {@link GuideOptions.focus} as an H×W map (1 = a hole pixel the caller uses), or undefined when there
 * is no focus or it covers the whole hole. Throws {@link InputError} when the focus is not a binary [N,1,H,W] map of
 * the mask's size; focus pixels outside the hole are ignored.
 */
export function focusOf(guide: string, options: GuideOptions, mask: Tensor4, index: number): Uint8Array | undefined {
  const f = options.focus;
  if (!f) return undefined;
  if (f.n !== mask.n || f.c !== 1 || f.h !== mask.h || f.w !== mask.w) {
    throw new InputError(`${guide} guide: focus is [${f.shape.join(', ')}], expected [${mask.n}, 1, ${mask.h}, ${mask.w}] like the mask`);
  }
  assertBinaryMask(f, `${guide} guide: focus`);
  const hw = mask.h * mask.w;
  const out = new Uint8Array(hw);
  let all = true;
  for (let p = 0; p < hw; p++) {
    if (mask.data[index * hw + p] === 0) continue;
    if (f.data[index * hw + p] !== 0) out[p] = 1;
    else all = false;
  }
  return all ? undefined : out;
}

/** Number of hole pixels (mask 1) of image `index`. */
export function countHole(mask: Tensor4, index = 0): number {
  const hw = mask.h * mask.w;
  const d = mask.data;
  let s = 0;
  for (let p = index * hw, e = p + hw; p < e; p++) if (d[p] !== 0) s++;
  return s;
}

/** Throws {@link CancelledError} if the signal is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what = 'guide'): void {
  if (signal?.aborted) throw new CancelledError(`${what} cancelled`);
}

/** Let the event loop run (so an abort can arrive) between heavy steps. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Paste `image`'s known pixels into `result` (in place, bit-exact, core's {@link blendByMask}) and return `result`. */
export function pasteKnown(result: Tensor4, image: Tensor4, mask: Tensor4): Tensor4 {
  return blendByMask(result, image, mask, result);
}

/** How {@link runPerImage} calls a guide's single-image routine. */
export interface PerImageOptions {
  /** The guide's name, for messages. */
  guide: string;
  /** Whether a hole covering the whole image is accepted; if not, it is an {@link InputError}. */
  fullMask: boolean;
  sizes: SizeSupport;
}

/**
 * The shared frame of the built-in guides: checks inputs, then for each image of the batch returns it unchanged when
 * the mask is empty, refuses a full mask when the guide needs known pixels, otherwise calls `fill` on the
 * [1,C,H,W] image and mask. Known pixels are pasted back from the input, so they are bit-exact whatever `fill` did
 * outside the hole. Progress is reported per image.
 */
export async function runPerImage(
  image: Tensor4,
  mask: Tensor4,
  options: GuideOptions,
  frame: PerImageOptions,
  fill: (image: Tensor4, mask: Tensor4, index: number, progress: (f: number, label?: string) => void) => Promise<Tensor4> | Tensor4,
): Promise<Tensor4> {
  checkGuideInputs(frame.guide, frame.sizes, image, mask);
  throwIfAborted(options.signal, `${frame.guide} guide`);
  const out = image.clone();
  const { n } = image;
  const hw = image.h * image.w;
  for (let i = 0; i < n; i++) {
    const holes = countHole(mask, i);
    const progress = (f: number, label?: string): void => options.onProgress?.((i + Math.min(1, Math.max(0, f))) / n, label);
    if (holes === 0) {
      progress(1, 'empty mask');
      continue;
    }
    if (holes === hw && !frame.fullMask) {
      throw new InputError(
        `${frame.guide} guide needs known pixels, but the mask covers the whole image` + (n > 1 ? ` (image ${i} of the batch)` : ''),
      );
    }
    const img1 = n === 1 ? image : image.slice(i);
    const mask1 = n === 1 ? mask : mask.slice(i);
    const filled = await fill(img1, mask1, i, progress);
    if (filled.c !== image.c || filled.h !== image.h || filled.w !== image.w || filled.n !== 1) {
      throw new Error(`${frame.guide} guide produced shape [${filled.shape.join(', ')}] for an image of [1, ${image.c}, ${image.h}, ${image.w}]`);
    }
    pasteKnown(filled, img1, mask1);
    out.data.set(filled.data, i * image.imageSize);
    progress(1, 'done');
    throwIfAborted(options.signal, `${frame.guide} guide`);
  }
  return out;
}
