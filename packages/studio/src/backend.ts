import type { Tensor4 } from '@diff2s/core';

/**
 * A pipeline as the studio sees it: a guide (stage 1), an optional refiner (stage 2), a seed and a sample count.
 * Option keys beyond `type` are passed through untouched; the backend validates them.
 */
export interface StudioPipeline {
  guide: { type: string; [k: string]: unknown };
  /** The page edits `enabled`, `tk` and `sampler`; other refiner keys (detail, tone, guard, ...) pass through. */
  refiner?: { enabled: boolean; tk?: number; sampler?: { type: string; [k: string]: unknown }; [k: string]: unknown };
  seed: number;
  samples: number;
  /** Large images: `strategy` is one of {@link StudioDescription.hdStrategies} (other keys pass through). */
  hd?: { strategy: string; [k: string]: unknown };
}

/** A JSON Schema (draft 2020-12) object, as `z.toJSONSchema` writes it. */
export type JsonSchema = Record<string, unknown>;

/** One progress report from a running job. `preview` is the predicted x₀ (NCHW in [-1,1]); the studio throttles it. */
export interface StudioProgress {
  /** `fit`: a model is being fitted to this image (fraction of the time budget; `label` says step and seconds). */
  stage: 'guide' | 'fit' | 'refiner';
  step?: number;
  total?: number;
  fraction?: number;
  /** A short human-readable status (e.g. "step 120, 20/45 s"). */
  label?: string;
  preview?: Tensor4;
}

/** What the backend offers: shown in the page's pipeline form. */
export interface StudioDescription {
  /**
   * Registered guides. `options` (optional) are the guide's main options with their defaults; `schema` (optional) is
   * the JSON Schema of the guide's options object (`properties` with type, enum, minimum/maximum, default,
   * description): the page builds the option form from it (numbers, enums, booleans with their limits).
   */
  guides: { name: string; description: string; options?: Record<string, unknown>; schema?: JsonSchema }[];
  /** Registered sampler names for the refiner. */
  samplers: string[];
  /** JSON Schema of each sampler's options (by name), for the sampler's option form. Optional. */
  samplerSchemas?: Record<string, JsonSchema>;
  /** Whether a refiner model is loaded (when false the refiner controls are disabled). */
  refinerAvailable: boolean;
  /** Largest T_k the refiner accepts (the model's T). */
  maxTk: number;
  /** The pipeline the page starts with. */
  defaultPipeline: StudioPipeline;
  /** Model ids a job may name (from the configured model folders). Empty: jobs name none. */
  models: string[];
  /** HD strategies the backend offers (`hd.strategy`; the first is the default). Absent or empty: no HD control. */
  hdStrategies?: string[];
}

/** A shipped example: PNG bytes of the image and, optionally, of its mask (white = hole). */
export interface StudioExample {
  id: string;
  name: string;
  image: Uint8Array;
  mask?: Uint8Array;
}

/** One job handed to {@link StudioBackend.run}. `image` is [1,3,H,W] in [-1,1]; `mask` [1,1,H,W] with 1 = hole. */
export interface StudioRunRequest {
  image: Tensor4;
  mask: Tensor4;
  pipeline: StudioPipeline;
  model?: string;
}

/** Callbacks of a run: progress reports, and the signal that is aborted when the user cancels (or the studio closes). */
export interface StudioRunHooks {
  onProgress(e: StudioProgress): void;
  signal: AbortSignal;
}

/** Results of a run: [N,C,H,W] tensors in [-1,1], N = pipeline.samples (stage2 absent when the refiner is off). */
export interface StudioRunResult {
  stage1: Tensor4;
  stage2?: Tensor4;
}

/** One job as uploaded (PNG bytes), for {@link StudioBackend.runEncoded}: decode with {@link decodeUpload}. */
export interface StudioEncodedRunRequest {
  image: Uint8Array;
  mask: Uint8Array;
  pipeline: StudioPipeline;
  model?: string;
  /** The studio's image limit in pixels (the decoder's guard). */
  maxPixels: number;
}

/** Results of {@link StudioBackend.runEncoded}: one PNG per sample and stage (see {@link encodeBatch}). */
export interface StudioEncodedRunResult {
  stage1: Buffer[];
  stage2?: Buffer[];
  width: number;
  height: number;
}

/**
 * Everything the studio needs from the rest of diff2s. The studio depends on this interface only (not on the CLI,
 * the engine or the refiner): the CLI builds the real backend from its pipeline composition root; tests use a fake.
 */
export interface StudioBackend {
  /** Guides, samplers, refiner availability, defaults and model ids for the page. */
  describe(): Promise<StudioDescription>;
  /** Shipped examples the page offers. Requests name them by id only. */
  examples(): Promise<StudioExample[]>;
  /** Validate a pipeline given as config text (yaml/json) or object; throw ConfigError with key path on problems. */
  parsePipeline(input: unknown): Promise<StudioPipeline>;
  /** Run one job. Must honour `hooks.signal` (reject, e.g. with CancelledError, soon after it is aborted). */
  run(req: StudioRunRequest, hooks: StudioRunHooks): Promise<StudioRunResult>;
  /**
   * Optional: run one job from its uploaded bytes and return encoded results. When present the studio calls this
   * instead of {@link run}, so a backend that computes elsewhere (another process) also decodes and encodes there and
   * the studio's process never holds the full-size images.
   */
  runEncoded?(req: StudioEncodedRunRequest, hooks: StudioRunHooks): Promise<StudioEncodedRunResult>;
}

/** Options of {@link startStudio}. */
export interface StudioOptions {
  backend: StudioBackend;
  /** Interface to bind (default 127.0.0.1). Anything not loopback prints a warning. */
  host?: string;
  /** TCP port (default 8765; 0 = a random free port). */
  port?: number;
  /** Largest request body accepted for an upload, in bytes (default 50 MiB). */
  maxUploadBytes?: number;
  /** Largest image accepted, in pixels (width × height; default 4096 × 4096). */
  maxPixels?: number;
  /** Where the studio reports its address and warnings (default: console). */
  logger?: { info(m: string): void; warn(m: string): void };
  /** Most jobs waiting (not running) at once over all models; more are refused with 503 (default 64). */
  maxQueuedJobs?: number;
  /** Finished jobs whose results are kept for download (oldest dropped first; default 32). */
  keepFinishedJobs?: number;
  /**
   * Cancel a queued or running job this many ms after its last progress listener (the page) disconnected and none
   * came back (default 30000; a negative value never cancels).
   */
  cancelAbandonedAfterMs?: number;
}
