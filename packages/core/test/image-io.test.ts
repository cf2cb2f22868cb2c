import { promises as fs } from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { InputError, readImage, Rng, Tensor4, writeImage, encodeImage, decodeImage } from '@diff2s/core';
import { encodePng16 } from '../../../test/helpers/png';
import { tempDir } from '../../../test/helpers/tmp';

async function rawPng(width: number, height: number, channels: 1 | 3 | 4, seed: number): Promise<{ png: Buffer; raw: Buffer }> {
  const r = new Rng(seed);
  const raw = Buffer.alloc(width * height * channels);
  for (let i = 0; i < raw.length; i++) raw[i] = r.int(256);
  let img = sharp(raw, { raw: { width, height, channels } });
  if (channels === 1) img = img.toColourspace('b-w');
  const png = await img.png().toBuffer();
  return { png, raw };
}

describe('image I/O', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir()));
  afterEach(() => tmp.cleanup());

  it('8-bit RGB PNG round-trips bit-exactly', async () => {
    const { png, raw } = await rawPng(13, 7, 3, 1);
    const f = path.join(tmp.dir, 'a.png');
    await fs.writeFile(f, png);
    const img = await readImage(f);
    expect(img.tensor.shape).toEqual([1, 3, 7, 13]);
    expect(img.bitDepth).toBe(8);
    // values in [-1, 1], CHW layout: pixel (y=2,x=5) channel 1
    expect(img.tensor.data[img.tensor.index(0, 1, 2, 5)]).toBeCloseTo(raw[(2 * 13 + 5) * 3 + 1] / 127.5 - 1, 6);
    const out = path.join(tmp.dir, 'b.png');
    await writeImage(out, img.tensor);
    const back = await sharp(out).raw().toBuffer();
    expect(back.equals(raw)).toBe(true);
  });

  it('8-bit gray PNG round-trips bit-exactly and can be expanded to 3 channels', async () => {
    const { png, raw } = await rawPng(9, 11, 1, 2);
    const f = path.join(tmp.dir, 'g.png');
    await fs.writeFile(f, png);
    const img = await readImage(f);
    expect(img.tensor.shape).toEqual([1, 1, 11, 9]);
    const out = path.join(tmp.dir, 'g2.png');
    await writeImage(out, img.tensor);
    const meta = await sharp(out).metadata();
    expect(meta.channels).toBe(1);
    expect((await sharp(out).toColourspace('b-w').raw().toBuffer()).equals(raw)).toBe(true);
    const rgb = await readImage(f, { channels: 3 });
    expect(rgb.tensor.shape).toEqual([1, 3, 11, 9]);
    expect(rgb.tensor.data[rgb.tensor.index(0, 2, 3, 4)]).toBe(img.tensor.data[img.tensor.index(0, 0, 3, 4)]);
  });

  it('RGBA: alpha is dropped by default or returned as a hole mask (transparent = hole)', async () => {
    const raw = Buffer.alloc(4 * 4 * 4);
    for (let p = 0; p < 16; p++) {
      raw[p * 4] = 200; raw[p * 4 + 1] = 100; raw[p * 4 + 2] = 50;
      raw[p * 4 + 3] = p < 4 ? 0 : p < 8 ? 100 : 255; // first row transparent, second mostly transparent
    }
    const f = path.join(tmp.dir, 'rgba.png');
    await sharp(raw, { raw: { width: 4, height: 4, channels: 4 } }).png().toFile(f);
    const dropped = await readImage(f);
    expect(dropped.hasAlpha).toBe(true);
    expect(dropped.tensor.shape).toEqual([1, 3, 4, 4]);
    expect(dropped.tensor.data[0]).toBeCloseTo(200 / 127.5 - 1, 6); // colour kept, not premultiplied
    expect(dropped.alphaMask).toBeUndefined();
    const masked = await readImage(f, { alpha: 'mask' });
    expect([...masked.alphaMask!.data]).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('16-bit RGB and gray PNGs load with full precision', async () => {
    const samples = [0, 65535, 32768, 1000, 2000, 3000];
    const f = path.join(tmp.dir, 'p16.png');
    await fs.writeFile(f, encodePng16(2, 1, 3, samples));
    const img = await readImage(f);
    expect(img.bitDepth).toBe(16);
    expect(img.tensor.shape).toEqual([1, 3, 1, 2]);
    // CHW: channel 0 = [0, 1000], channel 1 = [65535, 2000], channel 2 = [32768, 3000]
    const want = [0, 1000, 65535, 2000, 32768, 3000].map((v) => (v * 2) / 65535 - 1);
    for (let i = 0; i < 6; i++) expect(img.tensor.data[i]).toBeCloseTo(want[i], 6);
    const g = path.join(tmp.dir, 'g16.png');
    await fs.writeFile(g, encodePng16(3, 1, 1, [1, 40000, 65535]));
    const gi = await readImage(g);
    expect(gi.tensor.shape).toEqual([1, 1, 1, 3]);
    expect(gi.tensor.data[1]).toBeCloseTo((40000 * 2) / 65535 - 1, 6);
  });

  it('reads JPEG, WebP and TIFF, and writes JPEG and WebP', async () => {
    const { raw } = await rawPng(16, 16, 3, 3);
    for (const ext of ['jpg', 'webp', 'tiff']) {
      const f = path.join(tmp.dir, `x.${ext}`);
      await sharp(raw, { raw: { width: 16, height: 16, channels: 3 } }).toFile(f);
      const img = await readImage(f);
      expect(img.tensor.shape).toEqual([1, 3, 16, 16]);
    }
    const t = Tensor4.full([1, 3, 8, 8], 0.5);
    for (const ext of ['jpg', 'webp']) {
      const f = path.join(tmp.dir, `o.${ext}`);
      await writeImage(f, t);
      const m = await sharp(f).metadata();
      expect(m.width).toBe(8);
    }
    // lossless webp round-trips exactly
    const lossless = await encodeImage(t, 'webp', { quality: 100 });
    const back = await decodeImage(lossless, 'mem.webp');
    expect(back.tensor.data[0]).toBeCloseTo(Math.round(1.5 * 127.5) / 127.5 - 1, 6);
  });

  it('a truncated PNG gives an InputError naming the file', async () => {
    const { png } = await rawPng(64, 64, 3, 4);
    const f = path.join(tmp.dir, 'truncated.png');
    await fs.writeFile(f, png.subarray(0, Math.floor(png.length / 2)));
    await expect(readImage(f)).rejects.toThrow(InputError);
    await expect(readImage(f)).rejects.toThrow(/truncated\.png/);
  });

  it('a missing file and a non-image give InputErrors naming the file', async () => {
    await expect(readImage(path.join(tmp.dir, 'nope.png'))).rejects.toThrow(/nope\.png.*ENOENT/);
    const f = path.join(tmp.dir, 'text.png');
    await fs.writeFile(f, 'hello, not a png');
    await expect(readImage(f)).rejects.toThrow(/text\.png is not a readable image/);
  });

  it('an image over the pixel limit is refused before decoding', async () => {
    // a 20000x20000 PNG header with a tiny body: decoding it would need 1.2 GB; the header check refuses it first.
    const big = encodePng16(1, 1, 1, [0]);
    big.writeUInt32BE(20000, 16);
    big.writeUInt32BE(20000, 20);
    // fix the IHDR CRC so the header is valid
    const zlib = await import('zlib');
    big.writeUInt32BE(zlib.crc32(big.subarray(12, 29)), 29);
    const f = path.join(tmp.dir, 'bomb.png');
    await fs.writeFile(f, big);
    await expect(readImage(f, { pixelLimit: 1_000_000 })).rejects.toThrow(
      /bomb\.png is 20000x20000 = 400000000 pixels, over the limit of 1000000/,
    );
  });

  it('writes atomically: no temp files left, and an unknown extension is refused', async () => {
    const f = path.join(tmp.dir, 'sub', 'z.png');
    await writeImage(f, Tensor4.full([1, 3, 4, 4], 0));
    expect(await fs.readdir(path.dirname(f))).toEqual(['z.png']);
    await expect(writeImage(path.join(tmp.dir, 'z.bmp'), Tensor4.full([1, 3, 4, 4], 0))).rejects.toThrow(/unknown image extension/);
  });
});

