/**
 * The eval config (`diff2s eval --config eval.yaml`): a dataset (images + masks, optional crop), a list of methods
 * (pipeline configs without input/output, optionally swept over config keys), metrics, seed, output folder.
 * Zod is the single source of truth; {@link evalJsonSchema} exports it for editors.
 */
import { z } from 'zod';
import { MASK_TYPES } from '@diff2s/core';
import type { Diff2sContainer } from '@diff2s/core';
import { PipelineConfig, RefinerConfig, registryUnion } from '../config/schema';

/** A pixel rectangle of every image (e.g. a texture's held-out region). */
export const CropRect = z
  .object({
    x: z.number().int().min(0),
    y: z.number().int().min(0),
    width: z.number().int().min(1),
    height: z.number().int().min(1),
  })
  .strict();
export type CropRect = z.infer<typeof CropRect>;

const MaskSizeSchema = z.union([
  z.number().int().min(8).max(4096),
  z.object({ width: z.number().int().min(8).max(4096), height: z.number().int().min(8).max(4096) }).strict(),
]);

/** Mask files in a folder, matched to images by file stem (`<stem>`, `<stem>_mask` or `<stem>-mask`). */
export const MaskDirSource = z.object({ dir: z.string().min(1) }).strict();
/** One mask file for every image. */
export const MaskFileSource = z.object({ file: z.string().min(1) }).strict();
/**
 * Generated masks (core's generators), `count` per image: sample k (image i, mask j: k = i·count + j) gets
 * `generateMask(type, size, new Rng(seed).derive(k))` — the same mask as `diff2s masks --type T --seed S` writes as
 * number k when the sizes agree.
 */
export const MaskGenSource = z
  .object({
    type: z.enum(MASK_TYPES),
    /** Seed of the masks (default: the eval's `seed`). */
    seed: z.number().int().optional(),
    /** Generate at this size and resize (nearest) to each image; default: the (cropped) image's own size. */
    size: MaskSizeSchema.optional(),
    /** Masks per image (each image is evaluated once per mask: more samples from few images, e.g. textures). */
    count: z.number().int().min(1).max(1000).default(1),
  })
  .strict();

export const DatasetConfig = z
  .object({
    /** Image files and/or folders (every .png .jpg .jpeg .webp .tif .tiff inside, sorted by name). */
    images: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    /** Where the masks come from: `{ dir }`, `{ file }` or `{ type, seed?, size? }` (generated). */
    masks: z.union([MaskDirSource, MaskFileSource, MaskGenSource]),
    /** Which colour of a mask file is the hole. */
    maskConvention: z.enum(['hole-white', 'known-white']).default('hole-white'),
    /** Evaluate on this region of every image (the pipeline sees only the crop). Mask files may have the image's or the crop's size. */
    crop: CropRect.optional(),
    /** Use only the first N images (after sorting). */
    limit: z.number().int().min(1).optional(),
    /** Decompression-bomb guard, in pixels. */
    pixelLimit: z.number().int().positive().default(64 * 1024 * 1024),
  })
  .strict();
export type DatasetConfig = z.infer<typeof DatasetConfig>;

/**
 * A method's pipeline: a pipeline config without input, output and samples; `seed` defaults to the eval's. `{stem}`
 * in any string value is replaced by each image's file stem (one model per image: `model: { path: models/{stem} }`;
 * an external tool's fills: `guide: { type: file, path: 'fills/{stem}.png' }` — quoted inside YAML `{ … }` maps).
 */
export const MethodPipeline = PipelineConfig.omit({ $schema: true, input: true, output: true, samples: true }).extend({
  seed: z.number().int().optional(),
});
export type MethodPipeline = z.infer<typeof MethodPipeline>;

/** A sweep: dotted pipeline key → values; several keys give their cartesian product. */
export const SweepConfig = z.record(
  z.string().regex(/^[A-Za-z_$][\w$-]*(\.[A-Za-z_$][\w$-]*)*$/, 'expected a dotted key path such as refiner.tk'),
  z.array(z.union([z.number(), z.string(), z.boolean()])).min(1),
);

export const MethodConfig = z
  .object({
    /** Display name (a sweep appends `key=value`, e.g. `patch+refiner tk=100`). */
    name: z.string().min(1).max(80),
    pipeline: MethodPipeline.default({} as never),
    /** e.g. `{ 'refiner.tk': [50, 100, 200] }`: one run per value. */
    sweep: SweepConfig.optional(),
  })
  .strict();
