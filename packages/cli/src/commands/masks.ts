import * as path from 'path';
import { ConfigError, generateMask, MASK_TYPES, maskToImage, Rng, writeImage } from '@diff2s/core';

export interface MasksOptions {
  type: string;
  size: number;
  count: number;
  seed: number;
  out: string;
}

/** Write `count` generated masks (white = hole) as PNGs named `<type>_<i>.png`; returns the files. */
export async function masksCommand(o: MasksOptions): Promise<string[]> {
  if (!(MASK_TYPES as readonly string[]).includes(o.type)) {
    throw new ConfigError(`unknown mask type "${o.type}"; available: ${MASK_TYPES.join(', ')}`, '--type');
  }
  if (!Number.isInteger(o.size) || o.size < 8 || o.size > 4096) throw new ConfigError(`expected an integer in [8, 4096], got ${o.size}`, '--size');
  if (!Number.isInteger(o.count) || o.count < 1 || o.count > 100000) throw new ConfigError(`expected a positive integer, got ${o.count}`, '--count');
  const rng = new Rng(o.seed);
  const files: string[] = [];
  const digits = String(o.count - 1).length;
  for (let i = 0; i < o.count; i++) {
    const m = generateMask(o.type, o.size, rng.derive(i));
    const img = maskToImage(m); // hole → white, known → black
    const file = path.join(o.out, `${o.type}_${String(i).padStart(digits, '0')}.png`);
    await writeImage(file, img);
    files.push(file);
  }
  return files;
}
