import { convertPrediction, epsFromV, epsFromX0, PredictionType, Rng, vFromX0Eps, x0FromEps, x0FromV } from '@diff2s/core';

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('ε / x0 / v conversions', () => {
  const rng = new Rng(3);
  const n = 4096;
  const x0 = rng.fillUniform(new Float32Array(n), -1, 1);
  const eps = rng.fillNormal(new Float32Array(n));

  for (const alphaBar of [0.999, 0.7, 0.2, 0.01]) {
    it(`round-trip to 1e-5 at ᾱ=${alphaBar}`, () => {
      const a = Math.sqrt(alphaBar), s = Math.sqrt(1 - alphaBar);
      const xt = new Float32Array(n).map((_, i) => a * x0[i] + s * eps[i]);
      const v = vFromX0Eps(x0, eps, alphaBar, new Float32Array(n));
      expect(maxAbsDiff(x0FromEps(xt, eps, alphaBar, new Float32Array(n)), x0)).toBeLessThan(1e-5 / a);
      expect(maxAbsDiff(epsFromX0(xt, x0, alphaBar, new Float32Array(n)), eps)).toBeLessThan(1e-5 / s);
      expect(maxAbsDiff(x0FromV(xt, v, alphaBar, new Float32Array(n)), x0)).toBeLessThan(1e-5);
      expect(maxAbsDiff(epsFromV(xt, v, alphaBar, new Float32Array(n)), eps)).toBeLessThan(1e-5);
      const truth: Record<PredictionType, Float32Array> = { x0, epsilon: eps, v };
      const types: PredictionType[] = ['epsilon', 'x0', 'v'];
      for (const from of types) {
        for (const to of types) {
          const out = convertPrediction(truth[from], from, to, xt, alphaBar, new Float32Array(n));
          const back = convertPrediction(out, to, from, xt, alphaBar, new Float32Array(n));
          // converting into x0 divides by a, into ε by s: scale the tolerance accordingly
          const tol = 1e-5 * Math.max(1, 1 / a, 1 / s) * 4;
          expect(maxAbsDiff(out, truth[to])).toBeLessThan(tol);
          expect(maxAbsDiff(back, truth[from])).toBeLessThan(tol);
        }
      }
    });
  }

  it('converts in place when out aliases the prediction', () => {
    const alphaBar = 0.5;
    const xt = new Float32Array(n).map((_, i) => Math.sqrt(0.5) * (x0[i] + eps[i]));
    const buf = new Float32Array(eps);
    convertPrediction(buf, 'epsilon', 'x0', xt, alphaBar, buf);
    expect(maxAbsDiff(buf, x0)).toBeLessThan(1e-5);
  });
});
