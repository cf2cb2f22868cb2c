/**
 * HD strategies and any image size (issue 19): crops around each hole, resize, original; padding to the networks'
 * multiple; known pixels bit-exact and output sizes kept in every size class.
 */
import * as path from 'path';
import { Tensor4, knownPixelViolations } from '@diff2s/core';
import { NativeUNet, saveModel } from '@diff2s/engine';
import { cliContainer, createPipeline } from '../src';
import { padToMultiple } from '@diff2s/guides';
import { CPU_GUIDE_BYTES_PER_PIXEL, VALIDATION_BYTES_PER_PIXEL, estimateRunBytes, holeComponents, planCrops, planHd, REGION_BYTES_PER_PIXEL } from '../src/hd';
import { HdConfig } from '../src/config/schema';
import { tempDir } from '../../../test/helpers/tmp';

const hd = (o: Partial<HdConfig> = {}) => HdConfig.parse(o);

function rectMask(w: number, h: number, rects: [number, number, number, number][]): Tensor4 {
  const m = new Tensor4([1, 1, h, w]);
  for (const [x0, y0, x1, y1] of rects) for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) m.data[y * w + x] = 1;
  return m;
}

function photo(w: number, h: number): Tensor4 {
  const t = new Tensor4([1, 3, h, w]);
  for (let c = 0; c < 3; c++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    t.data[(c * h + y) * w + x] = Math.round(127.5 + 120 * Math.sin(x * 0.05 + c) * Math.cos(y * 0.07)) / 127.5 - 1;
  }
  return t;
}

describe('HD planning', () => {
  it('finds each hole\'s box; crops grow by the margin, to the minimum size, inside the image', () => {
    const m = rectMask(1000, 600, [[100, 100, 140, 130], [800, 400, 810, 420]]);
    expect(holeComponents(m)).toEqual([{ x0: 100, y0: 100, x1: 140, y1: 130 }, { x0: 800, y0: 400, x1: 810, y1: 420 }]);
    const crops = planCrops(m, 64, 128);
    expect(crops).toEqual([{ x0: 36, y0: 36, x1: 204, y1: 194 }, { x0: 736, y0: 336, x1: 874, y1: 484 }]);
    // a box smaller than the minimum once grown: centred, at least minSize
    expect(planCrops(rectMask(1000, 600, [[500, 300, 502, 302]]), 8, 128)).toEqual([{ x0: 437, y0: 237, x1: 565, y1: 365 }]);
    // near the border the crop shifts inside
    expect(planCrops(rectMask(300, 300, [[0, 0, 5, 5]]), 8, 128)).toEqual([{ x0: 0, y0: 0, x1: 128, y1: 128 }]);
  });

  it('merges crops that overlap, so no crop holds part of another\'s hole', () => {
    const m = rectMask(1000, 600, [[100, 100, 140, 130], [200, 110, 210, 120]]);
    const crops = planCrops(m, 64, 128);
    expect(crops.length).toBe(1);
    expect(crops[0]).toEqual({ x0: 36, y0: 36, x1: 274, y1: 194 });
  });

  it('auto crops above the trigger and runs small images whole; resize scales to the limit', () => {
    const big = rectMask(1366, 768, [[600, 300, 650, 350]]);
    expect(planHd(big, hd()).strategy).toBe('crop');
    expect(planHd(rectMask(256, 256, [[10, 10, 20, 20]]), hd()).strategy).toBe('original');
    const r = planHd(big, hd({ strategy: 'resize', resizeLimit: 512 }));
    expect(r.scaled).toEqual([512, 288]);
    expect(planHd(big, hd({ strategy: 'original' })).regions).toEqual([{ x0: 0, y0: 0, x1: 1366, y1: 768 }]);
  });

  it('pads to the multiple by mirroring (masks with known pixels)', () => {
    const t = new Tensor4([1, 1, 2, 3], Float32Array.from([1, 2, 3, 4, 5, 6]));
    const p = padToMultiple(t, 4, 'symmetric');
    expect(p.shape).toEqual([1, 1, 4, 4]);
    expect(Array.from(p.data)).toEqual([1, 2, 3, 3, 4, 5, 6, 6, 4, 5, 6, 6, 1, 2, 3, 3]);
    expect(Array.from(padToMultiple(t, 4, 'zero').data.slice(12))).toEqual([0, 0, 0, 0]);
  });
});

