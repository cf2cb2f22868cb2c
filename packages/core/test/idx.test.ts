/**
 * The IDX reader (MNIST's file format) on small synthetic files written here, gzipped and raw; bad magic, wrong
 * dimension count, truncated and over-long files; and the labels CSV reader/writer.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { gzipSync } from 'zlib';
import {
  IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, InputError, decodeIdx, encodeIdx, formatLabelsCsv, idxImageTensor, parseLabelsCsv,
  readIdxImages, readIdxLabels, readLabelsCsv,
} from '@diff2s/core';
import { tempDir } from '../../../test/helpers/tmp';

/** 3 images of 2x4 pixels with values 10·i + k, and their labels 7, 0, 9. */
function synthetic(): { images: Buffer; labels: Buffer } {
  const px = new Uint8Array(3 * 2 * 4);
  for (let i = 0; i < 3; i++) for (let k = 0; k < 8; k++) px[i * 8 + k] = 10 * i + k;
  return { images: encodeIdx([3, 2, 4], px), labels: encodeIdx([3], Uint8Array.from([7, 0, 9])) };
}

async function expectInputError(p: Promise<unknown>, file: string, pattern: RegExp): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(InputError);
  expect((err as InputError).file).toBe(file);
  expect((err as Error).message).toContain(file);
  expect((err as Error).message).toMatch(pattern);
}

describe('IDX files', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir('diff2s-idx-')));
  afterEach(() => tmp.cleanup());

  it('encodes MNIST magics: 2051 for idx3 ubyte images, 2049 for idx1 labels', () => {
    const { images, labels } = synthetic();
    expect(images.readUInt32BE(0)).toBe(IDX_IMAGES_MAGIC);
    expect(labels.readUInt32BE(0)).toBe(IDX_LABELS_MAGIC);
    expect(images.readUInt32BE(4)).toBe(3);
    expect(images.length).toBe(16 + 24);
  });

  it.each([['raw', false], ['gzipped', true]])('reads %s images and labels', async (_name, gz) => {
    const { images, labels } = synthetic();
    const fi = path.join(tmp.dir, gz ? 'img.gz' : 'img');
    const fl = path.join(tmp.dir, gz ? 'lab.gz' : 'lab');
    await fs.writeFile(fi, gz ? gzipSync(images) : images);
    await fs.writeFile(fl, gz ? gzipSync(labels) : labels);
    const im = await readIdxImages(fi);
    expect([im.count, im.rows, im.cols]).toEqual([3, 2, 4]);
    expect(Array.from(im.data.subarray(8, 16))).toEqual([10, 11, 12, 13, 14, 15, 16, 17]);
    expect(Array.from(await readIdxLabels(fl))).toEqual([7, 0, 9]);
  });

  it('turns an image into a [-1,1] tensor, padded with the background', () => {
    const im = decodeIdx(synthetic().images, 'mem', 3);
    const images = { count: 3, rows: 2, cols: 4, data: im.data };
    const t = idxImageTensor(images, 2);
    expect(t.shape).toEqual([1, 1, 2, 4]);
    expect(t.data[5]).toBeCloseTo(25 / 127.5 - 1, 6);
    const p = idxImageTensor(images, 1, 1);
    expect(p.shape).toEqual([1, 1, 4, 6]);
    expect(p.data[0]).toBe(-1);
    expect(p.data[1 * 6 + 1]).toBeCloseTo(10 / 127.5 - 1, 6);
    expect(p.data[2 * 6 + 4]).toBeCloseTo(17 / 127.5 - 1, 6);
    expect(p.data[3 * 6 + 5]).toBe(-1);
    expect(() => idxImageTensor(images, 3)).toThrow(RangeError);
  });

  it('refuses a bad magic, the wrong kind of file, truncated and over-long data, bad gzip, missing files', async () => {
    const { images, labels } = synthetic();
    const write = async (name: string, bytes: Uint8Array) => {
      const f = path.join(tmp.dir, name);
      await fs.writeFile(f, bytes);
      return f;
    };
    const png = await write('not-idx', Buffer.from('\x89PNG\r\n\x1a\n....', 'binary'));
    await expectInputError(readIdxImages(png), png, /bad magic 0x89504e47/);
    const floats = Buffer.from(images);
    floats[2] = 0x0d;
    const ff = await write('floats', floats);
    await expectInputError(readIdxImages(ff), ff, /type code 0x0d is not supported/);
    const lab = await write('labels-as-images', labels);
    await expectInputError(readIdxImages(lab), lab, /declares 1 dimension\(s\); expected 3 \(magic 2051\)/);
    const img = await write('images-as-labels', images);
    await expectInputError(readIdxLabels(img), img, /expected 1 \(magic 2049\)/);
    const cut = await write('truncated.gz', gzipSync(images.subarray(0, images.length - 5)));
    await expectInputError(readIdxImages(cut), cut, /truncated: the header says 3x2x4 = 24 bytes of data, the file has 19/);
    const head = await write('short-header', images.subarray(0, 10));
    await expectInputError(readIdxImages(head), head, /truncated: 10 bytes, shorter than its 16-byte header/);
    const long = await write('long', Buffer.concat([labels, Buffer.from([1, 2])]));
    await expectInputError(readIdxLabels(long), long, /2 bytes after the 3 values/);
    const badGz = await write('bad.gz', gzipSync(images).subarray(0, 20));
    await expectInputError(readIdxImages(badGz), badGz, /not a readable gzip file/);
    const missing = path.join(tmp.dir, 'missing.gz');
    await expectInputError(readIdxLabels(missing), missing, /cannot read IDX file .*ENOENT/);
  });
});

describe('labels CSV', () => {
  it('round-trips stem,label rows', () => {
    const text = formatLabelsCsv([['00001', 7], ['b', 0]]);
    expect(text).toBe('stem,label\n00001,7\nb,0\n');
    expect([...parseLabelsCsv(text, 'x.csv')]).toEqual([['00001', 7], ['b', 0]]);
    expect([...parseLabelsCsv('a, 3\r\n\r\nc,12\n', 'y.csv')]).toEqual([['a', 3], ['c', 12]]);
  });

  it('names the file and line of a bad row', async () => {
    expect(() => parseLabelsCsv('stem,label\na,x\n', 'l.csv')).toThrow(/l\.csv:2: label "x" of a is not an integer/);
    expect(() => parseLabelsCsv('a,1\na,2\n', 'l.csv')).toThrow(/l\.csv:2: a is listed twice/);
    expect(() => parseLabelsCsv('a,1,2\n', 'l.csv')).toThrow(InputError);
    const err = await readLabelsCsv('/nonexistent/labels.csv').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).file).toBe('/nonexistent/labels.csv');
  });
});
