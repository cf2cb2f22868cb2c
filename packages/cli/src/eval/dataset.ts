/**
 * The eval dataset: image files (from files and folders), each paired with a mask (a file matched by stem, one file
 * for all, or generated), optionally cropped to a region. The original image is the reference.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import {
  ConfigError, InputError, Rng, Tensor4, generateMask, loadMask, readImage,
} from '@diff2s/core';
import { ConfigErrors, resolvePath } from '../config/load';
import { listImages, matchMasksByStem, stemOf } from '../inputs';
import type { CropRect, DatasetConfig } from './schema';

/** One dataset entry before loading. */
export interface EvalItem {
  /** Unique id (the file stem; `<folder>_<stem>` where stems collide). */
  id: string;
  index: number;
  image: string;
  /** The mask file (file sources). */
  mask?: string;
  /** The generated mask's number (its generator is `new Rng(maskSeed).derive(maskIndex)`). */
  maskIndex: number;
}

/** A loaded sample: the (cropped) reference image and its mask. */
export interface EvalSample {
  item: EvalItem;
  /** [1, C, H, W] in [-1, 1], 8-bit values: the reference and the pipeline's input. */
  image: Tensor4;
  /** [1, 1, H, W], 1 = hole. */
  mask: Tensor4;
  /** The hole's fraction of the pixels. */
  holeFraction: number;
}

export interface ResolvedDataset {
  items: EvalItem[];
  /** Images without a mask in the mask folder (skipped). */
  unmatched: string[];
  /** Number of images found before `limit`. */
  found: number;
  /** A one-line description for the report. */
  description: string;
}

async function statKind(p: string, keyPath: string): Promise<'dir' | 'file'> {
  try {
    return (await fs.stat(p)).isDirectory() ? 'dir' : 'file';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigErrors([new ConfigError(code === 'ENOENT' ? `not found: ${p}` : `cannot read ${p}: ${code ?? String(err)}`, keyPath)]);
  }
}

/** Find the images and masks (no pixels read yet). Missing folders or files are config errors (exit 2). */
export async function resolveDataset(ds: DatasetConfig, baseDir: string): Promise<ResolvedDataset> {
  const entries = Array.isArray(ds.images) ? ds.images : [ds.images];
  const files: string[] = [];
  for (let i = 0; i < entries.length; i++) {
    const p = resolvePath(baseDir, entries[i]);
    const keyPath = Array.isArray(ds.images) ? `dataset.images[${i}]` : 'dataset.images';
    if ((await statKind(p, keyPath)) === 'dir') {
      const inside = await listImages(p);
      if (inside.length === 0) throw new ConfigErrors([new ConfigError(`no images (.png .jpg .webp .tif) in folder ${p}`, keyPath)]);
      files.push(...inside);
    } else files.push(p);
  }
  const unique = [...new Set(files)];
  const found = unique.length;
  const stems = new Map<string, number>();
  for (const f of unique) stems.set(stemOf(f), (stems.get(stemOf(f)) ?? 0) + 1);
  const idOf = (f: string) => (stems.get(stemOf(f))! > 1 ? `${path.basename(path.dirname(f))}_${stemOf(f)}` : stemOf(f));
  let items: EvalItem[] = unique.map((f, index) => ({ id: idOf(f), index, image: f, maskIndex: index }));
  const unmatched: string[] = [];
  const m = ds.masks;
  let maskText: string;
  if ('dir' in m) {
    const dir = resolvePath(baseDir, m.dir);
    if ((await statKind(dir, 'dataset.masks.dir')) !== 'dir') throw new ConfigErrors([new ConfigError(`${dir} is not a folder`, 'dataset.masks.dir')]);
    const r = matchMasksByStem(items.map((it) => it.image), await listImages(dir));
    const maskOf = new Map(r.matched.map((p) => [p.image, p.mask]));
    items = items.filter((it) => maskOf.has(it.image)).map((it) => ({ ...it, mask: maskOf.get(it.image) }));
    unmatched.push(...r.unmatched);
    maskText = `mask files from ${m.dir} (matched by file stem, ${ds.maskConvention})`;
  } else if ('file' in m) {
    const file = resolvePath(baseDir, m.file);
    if ((await statKind(file, 'dataset.masks.file')) !== 'file') throw new ConfigErrors([new ConfigError(`${file} is not a file`, 'dataset.masks.file')]);
    items = items.map((it) => ({ ...it, mask: file }));
    maskText = `one mask file for all images: ${m.file} (${ds.maskConvention})`;
  } else {
    const size = m.size === undefined ? 'the image size' : typeof m.size === 'number' ? `${m.size}x${m.size} (resized to each image)` : `${m.size.width}x${m.size.height} (resized to each image)`;
    maskText = `generated ${m.type} masks${m.count > 1 ? ` (${m.count} per image)` : ''}, seed ${m.seed ?? 'eval seed'}, at ${size}`;
  }
  if (items.length === 0) throw new ConfigErrors([new ConfigError('no image of the dataset has a mask', 'dataset.masks')]);
  if (ds.limit !== undefined) items = items.slice(0, ds.limit);
  const count = 'type' in m ? m.count : 1;
  const digits = String(count - 1).length;
  items = items.flatMap((it) => Array.from({ length: count }, (_, j) => (count > 1 ? { ...it, id: `${it.id}_m${String(j).padStart(digits, '0')}` } : it)));
  items = items.map((it, index) => ({ ...it, index, maskIndex: index }));
  const crop = ds.crop ? `, cropped to ${ds.crop.width}x${ds.crop.height} at (${ds.crop.x}, ${ds.crop.y})` : '';
  const src = entries.join(', ');
  return {
    items,
    unmatched,
    found,
    description: `${items.length / count} image${items.length / count === 1 ? '' : 's'} from ${src}${crop}; ${maskText}`,
  };
}

