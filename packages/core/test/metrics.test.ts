import { boundaryConsistency, boundaryJump, knownPixelViolations, l1, mse, psnr, ssim, swd, swdAgainst } from '../src/metrics';
import { Rng, Tensor4, Tensor4 as T4 } from '@diff2s/core';

function random(shape: [number, number, number, number], seed: number): Tensor4 {
  const t = new T4(shape);
  new Rng(seed).fillUniform(t.data, -1, 1);
  return t;
}

describe('metrics', () => {
  const a = random([2, 3, 24, 24], 1);

  it('identical images: PSNR ∞, SSIM 1, L1 0, SWD 0, no violations', () => {
    expect(psnr(a, a)).toEqual([Infinity, Infinity]);
    for (const v of ssim(a, a)) expect(v).toBeCloseTo(1, 10);
    expect(l1(a, a)).toEqual([0, 0]);
    expect(swd(a, a)).toEqual([0, 0]);
    const m = new T4([2, 1, 24, 24]);
    expect(knownPixelViolations(a, a, m)).toBe(0);
  });

  it('a constant shift δ gives L1 = δ/2 and PSNR = −20 log10(δ/2) on [0,1] scale', () => {
    const b = a.clone();
    for (let i = 0; i < b.size; i++) b.data[i] += 0.2;
    for (const v of l1(a, b)) expect(v).toBeCloseTo(0.1, 6);
    for (const v of mse(a, b)) expect(v).toBeCloseTo(0.01, 6);
    for (const v of psnr(a, b)) expect(v).toBeCloseTo(20, 4);
  });

  it('SSIM of two constant images has its closed form', () => {
    const x = T4.full([1, 1, 16, 16], -0.5); // 0.25 on [0,1]
    const y = T4.full([1, 1, 16, 16], 0.5); // 0.75
    const C1 = 1e-4;
    const want = (2 * 0.25 * 0.75 + C1) / (0.25 ** 2 + 0.75 ** 2 + C1);
    expect(ssim(x, y)[0]).toBeCloseTo(want, 8);
  });

  it('SWD with 1x1 patches of one channel is the 1-D Wasserstein distance: a shift δ gives δ/2', () => {
    const x = random([1, 1, 10, 10], 4);
    const y = x.clone();
    for (let i = 0; i < y.size; i++) y.data[i] += 0.3;
    expect(swd(x, y, undefined, { patch: 1, projections: 4 })[0]).toBeCloseTo(0.15, 6);
    // a permutation of the same values has the same distribution: distance 0
    const perm = new T4([1, 1, 10, 10], x.data.slice().reverse());
    expect(swd(x, perm, undefined, { patch: 1 })[0]).toBeCloseTo(0, 10);
  });

  it('SWD is larger for noise than for the same texture, and is deterministic', () => {
    const stripes = new T4([1, 1, 32, 32]);
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) stripes.data[y * 32 + x] = x % 4 < 2 ? 0.8 : -0.8;
    const shifted = new T4([1, 1, 32, 32]);
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) shifted.data[y * 32 + x] = (x + 4) % 4 < 2 ? 0.8 : -0.8;
    const noise = random([1, 1, 32, 32], 9);
    const same = swd(stripes, shifted)[0];
    const diff = swd(stripes, noise)[0];
    expect(same).toBeLessThan(0.01);
    expect(diff).toBeGreaterThan(10 * same + 0.05);
    expect(swd(stripes, noise)).toEqual(swd(stripes, noise));
  });

  it('swdAgainst gives each candidate the same values as swd, bit for bit (the reference projected once)', () => {
    const ref = random([2, 3, 24, 24], 4), c1 = random([2, 3, 24, 24], 5), c2 = random([2, 3, 24, 24], 6);
    const hole = new T4([2, 1, 24, 24]);
    for (let i = 0; i < 2; i++) for (let y = 4 + i; y < 18; y++) for (let x = 6; x < 20 - i; x++) hole.data[i * 576 + y * 24 + x] = 1;
    const [a1, a2] = swdAgainst([c1, c2], ref, hole, { patch: 5 });
    expect(a1).toEqual(swd(c1, ref, hole, { patch: 5 }));
    expect(a2).toEqual(swd(c2, ref, hole, { patch: 5 }));
    expect(a1[0]).not.toBe(a2[0]);
    expect(swdAgainst([c1], ref, undefined, { maxPatches: 50, projections: 16 })[0]).toEqual(swd(c1, ref, undefined, { maxPatches: 50, projections: 16 }));
  });

  it('hole-only variants average over the hole', () => {
    const b = a.clone();
    const m = new T4([2, 1, 24, 24]);
    for (let p = 0; p < 24 * 12; p++) m.data[p] = 1; // top half of image 0 is the hole
    for (let p = 0; p < 24 * 24; p++) m.data[24 * 24 + p] = 1; // image 1 entirely hole
    for (let c = 0; c < 3; c++) for (let p = 0; p < 24 * 12; p++) b.data[b.index(0, c, 0, 0) + p] += 0.4;
    expect(l1(a, b, m)[0]).toBeCloseTo(0.2, 6);
    expect(l1(a, b)[0]).toBeCloseTo(0.1, 6);
    expect(l1(a, b, m)[1]).toBe(0);
    expect(knownPixelViolations(b, a, m)).toBe(0);
    const m2 = new T4([2, 1, 24, 24]); // nothing is a hole: every changed pixel is a violation
    expect(knownPixelViolations(b, a, m2)).toBe(3 * 24 * 12);
  });

  it('boundary jump: a seam exactly at the mask border is measured, the reference has none', () => {
    const ref = T4.full([1, 1, 8, 8], 0);
    const res = ref.clone();
    const m = new T4([1, 1, 8, 8]);
    for (let y = 2; y < 6; y++) for (let x = 2; x < 6; x++) {
      m.data[y * 8 + x] = 1;
      res.data[y * 8 + x] = 0.5; // a flat fill 0.25 brighter on [0,1]
    }
    expect(boundaryJump(ref, m)[0]).toBe(0);
    expect(boundaryJump(res, m)[0]).toBeCloseTo(0.25, 10);
    expect(boundaryConsistency(res, ref, m)[0]).toBeCloseTo(0.25, 10);
  });
});
