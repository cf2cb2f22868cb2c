/**
 * `diff2s idx`: turn an IDX image file (MNIST's format) and optionally its label file into PNG files plus a
 * `labels.csv` (stem,label) — the folder-of-images form that `diff2s train`, `diff2s eval` and `diff2s classifier`
 * read.
 */
import * as path from 'path';
import {
  ConfigError, InputError, formatLabelsCsv, idxImageTensor, readIdxImages, readIdxLabels, writeFileAtomic, writeImage,
} from '@diff2s/core';

/** Options of {@link idxCommand}. */
export interface IdxOptions {
  /** The IDX3 ubyte image file (gzipped or raw). */
  images: string;
  /** The IDX1 ubyte label file; without it no labels.csv is written. */
  labels?: string;
  /** Output folder. */
  out: string;
  /** First image index (default 0). */
  start?: number;
  /** How many images (default: all from `start` on). */
  count?: number;
  /** Pixels of background added on every side (2 turns MNIST's 28x28 into 32x32). */
  pad?: number;
  /** Prefix of the file stems (the stem is the prefix + the image's index in the IDX file, zero-padded). */
  prefix?: string;
  /** Called after each written image. */
  onProgress?: (done: number, total: number) => void;
}

/** What {@link idxCommand} wrote. */
export interface IdxResult {
  files: string[];
  /** The labels CSV (when label file given). */
  labelsFile?: string;
  width: number;
  height: number;
}

function checkInt(v: number | undefined, key: string, min: number): void {
  if (v !== undefined && (!Number.isInteger(v) || v < min)) throw new ConfigError(`expected an integer ≥ ${min}, got ${v}`, key);
}

/**
 * Write images `start … start+count−1` of an IDX file as 8-bit grey PNGs `<prefix><index>.png` (index zero-padded to
 * the file's count) into `out`, padded by `pad` background pixels, and with a label file a `labels.csv` of the same
 * stems. Every file is written atomically. Throws {@link InputError} naming the IDX file when it is unreadable or
 * its label count differs from its image count.
 */
export async function idxCommand(o: IdxOptions): Promise<IdxResult> {
  checkInt(o.start, '--start', 0);
  checkInt(o.count, '--count', 1);
  checkInt(o.pad, '--pad', 0);
  if (o.pad !== undefined && o.pad > 256) throw new ConfigError(`expected at most 256, got ${o.pad}`, '--pad');
  const prefix = o.prefix ?? '';
  if (/[\\/,"]/.test(prefix)) throw new ConfigError(`a prefix may not contain / \\ , or "; got "${prefix}"`, '--prefix');
  const images = await readIdxImages(o.images);
  const labels = o.labels ? await readIdxLabels(o.labels) : undefined;
  if (labels && labels.length !== images.count) {
    throw new InputError(`${o.labels} has ${labels.length} labels but ${o.images} has ${images.count} images`, o.labels);
  }
  const start = o.start ?? 0;
  if (start >= images.count) throw new ConfigError(`start ${start} is past the last image (${images.count - 1}) of ${o.images}`, '--start');
  const count = Math.min(o.count ?? images.count - start, images.count - start);
  const pad = o.pad ?? 0;
  const digits = String(Math.max(0, images.count - 1)).length;
  const files: string[] = [];
  const rows: [string, number][] = [];
  const stems: string[] = [];
  for (let i = start; i < start + count; i++) stems.push(`${prefix}${String(i).padStart(digits, '0')}`);
  const BATCH = 16; // a few encodes in flight
  for (let k = 0; k < count; k += BATCH) {
    const part = stems.slice(k, k + BATCH);
    await Promise.all(part.map((stem, j) => writeImage(path.join(o.out, `${stem}.png`), idxImageTensor(images, start + k + j, pad))));
    part.forEach((stem, j) => {
      files.push(path.join(o.out, `${stem}.png`));
      if (labels) rows.push([stem, labels[start + k + j]]);
    });
    o.onProgress?.(Math.min(count, k + BATCH), count);
  }
  let labelsFile: string | undefined;
  if (labels) {
    labelsFile = path.join(o.out, 'labels.csv');
    await writeFileAtomic(labelsFile, formatLabelsCsv(rows));
  }
  return { files, labelsFile, width: images.cols + 2 * pad, height: images.rows + 2 * pad };
}
