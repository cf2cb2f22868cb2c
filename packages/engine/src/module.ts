import * as path from 'path';
import { z } from 'zod';
import type { Module } from '@diff2s/core';
import { loadModel, type LoadedModel } from './engines';

/**
 * Config of the `native` model loader: a model folder (relative paths resolve against the config's folder) and the
 * engine that runs it ({@link loadModel} in engines.ts picks it).
 *
 * - `engine: 'onnx'` — onnxruntime-node (the graphs are exported from the model in memory; see `OnnxUNet`).
 * - `engine: 'tfjs'` — TensorFlow.js on `backend` (`auto`, `tensorflow`, `wasm`, `cpu`).
 * - `engine: 'auto'` (default) — onnx when onnxruntime-node loads, else tfjs; except that an explicit tfjs
 *   `backend` other than `auto` (a config written before engines existed, e.g. `backend: wasm`) keeps tfjs.
 */
export const NativeModelLoaderConfig = z
  .object({
    path: z.string().min(1),
    engine: z.enum(['auto', 'tfjs', 'onnx']).default('auto'),
    /** tfjs backend (engine tfjs). */
    backend: z.enum(['auto', 'tensorflow', 'wasm', 'cpu']).optional(),
    /** onnxruntime intra-op threads per session (engine onnx; default 2). */
    threads: z.number().int().min(1).max(256).optional(),
  })
  .strict();
export type NativeModelLoaderConfig = z.infer<typeof NativeModelLoaderConfig>;

/**
 * The engine's DI module: registers the `native` model loader (a diff2s model folder → a {@link NativeUNet} on tfjs
 * or an {@link OnnxUNet} on onnxruntime; both are core Denoisers implementing the refiner's parts API, with `card`).
 */
export const engineModule: Module = {
  name: 'engine',
  register(c) {
    c.modelLoaders.register<NativeModelLoaderConfig>({
      name: 'native',
      description: 'diff2s native model folder (model.json + weights.json + weights.bin), run with onnxruntime or TensorFlow.js',
      configSchema: NativeModelLoaderConfig as unknown as z.ZodType<NativeModelLoaderConfig>,
      create: async (config, ctx) => {
        const { path: p, ...engine } = config;
        return loadModel(path.resolve(ctx.baseDir, p), { ...engine, logger: ctx.logger });
      },
    });
  },
};

/** What the `native` model loader returns: the tfjs or the onnxruntime network (same surface), with its card. */
export type AnyLoadedModel = LoadedModel;
