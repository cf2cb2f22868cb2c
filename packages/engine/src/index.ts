/**
 * @diff2s/engine — the compute engine: the engine-neutral network definitions (UNet builder, input layout, value
 * types: net/), model folders (io/), the TensorFlow.js engine (tfjs/: backends, runner, data-parallel gradients),
 * onnxruntime inference (onnx/) and training (ortrain/), the training job (train/), and the one place that picks an
 * engine (engines.ts). See the package README.
 */
// The global types tfjs's declarations use (tfjs-core: Long; tfjs-backend-wasm: EmscriptenModule), from this package's
// own dependencies: a user's `tsc` without skipLibCheck finds them under any package manager's layout (issue 21).
/// <reference types="long" preserve="true" />
/// <reference types="emscripten" preserve="true" />
export * from './tfjs/backend';
export * from './tfjs/kernels';
export * from './tfjs/gradients';
export * from './net/def';
export * from './net/unet';
export * from './net/init';
export * from './net/types';
export * from './net/input';
export * from './tfjs/ops';
export * from './tfjs/network';
export * from './tfjs/unet-model';
export * from './tfjs/classifier';
export * from './io/model-io';
export * from './module';
export * from './engines';
export * from './tfjs/parallel/parallel-grad';
export * from './tfjs/train-engine';
export * from './onnx';
export * from './train';
export * from './ortrain';
