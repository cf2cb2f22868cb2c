import {
  countRepaintTransitions, DdpmSampler, evenlySpacedSteps, GaussianDenoiser, OracleDenoiser, repaintLevels,
  RepaintSampler, repaintTimesteps, Rng, stepTable,
} from '@diff2s/core';
import {
  maxAbsDiff, rectMask, RecordingDenoiser, RecordingRng, request, RunEvent, stepLogger, testImage, testSchedule, withHole,
} from './sampler-helpers';

/** A line-by-line transcription of RePaint's scheduler.get_schedule_jump (n_sample = 1, no jump2/jump3). */
function referenceScheduleJump(tT: number, jumpLength: number, jumpNSample: number): number[] {
  const jumps: Record<number, number> = {};
  for (let j = 0; j < tT - jumpLength; j += jumpLength) jumps[j] = jumpNSample - 1;
  let t = tT;
  const ts: number[] = [];
  while (t >= 1) {
    t = t - 1;
    ts.push(t);
    if ((jumps[t] ?? 0) > 0) {
      jumps[t] = jumps[t] - 1;
      for (let i = 0; i < jumpLength; i++) {
        t = t + 1;
        ts.push(t);
      }
    }
  }
  ts.push(-1);
  return ts;
}

describe('repaintTimesteps (RePaint indices)', () => {
  it('(t_T=10, j=3, r=2): the reference walk, 19 denoising and 9 undo transitions', () => {
    const ts = repaintTimesteps({ tT: 10, jumpLength: 3, jumpNSample: 2 });
    expect(ts).toEqual([9, 8, 7, 6, 7, 8, 9, 8, 7, 6, 5, 4, 3, 4, 5, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, -1]);
    expect(countRepaintTransitions(ts)).toEqual({ denoise: 19, undo: 9 });
  });

  it('matches the reference transcription for many parameters and moves one step at a time', () => {
    for (const tT of [1, 2, 7, 10, 25, 50]) {
      for (const j of [1, 2, 3, 10]) {
        for (const r of [1, 2, 3, 5]) {
          const ts = repaintTimesteps({ tT, jumpLength: j, jumpNSample: r });
          expect(ts).toEqual(referenceScheduleJump(tT, j, r));
          for (let i = 1; i < ts.length; i++) expect(Math.abs(ts[i] - ts[i - 1])).toBe(1);
          expect(ts[0]).toBe(tT - 1);
          expect(ts[ts.length - 1]).toBe(-1);
          // jump points 0, j, 2j, … below tT − j, each adding (r − 1)·j denoising and undo transitions
          const jumpsN = tT > j ? Math.ceil((tT - j) / j) : 0;
          expect(countRepaintTransitions(ts)).toEqual({ denoise: tT + jumpsN * (r - 1) * j, undo: jumpsN * (r - 1) * j });
        }
      }
    }
  });

  it('with r = 1 it is the plain descent', () => {
    expect(repaintTimesteps({ tT: 6, jumpLength: 2, jumpNSample: 1 })).toEqual([5, 4, 3, 2, 1, 0, -1]);
    expect(repaintTimesteps({ tT: 0, jumpLength: 2, jumpNSample: 3 })).toEqual([-1]);
  });

  it('maps onto diff2s levels as τ + 1 (t_T … 0)', () => {
    const p = { tT: 10, jumpLength: 3, jumpNSample: 2 };
    expect(repaintLevels(p)).toEqual(repaintTimesteps(p).map((t) => t + 1));
    expect(repaintLevels(p)[0]).toBe(10);
    expect(repaintLevels(p).at(-1)).toBe(0);
  });
});

