/**
 * @diff2s/studio — the web studio served by `diff2s serve`: open an image, paint the mask, choose a pipeline,
 * watch the refiner's progress and compare/download the results. It depends only on {@link StudioBackend};
 * the CLI supplies the real backend.
 */
export * from './backend';
export { startStudio, pngSize, DEFAULT_PORT, DEFAULT_MAX_PIXELS, DEFAULT_MAX_UPLOAD_BYTES } from './server';
export type { StudioServer } from './server';
export { resolveStaticPath, PUBLIC_DIR } from './static';
export type { StaticLookup } from './static';
export type { StudioEvent, JobState } from './jobs';
export { shrinkForPreview, decodeUpload, encodeBatch } from './jobs';
