import { promises as fs } from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import type { Metadata, OutputInfo } from 'sharp';
import { InputError } from '../errors';
import { readInputFile, writeFileAtomic } from '../fsutil';
import { Tensor4, toChannels } from '../tensor';
import { jpegWithIcc, pngWithIcc } from './icc';

/** Default decompression-bomb guard: 64 megapixels. */
export const DEFAULT_PIXEL_LIMIT = 64 * 1024 * 1024;

/** What to do with an alpha channel: drop it, or return it as a hole mask (transparent = hole). */
export type AlphaMode = 'drop' | 'mask';

export interface ReadImageOptions {
  /** Refuse images with more pixels than this before decoding (default {@link DEFAULT_PIXEL_LIMIT}). */
  pixelLimit?: number;
  /**
   * `drop` (default): the alpha channel is discarded (colour values are used as stored, not premultiplied).
   * `mask`: the alpha channel becomes {@link LoadedImage.alphaMask}: alpha < 0.5 → hole (1), else known (0).
   */
  alpha?: AlphaMode;
  /** Output channels: `keep` (default: 1 for gray, 3 for colour), or force 1 (luma) or 3 (gray repeated). */
  channels?: 'keep' | 1 | 3;
}

export interface LoadedImage {
  /** [1, C, H, W] in [-1, 1]. */
  tensor: Tensor4;
  width: number;
  height: number;
  /** Bits per sample of the file: 8 or 16. */
  bitDepth: 8 | 16;
  /** Channels in the file, alpha included. */
  fileChannels: number;
  /** Whether the file had an alpha channel. */
  hasAlpha: boolean;
  /** [1, 1, H, W] hole mask from alpha (only with `alpha: 'mask'` and an alpha channel). */
  alphaMask?: Tensor4;
  /** The file's format (png, jpeg, webp, tiff, …). */
  format: string;
  /**
   * The file's embedded ICC profile, when it has one. The tensor holds the file's values as stored (not converted to
   * sRGB, which would change known pixels); pass it to {@link writeImage} (`icc`) so outputs mean the same colours.
   */
  icc?: Buffer;
}

/**
 * Read an image file into a float32 NCHW tensor in [-1, 1].
 * 8-bit values v map to v/127.5 − 1 (so an 8-bit round trip is bit-exact); 16-bit values to v/32767.5 − 1.
 * Throws {@link InputError} naming the file when it is missing, unreadable, corrupt or over the pixel limit.
 */
export async function readImage(file: string, options: ReadImageOptions = {}): Promise<LoadedImage> {
  const limit = options.pixelLimit ?? DEFAULT_PIXEL_LIMIT;
  const input = await readInputFile(file, 'image');
  return decodeImage(input, file, { ...options, pixelLimit: limit });
}

/**
 * An image file's upright size and colour channels from its header only (no pixel decoding), for estimating a run's
 * memory before reading it. Throws {@link InputError} naming the file when it is not a readable image.
 */
