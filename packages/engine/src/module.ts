import * as path from 'path';
import { z } from 'zod';
import type { Module } from '@diff2s/core';
import { loadModel } from './io/model-io';

/** Config of the `native` model loader: a model folder (relative paths resolve against the config's folder). */
export const NativeModelLoaderConfig = z
  .object({
    path: z.string().min(1),
    backend: z.enum(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'),
  })
  .strict();
export type NativeModelLoaderConfig = z.infer<typeof NativeModelLoaderConfig>;

/**
 * The engine's DI module: registers the `native` model loader (a diff2s model folder → a {@link NativeUNet},
 * which is a core Denoiser and implements the refiner's parts API).
 */
export const engineModule: Module = {
  name: 'engine',
  register(c) {
    c.modelLoaders.register<NativeModelLoaderConfig>({
      name: 'native',
      description: 'diff2s native model folder (model.json + weights.json + weights.bin), run with TensorFlow.js',
      configSchema: NativeModelLoaderConfig as unknown as z.ZodType<NativeModelLoaderConfig>,
      create: (config, ctx) => {
        const dir = path.resolve(ctx.baseDir, config.path);
        ctx.logger.debug(`loading native model ${dir}`);
        return loadModel(dir, { backend: config.backend });
      },
    });
  },
};
