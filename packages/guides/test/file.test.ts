import * as path from 'path';
import { ConfigError, InputError, quantizeTensor8, Rng, Tensor4, writeImage } from '@diff2s/core';
import type { FileGuideOptions } from '@diff2s/guides';
import { tempDir } from '../../../test/helpers/tmp';
import { knownPixelsExact, makeGuide, randomImage, rectMask } from './helpers';

let tmp: { dir: string; cleanup: () => void };
beforeAll(() => { tmp = tempDir('diff2s-file-guide-'); });
afterAll(() => tmp.cleanup());

/** An external tool's result: the input with the hole set to `fill`. */
function result(image: Tensor4, mask: Tensor4, fill: number): Tensor4 {
  const r = image.clone();
  const hw = image.h * image.w;
  for (let c = 0; c < image.c; c++) for (let p = 0; p < hw; p++) if (mask.data[p] >= 0.5) r.data[c * hw + p] = fill;
  return r;
}

describe('file guide', () => {
  const image = randomImage(1, 3, 12, 16, 21);
  const mask = rectMask(1, 12, 16, 4, 3, 11, 9);

  it('reads the result (relative to baseDir), keeps its hole and warns nothing when known pixels agree', async () => {
    await writeImage(path.join(tmp.dir, 'ok.png'), result(image, mask, 0.4));
    const { guide, logger } = makeGuide('file', { path: 'ok.png' }, tmp.dir);
    const out = await guide.inpaint(image, mask, { rng: new Rng(0) });
    expect(knownPixelsExact(out, image, mask)).toBe(true);
    const expected = quantizeTensor8(Tensor4.full([1, 1, 1, 1], 0.4)).data[0];
    expect(out.data[out.index(0, 2, 5, 6)]).toBe(expected);
    expect(logger.messages.filter((m) => m.level === 'warn')).toEqual([]);
  });

  it('warns when known pixels differ and pastes the input back', async () => {
    const tampered = result(image, mask, 0.4);
    for (let x = 0; x < 5; x++) tampered.data[tampered.index(0, 1, 0, x)] = 1; // 5 known pixels changed
    const file = path.join(tmp.dir, 'tampered.png');
    await writeImage(file, tampered);
    const { guide, logger } = makeGuide('file', { path: file }, tmp.dir);
    const out = await guide.inpaint(image, mask, { rng: new Rng(0) });
    expect(knownPixelsExact(out, image, mask)).toBe(true);
    const warns = logger.messages.filter((m) => m.level === 'warn').map((m) => m.message);
    expect(warns).toHaveLength(1);
    expect(warns[0]).toMatch(/5 of 150 known pixels of .*tampered\.png differ from the input/);
    expect(warns[0]).toMatch(/pasted back/);
    // a tolerance in 8-bit levels silences small differences only
    const tol = makeGuide('file', { path: file, tolerance: 255 }, tmp.dir);
    await tol.guide.inpaint(image, mask, { rng: new Rng(0) });
    expect(tol.logger.messages.filter((m) => m.level === 'warn')).toEqual([]);
  });

  it('refuses a result of another size with an InputError naming the file', async () => {
    const file = path.join(tmp.dir, 'small.png');
    await writeImage(file, randomImage(1, 3, 10, 16));
    const { guide } = makeGuide('file', { path: file }, tmp.dir);
    const err = await guide.inpaint(image, mask, { rng: new Rng(0) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).file).toBe(file);
    expect((err as Error).message).toMatch(/small\.png is 16x10 but the input image is 16x12/);
  });

  it('finds results in a folder by stem (options or config) and suffix, for batches too', async () => {
    const dir = path.join(tmp.dir, 'results');
    await writeImage(path.join(dir, 'a_fill.png'), result(image, mask, 0.2));
    await writeImage(path.join(dir, 'b_fill.jpg'), result(image, mask, -0.2));
    const { guide } = makeGuide('file', { dir: 'results', suffix: '_fill' }, tmp.dir);
    const opts: FileGuideOptions = { rng: new Rng(0), stem: 'a' };
    const a = await guide.inpaint(image, mask, opts);
    expect(a.data[a.index(0, 0, 5, 6)]).toBeCloseTo(0.2, 1);
    const byConfig = makeGuide('file', { dir: 'results', suffix: '_fill', stem: 'b' }, tmp.dir).guide;
    const b = await byConfig.inpaint(image, mask, { rng: new Rng(0) });
    expect(b.data[b.index(0, 0, 5, 6)]).toBeCloseTo(-0.2, 1);
    const batch = Tensor4.concatBatch([image, image]);
    const both = await guide.inpaint(batch, Tensor4.concatBatch([mask, mask]), { rng: new Rng(0), stem: ['a', 'b'] } as FileGuideOptions);
    expect(both.data[both.index(0, 0, 5, 6)]).toBeCloseTo(0.2, 1);
    expect(both.data[both.index(1, 0, 5, 6)]).toBeCloseTo(-0.2, 1);
    await expect(guide.inpaint(image, mask, { rng: new Rng(0), stem: 'zzz' } as FileGuideOptions)).rejects.toThrow(/no result for "zzz".*tried zzz_fill\.png/);
    await expect(guide.inpaint(image, mask, { rng: new Rng(0) })).rejects.toThrow(ConfigError);
  });

  it('reads a grey result for a grey input and accepts a full mask', async () => {
    const grey = randomImage(1, 1, 9, 7, 3);
    const file = path.join(tmp.dir, 'grey.png');
    await writeImage(file, randomImage(1, 1, 9, 7, 4));
    const { guide } = makeGuide('file', { path: file }, tmp.dir);
    expect(guide.sizes.fullMask).toBe(true);
    const out = await guide.inpaint(grey, Tensor4.full([1, 1, 9, 7], 1), { rng: new Rng(0) });
    expect(out.data).toEqual(randomImage(1, 1, 9, 7, 4).data);
  });

  it('validates its config', () => {
    expect(() => makeGuide('file', {})).toThrow(/needs "path"/);
    expect(() => makeGuide('file', { path: 'a.png', dir: 'b' })).toThrow(/either "path" or "dir"/);
    expect(() => makeGuide('file', { path: 'a.png', colour: 1 })).toThrow(/unknown key "colour"/);
  });

  it('reports a missing file as an InputError', async () => {
    const { guide } = makeGuide('file', { path: 'missing.png' }, tmp.dir);
    await expect(guide.inpaint(image, mask, { rng: new Rng(0) })).rejects.toThrow(InputError);
  });
});
