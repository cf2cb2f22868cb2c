import type { RegistryEntry } from '../di/registry';
import type { Sampler } from '../sampler';

/** The built-in samplers (registered by the core module). */
export const builtinSamplers: readonly RegistryEntry<Sampler, any>[] = [];
