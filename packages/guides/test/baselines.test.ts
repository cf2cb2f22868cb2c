import { Rng, Tensor4 } from '@diff2s/core';
import { harmonicFill, nearestKnownIndex } from '@diff2s/guides';
import { at, makeGuide, rectMask } from './helpers';

describe('baseline guides', () => {
  it('mean fills with the per-channel mean of the known pixels', async () => {
    const image = new Tensor4([1, 2, 2, 2], Float32Array.from([0.5, -0.5, 0.25, 0.9, 1, 0, -1, 0.3]));
    const mask = new Tensor4([1, 1, 2, 2], Float32Array.from([0, 0, 0, 1]));
    const out = await makeGuide('mean', {}).guide.inpaint(image, mask, { rng: new Rng(0) });
    expect(at(out, 0, 0, 1, 1)).toBeCloseTo((0.5 - 0.5 + 0.25) / 3, 6);
    expect(at(out, 0, 1, 1, 1)).toBeCloseTo(0, 6);
  });

  it('nearest copies the closest known pixel', async () => {
    const image = new Tensor4([1, 1, 1, 6], Float32Array.from([-1, 0, 0, 0, 0, 1]));
    const mask = new Tensor4([1, 1, 1, 6], Float32Array.from([0, 1, 1, 1, 1, 0]));
    const out = await makeGuide('nearest', {}).guide.inpaint(image, mask, { rng: new Rng(0) });
    expect([...out.data]).toEqual([-1, -1, -1, 1, 1, 1]);
    expect([...nearestKnownIndex(new Uint8Array([1, 1]), 1, 2)]).toEqual([-1, -1]);
  });

  it('harmonic reproduces a linear ramp across the hole', async () => {
    const h = 12, w = 20;
    const image = new Tensor4([1, 1, h, w]);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) image.data[y * w + x] = -1 + (2 * x) / (w - 1);
    const mask = rectMask(1, h, w, 5, 3, 15, 9);
    const out = await makeGuide('harmonic', {}).guide.inpaint(image, mask, { rng: new Rng(0) });
    let worst = 0;
    for (let i = 0; i < out.size; i++) worst = Math.max(worst, Math.abs(out.data[i] - image.data[i]));
    expect(worst).toBeLessThan(1e-3);
    const t = image.clone();
    expect(harmonicFill(t, mask, { iterations: 5000, tolerance: 1e-7, omega: 1.8 })).toBeLessThan(5000);
  });

  it('constant paints the hole with its value and keeps the known pixels', async () => {
    const image = new Tensor4([1, 2, 1, 3], Float32Array.from([0.5, -0.5, 0.25, 0.9, 1, 0]));
    const mask = new Tensor4([1, 1, 1, 3], Float32Array.from([0, 1, 0]));
    const out = await makeGuide('constant', { value: -1 }).guide.inpaint(image, mask, { rng: new Rng(0) });
    expect([...out.data]).toEqual([0.5, -1, 0.25, 0.9, -1, 0].map(Math.fround));
    const grey = await makeGuide('constant', {}).guide.inpaint(image, mask, { rng: new Rng(0) });
    expect(grey.data[1]).toBe(0);
    expect(() => makeGuide('constant', { value: 2 })).toThrow(/value/);
  });

  it('validates configs strictly', () => {
    expect(() => makeGuide('harmonic', { omega: 2.5 })).toThrow(/omega/);
    expect(() => makeGuide('mean', { x: 1 })).toThrow(/unknown key "x"/);
  });
});
