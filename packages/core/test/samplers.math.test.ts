import {
  ConfigError, createContainer, ddimSigma, DdimSampler, DdpmSampler, evenlySpacedSteps, GaussianDenoiser, MeanDenoiser,
  NoiseSchedule, OracleDenoiser, Rng, SdeditSampler, stepTable, stepsFromStart, Tensor4,
} from '@diff2s/core';
import {
  maxAbsDiff, meanStd, pick, rectMask, RecordingDenoiser, RecordingRng, request, RunEvent, stepLogger, testImage,
  testSchedule, withHole,
} from './sampler-helpers';

/**
 * The exact law of one hole pixel after ancestral sampling (σ_t² = β̃_t) under `GaussianDenoiser(μ, σ)`, from x_t0 ~
 * N(start.mean, start.variance). x̂₀ = μ + k_t(x_t − √ᾱ_t μ) with k_t = √ᾱ_t σ²/(ᾱ_t σ² + 1 − ᾱ_t) is linear in x_t,
 * so every x_t is Gaussian: x_{t−1} = c0_t x̂₀ + c1_t x_t + √β̃_t z (the posterior of DESIGN.md). The clamp of x̂₀ to
 * [-1, 1] is ignored: with μ = 0.2 and the spreads here it is more than 2.5 standard deviations away.
 */
function gaussianChainLaw(schedule: NoiseSchedule, mu: number, sigma: number, start: { t: number; mean: number; variance: number }): { mean: number; std: number } {
  let { mean, variance } = start;
  const v = sigma * sigma;
  for (let t = start.t; t >= 1; t--) {
    const ab = schedule.alphaBars[t], a = Math.sqrt(ab);
    const k = (a * v) / (ab * v + 1 - ab);
    const c0 = schedule.posteriorCoefX0[t], c1 = schedule.posteriorCoefXt[t];
    mean = c0 * (mu + k * (mean - a * mu)) + c1 * mean;
    variance = (c0 * k + c1) ** 2 * variance + schedule.posteriorVariance[t];
  }
  return { mean, std: Math.sqrt(variance) };
}

/**
 * `values` (independent draws) are a sample of N(law.mean, law.std²): the sample mean within 5 standard errors
 * (σ/√n) and the sample std within 5 standard errors of a normal sample's std (≈ σ/√(2n)). For the 1152 hole values
 * of these tests and σ ≈ 0.26 that is ±0.039 on the mean and ±0.027 on the std; a false failure has probability
 * < 1e-6 per check.
 */
function expectSampleOf(values: number[], law: { mean: number; std: number }): void {
  const n = values.length;
  const { mean, std } = meanStd(values);
  expect(Math.abs(mean - law.mean)).toBeLessThan((5 * law.std) / Math.sqrt(n));
  expect(Math.abs(std - law.std)).toBeLessThan((5 * law.std) / Math.sqrt(2 * n));
}