describe('grey + alpha PNGs', () => {
  it('decode to one grey channel with their values, and the alpha channel as the mask', async () => {
    const b = Buffer.alloc(4 * 4 * 2);
    for (let i = 0; i < 16; i++) {
      b[2 * i] = i * 10;
      b[2 * i + 1] = i < 8 ? 0 : 255;
    }
    const png = await sharp(b, { raw: { width: 4, height: 4, channels: 2 } }).toColourspace('b-w').png().toBuffer();
    expect((await sharp(png).metadata()).channels).toBe(2);
    const img = await decodeImage(png, 'ga.png', { alpha: 'mask' });
    expect(img.tensor.c).toBe(1);
    for (let i = 0; i < 16; i++) expect(Math.round((img.tensor.data[i] + 1) * 127.5)).toBe(i * 10);
    expect(Array.from(img.alphaMask!.data)).toEqual(Array.from({ length: 16 }, (_, i) => (i < 8 ? 1 : 0)));
  });
});

describe('EXIF orientation and ICC profiles', () => {
  const w = 12, h = 8;
  const buf = Buffer.alloc(w * h * 3);
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 37) % 256;
  const raw = () => sharp(buf, { raw: { width: w, height: h, channels: 3 } });

  it('a photo tagged "rotate 90° clockwise" (orientation 6) is read upright: width and height swap, pixels turned', async () => {
    const tagged = await raw().withMetadata({ orientation: 6 }).png().toBuffer();
    const img = await decodeImage(tagged, 'phone.png');
    expect([img.width, img.height]).toEqual([h, w]);
    expect(img.tensor.shape).toEqual([1, 3, w, h]);
    // orientation 6: the stored row 0 becomes the last column, read top to bottom
    const at = (x: number, y: number, c: number) => Math.round((img.tensor.data[c * w * h + y * h + x] + 1) * 127.5);
    for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) expect(at(h - 1, x, c)).toBe(buf[x * 3 + c]);
  });

  it('a mask tagged with an orientation is turned the same way, so it matches the upright photo', async () => {
    const m = Buffer.alloc(w * h);
    m[0] = 255; // the stored top-left pixel is a hole
    const tagged = await sharp(m, { raw: { width: w, height: h, channels: 1 } }).withMetadata({ orientation: 6 }).png().toBuffer();
    const { decodeMask } = await import('@diff2s/core');
    const mask = await decodeMask(tagged, 'mask.png', { expect: { width: h, height: w } });
    expect(mask.shape).toEqual([1, 1, w, h]);
    expect(mask.data[h - 1]).toBe(1); // top-right after the turn
    expect(mask.data.reduce((s, v) => s + v, 0)).toBe(1);
  });

  it('an ICC-tagged (Display P3) PNG reads as its stored values, and writing with its profile keeps both', async () => {
    const p3 = await raw().withIccProfile('p3').png().toBuffer();
    const stored = await sharp(p3, { ignoreIcc: true }).raw().toBuffer();
    const img = await decodeImage(p3, 'p3.png');
    expect(img.icc).toBeDefined();
    for (let p = 0; p < w * h; p++) for (let c = 0; c < 3; c++) {
      expect(Math.round((img.tensor.data[c * w * h + p] + 1) * 127.5)).toBe(stored[p * 3 + c]);
    }
    const out = await encodeImage(img.tensor, 'png', { icc: img.icc });
    const meta = await sharp(out).metadata();
    expect(Buffer.compare(meta.icc!, img.icc!)).toBe(0);
    const back = await decodeImage(out, 'out.png');
    expect(Buffer.from(back.tensor.data.buffer).equals(Buffer.from(img.tensor.data.buffer))).toBe(true);
    const jpg = await encodeImage(img.tensor, 'jpeg', { icc: img.icc });
    expect(Buffer.compare((await sharp(jpg).metadata()).icc!, img.icc!)).toBe(0);
    // without a profile, nothing is added
    expect((await sharp(await encodeImage(img.tensor, 'png')).metadata()).icc).toBeUndefined();
  });
});