describe('the memory estimate', () => {
  const MiB = 1024 * 1024;
  const mask = rectMask(2048, 2048, [[992, 992, 1056, 1056]]); // a 64² hole
  const whole = planHd(mask, hd({ strategy: 'original' }));
  const frugal = { radius: 51, multiple: 8 };
  const est = (refiner: 'none' | 'whole' | typeof frugal, cpuGuide = true, samples = 1, validation = false) =>
    estimateRunBytes(whole, mask, 3, samples, 8, false, { cpuGuide, refiner, validation });

  it("counts the refiner on its crop (the hole's box grown by the receptive field), not on the region", () => {
    const guideOnly = est('none');
    // the refiner's crop (refineCrop): the hole 992..1056 grown by 51 and aligned to 8, 936..1112: 176²
    expect(est(frugal) - guideOnly).toBe(176 * 176 * REGION_BYTES_PER_PIXEL);
    expect(est('whole') - guideOnly).toBe(2048 * 2048 * REGION_BYTES_PER_PIXEL);
    // a CPU guide's region costs little; a network guide's as much as the refiner's, per sample
    expect(est('none', false, 2) - est('none', true, 2)).toBe(2048 * 2048 * (2 * REGION_BYTES_PER_PIXEL - CPU_GUIDE_BYTES_PER_PIXEL));
    // the validating guard: its worker's guide run, and two refiner crops' worth at once
    expect(est('none', true, 1, true) - guideOnly).toBe(2048 * 2048 * VALIDATION_BYTES_PER_PIXEL);
    expect(est(frugal, true, 1, true) - est('none', true, 1, true)).toBe(2 * 176 * 176 * REGION_BYTES_PER_PIXEL);
    // the whole 2048² image with the frugal refiner on a crop and the guard fits the default limit (4096 MiB; 1050 MiB
    // measured); the refiner on the whole image would not
    expect(est(frugal, true, 1, true)).toBeGreaterThan(1050 * MiB);
    expect(est(frugal, true, 1, true)).toBeLessThan(2048 * MiB);
    expect(est('whole', true, 1, true)).toBeGreaterThan(4096 * MiB);
  });
});

describe('any image size through the pipeline', () => {
  let tmp: ReturnType<typeof tempDir>;
  let modelDir: string;
  const container = cliContainer();
  beforeAll(async () => {
    tmp = tempDir('diff2s-hd-');
    const net = await NativeUNet.create({ preset: 'frugal', baseChannels: 4, channelMults: [1, 1, 1] }, { seed: 3 });
    modelDir = path.join(tmp.dir, 'tiny');
    await saveModel(modelDir, net, { preset: 'frugal', schedule: { type: 'linear', T: 20, betaStart: 1e-3, betaEnd: 0.2 }, training: { content: 'colour' } });
    net.dispose();
  });
  afterAll(() => tmp.cleanup());

  const sizes: [string, number, number, [number, number, number, number][]][] = [
    ['100×100 (not a multiple of 8)', 100, 100, [[40, 40, 60, 60]]],
    ['250×187 (odd height)', 250, 187, [[100, 80, 140, 110]]],
    ['64×60', 64, 60, [[20, 20, 30, 36]]],
    ['700×520 (cropped around two holes)', 700, 520, [[200, 300, 260, 350], [640, 20, 670, 40]]],
  ];
  // 1366×768 and 4032×3024 run through the CLI (test/cli-sizes.test.ts): loops over 12 MP tensors are ~100× slower
  // inside jest's module sandbox than in node
  it.each(sizes)('%s: output size kept, known pixels exact, the hole refined', async (_name, w, h, holes) => {
    const image = photo(w, h), mask = rectMask(w, h, holes);
    const p = await createPipeline({ seed: 1, guide: { type: 'mean' }, model: { path: modelDir }, refiner: { tk: 3, guard: false } }, { container });
    let stage1At = -1, steps = 0;
    const r = await p.run({ image, mask, onStage1: (s1) => { stage1At = steps; expect(s1.shape).toEqual([1, 3, h, w]); }, onProgress: (e) => { if (e.stage === 'refiner') steps++; } });
    await p.dispose();
    expect(r.final.shape).toEqual([1, 3, h, w]);
    expect(knownPixelViolations(r.final, image, mask)).toBe(0);
    expect(knownPixelViolations(r.stage1, image, mask)).toBe(0);
    expect(stage1At).toBe(0); // stage 1 came before any refiner step
    let changed = 0;
    for (let k = 0; k < mask.size; k++) if (mask.data[k] === 1 && r.final.data[k] !== r.stage1.data[k]) changed++;
    expect(changed).toBeGreaterThan(0);
    if (Math.max(w, h) > 512) {
      expect(r.regions?.every((g) => g.strategy === 'crop')).toBe(true);
      expect(r.regions?.length).toBe(holes.length);
    }
  }, 120000);

  it('resize runs on the scaled image and pastes the upscaled hole only', async () => {
    const w = 700, h = 500;
    const image = photo(w, h), mask = rectMask(w, h, [[300, 200, 360, 260]]);
    const p = await createPipeline({ guide: { type: 'mean' }, model: { path: modelDir }, refiner: { tk: 3, guard: false }, hd: { strategy: 'resize', resizeLimit: 256 } }, { container });
    const r = await p.run({ image, mask });
    await p.dispose();
    expect(r.regions).toEqual([{ x0: 0, y0: 0, x1: w, y1: h, strategy: 'resize', scaled: [256, 183] }]);
    expect(r.final.shape).toEqual([1, 3, h, w]);
    expect(knownPixelViolations(r.final, image, mask)).toBe(0);
  }, 120000);
});
