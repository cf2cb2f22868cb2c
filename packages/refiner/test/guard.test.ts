/** The guard ("never worse than stage 1", measured without a reference) on a texture with a square hole. */
import { Rng, Tensor4 } from '@diff2s/core';
import { MIN_VALIDATION_PIXELS, checkerEnergy, judgeOnValidation, judgeRefinement, validationHole } from '@diff2s/refiner';

const S = 48;
function texture(seed: number): Tensor4 {
  const t = new Tensor4([1, 3, S, S]);
  const rng = new Rng(seed);
  for (let c = 0; c < 3; c++) for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) {
    t.data[t.index(0, c, y, x)] = 0.6 * Math.sin(x * 0.9 + c) * Math.cos(y * 0.7) + 0.3 * (rng.uniform() - 0.5);
  }
  return t;
}
const hole = new Tensor4([1, 1, S, S]);
for (let y = 16; y < 32; y++) for (let x = 16; x < 32; x++) hole.data[y * S + x] = 1;

/** `base` with its hole replaced by `fill`'s pixels (or a constant). */
function withHole(base: Tensor4, fill: Tensor4 | number): Tensor4 {
  const out = base.clone();
  for (let c = 0; c < 3; c++) for (let p = 0; p < S * S; p++) {
    if (hole.data[p] !== 1) continue;
    out.data[c * S * S + p] = typeof fill === 'number' ? fill : fill.data[c * S * S + p];
  }
  return out;
}

describe('judgeRefinement', () => {
  const ref = texture(1);
  const good = withHole(ref, texture(2)); // the same kind of texture in the hole
  const flat = withHole(ref, 0.1); // a flat, wrong fill

  it('keeps stage 1 when stage 2 is flatter (less like the known region) and says why', () => {
    const [v] = judgeRefinement(good, flat, hole);
    expect(v.accept).toBe(false);
    expect(v.texture[1]).toBeGreaterThan(v.texture[0]);
    expect(v.reason).toMatch(/^stage 1 kept: texture/);
  });

  it('accepts stage 2 when it is the textured one', () => {
    const [v] = judgeRefinement(flat, good, hole);
    expect(v.accept).toBe(true);
    expect(v.texture[1]).toBeLessThan(v.texture[0]);
    expect(v.seam[1]).toBeLessThanOrEqual(v.seam[0] + 0.003);
    expect(v.reason).toMatch(/^refined:/);
  });

  it('an unchanged stage 2 is accepted (ties are not worse); one verdict per sample', () => {
    const two = new Tensor4([2, 3, S, S]);
    two.data.set(good.data, 0);
    two.data.set(flat.data, good.size);
    const m2 = new Tensor4([2, 1, S, S]);
    m2.data.set(hole.data, 0);
    m2.data.set(hole.data, hole.size);
    const out = judgeRefinement(two, two, m2);
    expect(out.map((v) => v.accept)).toEqual([true, true]);
  });
});

describe('validationHole', () => {
  it('is the hole shifted onto known pixels, at least the margin away from the hole, same size where it fits', () => {
    const v = validationHole(hole)!;
    expect(v).toBeDefined();
    const { h, w } = hole;
    let count = 0;
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      if (v.hole.data[y * w + x] !== 1) continue;
      count++;
      // the shifted source pixel is a hole pixel
      expect(hole.data[(y - v.shift[1]) * w + (x - v.shift[0])]).toBe(1);
      // and no hole pixel lies within 4 pixels
      for (let dy = -4; dy <= 4; dy++) for (let dx = -4; dx <= 4; dx++) {
        const yy = y + dy, xx = x + dx;
        if (yy >= 0 && yy < h && xx >= 0 && xx < w) expect(hole.data[yy * w + xx]).toBe(0);
      }
    }
    expect(count).toBe(v.pixels);
    // a 16² hole at (16,16) in a 48² image: shifted by a quarter diagonally, minus its 4-pixel neighbourhood's 8² corner
    expect(v.shift.map(Math.abs)).toEqual([12, 12]);
    expect(v.pixels).toBe(16 * 16 - 8 * 8);
    expect(validationHole(hole)!.shift).toEqual(v.shift); // deterministic
  });

  it('is undefined when no shift leaves enough known pixels (a hole over most of the image)', () => {
    const big = Tensor4.full([1, 1, S, S], 1);
    for (let x = 0; x < S; x++) big.data[x] = 0; // one known row
    expect(validationHole(big)).toBeUndefined();
    expect(MIN_VALIDATION_PIXELS).toBeGreaterThan(0);
  });
});

describe('judgeOnValidation', () => {
  const truth = texture(1);
  const v = validationHole(hole)!;
  /** truth with the validation hole replaced. */
  const fillV = (fill: Tensor4 | number) => {
    const out = truth.clone();
    for (let c = 0; c < 3; c++) for (let p = 0; p < S * S; p++) {
      if (v.hole.data[p] === 1) out.data[c * S * S + p] = typeof fill === 'number' ? fill : fill.data[c * S * S + p];
    }
    return out;
  };
  const good = fillV(texture(2)), flat = fillV(0.1);

  it('keeps stage 1 when stage 2 is further from the truth there, and says so', () => {
    const r = judgeOnValidation(good, flat, truth, v.hole);
    expect(r.accept).toBe(false);
    expect(r.method).toBe('validate');
    expect(r.texture[1]).toBeGreaterThan(r.texture[0]);
    expect(r.reason).toMatch(/^stage 1 kept: on the validation hole/);
  });

  it('accepts stage 2 when it is closer to the truth (the truth itself: SWD 0, seam as the truth\'s)', () => {
    const r = judgeOnValidation(flat, truth, truth, v.hole);
    expect(r.accept).toBe(true);
    expect(r.texture[1]).toBeCloseTo(0, 6);
    expect(r.seam[1]).toBeCloseTo(0, 6);
    expect(r.reason).toMatch(/^refined:/);
  });
});

describe('checkerEnergy (the grid artefact)', () => {
  const all = Tensor4.full([1, 1, 8, 8], 1);
  const img = (f: (x: number, y: number) => number) => {
    const t = new Tensor4([1, 1, 8, 8]);
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) t.data[y * 8 + x] = f(x, y);
    return t;
  };
  it('is zero for edges and ramps, and large for a pixel-period checkerboard', () => {
    expect(checkerEnergy(img((x) => (x < 4 ? -1 : 1)), all)).toBe(0);
    expect(checkerEnergy(img((x, y) => 0.1 * x - 0.05 * y), all)).toBeCloseTo(0, 6);
    expect(checkerEnergy(img((x, y) => ((x + y) % 2 ? 0.5 : -0.5)), all)).toBeCloseTo(1, 6);
    expect(checkerEnergy(img(() => 0), Tensor4.full([1, 1, 8, 8], 0))).toBeNaN();
  });

  it('the validating guard refuses a stage 2 with a grid the truth does not have, even when SWD and seam pass', () => {
    const truth = texture(1);
    const v = validationHole(hole)!;
    const gridded = truth.clone();
    for (let c = 0; c < 3; c++) for (let p = 0; p < S * S; p++) {
      if (v.hole.data[p] !== 1) continue;
      const y = Math.floor(p / S), x = p % S;
      gridded.data[c * S * S + p] += (x + y) % 2 ? 0.06 : -0.06;
    }
    const r = judgeOnValidation(truth, gridded, truth, v.hole, { textureTolerance: 10, seamTolerance: 1 });
    expect(r.accept).toBe(false);
    expect(r.reason).toMatch(/checker/);
  });
});
