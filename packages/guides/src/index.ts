/**
 * @diff2s/guides — stage-1 inpainters behind core's `Guide` contract, registered by name in `container.guides`
 * by {@link guidesModule}: `patch` (Newson et al. non-local patch inpainting), `onnx` (bring-your-own LaMa / MAT /
 * MI-GAN / custom networks), `file` (an external tool's result), and the baselines `mean`, `nearest`, `harmonic`.
 */
export * from './common';
export * from './resize';
export * from './baselines';
export * from './patch';
export * from './file';
export * from './onnx';
export * from './module';
export * from './diffusion';
