import { Tensor4 } from '@diff2s/core';
import { transferDetail } from '../src/detail';

/** A [1,c,h,w] tensor from f(ch, y, x). */
function make(c: number, h: number, w: number, f: (ch: number, y: number, x: number) => number): Tensor4 {
  const t = new Tensor4([1, c, h, w]);
  for (let ch = 0; ch < c; ch++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) t.data[t.index(0, ch, y, x)] = f(ch, y, x);
  return t;
}

describe('transferDetail', () => {
  const h = 32, w = 32;
  const mask = make(1, h, w, (_c, y, x) => (x >= 8 && x < 24 && y >= 8 && y < 24 ? 1 : 0));
  // stage 1: a fine checker (detail) on a dark base; stage 2: flat and brighter (a blurred, colour-corrected fill)
  const stage1 = make(2, h, w, (_c, y, x) => -0.2 + 0.3 * ((x + y) % 2 ? 1 : -1));
  const stage2 = make(2, h, w, (_c, y, x) => (mask.data[y * w + x] ? 0.3 : -0.2));

  it('is stage 2 itself at σ 0', () => {
    expect(Array.from(transferDetail(stage1, stage2, mask, 0).data)).toEqual(Array.from(stage2.data));
  });

  it("keeps stage 1's fine detail on stage 2's coarse values inside the hole, and stage 2's known pixels", () => {
    const out = transferDetail(stage1, stage2, mask, 2);
    for (let ch = 0; ch < 2; ch++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const i = out.index(0, ch, y, x);
      if (!mask.data[y * w + x]) expect(out.data[i]).toBe(stage2.data[i]);
    }
    // deep inside the hole: stage 2's level (0.3) plus the checker of amplitude 0.3 (stage 1's detail)
    for (let y = 14; y < 18; y++) for (let x = 14; x < 18; x++) {
      const v = out.data[out.index(0, 1, y, x)];
      expect(v).toBeCloseTo(0.3 + 0.3 * ((x + y) % 2 ? 1 : -1), 1);
    }
  });

  it("tone: drops the refinement's change coarser than σ_t (stage 1's level deep inside), keeps a local correction", () => {
    const H = 64, W = 64;
    const big = make(1, H, W, (_c, y, x) => (x >= 8 && x < 56 && y >= 8 && y < 56 ? 1 : 0));
    const s1 = make(1, H, W, () => -0.2);
    // stage 2: the whole hole 0.4 brighter (a colour drift) plus a 3-px bump at (20, 32) (a local correction)
    const bump = (y: number, x: number) => 0.5 * Math.exp(-((x - 20) ** 2 + (y - 32) ** 2) / (2 * 3 * 3));
    const s2 = make(1, H, W, (_c, y, x) => (big.data[y * W + x] ? -0.2 + 0.4 + bump(y, x) : -0.2));
    const drift = transferDetail(s1, s2, big, 0, 0);
    expect(drift.data[drift.index(0, 0, 32, 40)]).toBeCloseTo(0.2, 6); // σ 0, tone 0: stage 2 as it is
    const out = transferDetail(s1, s2, big, 0, 6);
    // deep inside, far from the bump: back to stage 1's level (the drift is coarser than 6 px)
    expect(Math.abs(out.data[out.index(0, 0, 32, 44)] + 0.2)).toBeLessThan(0.02); // of the 0.4 drift
    // the bump (3 px) stays: most of its height above the local level
    const rise = out.data[out.index(0, 0, 32, 20)] - out.data[out.index(0, 0, 32, 30)];
    expect(rise).toBeGreaterThan(0.3);
    // known pixels are stage 2's
    expect(out.data[out.index(0, 0, 2, 2)]).toBe(s2.data[s2.index(0, 0, 2, 2)]);
    // with σ: the tone scale must be the larger one
    expect(() => transferDetail(s1, s2, big, 4, 2)).toThrow(/tone scale \(2 px\) must be larger than the detail scale \(4 px\)/);
  });

  it('works on the hole box grown by the kernel radius: the same values bit for bit as on the whole image', () => {
    const H = 64, W = 64;
    const small = make(1, H, W, (_c, y, x) => (x >= 20 && x < 30 && y >= 24 && y < 34 ? 1 : 0));
    // the same hole plus one far pixel: its box is the whole image, so nothing is cropped
    const wide = small.clone();
    wide.data[0] = 1;
    wide.data[H * W - 1] = 1;
    const s1 = make(3, H, W, (c, y, x) => Math.sin(0.7 * x + 1.3 * y + c));
    const s2 = make(3, H, W, (c, y, x) => 0.5 * Math.cos(0.4 * x - 0.9 * y + 2 * c));
    const a = transferDetail(s1, s2, small, 1, 4), b = transferDetail(s1, s2, wide, 1, 4);
    let inHole = 0;
    for (let c = 0; c < 3; c++) for (let p = 0; p < H * W; p++) {
      const i = c * H * W + p;
      if (small.data[p]) { expect(a.data[i]).toBe(b.data[i]); inHole++; } else expect(a.data[i]).toBe(s2.data[i]);
    }
    expect(inHole).toBe(300);
    expect(transferDetail(s1, s2, make(1, H, W, () => 0), 1, 4).data).toEqual(s2.data);
  });

  it('clamps to [-1, 1] and refuses mismatched shapes', () => {
    const bright = make(2, h, w, () => 0.99);
    const out = transferDetail(make(2, h, w, (_c, y, x) => ((x + y) % 2 ? 1 : -1)), bright, mask, 1);
    expect(Math.max(...out.data)).toBeLessThanOrEqual(1);
    expect(Math.min(...out.data)).toBeGreaterThanOrEqual(-1);
    expect(() => transferDetail(make(1, h, w, () => 0), stage2, mask, 1)).toThrow(/stage 1 is \[1, 1, 32, 32\]/);
    expect(() => transferDetail(stage1, stage2, make(1, 16, 16, () => 0), 1)).toThrow(/the mask is/);
  });
});
