/**
 * Engine selection, in one place. diff2s runs its networks on two engines — TensorFlow.js (`tfjs/`) and
 * onnxruntime-node (`onnx/` for inference, `ortrain/` for training) — and everything that must pick one does it here:
 *
 * - {@link loadModel}: a native model folder on `engine: auto | tfjs | onnx` (auto = onnxruntime when it loads), for
 *   library users and the `native` model loader of the container (module.ts) alike;
 * - {@link createTrainEngine}: the training job's step (`train.engine: tfjs | onnx`), so that train/ imports no engine.
 */
import type { Logger } from '@diff2s/core';
import type { NetworkDef } from './net/def';
import { loadOnnxModel, ONNX_UNET_DEFAULT_THREADS, type LoadedOnnxModel } from './onnx/onnx-unet';
import { ortAvailability } from './onnx/ort';
import { OrtTrainEngine } from './ortrain/train-engine';
import type { BackendRequest } from './tfjs/backend';
import { TfjsTrainEngine } from './tfjs/train-engine';
import { loadTfjsModel, type LoadedTfjsModel } from './tfjs/unet-model';
import type { TrainEngineOptions, TrainStepEngine } from './train/engine';

/** The engines a model runs on. */
export type ModelEngine = 'tfjs' | 'onnx';

/** Which engine to run a model on and how (the `native` model loader's config without the path). */
export interface ModelEngineRequest {
  /** `auto` (default): onnx when onnxruntime-node loads, else tfjs — except with an explicit tfjs `backend`. */
  engine?: 'auto' | ModelEngine;
  /** tfjs backend (engine tfjs; `auto`, `tensorflow`, `wasm`, `cpu`). A value other than `auto` makes `auto` mean tfjs. */
  backend?: BackendRequest;
}

/**
 * The engine `auto` resolves to (onnx when onnxruntime-node loads), and why. An explicit tfjs `backend` other than
 * `auto` (a config written before engines existed, e.g. `backend: wasm`) keeps tfjs.
 */
export async function resolveModelEngine(config: ModelEngineRequest): Promise<{ engine: ModelEngine; reason: string }> {
  if (config.engine === 'tfjs' || config.engine === 'onnx') return { engine: config.engine, reason: 'requested' };
  if (config.backend && config.backend !== 'auto') return { engine: 'tfjs', reason: `tfjs backend "${config.backend}" requested` };
  const ort = await ortAvailability();
  return ort.available ? { engine: 'onnx', reason: 'onnxruntime-node loads' } : { engine: 'tfjs', reason: `onnxruntime-node unavailable: ${ort.reason}` };
}

/** Options of {@link loadModel}. */
export interface LoadModelOptions extends ModelEngineRequest {
  /** onnxruntime intra-op threads per session (engine onnx; default 2). */
  threads?: number;
  /** Told (debug) which engine runs the model and why. */
  logger?: Logger;
}

/**
 * A loaded native model: the tfjs {@link NativeUNet} or the onnxruntime {@link OnnxUNet} (same surface: a core
 * Denoiser with the refiner's parts API), with its card; `engine` says which.
 */
export type LoadedModel = LoadedTfjsModel | LoadedOnnxModel;

/**
 * Load a native model folder (model.json + weights.json + weights.bin) on the engine `options.engine` asks for
 * (default `auto`: onnxruntime when onnxruntime-node loads, else tfjs; see {@link resolveModelEngine}). The weights
 * are validated against the card's config either way. The engine-specific loaders are {@link loadTfjsModel} and
 * {@link loadOnnxModel}.
 */
export function loadModel(dir: string, options: LoadModelOptions & { engine: 'tfjs' }): Promise<LoadedTfjsModel>;
export function loadModel(dir: string, options: LoadModelOptions & { engine: 'onnx' }): Promise<LoadedOnnxModel>;
export function loadModel(dir: string, options?: LoadModelOptions): Promise<LoadedModel>;
export async function loadModel(dir: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  const { engine, reason } = await resolveModelEngine(options);
  options.logger?.debug(`loading native model ${dir} on ${engine} (${reason})`);
  if (engine === 'onnx') return loadOnnxModel(dir, { intraOpNumThreads: options.threads ?? ONNX_UNET_DEFAULT_THREADS });
  return loadTfjsModel(dir, { backend: options.backend ?? 'auto' });
}

/**
 * The training step's engine for `options.engine`: tfjs (gradients in process or over `workers` threads, Adam in
 * JavaScript) or onnx (the whole step as one onnxruntime graph, in a worker thread).
 */
export function createTrainEngine(def: NetworkDef, options: TrainEngineOptions): Promise<TrainStepEngine> {
  const { engine, ...rest } = options;
  if (engine === 'onnx') return OrtTrainEngine.create(def, rest);
  return TfjsTrainEngine.create(def, rest);
}
