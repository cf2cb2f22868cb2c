import { z } from 'zod';
import type { RegistryEntry } from '../di/registry';
import { NoiseSchedule, TabulatedSchedule } from './schedule';

/** `quad`: √β_t evenly spaced from √betaStart to √betaEnd (Palette's "quad", diffusers' "scaled_linear"). */
export const QuadScheduleConfig = z
  .object({
    type: z.literal('quad').optional(),
    T: z.number().int().min(1).max(100000).default(1000),
    betaStart: z.number().positive().lt(1).default(1e-4),
    betaEnd: z.number().positive().lt(1).default(0.02),
  })
  .strict();
export type QuadScheduleConfig = z.infer<typeof QuadScheduleConfig>;

export function quadSchedule(T: number, betaStart: number, betaEnd: number): NoiseSchedule {
  const a = Math.sqrt(betaStart), b = Math.sqrt(betaEnd);
  const betas = new Float64Array(T);
  for (let i = 0; i < T; i++) {
    const r = T === 1 ? a : a + ((b - a) * i) / (T - 1);
    betas[i] = r * r;
  }
  return new TabulatedSchedule('quad', betas);
}

export const quadScheduleEntry: RegistryEntry<NoiseSchedule, QuadScheduleConfig> = {
  name: 'quad',
  description: 'square roots of the betas evenly spaced (Palette "quad")',
  configSchema: QuadScheduleConfig,
  create: (c) => quadSchedule(c.T, c.betaStart, c.betaEnd),
};
