import { z } from 'zod';
import type { RegistryEntry } from '../di/registry';
import { NoiseSchedule, TabulatedSchedule } from './schedule';

/** `cosine` (Nichol & Dhariwal): ᾱ_t = f(t)/f(0), f(t) = cos(((t/T)+s)/(1+s)·π/2)², β_t = min(1 − ᾱ_t/ᾱ_{t−1}, maxBeta). */
export const CosineScheduleConfig = z
  .object({
    type: z.literal('cosine').optional(),
    T: z.number().int().min(1).max(100000).default(1000),
    s: z.number().nonnegative().default(0.008),
    maxBeta: z.number().positive().lt(1).default(0.999),
  })
  .strict();
export type CosineScheduleConfig = z.infer<typeof CosineScheduleConfig>;

/** The closed-form ᾱ(t) of the cosine schedule before β clipping. */
export function cosineAlphaBar(t: number, T: number, s = 0.008): number {
  const f = (u: number) => Math.cos((((u / T) + s) / (1 + s)) * (Math.PI / 2)) ** 2;
  return f(t) / f(0);
}

export function cosineSchedule(T: number, s = 0.008, maxBeta = 0.999): NoiseSchedule {
  const betas = new Float64Array(T);
  for (let t = 1; t <= T; t++) {
    betas[t - 1] = Math.min(1 - cosineAlphaBar(t, T, s) / cosineAlphaBar(t - 1, T, s), maxBeta);
  }
  return new TabulatedSchedule('cosine', betas);
}

export const cosineScheduleEntry: RegistryEntry<NoiseSchedule, CosineScheduleConfig> = {
  name: 'cosine',
  description: 'cosine schedule of Nichol & Dhariwal (s = 0.008, betas clipped at 0.999)',
  configSchema: CosineScheduleConfig,
  create: (c) => cosineSchedule(c.T, c.s, c.maxBeta),
};
