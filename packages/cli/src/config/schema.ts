import { z } from 'zod';
import type { Diff2sContainer, Registry } from '@diff2s/core';
import { RefinerOptions } from '@diff2s/refiner';

/** A reference to a registered part: `type` names it, the other keys are its config (checked by its own schema). */
const PartRef = (defaultType: string) =>
  z.looseObject({ type: z.string().default(defaultType) });

/** Where images and masks come from. `image`/`mask` may be files or folders (batch mode, matched by file stem). */
export const InputConfig = z
  .object({
    image: z.string().min(1),
    mask: z.string().min(1).optional(),
    maskConvention: z.enum(['hole-white', 'known-white']).default('hole-white'),
    /** Use the image's alpha channel as the mask (transparent = hole) when no mask is given. */
    alphaAsMask: z.boolean().default(false),
    /** Resize a mask of another size to the image (nearest) instead of refusing it. */
    resizeMask: z.boolean().default(false),
    /** Decompression-bomb guard, in pixels. */
    pixelLimit: z.number().int().positive().default(64 * 1024 * 1024),
  })
  .strict();

export const OutputConfig = z
  .object({
    dir: z.string().min(1).default('out'),
    format: z.enum(['png', 'jpeg', 'webp']).default('png'),
    /** Also write one side-by-side sheet per image: input | mask | stage 1 | stage 2. */
    concat: z.boolean().default(false),
    /** Write the stage-1 image too. */
    stage1: z.boolean().default(true),
  })
  .strict();

/**
 * Fitting a model to the image being inpainted (seed 000's frugal recipe on the user's own image): crops of the image
 * may cover the hole, but the hole's pixels are never an input or a target. Warm-started from a shipped colour prior;
 * the fitted model is cached by content (image + mask + these settings) in the user's cache folder.
 */
export const FitConfig = z
  .object({
    /** Time budget in seconds (`auto`: 45 s at 128², growing with √pixels up to 120 s). */
    seconds: z.union([z.literal('auto'), z.number().positive().max(7200)]).default('auto'),
    /** Most training steps (the budget usually ends the fit first). */
    steps: z.number().int().min(1).max(100000).default(5000),
    /** Model folder the fit starts from (`prior`: the shipped colour prior `models/frugal-colour`; `none`: random). */
    init: z.string().min(1).default('prior'),
    /** Square crop size (clamped to the image's smaller side, rounded down to a multiple of 8). */
    crop: z.number().int().min(16).max(512).default(64),
    batch: z.number().int().min(1).max(128).default(8),
    lr: z.number().positive().max(1).default(2e-4),
    /** EMA decay of the weights (0 = off). */
    ema: z.number().min(0).lt(1).default(0),
    /** Scales of the image to crop from (multi-scale crops). */
    scales: z.array(z.number().positive().max(1)).min(1).default([1]),
    /** Highest step trained: `auto` (the refiner's T_k plus a margin) or a number. */
    tMax: z.union([z.literal('auto'), z.number().int().min(1)]).default('auto'),
    /** Training engine: onnxruntime (`auto`, where it loads) or tfjs. */
    engine: z.enum(['auto', 'onnx', 'tfjs']).default('auto'),
    /** Reuse (and store) fitted models in the cache folder (`$DIFF2S_CACHE_DIR`, else `$XDG_CACHE_HOME/diff2s`, else `~/.cache/diff2s`). */
    cache: z.boolean().default(true),
    /** Also keep the fitted model as a model folder here (relative to the config's folder). */
    keep: z.string().min(1).optional(),
  })
  .strict();
export type FitConfig = z.infer<typeof FitConfig>;

/**
 * The refiner's diffusion model: a trained model folder (`path`), or `fit` (fit one to each image). With neither, the
 * pipeline fits (`fit: {}`).
 */
export const ModelConfig = z
  .object({
    /** A trained model folder (weights + model card). */
    path: z.string().min(1).optional(),
    /** Fit a model to each image (see FitConfig). */
    fit: FitConfig.optional(),
    /** Loader name from the model-loader registry. */
    format: z.string().default('native'),
    /** Inference engine: the fastest available (`auto`), tfjs or onnxruntime. */
    engine: z.enum(['auto', 'tfjs', 'onnx']).default('auto'),
  })
  .strict()
  .refine((m) => !(m.path && m.fit), { message: 'give either a model folder (path) or fit, not both', path: ['fit'] });

