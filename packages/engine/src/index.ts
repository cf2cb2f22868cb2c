/**
 * @diff2s/engine — the compute engine (TensorFlow.js on wasm / tensorflow / cpu), the engine-neutral network
 * definitions (UNet builder), the tfjs network runner, model save/load and data-parallel gradients.
 */
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
export * from './parallel/parallel-grad';
export * from './onnx';
export * from './train';
export * from './ortrain';
