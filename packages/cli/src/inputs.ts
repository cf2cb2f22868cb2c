import { promises as fs } from 'fs';
import * as path from 'path';
import { InputError } from '@diff2s/core';

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff']);

/** One unit of work: an image and its mask file (undefined: alpha mask). */
export interface InputPair {
  stem: string;
  image: string;
  mask?: string;
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isDirectory();
  } catch (err) {
    throw new InputError(`cannot read ${p}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, p, { cause: err });
  }
}

async function listImages(dir: string): Promise<string[]> {
  const names = (await fs.readdir(dir)).filter((n) => IMAGE_EXT.has(path.extname(n).toLowerCase()) && !n.startsWith('.'));
  return names.sort().map((n) => path.join(dir, n));
}

export function stemOf(file: string): string {
  return path.basename(file, path.extname(file));
}

/**
 * Pair images with masks. `image` a file or a folder; `mask` a file (applies to all), a folder (matched by file stem;
 * a mask named `<stem>_mask.*` or `<stem>-mask.*` also matches), or absent (the image's alpha is the mask).
 * Images without a mask in a mask folder are reported in `unmatched` and skipped.
 */
export async function pairInputs(image: string, mask?: string): Promise<{ pairs: InputPair[]; unmatched: string[]; batch: boolean }> {
  const batch = await isDir(image);
  const images = batch ? await listImages(image) : [image];
  if (batch && images.length === 0) throw new InputError(`no images (.png .jpg .webp .tif) in folder ${image}`, image);
  if (!mask) return { pairs: images.map((f) => ({ stem: stemOf(f), image: f })), unmatched: [], batch };
  if (!(await isDir(mask))) return { pairs: images.map((f) => ({ stem: stemOf(f), image: f, mask })), unmatched: [], batch };
  const masks = new Map<string, string>();
  for (const m of await listImages(mask)) {
    const s = stemOf(m);
    masks.set(s, m);
    const base = s.replace(/[-_]mask$/i, '');
    if (base !== s && !masks.has(base)) masks.set(base, m);
  }
  const pairs: InputPair[] = [];
  const unmatched: string[] = [];
  for (const f of images) {
    const m = masks.get(stemOf(f));
    if (m) pairs.push({ stem: stemOf(f), image: f, mask: m });
    else unmatched.push(f);
  }
  return { pairs, unmatched, batch };
}
