import { CancelledError, InputError, Rng, Tensor4 } from '@diff2s/core';
import {
  computeNnf, dilateBinary, downsampleLevel, erosionDepth, makeFinestLevel, meanFill, patchGuideConfig, PatchGuide,
} from '@diff2s/guides';
import { holeMse, knownPixelsExact, makeGuide, rectMask } from './helpers';

/** Diagonal stripes (period 8) in colour, plus a slow checker in the blue channel: a periodic texture. */
function stripes(h: number, w: number, channels = 3): Tensor4 {
  const t = new Tensor4([1, channels, h, w]);
  const hw = h * w;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = ((x + y) >> 2) % 2 ? 0.8 : -0.8;
      t.data[y * w + x] = s;
      if (channels === 3) {
        t.data[hw + y * w + x] = -s * 0.5;
        t.data[2 * hw + y * w + x] = ((x >> 3) + (y >> 3)) % 2 ? 0.3 : -0.3;
      }
    }
  }
  return t;
}

function checker(h: number, w: number, cell: number): Tensor4 {
  const t = new Tensor4([1, 1, h, w]);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) t.data[y * w + x] = (Math.floor(x / cell) + Math.floor(y / cell)) % 2 ? 0.9 : -0.9;
  return t;
}

describe('patch guide', () => {
  it('fills a hole in a periodic colour texture with much lower error than the mean fill', async () => {
    const image = stripes(64, 64);
    const mask = rectMask(1, 64, 64, 22, 20, 42, 44);
    const { guide } = makeGuide('patch', {});
    const out = await guide.inpaint(image, mask, { rng: new Rng(1) });
    const mean = meanFill(image.clone(), mask);
    const ePatch = holeMse(out, image, mask), eMean = holeMse(mean, image, mask);
    expect(knownPixelsExact(out, image, mask)).toBe(true);
    expect(ePatch).toBeLessThan(0.1 * eMean);
  });

  it('fills a grey checkerboard hole (C = 1), with texture features too', async () => {
    const image = checker(48, 56, 6);
    const mask = rectMask(1, 48, 56, 17, 15, 35, 31);
    const mean = holeMse(meanFill(image.clone(), mask), image, mask);
    for (const cfg of [{}, { textureFeatures: true }]) {
      const { guide } = makeGuide('patch', cfg);
      const out = await guide.inpaint(image, mask, { rng: new Rng(2) });
      expect(out.shape).toEqual(image.shape);
      expect(holeMse(out, image, mask)).toBeLessThan(0.15 * mean);
    }
  });

  it('PatchMatch: the NNF improves over iterations and ends far below the random start', () => {
    const image = stripes(48, 48);
    const mask = rectMask(1, 48, 48, 16, 16, 32, 32);
    const filled = meanFill(image.clone(), mask);
    const { meanDistances, nnf } = computeNnf(filled, mask, { rng: new Rng(3), iterations: 8 });
    expect(meanDistances).toHaveLength(9);
    for (let i = 1; i < meanDistances.length; i++) expect(meanDistances[i]).toBeLessThanOrEqual(meanDistances[i - 1]);
    expect(meanDistances[8]).toBeLessThan(0.5 * meanDistances[0]);
    // a known pixel far from the hole is not a target; targets match fully-known, in-image source patches
    expect(nnf[0]).toBe(-1);
    const hole = Uint8Array.from(mask.data);
    const near = dilateBinary(hole, 48, 48, 3);
    for (let p = 0; p < nnf.length; p++) {
      if (nnf[p] < 0) continue;
      expect(near[nnf[p]]).toBe(0);
      const sy = Math.floor(nnf[p] / 48), sx = nnf[p] % 48;
      expect(sx >= 3 && sx < 45 && sy >= 3 && sy < 45).toBe(true);
    }
  });

  it('measures the erosion depth and builds the pyramid with conservative holes', () => {
    const hole = new Uint8Array(20 * 20);
    for (let y = 5; y < 15; y++) for (let x = 4; x < 16; x++) hole[y * 20 + x] = 1;
    expect(erosionDepth(hole, 20, 20)).toBe(5);
    expect(erosionDepth(new Uint8Array(9), 3, 3)).toBe(0);
    const image = stripes(21, 19);
    const mask = new Tensor4([1, 1, 21, 19]);
    mask.data[10 * 19 + 9] = 1;
    const l0 = makeFinestLevel(image, mask, null);
    const l1 = downsampleLevel(l0);
    expect([l1.w, l1.h]).toEqual([10, 11]);
    expect(l1.hole[5 * 10 + 4]).toBe(1);
    expect(l1.hole.reduce((a, b) => a + b, 0)).toBe(1);
  });

  it('reports progress, logs its plan at debug level and can be cancelled', async () => {
    const image = stripes(40, 40);
    const mask = rectMask(1, 40, 40, 12, 12, 30, 30);
    const { guide, logger } = makeGuide('patch', {});
    const seen: string[] = [];
    await guide.inpaint(image, mask, { rng: new Rng(1), onProgress: (_f, label) => label && seen.push(label) });
    expect(seen.some((l) => /level 1\//.test(l))).toBe(true);
    expect(logger.messages.some((m) => m.level === 'debug' && /level\(s\), patch 7x7/.test(m.message))).toBe(true);
    const ac = new AbortController();
    const p = guide.inpaint(image, mask, { rng: new Rng(1), signal: ac.signal, onProgress: () => ac.abort() });
    await expect(p).rejects.toThrow(CancelledError);
  });

  it('uses smaller patches when no fully-known 7x7 patch exists, and refuses a full mask', async () => {
    const image = stripes(6, 6);
    const mask = rectMask(1, 6, 6, 2, 2, 4, 4);
    const { guide, logger } = makeGuide('patch', {});
    const out = await guide.inpaint(image, mask, { rng: new Rng(1) });
    expect(knownPixelsExact(out, image, mask)).toBe(true);
    expect(logger.messages.some((m) => /using [135]x[135]/.test(m.message))).toBe(true);
    await expect(guide.inpaint(image, Tensor4.full([1, 1, 6, 6], 1), { rng: new Rng(1) })).rejects.toThrow(InputError);
  });

  it('validates its config strictly', () => {
    expect(() => makeGuide('patch', { patchSize: 8 })).toThrow(/odd/);
    expect(() => makeGuide('patch', { bogus: 1 })).toThrow(/unknown key "bogus"/);
    expect(patchGuideConfig.parse({})).toMatchObject({ patchSize: 7, alpha: 0.5, sigmaPercentile: 75, pmIterations: 10 });
    expect(new PatchGuide(patchGuideConfig.parse({})).sizes.fullMask).toBe(false);
  });
});
