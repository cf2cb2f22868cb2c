import type { RegistryEntry } from '../di/registry';
import type { Sampler } from '../sampler';
import { ddpmSamplerEntry } from './ddpm';
import { repaintSamplerEntry } from './repaint';
import { sdeditSamplerEntry } from './sdedit';
import { ddimSamplerEntry } from './ddim';
export * from './common';
export * from './ddpm';
export * from './repaint';
export * from './sdedit';
export * from './ddim';

/** The built-in samplers (registered by the core module): ddpm, repaint, sdedit, ddim. */
export const builtinSamplers: readonly RegistryEntry<Sampler, any>[] = [
  ddpmSamplerEntry,
  repaintSamplerEntry,
  sdeditSamplerEntry,
  ddimSamplerEntry,
];
