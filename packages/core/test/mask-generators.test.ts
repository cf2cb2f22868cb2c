import {
  ConfigError, ev2liMask, ex64Mask, freeformMask, generateMask, genhalfMask, holeFraction, MASK_TYPES, matMask, nn2Mask,
  Rng, Tensor4,
} from '@diff2s/core';

function rows(m: Tensor4): string[] {
  const out: string[] = [];
  for (let y = 0; y < m.h; y++) out.push([...m.data.subarray(y * m.w, (y + 1) * m.w)].join(''));
  return out;
}

describe('mask generators', () => {
  it('every type gives a binary [1,1,H,W] mask, deterministic per seed', () => {
    for (const type of MASK_TYPES) {
      const a = generateMask(type, { width: 96, height: 80 }, new Rng(5));
      const b = generateMask(type, { width: 96, height: 80 }, new Rng(5));
      expect(a.shape).toEqual([1, 1, 80, 96]);
      expect(a.data.every((v) => v === 0 || v === 1)).toBe(true);
      expect(Buffer.from(b.data.buffer).equals(Buffer.from(a.data.buffer))).toBe(true);
    }
  });

  it('random types differ between seeds', () => {
    for (const type of ['freeform', 'thick', 'thin', 'mat-small', 'mat-large']) {
      const masks = [1, 2, 3].map((s) => generateMask(type, 128, new Rng(s)).data.join(''));
      expect(new Set(masks).size).toBeGreaterThan(1);
    }
  });

  it('hole fractions are in sensible ranges (averaged over seeds)', () => {
    const ranges: Record<string, [number, number]> = {
      freeform: [0.03, 0.45], thick: [0.05, 0.5], thin: [0.01, 0.4], 'mat-small': [0.05, 0.6], 'mat-large': [0.15, 0.8],
    };
    for (const [type, [lo, hi]] of Object.entries(ranges)) {
      let sum = 0;
      const n = 12;
      for (let s = 0; s < n; s++) {
        const f = holeFraction(generateMask(type, 128, new Rng(100 + s)))[0];
        expect(f).toBeGreaterThan(0);
        expect(f).toBeLessThan(1);
        sum += f;
      }
      const mean = sum / n;
      expect(mean).toBeGreaterThan(lo);
      expect(mean).toBeLessThan(hi);
    }
    // thick/thin follow LaMa's max_tamper_area: never more than half the image
    for (let s = 0; s < 10; s++) {
      expect(holeFraction(generateMask('thick', 64, new Rng(s)))[0]).toBeLessThanOrEqual(0.5);
      expect(holeFraction(generateMask('thin', 64, new Rng(s)))[0]).toBeLessThanOrEqual(0.5);
    }
    // MAT: small masks are smaller than large ones on average
    let small = 0, large = 0;
    for (let s = 0; s < 12; s++) {
      small += holeFraction(matMask(128, new Rng(s), 'small'))[0];
      large += holeFraction(matMask(128, new Rng(s), 'large'))[0];
    }
    expect(small).toBeLessThan(large);
  });

  it('freeform options: strokes scale with the image and can be made thin', () => {
    const thin = freeformMask(128, new Rng(3), { minWidth: 1, maxWidth: 2, minStrokes: 1, maxStrokes: 1 });
    const wide = freeformMask(128, new Rng(3), { minWidth: 60, maxWidth: 61, minStrokes: 1, maxStrokes: 1 });
    expect(holeFraction(thin)[0]).toBeLessThan(holeFraction(wide)[0]);
  });

  it('ex64 keeps exactly the centred 64×64 square', () => {
    const m = ex64Mask(256);
    let wrong = 0, known = 0;
    for (let y = 0; y < 256; y++) {
      for (let x = 0; x < 256; x++) {
        const inside = y >= 96 && y < 160 && x >= 96 && x < 160;
        if (m.data[y * 256 + x] !== (inside ? 0 : 1)) wrong++;
        if (m.data[y * 256 + x] === 0) known++;
      }
    }
    expect(wrong).toBe(0);
    expect(known).toBe(64 * 64);
    expect(rows(ex64Mask(6, { keep: 2 }))).toEqual(['111111', '111111', '110011', '110011', '111111', '111111']);
  });

  it('genhalf: the right half by default, other sides on request', () => {
    expect(rows(genhalfMask(4))).toEqual(['0011', '0011', '0011', '0011']);
    expect(rows(genhalfMask({ width: 5, height: 2 }))).toEqual(['00111', '00111']);
    expect(rows(genhalfMask(4, undefined, { side: 'bottom' }))).toEqual(['0000', '0000', '1111', '1111']);
    expect(rows(genhalfMask(4, undefined, { side: 'left' }))).toEqual(['1100', '1100', '1100', '1100']);
    expect(rows(genhalfMask(4, undefined, { side: 'top' }))).toEqual(['1111', '1111', '0000', '0000']);
    expect(holeFraction(genhalfMask(64))[0]).toBe(0.5);
  });

  it('nn2 keeps every 2nd pixel of every 2nd row; ev2li every 2nd row', () => {
    expect(rows(nn2Mask(4))).toEqual(['0101', '1111', '0101', '1111']);
    expect(holeFraction(nn2Mask(64))[0]).toBe(0.75);
    expect(rows(ev2liMask({ width: 3, height: 4 }))).toEqual(['000', '111', '000', '111']);
    expect(holeFraction(ev2liMask(64))[0]).toBe(0.5);
  });

  it('unknown types and bad sizes are config errors', () => {
    expect(() => generateMask('blob', 32, new Rng(1))).toThrow(ConfigError);
    expect(() => generateMask('ex64', 0, new Rng(1))).toThrow(ConfigError);
  });
});
