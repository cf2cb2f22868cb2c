/**
 * The onnx guide end to end on tiny models with each profile's exact signature (fixtures/make_models.py):
 * lama / lama255: out = s·(image·(1 − mask) + 0.25·mask), s = 1 or 255, and only valid when H, W are multiples of 8;
 * mat: out = image·mask + 0.5·(1 − mask) with mask 1 = known, 512 square; migan: [0.5 − mask, image·(1 − mask)] →
 * image part − 0.5·hole; custom: img 0–255, msk 1 = known, out = img·msk + 200·(1 − msk), multiple of 4.
 */
import * as path from 'path';
import { ConfigError, InputError, ModelFileError, Rng, Tensor4 } from '@diff2s/core';
import { detectRange, OnnxGuide, padPlanes, planRegion, resizeHoleConservative, resizePlanes } from '@diff2s/guides';
import { at, FIXTURES, knownPixelsExact, makeGuide, randomImage, rectMask } from './helpers';

const model = (f: string): string => path.join(FIXTURES, f);

/** Every hole pixel of image 0 (all channels) as a list. */
function holeValues(t: Tensor4, mask: Tensor4): number[] {
  const hw = t.h * t.w;
  const out: number[] = [];
  for (let c = 0; c < t.c; c++) for (let p = 0; p < hw; p++) if (mask.data[p] >= 0.5) out.push(t.data[c * hw + p]);
  return out;
}

/** Hole pixels at least `margin` pixels inside the hole rectangle. */
function interior(t: Tensor4, x0: number, y0: number, x1: number, y1: number, margin: number): number[] {
  const out: number[] = [];
  for (let c = 0; c < t.c; c++) for (let y = y0 + margin; y < y1 - margin; y++) for (let x = x0 + margin; x < x1 - margin; x++) out.push(at(t, 0, c, y, x));
  return out;
}

/** Largest |v − target| over the values. */
function maxDev(values: number[], target: number): number {
  return values.reduce((m, v) => Math.max(m, Math.abs(v - target)), 0);
}

describe('onnx guide: LaMa profile', () => {
  it('pads to a multiple of 8, crops back, converts [0,1] output and pastes only the hole', async () => {
    const image = randomImage(1, 3, 13, 21, 4);
    const mask = rectMask(1, 13, 21, 5, 3, 12, 9);
    const { guide, logger } = makeGuide('onnx', { model: 'lama.onnx' });
    const out = await guide.inpaint(image, mask, { rng: new Rng(0) });
    expect(out.shape).toEqual([1, 3, 13, 21]);
    expect(knownPixelsExact(out, image, mask)).toBe(true);
    expect(new Set(holeValues(out, mask))).toEqual(new Set([-0.5])); // 0.25 in [0,1]
    const debug = logger.messages.filter((m) => m.level === 'debug').map((m) => m.message).join('\n');
    expect(debug).toMatch(/input 24x16/);
    expect(debug).toMatch(/range detected as 0,1/);
    await guide.dispose?.();
  });

  it('detects a 0-255 output', async () => {
    const image = randomImage(1, 3, 16, 9, 5);
    const mask = rectMask(1, 16, 9, 2, 2, 7, 11);
    const { guide, logger } = makeGuide('onnx', { model: 'lama255.onnx', profile: 'lama' });
    const out = await guide.inpaint(image, mask, { rng: new Rng(0) });
    expect(new Set(holeValues(out, mask))).toEqual(new Set([-0.5]));
    expect(knownPixelsExact(out, image, mask)).toBe(true);
    expect(logger.messages.some((m) => /range detected as 0,255/.test(m.message))).toBe(true);
  });

  it('uses a configured output range instead of detecting it', async () => {
    const image = randomImage(1, 3, 8, 8, 6);
    const mask = rectMask(1, 8, 8, 2, 2, 5, 5);
    const { guide } = makeGuide('onnx', { model: 'lama255.onnx', outputRange: '0,1' });
    const out = await guide.inpaint(image, mask, { rng: new Rng(0) });
    expect(new Set(holeValues(out, mask))).toEqual(new Set([1])); // 63.75 read as [0,1], clamped
  });

  it('handles grey images (repeated to RGB, back by luma) and a crop strategy', async () => {
    const image = randomImage(1, 1, 30, 40, 7);
    const mask = rectMask(1, 30, 40, 20, 10, 26, 15);
    const { guide, logger } = makeGuide('onnx', { model: 'lama.onnx', strategy: 'crop', cropMargin: 3 });
    const out = await guide.inpaint(image, mask, { rng: new Rng(0) });
    expect(out.shape).toEqual([1, 1, 30, 40]);
    expect(knownPixelsExact(out, image, mask)).toBe(true);
    expect(maxDev(holeValues(out, mask), -0.5)).toBeLessThan(1e-5);
    expect(logger.messages.some((m) => /region x 17\.\.29, y 7\.\.18 \(12x11\)/.test(m.message))).toBe(true);
  });
});

