/**
 * Contract tests every registered guide runs: shape, bit-exact known pixels, determinism, empty and full masks,
 * tiny and odd sizes, batches, grey images. A guide registered without an entry in SETUPS fails the first test.
 */
import * as path from 'path';
import { InputError, Rng, Tensor4, writeImage } from '@diff2s/core';
import type { Guide } from '@diff2s/core';
import { NativeUNet, saveModel } from '@diff2s/engine';
import { tempDir } from '../../../test/helpers/tmp';
import { guideContext, knownPixelsExact, randomImage, rectMask, FIXTURES } from './helpers';

interface Setup {
  /** Config for a run on `image` (may write files under `dir`). */
  config(image: Tensor4, dir: string): Promise<unknown>;
  /** Whether the guide handles batches here (the file guide's `path` mode holds one image). */
  batch: boolean;
}

let fileCounter = 0;
let tinyModelDir: Promise<string> | undefined;
function tinyModel(dir: string): Promise<string> {
  return (tinyModelDir ??= (async () => {
    const out = path.join(dir, 'tiny-model');
    const net = await NativeUNet.create({ preset: 'frugal', baseChannels: 4, channelMults: [1, 1] }, { seed: 1 });
    await saveModel(out, net, { preset: 'frugal', schedule: { type: 'linear', T: 8, betaStart: 1e-3, betaEnd: 0.2 } });
    net.dispose();
    return out;
  })());
}
const SETUPS: Record<string, Setup> = {
  patch: { config: async () => ({ emIterations: 3, pmIterations: 4 }), batch: true },
  mean: { config: async () => ({}), batch: true },
  nearest: { config: async () => ({}), batch: true },
  harmonic: { config: async () => ({ iterations: 200 }), batch: true },
  constant: { config: async () => ({ value: -1 }), batch: true },
  onnx: { config: async () => ({ model: path.join(FIXTURES, 'lama.onnx'), profile: 'lama' }), batch: true },
  diffusion: {
    // a tiny untrained native model saved once per run (8 steps): exercises loading, padding, channels, the sampler
    config: async (_image, dir) => ({ model: await tinyModel(dir), sampler: { type: 'ddpm' } }),
    batch: true,
  },
  file: {
    // an "external tool" result: the input with its values negated (known pixels then differ: a warning, pasted back)
    config: async (image, dir) => {
      const file = path.join(dir, `result-${fileCounter++}.png`);
      const res = image.slice(0).clone();
      for (let i = 0; i < res.size; i++) res.data[i] = -res.data[i];
      await writeImage(file, res);
      return { path: file };
    },
    batch: false,
  },
};

const { container } = guideContext();
const names = container.guides.names();
let tmp: { dir: string; cleanup: () => void };
beforeAll(() => { tmp = tempDir('diff2s-guides-contract-'); });
afterAll(() => tmp.cleanup());

async function build(name: string, image: Tensor4): Promise<Guide> {
  const { container: c, context } = guideContext(tmp.dir);
  return c.guides.create(name, await SETUPS[name].config(image, tmp.dir), context);
}

it('every registered guide has a contract setup', () => {
  expect(names.sort()).toEqual(Object.keys(SETUPS).sort());
});

