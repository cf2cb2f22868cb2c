import { z } from 'zod';
import type { RegistryEntry } from '../di/registry';
import { NoiseSchedule, TabulatedSchedule } from './schedule';

/** `explicit`: the user lists β_1..β_T. */
export const ExplicitScheduleConfig = z
  .object({
    type: z.literal('explicit').optional(),
    betas: z.array(z.number().positive().lt(1)).min(1),
  })
  .strict();
export type ExplicitScheduleConfig = z.infer<typeof ExplicitScheduleConfig>;

export function explicitSchedule(betas: ArrayLike<number>): NoiseSchedule {
  return new TabulatedSchedule('explicit', betas);
}

export const explicitScheduleEntry: RegistryEntry<NoiseSchedule, ExplicitScheduleConfig> = {
  name: 'explicit',
  description: 'betas given as a list',
  configSchema: ExplicitScheduleConfig,
  create: (c) => explicitSchedule(c.betas),
};