describe('onnx guide: MAT profile', () => {
  it('feeds mask 1 = known, crops around the hole and resizes to 512', async () => {
    const H = 600, W = 800;
    const image = Tensor4.full([1, 3, H, W], -0.2);
    const mask = rectMask(1, H, W, 600, 100, 640, 130);
    const { guide, logger } = makeGuide('onnx', { model: 'mat.onnx', profile: 'mat' });
    const out = await guide.inpaint(image, mask, { rng: new Rng(0) });
    expect(out.shape).toEqual([1, 3, H, W]);
    expect(knownPixelsExact(out, image, mask)).toBe(true);
    // with the wrong polarity the hole would get the zeroed image (0), not the model's 0.5
    expect(maxDev(interior(out, 600, 100, 640, 130, 2), 0.5)).toBeLessThan(1e-5);
    const hv = holeValues(out, mask);
    expect(Math.min(...hv)).toBeGreaterThanOrEqual(-0.2 - 1e-6);
    expect(Math.max(...hv)).toBeLessThanOrEqual(0.5 + 1e-6);
    // bbox 600..640 x 100..130, margin 128 -> x 472..768, y 0..258, grown to a square of 296 -> y 0..296
    expect(logger.messages.some((m) => /region x 472\.\.768, y 0\.\.296 \(296x296\) -> 512x512/.test(m.message))).toBe(true);
  });

  it('with strategy full resizes the whole (small) image to 512', async () => {
    const image = randomImage(1, 3, 60, 100, 8);
    const mask = rectMask(1, 60, 100, 40, 20, 70, 45);
    const { guide, logger } = makeGuide('onnx', { model: 'mat.onnx', profile: 'mat', strategy: 'full' });
    const out = await guide.inpaint(image, mask, { rng: new Rng(0) });
    expect(knownPixelsExact(out, image, mask)).toBe(true);
    expect(maxDev(interior(out, 40, 20, 70, 45, 2), 0.5)).toBeLessThan(1e-5);
    expect(logger.messages.some((m) => /\(100x60\) -> 512x512/.test(m.message))).toBe(true);
  });
});

describe('onnx guide: MI-GAN profile', () => {
  it('builds the 4-channel input [0.5 - mask, image * (1 - mask)]', async () => {
    const image = randomImage(1, 3, 200, 300, 9);
    const mask = rectMask(1, 200, 300, 100, 50, 160, 120);
    const { guide } = makeGuide('onnx', { model: 'migan.onnx', profile: 'migan' });
    const out = await guide.inpaint(image, mask, { rng: new Rng(0) });
    expect(knownPixelsExact(out, image, mask)).toBe(true);
    // hole: the zeroed image part plus -0.5; a wrong channel 0 or an unzeroed image would differ
    expect(maxDev(interior(out, 100, 50, 160, 120, 3), -0.5)).toBeLessThan(1e-5);
  });
});

describe('onnx guide: custom profile', () => {
  it('uses configured names, 0-255 ranges, mask 1 = known and a multiple of 4', async () => {
    const image = randomImage(1, 3, 10, 7, 10);
    const mask = rectMask(1, 10, 7, 1, 1, 5, 8);
    const { guide } = makeGuide('onnx', {
      model: 'custom.onnx', profile: 'custom', names: { image: 'img', mask: 'msk', output: 'out' },
      inputRange: '0,255', outputRange: '0,255', maskPolarity: 'known', size: { multiple: 4 },
    });
    const out = await guide.inpaint(image, mask, { rng: new Rng(0) });
    expect(knownPixelsExact(out, image, mask)).toBe(true);
    expect(maxDev(holeValues(out, mask), 200 / 127.5 - 1)).toBeLessThan(1e-6);
  });

  it('needs inputRange, maskPolarity and size', () => {
    expect(() => makeGuide('onnx', { model: 'custom.onnx', profile: 'custom' })).toThrow(ConfigError);
    expect(() => makeGuide('onnx', { model: 'custom.onnx', profile: 'custom' })).toThrow(/custom profile needs "inputRange"/);
  });
});

