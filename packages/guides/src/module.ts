import type { Guide, GuideContext, Module, RegistryEntry } from '@diff2s/core';
import { harmonicGuideEntry, meanGuideEntry, nearestGuideEntry } from './baselines';
import { fileGuideEntry } from './file';
import { onnxGuideEntry } from './onnx';
import { patchGuideEntry } from './patch';

/**
 * The built-in guides, one registry entry per family (each with a strict zod config schema).
 * The `diffusion` guide (a trained model + a registered sampler) is to be added here, in its own file
 * `diffusion.ts`, once the engine's models and core's samplers exist.
 */
export const builtinGuides: readonly RegistryEntry<Guide, any, GuideContext>[] = [
  patchGuideEntry,
  onnxGuideEntry,
  fileGuideEntry,
  meanGuideEntry,
  nearestGuideEntry,
  harmonicGuideEntry,
];

/** Registers {@link builtinGuides} into `container.guides`. Use with core's `createContainer(guidesModule)`. */
export const guidesModule: Module = {
  name: 'guides',
  register(container) {
    for (const entry of builtinGuides) container.guides.register(entry);
  },
};
