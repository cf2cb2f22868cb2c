import { promises as fs } from 'fs';
import * as path from 'path';
import { InputError } from '@diff2s/core';

/** File extensions read as images when a folder is listed. */
export const IMAGE_EXT: ReadonlySet<string> = new Set(['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff']);

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

/** The image files of a folder (by extension, hidden files skipped), sorted by name, as paths. */
export async function listImages(dir: string): Promise<string[]> {
  const names = (await fs.readdir(dir)).filter((n) => IMAGE_EXT.has(path.extname(n).toLowerCase()) && !n.startsWith('.'));
  return names.sort().map((n) => path.join(dir, n));
}

/** A file's name without folder and extension. */
export function stemOf(file: string): string {
  return path.basename(file, path.extname(file));
}

/**
 * The one rule pairing images with mask files: a mask matches the image of the same file stem; a mask named
 * `<stem>_mask.*` or `<stem>-mask.*` (any case) also matches `<stem>`, unless a mask named exactly `<stem>.*` exists.
 * Among masks of one stem, the first in `masks` order wins. Images in `images` order; those without a mask are
 * returned in `unmatched`.
 */
export function matchMasksByStem(images: readonly string[], masks: readonly string[]): { matched: { image: string; mask: string }[]; unmatched: string[] } {
  const exact = new Map<string, string>();
  const suffixed = new Map<string, string>();
  for (const m of masks) {
    const s = stemOf(m);
    if (!exact.has(s)) exact.set(s, m);
    const base = s.replace(/[-_]mask$/i, '');
    if (base !== s && !suffixed.has(base)) suffixed.set(base, m);
  }
  const matched: { image: string; mask: string }[] = [];
  const unmatched: string[] = [];
  for (const image of images) {
    const mask = exact.get(stemOf(image)) ?? suffixed.get(stemOf(image));
    if (mask) matched.push({ image, mask });
    else unmatched.push(image);
  }
  return { matched, unmatched };
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
  // outputs are named by stem: two images with one stem (a.png, a.jpg) would overwrite each other's results
  const byStem = new Map<string, string>();
  for (const f of images) {
    const other = byStem.get(stemOf(f));
    if (other) throw new InputError(`${path.basename(other)} and ${path.basename(f)} in ${image} share the stem "${stemOf(f)}": their outputs would overwrite each other (rename one)`, f);
    byStem.set(stemOf(f), f);
  }
  if (!mask) return { pairs: images.map((f) => ({ stem: stemOf(f), image: f })), unmatched: [], batch };
  if (!(await isDir(mask))) return { pairs: images.map((f) => ({ stem: stemOf(f), image: f, mask })), unmatched: [], batch };
  const { matched, unmatched } = matchMasksByStem(images, await listImages(mask));
  return { pairs: matched.map((p) => ({ stem: stemOf(p.image), ...p })), unmatched, batch };
}