describe('onnx guide: signature validation and errors', () => {
  it('lists every difference between the model and the profile', async () => {
    const { guide } = makeGuide('onnx', { model: 'lama.onnx', profile: 'migan' });
    const err = await guide.inpaint(randomImage(1, 3, 8, 8), rectMask(1, 8, 8, 1, 1, 3, 3), { rng: new Rng(0) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelFileError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/does not match the "migan" profile/);
    expect(msg).toMatch(/missing input "input" \[1,4,512,512\]/);
    expect(msg).toMatch(/unexpected input image \[1,3,height,width\] float32/);
    expect(msg).toMatch(/unexpected input mask \[1,1,height,width\] float32/);
    expect(msg).toMatch(/output "output" dimension 2 \(height\)|the model declares inputs: image/);
  });

  it('names wrong channel counts and missing outputs', async () => {
    const { guide } = makeGuide('onnx', { model: 'bad_lama.onnx', profile: 'lama' });
    const err = await guide.inpaint(randomImage(1, 3, 8, 8), rectMask(1, 8, 8, 1, 1, 3, 3), { rng: new Rng(0) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelFileError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/input "image" dimension 1 \(channels\) is 1, the profile needs 3/);
    expect(msg).toMatch(/missing output "output"/);
    expect(msg).toMatch(/outputs: result \[1,1,height,width\] float32/);
    expect(msg).not.toMatch(/"mask"/);
  });

  it('reports a missing model file as an InputError naming it', async () => {
    const { guide } = makeGuide('onnx', { model: 'nope.onnx' });
    const err = await guide.inpaint(randomImage(1, 3, 8, 8), rectMask(1, 8, 8, 1, 1, 3, 3), { rng: new Rng(0) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).file).toBe(path.join(FIXTURES, 'nope.onnx'));
  });

  it('refuses images with other than 1 or 3 channels', async () => {
    const g = makeGuide('onnx', { model: 'lama.onnx' }).guide as OnnxGuide;
    await expect(g.inpaint(randomImage(1, 4, 8, 8), rectMask(1, 8, 8, 1, 1, 3, 3), { rng: new Rng(0) })).rejects.toThrow(/1 or 3 channels/);
    expect(g.modelPath).toBe(model('lama.onnx'));
  });
});

describe('onnx guide helpers', () => {
  it('plans crops: margin, clamping, growth to the aspect, padding to a multiple', () => {
    const fixed = { mode: 'fixed', h: 512, w: 512 } as const;
    expect(planRegion({ x0: 10, y0: 10, x1: 20, y1: 30 }, 1000, 800, fixed, 'crop', 5)).toEqual({
      region: { x0: 0, y0: 5, x1: 30, y1: 35 }, resized: { h: 512, w: 512 }, input: { h: 512, w: 512 },
    });
    // an image of exactly the model's size is used whole
    expect(planRegion({ x0: 10, y0: 10, x1: 20, y1: 30 }, 512, 512, fixed, 'crop', 5).region).toEqual({ x0: 0, y0: 0, x1: 512, y1: 512 });
    expect(planRegion({ x0: 3, y0: 2, x1: 9, y1: 4 }, 13, 21, { mode: 'multiple', value: 8 }, 'full', 0)).toEqual({
      region: { x0: 0, y0: 0, x1: 13, y1: 21 }, resized: { h: 21, w: 13 }, input: { h: 24, w: 16 },
    });
  });

  it('detects ranges', () => {
    expect(detectRange(Float32Array.from([0, 0.5, 1]))).toBe('0,1');
    expect(detectRange(Float32Array.from([0, 128, 255]))).toBe('0,255');
    expect(detectRange(Float32Array.from([-1, 0, 1]))).toBe('-1,1');
    expect(detectRange(Float32Array.from([-1, 0, 1]), false)).toBe('0,1');
  });

  it('resizes, pads and resizes masks conservatively', () => {
    const src = Float32Array.from([0, 1, 2, 3]); // 1 channel, 2x2
    expect([...resizePlanes(src, 1, 2, 2, 2, 2)]).toEqual([0, 1, 2, 3]);
    const up = resizePlanes(Float32Array.from([0, 1]), 1, 1, 2, 1, 4);
    expect([...up]).toEqual([0, 0.25, 0.75, 1]);
    const down = resizePlanes(Float32Array.from([0, 1, 2, 3]), 1, 1, 4, 1, 2);
    expect(down[0]).toBeLessThan(down[1]);
    expect([...padPlanes(Float32Array.from([1, 2, 3]), 1, 1, 3, 1, 6, 'symmetric')]).toEqual([1, 2, 3, 3, 2, 1]);
    expect([...padPlanes(Float32Array.from([1, 2, 3]), 1, 1, 3, 1, 5, 'edge')]).toEqual([1, 2, 3, 3, 3]);
    expect([...padPlanes(Float32Array.from([1, 2, 3]), 1, 1, 3, 1, 5, 'zero')]).toEqual([1, 2, 3, 0, 0]);
    const hole = new Float32Array(10 * 10);
    hole[5 * 10 + 5] = 1;
    const small = resizeHoleConservative(hole, 10, 10, 3, 3);
    expect(small.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1);
    expect(small[1 * 3 + 1]).toBe(1);
  });
});
