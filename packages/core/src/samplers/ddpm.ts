import { z } from 'zod';
import type { RegistryEntry } from '../di/registry';
import type { SampleRequest, Sampler } from '../sampler';
import type { NoiseSchedule } from '../schedules/schedule';
import type { Tensor4 } from '../tensor';
import {
  descendingPath, initState, PasteMode, resolveStart, runAncestral, stepsUpTo, stepTable, VarianceKind,
} from './common';

/**
 * `ddpm` config. `mode`: how known pixels are pasted back after each step (`auto` follows the denoiser's
 * `conditional` flag: clean for conditional networks, eq. 18; noised to t−1 for unconditional ones, RePaint).
 * `clip`: clamp the x₀ prediction to [-1, 1] before the posterior step. `variance`: σ_t² = β̃_t or β_t.
 */
export const DdpmSamplerConfig = z
  .object({
    type: z.literal('ddpm').optional(),
    mode: PasteMode.default('auto'),
    clip: z.boolean().default(true),
    variance: VarianceKind.default('posterior'),
  })
  .strict();
export type DdpmSamplerConfig = z.infer<typeof DdpmSamplerConfig>;

/**
 * Ancestral DDPM sampling (Ho et al. Algorithm 2; seed 004) with known-region replacement after every step:
 * x_{t−1} = μ̃(x_t, x̂₀) + σ_t z, then known pixels ← x_0 (conditional) or ← √ᾱ_{t−1}x_0 + √(1−ᾱ_{t−1})ε
 * (unconditional). One denoiser evaluation per step t = t_start..1.
 */
export class DdpmSampler implements Sampler {
  readonly name = 'ddpm';
  readonly config: DdpmSamplerConfig;

  constructor(config: Partial<DdpmSamplerConfig> = {}) {
    this.config = DdpmSamplerConfig.parse(config);
  }

  defaultStartStep(schedule: NoiseSchedule): number {
    return schedule.T;
  }

  plannedSteps(tStart: number, schedule: NoiseSchedule): number {
    schedule.assertStep(tStart, 'start step');
    return tStart;
  }

  async sample(request: SampleRequest): Promise<Tensor4> {
    const start = resolveStart(request);
    const table = stepTable(request.schedule, stepsUpTo(start.t));
    const state = initState(request, start, { mode: this.config.mode, clip: this.config.clip, total: start.t });
    return runAncestral(state, table, descendingPath(start.t), this.config);
  }
}

export const ddpmSamplerEntry: RegistryEntry<Sampler, DdpmSamplerConfig> = {
  name: 'ddpm',
  description: 'ancestral DDPM sampling with known-region paste-back (clean for conditional models, noised for unconditional)',
  configSchema: DdpmSamplerConfig,
  create: (c) => new DdpmSampler(c),
};
