import { z } from 'zod';
import type { RegistryEntry } from '../di/registry';
import type { SampleRequest, Sampler } from '../sampler';
import type { NoiseSchedule } from '../schedules/schedule';
import type { Tensor4 } from '../tensor';
import {
  ddimSigma, ddimStep, evenlySpacedSteps, finish, initState, PasteMode, pasteKnownAt, predictX0, reportStep,
  resolveStart, stepsFromStart, stepTable, throwIfCancelled,
} from './common';

/**
 * `ddim` config: `steps` evenly spaced timesteps (default 50) or an explicit `timesteps` list (original steps
 * 1..T); `eta` (0 = deterministic DDIM, 1 ≈ DDPM's posterior variance on the sub-sequence);
 * `spacing`: spread the `steps` over the whole schedule 1..T (`schedule`, default; a later start walks the part
 * below it) or over 1..t_start (`start`: always `steps` evaluations, for img2img-style starts).
 */
export const DdimSamplerConfig = z
  .object({
    type: z.literal('ddim').optional(),
    steps: z.number().int().min(1).default(50),
    timesteps: z.array(z.number().int().min(1)).min(1).optional(),
    eta: z.number().min(0).default(0),
    spacing: z.enum(['schedule', 'start']).default('schedule'),
    mode: PasteMode.default('auto'),
    clip: z.boolean().default(true),
  })
  .strict();
export type DdimSamplerConfig = z.infer<typeof DdimSamplerConfig>;

/**
 * DDIM (Song et al. 2021) on a sub-sequence τ_1 < … < τ_K of the schedule:
 * x_s = √ᾱ_s x̂₀ + √(1−ᾱ_s−σ²) ε̂ + σ z with σ = η √((1−ᾱ_s)/(1−ᾱ_t)) √(1−ᾱ_t/ᾱ_s) and ε̂ recomputed from the
 * (clipped) x̂₀. Known pixels are pasted after each step: clean (conditional) or noised to the next step's level
 * ᾱ_s with fresh noise (unconditional). A start step not in the sub-sequence is added to it.
 */
export class DdimSampler implements Sampler {
  readonly name = 'ddim';
  readonly config: DdimSamplerConfig;

  constructor(config: Partial<DdimSamplerConfig> = {}) {
    this.config = DdimSamplerConfig.parse(config);
  }

  defaultStartStep(schedule: NoiseSchedule): number {
    return schedule.T;
  }

  /** The increasing steps a run starting at `tStart` visits (its last element is `tStart`). */
  stepsFor(tStart: number, schedule: NoiseSchedule): number[] {
    schedule.assertStep(tStart, 'start step');
    const { timesteps, steps, spacing } = this.config;
    let seq: number[];
    if (timesteps) {
      for (const s of timesteps) schedule.assertStep(s, 'ddim timestep');
      seq = timesteps;
    } else if (spacing === 'start') {
      seq = tStart === 0 ? [] : evenlySpacedSteps(tStart, steps);
    } else {
      seq = evenlySpacedSteps(schedule.T, steps);
    }
    return stepsFromStart(seq, tStart);
  }

  plannedSteps(tStart: number, schedule: NoiseSchedule): number {
    return this.stepsFor(tStart, schedule).length;
  }

  async sample(request: SampleRequest): Promise<Tensor4> {
    const start = resolveStart(request);
    const table = stepTable(request.schedule, this.stepsFor(start.t, request.schedule));
    const state = initState(request, start, { mode: this.config.mode, clip: this.config.clip, total: table.K });
    const { denoiser, image, mask, rng, signal } = request;
    const { x, x0, noise, cond } = state;
    throwIfCancelled(signal);
    for (let k = table.K; k >= 1; k--) {
      const abT = table.alphaBars[k], abS = table.alphaBars[k - 1];
      await predictX0(denoiser, x, table.steps[k], abT, cond, x0, state.clip);
      const sigma = k > 1 ? ddimSigma(abT, abS, this.config.eta) : 0;
      if (sigma > 0) rng.fillNormal(noise);
      ddimStep(x.data, x0.data, abT, abS, sigma, sigma > 0 ? noise : null);
      pasteKnownAt(x, image, mask, state.mode, abS, rng, noise);
      await reportStep(state, table.steps[k - 1]);
    }
    return finish(state);
  }
}

export const ddimSamplerEntry: RegistryEntry<Sampler, DdimSamplerConfig> = {
  name: 'ddim',
  description: 'DDIM on a sub-sequence of steps (eta = 0 deterministic, eta > 0 stochastic), known region pasted each step',
  configSchema: DdimSamplerConfig,
  create: (c) => new DdimSampler(c),
};
