import { z } from 'zod';
import type { RegistryEntry } from '../di/registry';
import { NoiseSchedule, TabulatedSchedule } from './schedule';

/** `linear`: β_t evenly spaced from betaStart to betaEnd (DDPM). Diff-2sIR trains with 1e-6→0.01, T=2000. */
export const LinearScheduleConfig = z
  .object({
    type: z.literal('linear').optional(),
    T: z.number().int().min(1).max(100000).default(1000),
    betaStart: z.number().positive().lt(1).default(1e-4),
    betaEnd: z.number().positive().lt(1).default(0.02),
  })
  .strict();
export type LinearScheduleConfig = z.infer<typeof LinearScheduleConfig>;

export function linearSchedule(T: number, betaStart: number, betaEnd: number): NoiseSchedule {
  const betas = new Float64Array(T);
  for (let i = 0; i < T; i++) betas[i] = T === 1 ? betaStart : betaStart + ((betaEnd - betaStart) * i) / (T - 1);
  return new TabulatedSchedule('linear', betas);
}

export const linearScheduleEntry: RegistryEntry<NoiseSchedule, LinearScheduleConfig> = {
  name: 'linear',
  description: 'betas evenly spaced from betaStart to betaEnd (DDPM, Diff-2sIR, the frugal model)',
  configSchema: LinearScheduleConfig,
  create: (c) => linearSchedule(c.T, c.betaStart, c.betaEnd),
};