/** Crop [N,C,H,W] to a rectangle (must lie inside). */
export function cropTensor(t: Tensor4, r: CropRect, what: string): Tensor4 {
  if (r.x + r.width > t.w || r.y + r.height > t.h) {
    throw new InputError(`${what}: crop ${r.width}x${r.height} at (${r.x}, ${r.y}) does not fit in the ${t.w}x${t.h} image`, what);
  }
  const out = new Tensor4([t.n, t.c, r.height, r.width]);
  for (let n = 0; n < t.n; n++) for (let c = 0; c < t.c; c++) for (let y = 0; y < r.height; y++) {
    const src = t.index(n, c, r.y + y, r.x);
    out.data.set(t.data.subarray(src, src + r.width), out.index(n, c, y, 0));
  }
  return out;
}

/** Nearest-neighbour resize of a mask to width × height. */
export function resizeMaskNearest(m: Tensor4, width: number, height: number): Tensor4 {
  if (m.w === width && m.h === height) return m;
  const out = new Tensor4([m.n, 1, height, width]);
  for (let n = 0; n < m.n; n++) for (let y = 0; y < height; y++) {
    const sy = Math.min(m.h - 1, Math.floor(((y + 0.5) * m.h) / height));
    for (let x = 0; x < width; x++) {
      const sx = Math.min(m.w - 1, Math.floor(((x + 0.5) * m.w) / width));
      out.data[out.index(n, 0, y, x)] = m.data[m.index(n, 0, sy, sx)];
    }
  }
  return out;
}

/**
 * Read one sample: the image (crop applied) and its mask (file: the image's or the crop's size; generated: from the
 * mask seed and the item's index). Throws InputError on unreadable files, sizes that do not fit, or a mask without a
 * hole or without known pixels.
 */
export async function loadSample(item: EvalItem, ds: DatasetConfig, maskSeed: number, onWarning?: (m: string) => void): Promise<EvalSample> {
  const img = await readImage(item.image, { pixelLimit: ds.pixelLimit, alpha: 'drop', channels: 'keep' });
  const full = img.tensor;
  const image = ds.crop ? cropTensor(full, ds.crop, item.image) : full;
  let mask: Tensor4;
  if (item.mask) {
    mask = await loadMask(item.mask, { convention: ds.maskConvention, onWarning, pixelLimit: ds.pixelLimit });
    if (ds.crop && mask.w === full.w && mask.h === full.h) mask = cropTensor(mask, ds.crop, item.mask);
    if (mask.w !== image.w || mask.h !== image.h) {
      throw new InputError(
        `mask ${item.mask} is ${mask.w}x${mask.h} but the ${ds.crop ? 'cropped ' : ''}image ${item.image} is ${image.w}x${image.h}`
          + (ds.crop ? ` (give masks of the crop's or the full image's size)` : ''),
        item.mask,
      );
    }
  } else {
    const m = ds.masks as { type: string; size?: number | { width: number; height: number } };
    const size = m.size ?? { width: image.w, height: image.h };
    mask = resizeMaskNearest(generateMask(m.type, size, new Rng(maskSeed).derive(item.maskIndex)), image.w, image.h);
  }
  let holes = 0;
  for (let k = 0; k < mask.size; k++) if (mask.data[k] !== 0) holes++;
  const what = item.mask ?? `generated mask of ${item.image}`;
  if (holes === 0) throw new InputError(`${what} has no hole (all pixels known): nothing to evaluate`, item.mask);
  if (holes === mask.size) throw new InputError(`${what} covers the whole image: no known pixels to compare`, item.mask);
  return { item, image, mask, holeFraction: holes / mask.size };
}
