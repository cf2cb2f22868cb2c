/**
 * @diff2s/refiner — the Diff-2sIR second stage (seed 002, §1.2) and the two-stage pipeline API.
 * - {@link refine}: refine any stage-1 result with a split UNet.
 * - {@link inpaint}: guide → refiner in one call.
 * - {@link RefinerDenoiser}: the channel-swapping network as a Denoiser usable by any compatible sampler.
 */
export * from './parts';
export * from './swap';
export * from './config';
export * from './network';
export * from './refine';
export * from './pipeline';
export * from './guard';
export * from './detail';
