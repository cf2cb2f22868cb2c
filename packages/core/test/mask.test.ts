import { promises as fs } from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import {
  applyMask, dilateMask, erodeMask, holeFraction, InputError, invertMask, loadMask, maskBoundingBox, Tensor4, validateMask,
} from '@diff2s/core';
import { tempDir } from '../../../test/helpers/tmp';

async function writeGray(file: string, w: number, h: number, values: number[]): Promise<void> {
  await sharp(Buffer.from(values), { raw: { width: w, height: h, channels: 1 } }).png().toFile(file);
}

describe('masks', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir()));
  afterEach(() => tmp.cleanup());

  it('hole-white (default) and known-white polarities', async () => {
    const f = path.join(tmp.dir, 'm.png');
    await writeGray(f, 2, 2, [255, 0, 0, 255]);
    const a = await loadMask(f);
    expect(a.shape).toEqual([1, 1, 2, 2]);
    expect([...a.data]).toEqual([1, 0, 0, 1]);
    const b = await loadMask(f, { convention: 'known-white' });
    expect([...b.data]).toEqual([0, 1, 1, 0]);
  });

  it('thresholds non-binary masks at 0.5 with a warning', async () => {
    const f = path.join(tmp.dir, 'soft.png');
    await writeGray(f, 4, 1, [0, 127, 128, 255]);
    const warnings: string[] = [];
    const m = await loadMask(f, { onWarning: (w) => warnings.push(w) });
    expect([...m.data]).toEqual([0, 0, 1, 1]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/soft\.png is not binary \(2 of 4 pixels.*thresholded at 0\.5/);
    const quiet: string[] = [];
    const bin = path.join(tmp.dir, 'bin.png');
    await writeGray(bin, 2, 1, [0, 255]);
    await loadMask(bin, { onWarning: (w) => quiet.push(w) });
    expect(quiet).toHaveLength(0);
  });

  it('colour masks use luma', async () => {
    const f = path.join(tmp.dir, 'rgb.png');
    await sharp(Buffer.from([255, 255, 255, 0, 0, 0]), { raw: { width: 2, height: 1, channels: 3 } }).png().toFile(f);
    expect([...(await loadMask(f)).data]).toEqual([1, 0]);
  });

  it('a size mismatch is an InputError unless resize is asked (nearest)', async () => {
    const f = path.join(tmp.dir, 'small.png');
    await writeGray(f, 2, 2, [255, 0, 0, 0]);
    await expect(loadMask(f, { expect: { width: 4, height: 4 } })).rejects.toThrow(InputError);
    await expect(loadMask(f, { expect: { width: 4, height: 4 } })).rejects.toThrow(/small\.png is 2x2 but the image is 4x4/);
    const r = await loadMask(f, { expect: { width: 4, height: 4 }, resize: true });
    expect(r.shape).toEqual([1, 1, 4, 4]);
    expect([...r.data]).toEqual([1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('a corrupt or missing mask names the file', async () => {
    const f = path.join(tmp.dir, 'bad.png');
    await fs.writeFile(f, 'nope');
    await expect(loadMask(f)).rejects.toThrow(/mask .*bad\.png is not a readable image/);
    await expect(loadMask(path.join(tmp.dir, 'none.png'))).rejects.toThrow(/none\.png/);
  });

  it('helpers: invert, hole fraction, bounding box, dilate, erode, apply, validate', () => {
    const m = new Tensor4([1, 1, 5, 5]);
    m.data[m.index(0, 0, 2, 2)] = 1;
    expect(holeFraction(m)).toEqual([1 / 25]);
    expect(maskBoundingBox(m)).toEqual({ x0: 2, y0: 2, x1: 3, y1: 3 });
    expect(maskBoundingBox(new Tensor4([1, 1, 3, 3]))).toBeNull();
    const d = dilateMask(m, 1);
    expect(holeFraction(d)).toEqual([9 / 25]);
    expect(maskBoundingBox(d)).toEqual({ x0: 1, y0: 1, x1: 4, y1: 4 });
    expect([...erodeMask(d, 1).data]).toEqual([...m.data]);
    expect(holeFraction(dilateMask(m, 5))).toEqual([1]);
    expect(holeFraction(invertMask(m))).toEqual([24 / 25]);
    const img = Tensor4.full([1, 3, 5, 5], 0.5);
    const a = applyMask(img, m, -1);
    expect(a.data[a.index(0, 1, 2, 2)]).toBe(-1);
    expect(a.data[a.index(0, 1, 2, 3)]).toBe(0.5);
    expect(() => validateMask(m, 5, 5)).not.toThrow();
    expect(() => validateMask(m, 4, 5)).toThrow(/5x5 but the image is 4x5/);
    const soft = m.clone();
    soft.data[0] = 0.3;
    expect(() => validateMask(soft, 5, 5)).toThrow(/binary/);
  });
});