export const RefinerConfig = RefinerOptions.extend({
  /** Set false to run stage 1 only. */
  enabled: z.boolean().default(true),
  /**
   * Sampler driving the refiner: ddpm, ddim or repaint, with its options. Default DDIM with 5 evaluations from T_k
   * (`spacing: start`): DDIM 10 was closer to the reference than DDPM's 100 steps on every measure of the VisTex
   * strokes set (reports/refiner-steps), and DDIM 5 matched DDIM 10 after the guard on the VisTex and photo strokes
   * sets in two runs with different fits, within 0.0002 of it on SWD and boundary before the guard, at half the
   * network evaluations (reports/refiner-steps-fast).
   */
  sampler: PartRef('ddim').default({ type: 'ddim', steps: 5, spacing: 'start' }),
  /**
   * Never worse than stage 1: keep the stage-1 result for an image when the refinement makes its hole less like the
   * image's known pixels (patch statistics) or its seam stronger than the known region's own gradients (reference-free
   * measures, reported in the run's log and result).
   */
  guard: z.boolean().default(true),
  /**
   * How the guard judges: `validate` (default) holds out a region of known pixels shaped like the hole (never seen by
   * the fit), fills and refines it as a second hole, and keeps stage 2 only when its fill there is no further from the
   * real pixels than stage 1's (patch SWD and seam, as the evaluation measures them); costs one more guide run and
   * refinement. `texture`: reference-free, the hole's patches against the known region's (cheaper, less reliable).
   * Falls back to `texture` when no validation region fits (a hole covering most of the image) or the guide fits
   * its own model.
   */
  guardMethod: z.enum(['validate', 'texture']).default('validate'),
  /**
   * The guard's texture tolerance: how much higher (relative) stage 2's patch SWD may be than stage 1's, on the
   * validation hole (against the truth) or, with `guardMethod: texture`, against the known region. Default 0 (strict):
   * with the default refiner (σ 1, tone 4) the tolerance 0.02 let through refinements worse than patch alone by
   * 0.001–0.002 in SWD; 0 kept "not worse than patch" on 14/17 VisTex, 6/7 photo and 2/4 Embark images against 12/17,
   * 5/7 and 1/4 (reports/guard-tolerance).
   */
  guardTexture: z.number().min(0).max(100).default(0),
  /**
   * Refine only a band of this many pixels inside the hole's border (the seam), keeping stage 1's interior as context;
   * 0 refines the whole hole.
   */
  band: z.number().int().min(0).max(4096).default(0),
  /**
   * Detail transfer (σ, pixels): inside the hole, keep stage 1's detail finer than σ and take only the refinement's
   * coarser part (colour, shading, seams); 0 keeps the refinement whole. Applied before the guard judges. Default 1:
   * on the own-image sets it removed the small model's 2–8 px grid from the fills and lowered the hole's patch SWD
   * before the guard on all three sets (reports/refiner-detail).
   */
  detail: z.number().min(0).max(64).default(1),
  /**
   * Tone anchor (σ_t, pixels, larger than `detail`): of the refiner's change inside the hole, drop the part coarser
   * than σ_t, so the hole keeps stage 1's colour and shading at those scales and the refinement contributes the band
   * between `detail` and σ_t (seams, local structure); 0 keeps the refinement's coarse scales. Applied before the guard.
   * Default 4: of 4, 8 and 16 px it gave the lowest hole patch SWD and chroma error before the guard on all three
   * own-image sets (VisTex SWD 0.0286 → 0.0266, chroma 0.0159 → 0.0126; photos 0.0463 → 0.0433, 0.0097 → 0.0044;
   * Embark 0.0387 → 0.0343, 0.0252 → 0.0175; reports/refiner-tone).
   */
  tone: z.number().min(0).max(256).default(4),
}).strict();

/**
 * How large images run (IOPaint's Original / Resize / Crop). Whatever runs is padded to the networks' size multiple
 * and cropped back, so any image size runs; known pixels stay bit-exact in every strategy.
 */