export async function readImageHeader(file: string): Promise<{ width: number; height: number; channels: number }> {
  const input = await readInputFile(file, 'image');
  let meta: Metadata;
  try {
    meta = await sharp(input, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new InputError(`${file} is not a readable image (${(err as Error).message})`, file, { cause: err });
  }
  const turned = (meta.orientation ?? 1) >= 5;
  const channels = (meta.channels ?? 3) - (meta.hasAlpha ? 1 : 0);
  return { width: (turned ? meta.height : meta.width) ?? 0, height: (turned ? meta.width : meta.height) ?? 0, channels: channels >= 3 ? 3 : 1 };
}

/** Like {@link readImage} on bytes already in memory; `name` is used in messages. */
export async function decodeImage(input: Uint8Array, name: string, options: ReadImageOptions = {}): Promise<LoadedImage> {
  const limit = options.pixelLimit ?? DEFAULT_PIXEL_LIMIT;
  let meta: Metadata;
  try {
    meta = await sharp(input, { limitInputPixels: false }).metadata(); // header only
  } catch (err) {
    throw new InputError(`${name} is not a readable image (${(err as Error).message})`, name, { cause: err });
  }
  // EXIF orientation (phone photos): pixels are turned upright on read, so the image is the one a person sees and a
  // mask drawn on it as displayed matches; outputs are written upright, without the tag
  const turned = (meta.orientation ?? 1) >= 5; // 5–8: a quarter turn, width and height swap
  const width = (turned ? meta.height : meta.width) ?? 0, height = (turned ? meta.width : meta.height) ?? 0;
  if (!width || !height) throw new InputError(`${name} has no pixel size in its header`, name);
  if (width * height > limit) {
    throw new InputError(
      `${name} is ${width}x${height} = ${width * height} pixels, over the limit of ${limit} (decompression-bomb guard; raise pixelLimit to allow it)`,
      name,
    );
  }
  const sixteen = meta.depth === 'ushort' || meta.depth === 'short';
  const fileChannels = meta.channels ?? 3;
  const hasAlpha = !!meta.hasAlpha;
  const gray = fileChannels - (hasAlpha ? 1 : 0) === 1;
  // grey + alpha: sharp's grey colourspaces drop the alpha channel, so it is decoded as RGBA (R = G = B = grey)
  const greyAlpha = gray && hasAlpha;
  // an ICC profile is kept aside, not applied: the values stay the file's (see ./icc.ts)
  let pipe = sharp(input, { limitInputPixels: limit, failOn: 'warning', ignoreIcc: true }).rotate();
  if (sixteen) pipe = pipe.toColourspace(gray && !greyAlpha ? 'grey16' : 'rgb16');
  else pipe = pipe.toColourspace(gray && !greyAlpha ? 'b-w' : 'srgb');
  let raw: { data: Buffer; info: OutputInfo };
  try {
    raw = await pipe.raw(sixteen ? { depth: 'ushort' } : undefined).toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new InputError(`${name} could not be decoded: ${(err as Error).message}`, name, { cause: err });
  }
  const ch = raw.info.channels;
  const outAlpha = hasAlpha && (ch === 2 || ch === 4);
  const colour = greyAlpha ? 1 : outAlpha ? ch - 1 : ch;
  const hw = width * height;
  const maxv = sixteen ? 65535 : 255;
  const sample = sixteen
    ? (i: number) => raw.data.readUInt16LE(i * 2)
    : (i: number) => raw.data[i];
  const scale = 2 / maxv;
  let tensor = new Tensor4([1, colour, height, width]);
  const td = tensor.data;
  for (let p = 0; p < hw; p++) {
    for (let c = 0; c < colour; c++) td[c * hw + p] = sample(p * ch + c) * scale - 1;
  }
  let alphaMask: Tensor4 | undefined;
  if (outAlpha && options.alpha === 'mask') {
    alphaMask = new Tensor4([1, 1, height, width]);
    const half = maxv / 2;
    for (let p = 0; p < hw; p++) alphaMask.data[p] = sample(p * ch + ch - 1) < half ? 1 : 0;
  }
  const want = options.channels ?? 'keep';
  if (want !== 'keep' && want !== colour) tensor = toChannels(tensor, want);
  return {
    tensor, width, height, bitDepth: sixteen ? 16 : 8, fileChannels, hasAlpha, alphaMask, format: meta.format ?? 'unknown',
    ...(meta.icc ? { icc: meta.icc } : {}),
  };
}

/** Quantize one [-1,1] value to 8 bits: round((x + 1)·127.5), clamped. */
export function quantize8(x: number): number {
  const v = Math.round((x + 1) * 127.5);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Round-trip a tensor through 8-bit quantization in place (what writing and re-reading a PNG does). */
export function quantizeTensor8(t: Tensor4): Tensor4 {
  const d = t.data;
  for (let i = 0; i < d.length; i++) d[i] = quantize8(d[i]) / 127.5 - 1;
  return t;
}

export type ImageFormat = 'png' | 'jpeg' | 'webp';

export interface WriteImageOptions {
  /** Format; default from the extension (.png, .jpg/.jpeg, .webp). */
  format?: ImageFormat;
  /** JPEG/WebP quality 1–100 (default 95). WebP with quality 100 is written lossless. */
  quality?: number;
  /** Which image of the batch (default 0). */
  index?: number;
  /** An ICC profile to embed unchanged (the input's, {@link LoadedImage.icc}): PNG and JPEG; WebP carries none. */
  icc?: Uint8Array;
}

/** Encode image `index` of a [N, C, H, W] tensor (C = 1, 3 or 4) in [-1, 1] to 8-bit bytes. */
export async function encodeImage(t: Tensor4, format: ImageFormat, options: WriteImageOptions = {}): Promise<Buffer> {
  const i = options.index ?? 0;
  const { c, h, w } = t;
  if (c !== 1 && c !== 3 && c !== 4) throw new InputError(`cannot encode an image with ${c} channels (1, 3 or 4)`);
  if (i < 0 || i >= t.n) throw new InputError(`image index ${i} is outside the batch of ${t.n}`);
  const hw = h * w;
  const buf = Buffer.alloc(hw * c);
  const base = i * c * hw;
  for (let p = 0; p < hw; p++) for (let ch = 0; ch < c; ch++) buf[p * c + ch] = quantize8(t.data[base + ch * hw + p]);
  let img = sharp(buf, { raw: { width: w, height: h, channels: c as 1 | 3 | 4 } });
  if (c === 1) img = img.toColourspace('b-w'); // otherwise sharp writes gray as RGB
  const q = options.quality ?? 95;
  switch (format) {
    case 'png': {
      const png = await img.png({ compressionLevel: 6 }).toBuffer();
      return options.icc ? pngWithIcc(png, options.icc) : png;
    }
    case 'jpeg': {
      const jpg = await img.jpeg({ quality: q }).toBuffer();
      return options.icc ? jpegWithIcc(jpg, options.icc) : jpg;
    }
    case 'webp':
      return img.webp(q >= 100 ? { lossless: true } : { quality: q }).toBuffer();
  }
}

/** The format implied by a file name's extension. */
export function formatFromPath(file: string): ImageFormat {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.png') return 'png';
  if (ext === '.jpg' || ext === '.jpeg') return 'jpeg';
  if (ext === '.webp') return 'webp';
  throw new InputError(`cannot write ${file}: unknown image extension "${ext}" (use .png, .jpg or .webp)`, file);
}

/** Write image `index` of `t` to `file` atomically (temp file + rename). */
export async function writeImage(file: string, t: Tensor4, options: WriteImageOptions = {}): Promise<void> {
  const format = options.format ?? formatFromPath(file);
  const bytes = await encodeImage(t, format, options);
  await writeFileAtomic(file, bytes);
}
