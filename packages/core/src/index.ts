/**
 * @diff2s/core — conventions and building blocks shared by every diff2s package:
 * NCHW float32 tensors in [-1, 1], masks with 1 = hole, image I/O, noise schedules, prediction conversions,
 * seeded randomness, the Denoiser / Sampler / Guide contracts, registries and the DI container.
 */
export * from './errors';
export * from './tensor';
export * from './rng';
export * from './config';
export * from './logger';
export * from './fsutil';
export * from './prediction';
export * from './schedules';
export * from './denoiser';
export * from './sampler';
export * from './guide';
export * from './samplers';
export * from './image/io';
export * from './image/icc';
export * from './image/mask';
export * from './image/idx';
export * from './image/labels';
export * from './masks/generators';
export * from './testing/denoisers';
export * from './di';
export * from './module';
export * from './metrics';
