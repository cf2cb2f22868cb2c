import { CancelledError, InputError, Rng, Tensor4 } from '@diff2s/core';
import {
  computeNnf, dilateBinary, downsampleLevel, erosionDepth, LevelMatcher, makeFinestLevel, meanFill, patchGuideConfig, PatchGuide,
  poissonBlend,
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

  it('pyramid depth (issue 22): the fewest levels for a coarsest erosion depth of at most coarsestDepth (14 px), r with null', async () => {
    const image = stripes(128, 128);
    let mask = rectMask(1, 128, 128, 44, 44, 84, 84); // erosion depth 20
    const plan = async (cfg: object): Promise<string> => {
      const { guide, logger } = makeGuide('patch', { emIterations: 1, pmIterations: 1, ...cfg });
      await guide.inpaint(image, mask, { rng: new Rng(1) });
      return logger.messages.find((m) => /level\(s\)/.test(m.message))!.message;
    };
    expect(await plan({})).toMatch(/hole depth 20, 2 level\(s\)/); // 20/2 <= 14
    expect(await plan({ coarsestDepth: 5 })).toMatch(/hole depth 20, 3 level\(s\)/); // 20/4 <= 5
    expect(await plan({ coarsestDepth: 40 })).toMatch(/hole depth 20, 1 level\(s\)/);
    mask = rectMask(1, 128, 128, 40, 40, 52, 52); // erosion depth 6
    expect(await plan({})).toMatch(/hole depth 6, 1 level\(s\)/);
    expect(await plan({ coarsestDepth: null })).toMatch(/hole depth 6, 2 level\(s\)/); // the former rule: 6/2 <= r = 3
  });

  it('onion-peel initialisation (issue 22): known-centred patches matched first (exactly), then each layer by the weighted mean', () => {
    const image = stripes(32, 32);
    const mask = rectMask(1, 32, 32, 11, 10, 21, 22);
    const level = makeFinestLevel(image, mask, null);
    const m = new LevelMatcher(level, 3, new Rng(4), 0.5);
    m.initRandom();
    m.onionPeelWeighted(75, 1e9); // exhaustive search
    const hole = Uint8Array.from(mask.data);
    // every patch centred on a known pixel that meets the hole has its best partial match over the known pixels
    const partial = (q: number, s: number): number => {
      let sum = 0, n = 0;
      for (let dy = -3; dy <= 3; dy++) for (let dx = -3; dx <= 3; dx++) {
        const qy = Math.floor(q / 32) + dy, qx = (q % 32) + dx;
        if (qy < 0 || qy >= 32 || qx < 0 || qx >= 32 || hole[qy * 32 + qx]) continue;
        for (let c = 0; c < 3; c++) { const e = level.data[(qy * 32 + qx) * 3 + c] - level.data[(s + dy * 32 + dx) * 3 + c]; sum += e * e; }
        n++;
      }
      return sum / n;
    };
    let checked = 0;
    for (const q of Array.from(m.targets).filter((q) => !hole[q]).slice(0, 40)) {
      let best = Infinity;
      for (const s of m.sources) best = Math.min(best, partial(q, s));
      expect(partial(q, m.nnf[q])).toBeCloseTo(best, 10);
      checked++;
    }
    expect(checked).toBe(40);
    // the initialisation alone already continues the periodic texture into the hole
    const init = image.clone();
    for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) if (hole[p]) init.data[c * 1024 + p] = level.data[p * 3 + c];
    expect(holeMse(init, image, mask)).toBeLessThan(0.1 * holeMse(meanFill(image.clone(), mask), image, mask));
    // the former order (each pixel copies its best match's centre) remains selectable and fills the hole too
    const legacy = new LevelMatcher(makeFinestLevel(image, mask, null), 3, new Rng(4), 0.5);
    legacy.initRandom();
    legacy.onionPeel();
    expect(Array.from(legacy.holes).every((p) => legacy.nnf[p] >= 0 && legacy.valid[legacy.nnf[p]] === 1)).toBe(true);
  });

  it('poisson blend (issue 22): copies from a wrongly lit place take the gradient of their source, not its level', () => {
    // a horizontal ramp; every hole pixel copied from one far-away source: constant (a flat, wrong-level patch)
    const h = 24, w = 32;
    const image = new Tensor4([1, 1, h, w]);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) image.data[y * w + x] = -0.9 + (1.8 * x) / (w - 1);
    const mask = rectMask(1, h, w, 10, 6, 22, 18);
    const level = makeFinestLevel(image, mask, null);
    const from = new Int32Array(h * w).fill(-1);
    const src = 20 * w + 4;
    for (let p = 0; p < h * w; p++) if (mask.data[p]) { from[p] = src; level.data[p] = level.data[src]; }
    let before = 0;
    for (let p = 0; p < h * w; p++) if (mask.data[p]) before = Math.max(before, Math.abs(level.data[p] - image.data[p]));
    const known = Float32Array.from(level.data.filter((_, p) => !mask.data[p]));
    poissonBlend(level, from, 1, 500);
    let err = 0;
    for (let p = 0; p < h * w; p++) if (mask.data[p]) err = Math.max(err, Math.abs(level.data[p] - image.data[p]));
    expect(before).toBeGreaterThan(0.1);
    expect(err).toBeLessThan(1e-4); // the ramp itself: no step at the hole's border
    expect(Float32Array.from(level.data.filter((_, p) => !mask.data[p]))).toEqual(known);
  });

  it('the former behaviour (before issue 22) stays selectable and keeps the known pixels exact', async () => {
    const image = stripes(40, 40);
    const mask = rectMask(1, 40, 40, 12, 12, 30, 30);
    const { guide } = makeGuide('patch', { coarsestDepth: null, init: 'onion-centre', exactSearchPairs: 0, blend: 'none' });
    const out = await guide.inpaint(image, mask, { rng: new Rng(1) });
    expect(knownPixelsExact(out, image, mask)).toBe(true);
    expect(holeMse(out, image, mask)).toBeLessThan(0.1 * holeMse(meanFill(image.clone(), mask), image, mask));
  });

  it('golden value: a fixed-seed fill of two holes in a noisy texture (pins the bytes; the speed-ups of issue 19 kept them)', async () => {
    // value computed before the selection of σ² by quickselect and the per-pixel early stop of the patch distance
    const h = 64, w = 80, hw = h * w;
    const image = new Tensor4([1, 3, h, w]);
    const noise = new Rng(5);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const s = ((x + y) >> 2) % 2 ? 0.6 : -0.6;
      image.data[y * w + x] = s + 0.2 * (noise.uniform() - 0.5);
      image.data[hw + y * w + x] = -0.5 * s + 0.1 * Math.sin(x / 5);
      image.data[2 * hw + y * w + x] = ((x >> 3) + (y >> 3)) % 2 ? 0.3 : -0.3;
    }
    const mask = new Tensor4([1, 1, h, w]);
    for (let y = 20; y < 44; y++) for (let x = 12; x < 40; x++) mask.data[y * w + x] = 1;
    for (let y = 8; y < 20; y++) for (let x = 56; x < 70; x++) mask.data[y * w + x] = 1;
    const out = await new PatchGuide(patchGuideConfig.parse({})).inpaint(image, mask, { rng: new Rng(11) });
    let sum = 0;
    for (let k = 0; k < out.size; k++) sum += out.data[k] * ((k % 13) + 1);
    expect(sum).toBeCloseTo(551.68435320258141, 9);
  });

  it('focus (GuideOptions.focus): the finest level fills only the focused hole; the whole hole still filled', async () => {
    const image = stripes(64, 80);
    const mask = rectMask(1, 64, 80, 10, 12, 30, 36);
    for (let y = 20; y < 44; y++) for (let x = 50; x < 70; x++) mask.data[y * 80 + x] = 1;
    const focus = rectMask(1, 64, 80, 50, 20, 70, 44); // the second hole only
    const run = async (f?: Tensor4) => {
      const { guide, logger } = makeGuide('patch', {});
      const out = await guide.inpaint(image, mask, { rng: new Rng(3), ...(f ? { focus: f } : {}) });
      return { out, logger };
    };
    const full = await run();
    // a focus on the whole hole is no focus: the same bytes
    const same = await run(mask.clone());
    expect(Buffer.from(same.out.data.buffer).equals(Buffer.from(full.out.data.buffer))).toBe(true);
    const part = await run(focus);
    expect(part.logger.messages.some((m) => /finest level fills the focus only \(480 of 960 hole pixels\)/.test(m.message))).toBe(true);
    expect(knownPixelsExact(part.out, image, mask)).toBe(true);
    // the focused hole is filled as well as without focus; the other one from the coarser levels (still far better
    // than the mean colour, every value finite)
    const other = rectMask(1, 64, 80, 10, 12, 30, 36);
    const meanErr = holeMse(meanFill(image.clone(), mask), image, mask);
    expect(holeMse(part.out, image, focus)).toBeLessThan(Math.max(2 * holeMse(full.out, image, focus), 0.02 * meanErr));
    expect(holeMse(part.out, image, other)).toBeLessThan(0.5 * meanErr);
    expect(part.out.data.every(Number.isFinite)).toBe(true);
    // bad focus maps are refused, naming the focus
    const { guide } = makeGuide('patch', {});
    await expect(guide.inpaint(image, mask, { rng: new Rng(3), focus: new Tensor4([1, 1, 10, 10]) })).rejects.toThrow(/focus is \[1, 1, 10, 10\]/);
    const soft = focus.clone();
    soft.data[0] = 0.5;
    await expect(guide.inpaint(image, mask, { rng: new Rng(3), focus: soft })).rejects.toThrow(/focus/);
  });

  it('validates its config strictly', () => {
    expect(() => makeGuide('patch', { patchSize: 8 })).toThrow(/odd/);
    expect(() => makeGuide('patch', { bogus: 1 })).toThrow(/unknown key "bogus"/);
    expect(patchGuideConfig.parse({})).toMatchObject({
      patchSize: 7, alpha: 0.5, sigmaPercentile: 75, pmIterations: 10, coarsestDepth: 14, init: 'onion', blend: 'poisson',
    });
    expect(new PatchGuide(patchGuideConfig.parse({})).sizes.fullMask).toBe(false);
  });
});