describe.each(names)('guide %s', (name) => {
  const image = randomImage(1, 3, 17, 23, 7);
  const mask = rectMask(1, 17, 23, 6, 5, 15, 12);

  it('keeps the shape, known pixels bit-exact, fills the hole with finite values in [-1,1], leaves its input alone', async () => {
    const g = await build(name, image);
    expect(g.name).toBe(name);
    const before = image.clone();
    const out = await g.inpaint(image, mask, { rng: new Rng(1) });
    expect(out.shape).toEqual(image.shape);
    expect(knownPixelsExact(out, image, mask)).toBe(true);
    for (const v of out.data) {
      expect(Number.isFinite(v)).toBe(true);
      expect(Math.abs(v)).toBeLessThanOrEqual(1 + 1e-6);
    }
    expect(image.data).toEqual(before.data);
    await g.dispose?.();
  });

  it('is deterministic with a seed', async () => {
    const g = await build(name, image);
    const a = await g.inpaint(image, mask, { rng: new Rng(42) });
    const b = await g.inpaint(image, mask, { rng: new Rng(42) });
    expect(Buffer.from(a.data.buffer).equals(Buffer.from(b.data.buffer))).toBe(true);
    await g.dispose?.();
  });

  it('returns the input unchanged for an empty mask', async () => {
    const g = await build(name, image);
    const out = await g.inpaint(image, new Tensor4([1, 1, 17, 23]), { rng: new Rng(1) });
    expect(out.data).toEqual(image.data);
    expect(out).not.toBe(image);
    await g.dispose?.();
  });

  it('handles a full mask as its sizes.fullMask declares', async () => {
    const g = await build(name, image);
    const full = Tensor4.full([1, 1, 17, 23], 1);
    if (g.sizes.fullMask) {
      const out = await g.inpaint(image, full, { rng: new Rng(1) });
      expect(out.shape).toEqual(image.shape);
      expect(out.data.every((v) => Number.isFinite(v) && Math.abs(v) <= 1)).toBe(true);
    } else {
      await expect(g.inpaint(image, full, { rng: new Rng(1) })).rejects.toThrow(InputError);
      await expect(g.inpaint(image, full, { rng: new Rng(1) })).rejects.toThrow(/needs known pixels/);
    }
    await g.dispose?.();
  });

  it.each([
    [1, 1, 1, 1], // 1x1, empty mask handled by the hole check below
    [1, 3, 2, 2],
    [1, 3, 3, 5],
    [1, 1, 9, 7],
    [1, 3, 1, 12],
  ])('handles tiny/odd size [%i,%i,%i,%i] and grey images', async (n, c, h, w) => {
    const img = randomImage(n, c, h, w, h * 31 + w);
    const m = new Tensor4([n, 1, h, w]);
    if (h * w > 1) m.data[Math.floor((h * w) / 2)] = 1; // one hole pixel in the middle
    if (h * w > 8) m.data[Math.floor((h * w) / 2) + 1] = 1;
    const g = await build(name, img);
    const out = await g.inpaint(img, m, { rng: new Rng(3) });
    expect(out.shape).toEqual(img.shape);
    expect(knownPixelsExact(out, img, m)).toBe(true);
    expect(out.data.every((v) => Number.isFinite(v))).toBe(true);
    await g.dispose?.();
  });

  it('fills each image of a batch with its own mask', async () => {
    if (!SETUPS[name].batch) {
      const g = await build(name, image);
      const batch = randomImage(2, 3, 12, 10, 5);
      await expect(g.inpaint(batch, rectMask(2, 12, 10, 3, 3, 6, 6), { rng: new Rng(1) })).rejects.toThrow(InputError);
      return;
    }
    const batch = randomImage(2, 3, 16, 14, 9);
    const m = rectMask(2, 16, 14, 4, 4, 9, 10);
    m.data.fill(0, 16 * 14); // second image: empty mask
    const g = await build(name, batch);
    const out = await g.inpaint(batch, m, { rng: new Rng(5) });
    expect(out.shape).toEqual(batch.shape);
    expect(knownPixelsExact(out, batch, m)).toBe(true);
    expect(out.slice(1).data).toEqual(batch.slice(1).data);
    await g.dispose?.();
  });

  it('refuses a mask that does not fit the image with an InputError', async () => {
    const g = await build(name, image);
    await expect(g.inpaint(image, new Tensor4([1, 1, 16, 23]), { rng: new Rng(1) })).rejects.toThrow(InputError);
    await g.dispose?.();
  });

  it('reports progress and reaches 1', async () => {
    const g = await build(name, image);
    const seen: number[] = [];
    await g.inpaint(image, mask, { rng: new Rng(1), onProgress: (f) => seen.push(f) });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen[seen.length - 1]).toBe(1);
    expect(seen.every((f) => f >= 0 && f <= 1)).toBe(true);
    await g.dispose?.();
  });
});