export const HdConfig = z
  .object({
    /**
     * `crop`: the pipeline runs on a crop around each hole (bounding box + `margin`, at least `minSize`), pasted back;
     * `resize`: on the image scaled to `resizeLimit` (larger side), the upscaled hole pasted back; `original`: the
     * whole image; `auto`: `crop` when the larger side exceeds `trigger`, else `original`.
     */
    strategy: z.enum(['auto', 'crop', 'resize', 'original']).default('auto'),
    /** `auto` crops images whose larger side exceeds this (pixels). */
    trigger: z.number().int().min(32).max(1 << 16).default(512),
    /** Context around each hole's bounding box in a crop (pixels). */
    margin: z.number().int().min(0).max(1 << 14).default(64),
    /** Smallest crop side (pixels; the fit and the guide need context). */
    minSize: z.number().int().min(16).max(1 << 14).default(128),
    /** `resize`: the larger side the image runs at (pixels). */
    resizeLimit: z.number().int().min(32).max(1 << 14).default(512),
    /** How the padding to the networks' size multiple is filled: `symmetric` (mirror) or `edge` (replicate). */
    pad: z.enum(['symmetric', 'edge']).default('symmetric'),
  })
  .strict();
export type HdConfig = z.infer<typeof HdConfig>;

/** The pipeline config (YAML or JSON): guide → refiner → outputs. */
export const PipelineConfig = z
  .object({
    $schema: z.string().optional(),
    /** Seed of every random draw. */
    seed: z.number().int().default(0),
    /** Samples per image. */
    samples: z.number().int().min(1).max(64).default(1),
    input: InputConfig.optional(),
    /** Stage 1: a registered guide and its options. */
    guide: PartRef('patch').default({ type: 'patch' }),
    /**
     * The refiner's diffusion model: `{ path }` (a model folder) or `{ fit: {...} }` (fit one to each image). Left out,
     * the refiner fits one to each image (`fit: {}`).
     */
    model: ModelConfig.optional(),
    /** Stage 2. Omit (or `enabled: false`) for stage 1 only. */
    refiner: RefinerConfig.optional(),
    output: OutputConfig.default({ dir: 'out', format: 'png', concat: false, stage1: true }),
    /**
     * Memory bound of one run, in MiB: the run's need is estimated from the image size, the samples and the HD
     * strategy before any work, and a run over it is refused with the figure (use hd.strategy crop or resize, fewer
     * samples, or raise this).
     */
    memoryLimit: z.number().int().min(64).max(1 << 20).default(4096),
    /** Large images: crop around the holes, resize, or run whole (see HdConfig). */
    hd: HdConfig.default({ strategy: 'auto', trigger: 512, margin: 64, minSize: 128, resizeLimit: 512, pad: 'symmetric' }),
  })
  .strict();
export type PipelineConfig = z.infer<typeof PipelineConfig>;

/** A union of every registered entry's config schema, each with `type: <name>` (for JSON Schema export). */
export function registryUnion<T, X>(registry: Registry<T, X>): z.ZodType {
  const variants = registry.list().map((e) => {
    const s = e.configSchema as unknown as z.ZodObject;
    // safeExtend keeps refinements (e.g. the patch guide's odd patch size)
    const withType = typeof s.safeExtend === 'function' ? s.safeExtend({ type: z.literal(e.name) }) : z.object({ type: z.literal(e.name) });
    return withType.describe(e.description);
  });
  if (variants.length === 0) return z.object({ type: z.string() });
  if (variants.length === 1) return variants[0];
  return z.union(variants as unknown as [z.ZodType, z.ZodType, ...z.ZodType[]]);
}

/**
 * The JSON Schema of pipeline configs for editors (`$schema`), with every registered guide's and sampler's options
 * spelled out (from their zod schemas: the single source of truth).
 */
export function pipelineJsonSchema(container: Diff2sContainer): object {
  const full = PipelineConfig.extend({
    guide: registryUnion(container.guides).optional(),
    refiner: RefinerConfig.extend({ sampler: registryUnion(container.samplers).optional() }).strict().optional(),
  });
  const js = z.toJSONSchema(full, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return { $id: 'https://diff2s.dev/schema/pipeline.schema.json', title: 'diff2s pipeline config', ...js };
}