describe('repaint sampler', () => {
  const x0 = testImage(1);
  const mask = rectMask(1);
  const image = withHole(x0, mask, 0);

  it('asks the network at our step τ+1 for each RePaint pair τ → τ−1 (t_T=10, j=3, r=2 on T=10)', async () => {
    const schedule = testSchedule(10);
    const denoiser = new RecordingDenoiser(new OracleDenoiser(x0));
    const onStepT: number[] = [];
    const sampler = new RepaintSampler({ jumpLength: 3, jumpNSample: 2 });
    await sampler.sample(request({ denoiser, image, mask, schedule, onStep: (i) => { onStepT.push(i.t); } }));
    const ts = [10, 9, 8, 10, 9, 8, 7, 6, 5, 7, 6, 5, 4, 3, 2, 4, 3, 2, 1];
    expect(denoiser.calls.map((c) => c.t)).toEqual(ts);
    expect(denoiser.calls.map((c) => c.alphaBar)).toEqual(ts.map((t) => schedule.alphaBars[t]));
    expect(onStepT).toEqual(ts.map((t) => t - 1));
    expect(sampler.plannedSteps(10, schedule)).toBe(19);
  });

  for (const conditional of [false, true]) {
    it(`with jumpNSample = 1 equals ddpm step for step (${conditional ? 'conditional' : 'unconditional'})`, async () => {
      const run = async (sampler: DdpmSampler | RepaintSampler) => {
        const log: RunEvent[] = [];
        const out = await sampler.sample(request({
          denoiser: new GaussianDenoiser(0.1, 0.4, 'epsilon', conditional), image, mask, rng: new Rng(21), onStep: stepLogger(log),
        }));
        return { out, log };
      };
      const a = await run(new DdpmSampler());
      const b = await run(new RepaintSampler({ jumpLength: 10, jumpNSample: 1 }));
      expect(b.log.length).toBe(50);
      expect(b.log).toEqual(a.log);
      expect(b.out.data).toEqual(a.out.data);
    });
  }

  /**
   * Replays every undo numerically: the Rng logs each Gaussian buffer it fills, the denoiser each input, onStep each
   * state. Between a reported state x_{t−m} and the next network input x_t the only draws are the m undo draws,
   * and x_t must equal the forward chain x_l = √(1−β_l) x_{l−1} + √β_l ε_l for l = t−m+1 … t.
   */
  function checkUndos(log: RunEvent[], betaOf: (t: number, m: number, i: number) => number, conditional: boolean, m: number): number {
    let checked = 0;
    for (let e = 0; e < log.length; e++) {
      const ev = log[e];
      if (ev.kind !== 'step') continue;
      const fills: Float32Array[] = [];
      let f = e + 1;
      while (f < log.length && log[f].kind === 'fill') fills.push((log[f++] as { values: Float32Array }).values);
      const next = log[f];
      if (!next || next.kind !== 'predict' || fills.length === 0) continue;
      expect(fills.length).toBe(m);
      const x = Float64Array.from(ev.xt);
      fills.forEach((eps, i) => {
        const beta = betaOf(next.t, m, i);
        for (let p = 0; p < x.length; p++) x[p] = Math.sqrt(1 - beta) * x[p] + Math.sqrt(beta) * eps[p];
      });
      const hw = mask.h * mask.w;
      for (let p = 0; p < x.length; p++) {
        const hole = mask.data[p % hw] >= 0.5;
        if (conditional && !hole) expect(next.xt[p]).toBe(image.data[p]); // conditional: clean known pixels again
        else expect(Math.abs(next.xt[p] - x[p])).toBeLessThan(1e-5);
      }
      checked++;
    }
    return checked;
  }

  for (const conditional of [false, true]) {
    it(`undo steps are x_t = √(1−β_t) x_{t−1} + √β_t ε, one step at a time (${conditional ? 'conditional' : 'unconditional'})`, async () => {
      const schedule = testSchedule(12);
      for (const j of [1, 3]) {
        const log: RunEvent[] = [];
        await new RepaintSampler({ jumpLength: j, jumpNSample: 2 }).sample(request({
          denoiser: new RecordingDenoiser(new GaussianDenoiser(0, 0.5, 'epsilon', conditional), log),
          image, mask, schedule, rng: new RecordingRng(4, log), onStep: stepLogger(log),
        }));
        // ε_i (i = 0..m−1) raises level t − m + i to t − m + i + 1, with β of that new level
        const checked = checkUndos(log, (t, m, i) => schedule.betas[t - m + i + 1], conditional, j);
        const { undo } = countRepaintTransitions(repaintTimesteps({ tT: 12, jumpLength: j, jumpNSample: 2 }));
        expect(checked).toBe(undo / j);
      }
    });
  }

  it('respacing: runs on evenly spaced steps with β′_k = 1 − ᾱ_{s_k}/ᾱ_{s_{k−1}}, undo included', async () => {
    const schedule = testSchedule(40);
    const steps = evenlySpacedSteps(40, 10);
    expect(steps).toEqual([1, 5, 10, 14, 18, 23, 27, 31, 36, 40]);
    const table = stepTable(schedule, steps);
    let prod = 1;
    for (let k = 1; k <= table.K; k++) {
      expect(table.betas[k]).toBeCloseTo(1 - schedule.alphaBars[steps[k - 1]] / (k > 1 ? schedule.alphaBars[steps[k - 2]] : 1), 14);
      prod *= 1 - table.betas[k];
      expect(prod).toBeCloseTo(schedule.alphaBars[steps[k - 1]], 12);
    }
    const log: RunEvent[] = [];
    const denoiser = new RecordingDenoiser(new GaussianDenoiser(0, 0.5, 'epsilon', false), log);
    const sampler = new RepaintSampler({ jumpLength: 1, jumpNSample: 2, respacing: 10 });
    await sampler.sample(request({ denoiser, image, mask, schedule, rng: new RecordingRng(8, log), onStep: stepLogger(log) }));
    // the network is asked at the original steps only, with their original ᾱ
    expect(new Set(denoiser.calls.map((c) => c.t))).toEqual(new Set(steps));
    for (const c of denoiser.calls) expect(c.alphaBar).toBe(schedule.alphaBars[c.t]);
    expect(denoiser.calls.length).toBe(sampler.plannedSteps(40, schedule));
    expect(denoiser.calls.length).toBe(countRepaintTransitions(repaintTimesteps({ tT: 10, jumpLength: 1, jumpNSample: 2 })).denoise);
    const levelOf = (t: number) => steps.indexOf(t) + 1;
    const checked = checkUndos(log, (t) => table.betas[levelOf(t)], false, 1);
    expect(checked).toBe(countRepaintTransitions(repaintTimesteps({ tT: 10, jumpLength: 1, jumpNSample: 2 })).undo);
    expect(checked).toBe(9);
  });

  it('respacing with a start step outside the sub-sequence adds it; tT picks the default start', () => {
    const schedule = testSchedule(40);
    const s = new RepaintSampler({ jumpLength: 2, jumpNSample: 1, respacing: 10 });
    expect(s.plan(20, schedule).steps).toEqual([1, 5, 10, 14, 18, 20]);
    expect(s.plannedSteps(20, schedule)).toBe(6);
    expect(new RepaintSampler({ respacing: 10, tT: 4 }).defaultStartStep(schedule)).toBe(14);
    expect(new RepaintSampler({ respacing: [3, 1, 2] }).sequence(schedule)).toEqual([1, 2, 3]);
  });

  it('recovers x0 with the oracle on a respaced walk', async () => {
    const out = await new RepaintSampler({ jumpLength: 3, jumpNSample: 3, respacing: 12 }).sample(request({
      denoiser: new OracleDenoiser(x0, 'v', false), image, mask, schedule: testSchedule(50),
    }));
    expect(maxAbsDiff(out.data, x0.data)).toBeLessThan(1e-4);
  });
});
