import { Rng } from '@diff2s/core';

describe('Rng', () => {
  it('is deterministic: same seed, same bytes', () => {
    const a = new Rng(1234).fillNormal(new Float32Array(1000));
    const b = new Rng(1234).fillNormal(new Float32Array(1000));
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    expect(new Rng('seed-a').nextUint32()).toBe(new Rng('seed-a').nextUint32());
  });

  it('different seeds differ', () => {
    const a = new Rng(1).fillNormal(new Float32Array(100));
    const b = new Rng(2).fillNormal(new Float32Array(100));
    let same = 0;
    for (let i = 0; i < 100; i++) if (a[i] === b[i]) same++;
    expect(same).toBe(0);
  });

  it('fillNormal gives the values of repeated normal() calls, bit for bit (odd lengths, a pending spare, mean/std)', () => {
    for (const [lead, len] of [[0, 1], [0, 7], [1, 8], [3, 1001], [2, 0]] as const) {
      const a = new Rng('fill'), b = new Rng('fill');
      for (let i = 0; i < lead; i++) expect(a.normal()).toBe(b.normal());
      const fast = a.fillNormal(new Float32Array(len), 0.5, 2);
      const slow = Float32Array.from({ length: len }, () => 0.5 + 2 * b.normal());
      expect(Buffer.from(fast.buffer).equals(Buffer.from(slow.buffer))).toBe(true);
      // the state after the call (spare included) continues both streams identically
      expect(a.getState()).toEqual(b.getState());
      expect([a.normal(), a.normal(), a.nextUint32()]).toEqual([b.normal(), b.normal(), b.nextUint32()]);
    }
  });

  it('normal draws: mean ≈ 0 (|m| < 0.005) and variance ≈ 1 (|v−1| < 0.01) over 1e6 draws', () => {
    // standard errors over 1e6 draws: mean 0.001, variance ≈ 0.0014; tolerances are ~5 and ~7 standard errors.
    const x = new Rng(99).fillNormal(new Float32Array(1_000_000));
    let s = 0, s2 = 0;
    for (const v of x) { s += v; s2 += v * v; }
    const m = s / x.length;
    const variance = s2 / x.length - m * m;
    expect(Math.abs(m)).toBeLessThan(0.005);
    expect(Math.abs(variance - 1)).toBeLessThan(0.01);
  });

  it('uniform draws lie in [0,1) with mean ≈ 1/2 and int() covers its range', () => {
    const r = new Rng(5);
    let s = 0;
    const counts = new Array(7).fill(0);
    for (let i = 0; i < 100000; i++) {
      const u = r.uniform();
      expect(u >= 0 && u < 1).toBe(true);
      s += u;
      counts[r.int(7)]++;
    }
    expect(Math.abs(s / 100000 - 0.5)).toBeLessThan(0.005);
    for (const c of counts) expect(Math.abs(c / 100000 - 1 / 7)).toBeLessThan(0.01);
  });

  it('state save/restore continues the same stream (for resume)', () => {
    const r = new Rng(42);
    r.normal(); // leaves a cached spare
    const st = JSON.parse(JSON.stringify(r.getState()));
    const a = r.fillNormal(new Float32Array(10));
    const b = Rng.fromState(st).fillNormal(new Float32Array(10));
    expect([...a]).toEqual([...b]);
  });

  it('split and derive give independent, reproducible streams', () => {
    const r = new Rng(7);
    const d1 = r.derive('worker-1').fillNormal(new Float32Array(5));
    r.fillNormal(new Float32Array(50)); // consumption does not change derived streams
    const d1again = r.derive('worker-1').fillNormal(new Float32Array(5));
    const d2 = r.derive('worker-2').fillNormal(new Float32Array(5));
    expect([...d1]).toEqual([...d1again]);
    expect([...d1]).not.toEqual([...d2]);
    const s1 = new Rng(7).split().fillNormal(new Float32Array(5));
    const s2 = new Rng(7).split().fillNormal(new Float32Array(5));
    expect([...s1]).toEqual([...s2]);
    expect([...s1]).not.toEqual([...new Rng(7).fillNormal(new Float32Array(5))]);
  });
});
