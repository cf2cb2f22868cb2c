import type { Guide, GuideContext, Module, RegistryEntry } from '@diff2s/core';
import { constantGuideEntry, harmonicGuideEntry, meanGuideEntry, nearestGuideEntry } from './baselines';
import { diffusionGuideEntry } from './diffusion';
import { fileGuideEntry } from './file';
import { onnxGuideEntry } from './onnx';
import { patchGuideEntry } from './patch';

/** The built-in guides, one registry entry per family (each with a strict zod config schema). */
export const builtinGuides: readonly RegistryEntry<Guide, any, GuideContext>[] = [
  patchGuideEntry,
  onnxGuideEntry,
  fileGuideEntry,
  meanGuideEntry,
  nearestGuideEntry,
  harmonicGuideEntry,
  constantGuideEntry,
  diffusionGuideEntry,
];

/** Registers {@link builtinGuides} into `container.guides`. Use with core's `createContainer(guidesModule)`. */
export const guidesModule: Module = {
  name: 'guides',
  register(container) {
    for (const entry of builtinGuides) container.guides.register(entry);
  },
};