describe('step tables and spacing', () => {
  it('the plain table is the schedule itself', () => {
    const s = testSchedule(20);
    const t = stepTable(s, Array.from({ length: 20 }, (_, i) => i + 1));
    expect(t.K).toBe(20);
    for (let k = 1; k <= 20; k++) {
      expect(t.betas[k]).toBe(s.betas[k]);
      expect(t.alphaBars[k]).toBe(s.alphaBars[k]);
      expect(t.coefX0[k]).toBe(s.posteriorCoefX0[k]);
      expect(t.coefXt[k]).toBe(s.posteriorCoefXt[k]);
      expect(t.posteriorVariance[k]).toBe(s.posteriorVariance[k]);
    }
    expect(() => stepTable(s, [3, 2])).toThrow(ConfigError);
    expect(() => stepTable(s, [21])).toThrow(ConfigError);
  });

  it('evenly spaced steps follow guided-diffusion (Python rounding, both ends)', () => {
    expect(evenlySpacedSteps(11, 5)).toEqual([1, 3, 6, 9, 11]); // 2.5 → 2 and 7.5 → 8 (half to even)
    const s = evenlySpacedSteps(1000, 250);
    expect(s.length).toBe(250);
    expect(s[0]).toBe(1);
    expect(s[249]).toBe(1000);
    expect(evenlySpacedSteps(10, 50)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(evenlySpacedSteps(10, 1)).toEqual([10]);
    expect(stepsFromStart([1, 5, 9], 7)).toEqual([1, 5, 7]);
    expect(stepsFromStart([1, 5, 9], 0)).toEqual([]);
  });
});

describe('ddpm', () => {
  const x0 = testImage(1, 3, 8, 8);
  const mask = rectMask(1);
  const image = withHole(x0, mask, 0);

  for (const conditional of [true, false]) {
    it(`each step is x_{t−1} = c0·x̂0 + ct·x_t + √β̃_t z, then the paste (${conditional ? 'clean' : 'noised to t−1'})`, async () => {
      const schedule = testSchedule(20);
      const log: RunEvent[] = [];
      await new DdpmSampler().sample(request({
        denoiser: new RecordingDenoiser(new GaussianDenoiser(0, 0.5, 'epsilon', conditional), log),
        image, mask, schedule, rng: new RecordingRng(3, log), onStep: stepLogger(log),
      }));
      let checked = 0;
      for (let e = 0; e < log.length; e++) {
        const p = log[e];
        if (p.kind !== 'predict') continue;
        const fills: Float32Array[] = [];
        let f = e + 1;
        while (log[f].kind === 'fill') fills.push((log[f++] as { values: Float32Array }).values);
        const st = log[f];
        if (st.kind !== 'step') throw new Error('expected a step');
        const t = p.t;
        expect(st.info.t).toBe(t - 1);
        // draws: ancestral z when t > 1, paste noise when unconditional and t − 1 > 0
        expect(fills.length).toBe((t > 1 ? 1 : 0) + (!conditional && t > 1 ? 1 : 0));
        const sigma = Math.sqrt(schedule.posteriorVariance[t]);
        const ab = schedule.alphaBars[t - 1];
        for (let i = 0; i < st.xt.length; i++) {
          const hole = mask.data[i % 64] >= 0.5;
          if (hole) {
            const want = schedule.posteriorCoefX0[t] * st.x0[i] + schedule.posteriorCoefXt[t] * p.xt[i] + (t > 1 ? sigma * fills[0][i] : 0);
            expect(Math.abs(st.xt[i] - want)).toBeLessThan(1e-5);
          } else if (conditional || t === 1) {
            expect(st.xt[i]).toBe(image.data[i]);
          } else {
            const want = Math.sqrt(ab) * image.data[i] + Math.sqrt(1 - ab) * fills[1][i];
            expect(Math.abs(st.xt[i] - want)).toBeLessThan(1e-6);
          }
        }
        checked++;
      }
      expect(checked).toBe(20);
    });
  }

  it('mode overrides the denoiser flag; variance "beta" uses σ² = β_t', async () => {
    const d = new GaussianDenoiser(0, 0.5, 'epsilon', false);
    const firstKnown = async (mode: 'auto' | 'conditional' | 'unconditional') => {
      const log: RunEvent[] = [];
      await new DdpmSampler({ mode }).sample(request({ denoiser: d, image, mask, onStep: stepLogger(log) }));
      const st = log[0] as Extract<RunEvent, { kind: 'step' }>;
      return pick(new Tensor4(image.shape, st.xt), mask, 'known');
    };
    expect(await firstKnown('conditional')).toEqual(pick(image, mask, 'known'));
    expect(await firstKnown('auto')).not.toEqual(pick(image, mask, 'known'));
    expect(await firstKnown('unconditional')).not.toEqual(pick(image, mask, 'known'));
    // β vs β̃ only changes the stochastic part: same seed, different result, both keep known pixels
    const a = await new DdpmSampler({ variance: 'beta' }).sample(request({ denoiser: d, image, mask }));
    const b = await new DdpmSampler().sample(request({ denoiser: d, image, mask }));
    expect(maxAbsDiff(a.data, b.data)).toBeGreaterThan(1e-3);
    expect(pick(a, mask, 'known')).toEqual(pick(image, mask, 'known'));
  });

  it('samples a Gaussian prior: the hole follows the exact law of the 50-step chain', async () => {
    const big = testImage(1, 3, 24, 24);
    const m = rectMask(1, 24, 24, { x0: 0, y0: 0, x1: 24, y1: 16 });
    const schedule = testSchedule(50);
    const out = await new DdpmSampler().sample(request({
      denoiser: new GaussianDenoiser(0.2, 0.3, 'epsilon', false), image: big, mask: m, schedule,
    }));
    const law = gaussianChainLaw(schedule, 0.2, 0.3, { t: 50, mean: 0, variance: 1 });
    // 50 steps with σ_t² = β̃_t under-disperse: the chain's std is ≈ 0.262, not the prior's 0.3
    expect(law.std).toBeGreaterThan(0.25);
    expect(law.std).toBeLessThan(0.28);
    expectSampleOf(pick(out, m, 'hole'), law);
  });

  it('clip: the x̂0 handed to onStep is clamped to [-1, 1] unless clip is off', async () => {
    const d = new MeanDenoiser(3, 'epsilon', true);
    const maxX0 = async (clip: boolean) => {
      let m = -Infinity;
      await new DdpmSampler({ clip }).sample(request({ denoiser: d, image, mask, onStep: (i) => { m = Math.max(m, ...i.x0Pred.data); } }));
      return m;
    };
    expect(await maxX0(true)).toBe(1);
    expect(await maxX0(false)).toBeGreaterThan(2.9);
  });
});

describe('ddim', () => {
  const x0 = testImage(1, 3, 8, 8);
  const mask = rectMask(1);
  const image = withHole(x0, mask, 0);

  it('runs the evenly spaced sub-sequence (or the given list), asking the network at those steps', async () => {
    const schedule = testSchedule(50);
    const d = new RecordingDenoiser(new OracleDenoiser(x0));
    const s = new DdimSampler({ steps: 10 });
    const out = await s.sample(request({ denoiser: d, image, mask, schedule }));
    expect(d.calls.map((c) => c.t)).toEqual(evenlySpacedSteps(50, 10).reverse());
    expect(s.plannedSteps(50, schedule)).toBe(10);
    expect(maxAbsDiff(out.data, x0.data)).toBeLessThan(1e-4);
    const d2 = new RecordingDenoiser(new OracleDenoiser(x0));
    await new DdimSampler({ timesteps: [40, 10, 25] }).sample(request({ denoiser: d2, image, mask, schedule }));
    expect(d2.calls.map((c) => c.t)).toEqual([50, 40, 25, 10]); // the start T is added
    // spacing "start": always `steps` evaluations below an intermediate start
    expect(new DdimSampler({ steps: 5, spacing: 'start' }).stepsFor(20, schedule)).toEqual([1, 6, 11, 15, 20]); // 9.5 rounds to 10 (even)
    expect(new DdimSampler({ steps: 5 }).stepsFor(20, schedule)).toEqual([1, 13, 20]);
  });

  it('η = 0 is deterministic (no draws after the start) and each step follows the DDIM update', async () => {
    const schedule = testSchedule(30);
    const log: RunEvent[] = [];
    await new DdimSampler({ steps: 6 }).sample(request({
      denoiser: new RecordingDenoiser(new GaussianDenoiser(0, 0.5, 'x0', true), log), image, mask, schedule,
      rng: new RecordingRng(5, log), onStep: stepLogger(log),
    }));
    const firstPredict = log.findIndex((e) => e.kind === 'predict');
    expect(log.slice(firstPredict).some((e) => e.kind === 'fill')).toBe(false);
    const steps = [0, ...evenlySpacedSteps(30, 6)];
    let k = steps.length - 1;
    for (let e = 0; e < log.length; e++) {
      const p = log[e];
      if (p.kind !== 'predict') continue;
      const st = log[e + 1] as Extract<RunEvent, { kind: 'step' }>;
      const abT = schedule.alphaBars[steps[k]], abS = schedule.alphaBars[steps[k - 1]];
      expect(p.t).toBe(steps[k]);
      for (let i = 0; i < st.xt.length; i++) {
        if (mask.data[i % 64] < 0.5) continue;
        const eps = (p.xt[i] - Math.sqrt(abT) * st.x0[i]) / Math.sqrt(1 - abT);
        const want = Math.sqrt(abS) * st.x0[i] + Math.sqrt(1 - abS) * eps;
        expect(Math.abs(st.xt[i] - want)).toBeLessThan(1e-5);
      }
      k--;
    }
    expect(k).toBe(0);
  });

  it('η > 0 adds σ = η√((1−ᾱ_s)/(1−ᾱ_t))√(1−ᾱ_t/ᾱ_s) noise; η = 1 matches the posterior std', async () => {
    const s = testSchedule(20);
    for (let t = 2; t <= 20; t++) {
      expect(ddimSigma(s.alphaBars[t], s.alphaBars[t - 1], 1) ** 2).toBeCloseTo(s.posteriorVariance[t], 12);
    }
    expect(ddimSigma(0.5, 0.7, 0)).toBe(0);
    const a = await new DdimSampler({ steps: 10, eta: 1 }).sample(request({ denoiser: new GaussianDenoiser(0, 0.5, 'epsilon', true), image, mask, rng: new Rng(1) }));
    const b = await new DdimSampler({ steps: 10, eta: 0 }).sample(request({ denoiser: new GaussianDenoiser(0, 0.5, 'epsilon', true), image, mask, rng: new Rng(1) }));
    expect(maxAbsDiff(a.data, b.data)).toBeGreaterThan(1e-3);
    const o = await new DdimSampler({ steps: 10, eta: 0.5 }).sample(request({ denoiser: new OracleDenoiser(x0, 'epsilon', false), image, mask }));
    expect(maxAbsDiff(o.data, x0.data)).toBeLessThan(1e-4);
  });

  it('unconditional mode pastes the known region noised to the next step’s level', async () => {
    const schedule = testSchedule(50);
    const big = testImage(1, 3, 16, 16);
    const m = rectMask(1, 16, 16, { x0: 0, y0: 0, x1: 4, y1: 16 });
    const log: RunEvent[] = [];
    await new DdimSampler({ steps: 5 }).sample(request({
      denoiser: new GaussianDenoiser(0, 0.5, 'epsilon', false), image: big, mask: m, schedule, onStep: stepLogger(log),
    }));
    const st = log[0] as Extract<RunEvent, { kind: 'step' }>;
    const ab = schedule.alphaBars[st.info.t];
    const z: number[] = [];
    for (let i = 0; i < st.xt.length; i++) {
      if (m.data[i % 256] >= 0.5) continue;
      z.push((st.xt[i] - Math.sqrt(ab) * big.data[i]) / Math.sqrt(1 - ab));
    }
    const { mean, std } = meanStd(z);
    expect(Math.abs(mean)).toBeLessThan(0.15);
    expect(Math.abs(std - 1)).toBeLessThan(0.15);
  });
});

describe('sdedit', () => {
  const x0 = testImage(1, 3, 8, 8);
  const mask = rectMask(1);
  const image = withHole(x0, mask, 0);

  it('starts from the request image noised to t0 (or strength·T) when no start is given', async () => {
    const schedule = testSchedule(40);
    expect(new SdeditSampler({ t0: 12 }).defaultStartStep(schedule)).toBe(12);
    expect(new SdeditSampler({ strength: 0.25 }).defaultStartStep(schedule)).toBe(10);
    expect(new SdeditSampler().defaultStartStep(schedule)).toBe(20);
    expect(() => new SdeditSampler({ t0: 3, strength: 0.5 })).toThrow();
    expect(() => createContainer().samplers.create('sdedit', { t0: 3, strength: 0.5 }, undefined)).toThrow(ConfigError);
    expect(() => new SdeditSampler({ t0: 41 }).defaultStartStep(schedule)).toThrow(ConfigError);
    const d = new RecordingDenoiser(new OracleDenoiser(x0));
    const out = await new SdeditSampler({ t0: 12 }).sample(request({ denoiser: d, image, mask, schedule }));
    expect(d.calls[0].t).toBe(12);
    expect(d.calls.length).toBe(12);
    expect(maxAbsDiff(out.data, x0.data)).toBeLessThan(1e-4);
  });

  it('keeps the known region and gives a plausible hole: near the guide for small t0, the prior for t0 = T', async () => {
    const big = testImage(1, 3, 24, 24);
    const m = rectMask(1, 24, 24, { x0: 0, y0: 0, x1: 24, y1: 16 });
    const guide = withHole(big, m, 0.9);
    const schedule = testSchedule(50);
    const run = (t0: number) => new SdeditSampler({ t0 }).sample(request({
      denoiser: new GaussianDenoiser(0.2, 0.3, 'epsilon', true), image: guide, mask: m, schedule, rng: new Rng(t0),
    }));
    const low = await run(3), high = await run(50);
    for (const out of [low, high]) expect(pick(out, m, 'known')).toEqual(pick(big, m, 'known'));
    const lo = meanStd(pick(low, m, 'hole')), hi = meanStd(pick(high, m, 'hole'));
    expect(Math.abs(lo.mean - 0.9)).toBeLessThan(0.15); // little noise: the guide survives
    // full noise: samples of the prior, as the exact law of the chain started from the guide noised to t0 = T
    const ab = schedule.alphaBars[50];
    expectSampleOf(pick(high, m, 'hole'), gaussianChainLaw(schedule, 0.2, 0.3, { t: 50, mean: Math.sqrt(ab) * 0.9, variance: 1 - ab }));
  });
});
