import { cosineAlphaBar, cosineSchedule, createContainer, explicitSchedule, linearSchedule, quadSchedule, Rng } from '@diff2s/core';

describe('noise schedules', () => {
  it('linear 1e-6→0.01, T=1000: alphaBar(200) ≈ 0.819', () => {
    const s = linearSchedule(1000, 1e-6, 0.01);
    expect(Math.abs(s.alphaBars[200] - 0.819)).toBeLessThan(1e-3);
  });

  it('linear 1e-4→0.09, T=1000: alphaBar(200) ≈ 0.162', () => {
    const s = linearSchedule(1000, 1e-4, 0.09);
    expect(Math.abs(s.alphaBars[200] - 0.162)).toBeLessThan(1e-3);
  });

  it('linear endpoints and derived tables agree', () => {
    const s = linearSchedule(50, 1e-4, 0.02);
    expect(s.betas[1]).toBeCloseTo(1e-4, 12);
    expect(s.betas[50]).toBeCloseTo(0.02, 12);
    expect(s.alphaBars[0]).toBe(1);
    for (let t = 1; t <= 50; t++) {
      expect(s.alphas[t]).toBeCloseTo(1 - s.betas[t], 14);
      expect(s.alphaBars[t]).toBeCloseTo(s.alphaBars[t - 1] * s.alphas[t], 14);
      expect(s.sqrtAlphaBars[t] ** 2).toBeCloseTo(s.alphaBars[t], 14);
      expect(s.sqrtOneMinusAlphaBars[t] ** 2).toBeCloseTo(1 - s.alphaBars[t], 14);
      expect(s.gamma(t)).toBe(s.alphaBars[t]);
    }
  });

  it('cosine matches its closed form (before clipping) and clips betas at 0.999', () => {
    const T = 1000;
    const s = cosineSchedule(T);
    for (const t of [1, 10, 100, 500, 900, 990]) {
      expect(Math.abs(s.alphaBars[t] - cosineAlphaBar(t, T))).toBeLessThan(1e-9);
    }
    expect(s.betas[T]).toBeLessThanOrEqual(0.999);
    expect(Math.max(...s.betas)).toBeLessThanOrEqual(0.999);
  });

  it('quad: square roots of betas are evenly spaced', () => {
    const s = quadSchedule(11, 1e-4, 0.04);
    const d = Math.sqrt(s.betas[2]) - Math.sqrt(s.betas[1]);
    for (let t = 2; t <= 11; t++) expect(Math.sqrt(s.betas[t]) - Math.sqrt(s.betas[t - 1])).toBeCloseTo(d, 12);
    expect(s.betas[11]).toBeCloseTo(0.04, 12);
  });

  it('explicit betas are used as given and invalid ones are refused with the key path', () => {
    const s = explicitSchedule([0.1, 0.2, 0.3]);
    expect(s.T).toBe(3);
    expect(s.alphaBars[3]).toBeCloseTo(0.9 * 0.8 * 0.7, 14);
    expect(() => explicitSchedule([0.1, 1.5])).toThrow(/beta_2 = 1.5 is outside \(0, 1\) \(at schedule.betas\)/);
  });

  it('posterior mean and variance match direct Gaussian algebra on random data', () => {
    // q(x_{t-1}|x_t,x_0) ∝ q(x_t|x_{t-1}) q(x_{t-1}|x_0): product of N(x_t; √α x_{t-1}, β) and N(x_{t-1}; √ᾱ' x_0, 1-ᾱ').
    const s = linearSchedule(200, 1e-4, 0.05);
    const rng = new Rng(7);
    for (let k = 0; k < 200; k++) {
      const t = 1 + rng.int(200);
      const x0 = rng.normal(), xt = rng.normal() * 2;
      if (t === 1) {
        // x_0 is known exactly at t = 1: the posterior is a point mass at x_0
        expect(s.posteriorCoefX0[1] * x0 + s.posteriorCoefXt[1] * xt).toBeCloseTo(x0, 12);
        expect(s.posteriorVariance[1]).toBe(0);
        continue;
      }
      const a = s.alphas[t], b = s.betas[t], abp = s.alphaBars[t - 1];
      // precision-weighted combination
      const prec = a / b + 1 / (1 - abp);
      const mean = ((Math.sqrt(a) * xt) / b + (Math.sqrt(abp) * x0) / (1 - abp)) / prec;
      const variance = 1 / prec;
      const mu = s.posteriorCoefX0[t] * x0 + s.posteriorCoefXt[t] * xt;
      expect(Math.abs(mu - mean)).toBeLessThan(1e-9 * (1 + Math.abs(mean)));
      expect(Math.abs(s.posteriorVariance[t] - variance) / variance).toBeLessThan(1e-9);
    }
  });

  it('assertStep refuses steps outside [0, T]', () => {
    const s = linearSchedule(10, 1e-4, 0.02);
    expect(() => s.assertStep(11)).toThrow(/\[0, 10\]/);
    expect(() => s.assertStep(1.5)).toThrow();
    expect(() => s.assertStep(0)).not.toThrow();
  });

  it('are built by name through the registry with validated configs', () => {
    const c = createContainer();
    expect(c.schedules.names()).toEqual(['cosine', 'explicit', 'linear', 'quad']);
    const s = c.schedules.create('linear', { T: 2000, betaStart: 1e-6, betaEnd: 0.01 }, undefined, 'schedule');
    expect(s.T).toBe(2000);
    expect(() => c.schedules.create('linear', { T: 'x' }, undefined, 'schedule')).toThrow(
      'expected number, got string "x" (at schedule.T)',
    );
    expect(() => c.schedules.create('linear', { tee: 3 }, undefined, 'schedule')).toThrow('unknown key "tee" (at schedule)');
    expect(() => c.schedules.create('sigmoid', {}, undefined, 'schedule')).toThrow(
      'unknown schedule "sigmoid"; registered: cosine, explicit, linear, quad (at schedule.type)',
    );
  });
});