export type MethodConfig = z.infer<typeof MethodConfig>;

/**
 * `boundary`: |seam step of the result − the reference's own|; `jump`: the result's seam step and `jump-ref` the
 * reference's (to read next to each other); `chroma`: hole colour error (mean Cb/Cr of the hole vs the reference's).
 */
export const METRIC_NAMES = ['psnr', 'ssim', 'l1', 'mse', 'swd', 'boundary', 'jump', 'jump-ref', 'chroma', 'classify'] as const;
export type MetricName = (typeof METRIC_NAMES)[number];
export type Region = 'hole' | 'image';

/** A metric with options. */
export const MetricSpec = z
  .object({
    name: z.enum(METRIC_NAMES, { error: (iss) => `unknown metric ${JSON.stringify(iss.input)}; known: ${METRIC_NAMES.join(', ')}` }),
    /** Where it is measured: the hole, the whole image, or both (two columns). Ignored by `boundary` (the mask border). */
    region: z.enum(['hole', 'image', 'both']).default('hole'),
    /** swd: patch size. */
    patch: z.number().int().min(1).max(31).optional(),
    /** swd: random projections. */
    projections: z.number().int().min(1).max(4096).optional(),
    /** swd: at most this many patches per image. */
    maxPatches: z.number().int().min(1).optional(),
    /**
     * classify: a classifier folder (`diff2s classifier train`, relative to the config's folder). Each result scores
     * 1 when the classifier recognises it as its true label, else 0, so the mean is the share recognised.
     */
    model: z.string().min(1).optional(),
    /** classify: the labels CSV (stem,label; `diff2s idx` writes one); images are matched by file stem. */
    labels: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.name === 'classify') {
      for (const k of ['model', 'labels'] as const) {
        if (!m[k]) ctx.addIssue({ code: 'custom', path: [k], message: `the classify metric needs ${k === 'model' ? 'model (a classifier folder)' : 'labels (a stem,label CSV)'}` });
      }
    } else {
      for (const k of ['model', 'labels'] as const) {
        if (m[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `${k} applies only to the classify metric` });
      }
    }
  });
export type MetricSpec = z.infer<typeof MetricSpec>;

/** A metric: a name (region `hole`), or `{ name, region: hole|image|both, ...options }`. */
export const MetricConfig = z.union([z.enum(METRIC_NAMES), MetricSpec]);
export type MetricConfig = z.infer<typeof MetricConfig>;

export const EvalConfig = z
  .object({
    $schema: z.string().optional(),
    /** Report title. */
    title: z.string().default('diff2s evaluation'),
    /** Free text shown in the report (what this experiment is about). */
    description: z.string().optional(),
    /** Seed of the generated masks and default seed of every method. */
    seed: z.number().int().default(0),
    dataset: DatasetConfig,
    methods: z.array(MethodConfig).min(1),
    metrics: z.array(MetricConfig).min(1).default(['psnr', 'ssim', 'l1', 'swd', 'boundary']),
    /** Output folder (relative to the config's folder). */
    output: z.string().min(1).default('out/eval'),
    /** Also write every result image (results/<run>/<stem>.png). */
    saveResults: z.boolean().default(true),
    /** Sample grid: the first `maxImages` images (0: no grid). */
    grid: z.object({ maxImages: z.number().int().min(0).max(256).default(8) }).strict().default({ maxImages: 8 }),
  })
  .strict();
export type EvalConfig = z.infer<typeof EvalConfig>;
export type EvalConfigInput = z.input<typeof EvalConfig>;


/** The JSON Schema of eval configs, with every registered guide's and sampler's options spelled out. */
export function evalJsonSchema(container: Diff2sContainer): object {
  const pipeline = MethodPipeline.extend({
    guide: registryUnion(container.guides).optional(),
    refiner: RefinerConfig.extend({ sampler: registryUnion(container.samplers).optional() }).strict().optional(),
  });
  const full = EvalConfig.extend({ methods: z.array(MethodConfig.extend({ pipeline: pipeline.optional() })).min(1) });
  const js = z.toJSONSchema(full, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return { $id: 'https://diff2s.dev/schema/eval.schema.json', title: 'diff2s eval config', ...js };
}
