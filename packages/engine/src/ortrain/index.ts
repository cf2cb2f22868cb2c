/**
 * Training on onnxruntime: training graphs (forward, masked loss, backward, optimizer) generated in TypeScript from
 * the engine-neutral NetworkDef by a small reverse-mode differentiator, run by onnxruntime-node.
 */
export * from './autodiff';
export * from './build';
export * from './session';
export * from './worker-client';
export * from './train-engine';
