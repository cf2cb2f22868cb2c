import { z } from 'zod';
import type { RegistryEntry } from '../di/registry';
import { ConfigError } from '../errors';
import type { SampleRequest, SampleStart, Sampler } from '../sampler';
import type { NoiseSchedule } from '../schedules/schedule';
import type { Tensor4 } from '../tensor';
import {
  descendingPath, initState, PasteMode, resolveStart, runAncestral, stepsUpTo, stepTable, VarianceKind,
} from './common';

/**
 * `sdedit` config. The start step of a request without an explicit `start` is `t0` or, if absent,
 * round(strength·T) (strength default 0.5); give at most one of them. Other keys as for `ddpm`.
 */
export const SdeditSamplerConfig = z
  .object({
    type: z.literal('sdedit').optional(),
    t0: z.number().int().min(0).optional(),
    strength: z.number().min(0).max(1).optional(),
    mode: PasteMode.default('auto'),
    clip: z.boolean().default(true),
    variance: VarianceKind.default('posterior'),
  })
  .strict()
  .refine((c) => c.t0 === undefined || c.strength === undefined, { message: 'give t0 or strength, not both' });
export type SdeditSamplerConfig = z.infer<typeof SdeditSamplerConfig>;

/**
 * SDEdit (Meng et al.): start from an image noised to t₀, x_{t0} = √ᾱ_{t0} x̄_0 + √(1−ᾱ_{t0}) ε, and run the
 * reverse process to 0 with the known region pasted back each step (Diff-2sIR⁺ Algorithm 3 with a plain network).
 *
 * The image is the request's `start` image when `start` is `{ from: 'image' }` (its t wins over the config);
 * without `start`, the request's `image` itself (hole content included, e.g. a guide's result) noised to the
 * configured t₀. An explicit `{ from: 'noise' }` start gives plain DDPM from noise.
 */
export class SdeditSampler implements Sampler {
  readonly name = 'sdedit';
  readonly config: SdeditSamplerConfig;

  constructor(config: Partial<SdeditSamplerConfig> = {}) {
    this.config = SdeditSamplerConfig.parse(config);
  }

  /** t₀ for `schedule`: the configured t0 (capped at T), else round(strength·T). */
  defaultStartStep(schedule: NoiseSchedule): number {
    if (this.config.t0 !== undefined) {
      if (this.config.t0 > schedule.T) {
        throw new ConfigError(`sdedit t0 = ${this.config.t0} exceeds the schedule's T = ${schedule.T}`, 't0');
      }
      return this.config.t0;
    }
    return Math.round((this.config.strength ?? 0.5) * schedule.T);
  }

  plannedSteps(tStart: number, schedule: NoiseSchedule): number {
    schedule.assertStep(tStart, 'start step');
    return tStart;
  }

  async sample(request: SampleRequest): Promise<Tensor4> {
    const fallback: SampleStart = { from: 'image', image: request.image, t: this.defaultStartStep(request.schedule) };
    const start = resolveStart(request, fallback);
    const table = stepTable(request.schedule, stepsUpTo(start.t));
    const state = initState(request, start, { mode: this.config.mode, clip: this.config.clip, total: start.t });
    return runAncestral(state, table, descendingPath(start.t), this.config);
  }
}

export const sdeditSamplerEntry: RegistryEntry<Sampler, SdeditSamplerConfig> = {
  name: 'sdedit',
  description: 'SDEdit: an image noised to t0, denoised back with the known region pasted each step (the refiner start)',
  configSchema: SdeditSamplerConfig,
  create: (c) => new SdeditSampler(c),
};
