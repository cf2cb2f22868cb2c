import { promises as fs } from 'fs';
import sharp from 'sharp';

/** Write a gray PNG from 8-bit values. */
export async function writeGrayPng(file: string, width: number, height: number, values: (x: number, y: number) => number): Promise<void> {
  const buf = Buffer.alloc(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) buf[y * width + x] = values(x, y);
  await sharp(buf, { raw: { width, height, channels: 1 } }).toColourspace('b-w').png().toFile(file);
}

/** Write an RGB PNG of a smooth pattern. */
export async function writeRgbPng(file: string, width: number, height: number, seed = 1): Promise<void> {
  const buf = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) {
    buf[(y * width + x) * 3 + c] = (x * 7 + y * 13 + c * 50 + seed * 31) % 256;
  }
  await sharp(buf, { raw: { width, height, channels: 3 } }).png().toFile(file);
}

/** A rectangular hole mask (white = hole). */
export async function writeRectMask(file: string, width: number, height: number, x0: number, y0: number, x1: number, y1: number): Promise<void> {
  await writeGrayPng(file, width, height, (x, y) => (x >= x0 && x < x1 && y >= y0 && y < y1 ? 255 : 0));
}

/** Files in a folder (none if it does not exist), ignoring nothing: temp files would show up. */
export async function listFiles(dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir)).sort();
  } catch {
    return [];
  }
}
