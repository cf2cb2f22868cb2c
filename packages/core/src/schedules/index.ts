import type { RegistryEntry } from '../di/registry';
import type { NoiseSchedule } from './schedule';
export * from './schedule';
export * from './linear';
export * from './cosine';
export * from './quad';
export * from './explicit';
import { linearScheduleEntry } from './linear';
import { cosineScheduleEntry } from './cosine';
import { quadScheduleEntry } from './quad';
import { explicitScheduleEntry } from './explicit';

/** The built-in schedule families. */
export const builtinSchedules: readonly RegistryEntry<NoiseSchedule, any>[] = [
  linearScheduleEntry,
  cosineScheduleEntry,
  quadScheduleEntry,
  explicitScheduleEntry,
];
