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

/** A trained diffusion model folder (weights + model card). */
export const ModelConfig = z
  .object({
    path: z.string().min(1),
    /** Loader name from the model-loader registry. */
    format: z.string().default('native'),
    /** Inference engine: the fastest available (`auto`), tfjs or onnxruntime. */
    engine: z.enum(['auto', 'tfjs', 'onnx']).default('auto'),
  })
  .strict();

export const RefinerConfig = RefinerOptions.extend({
  /** Set false to run stage 1 only. */
  enabled: z.boolean().default(true),
  /** Sampler driving the refinement: ddpm, ddim or repaint, with its options. */
  sampler: PartRef('ddpm').default({ type: 'ddpm' }),
}).strict();

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
    /** The diffusion model of the refiner (and of a `diffusion` guide that does not name its own). */
    model: ModelConfig.optional(),
    /** Stage 2. Omit (or `enabled: false`) for stage 1 only. */
    refiner: RefinerConfig.optional(),
    output: OutputConfig.default({ dir: 'out', format: 'png', concat: false, stage1: true }),
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
