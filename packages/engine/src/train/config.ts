import { z } from 'zod';

/** A rectangle of an image kept out of training (the held-out test region), in pixels. */
export const HoldoutRect = z.object({ x: z.number().int().min(0), y: z.number().int().min(0), width: z.number().int().min(1), height: z.number().int().min(1) }).strict();

/**
 * Training job config (YAML/JSON via the CLI, or an object from code). Paths resolve against the config's folder.
 */
export const TrainConfig = z
  .object({
    $schema: z.string().optional(),
    /** Seed of initialisation, data order, masks and noise. */
    seed: z.number().int().default(0),
    data: z
      .object({
        /** Image files and/or folders (every .png/.jpg/.webp/.tif inside). One image is enough (frugal training). */
        images: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
        /** Square random crop size. */
        crop: z.number().int().min(8).max(1024).default(64),
        /** Random horizontal and vertical flips. */
        flips: z.boolean().default(true),
        /**
         * Multi-scale crops: scales of each image to crop from (powers of two, e.g. [1, 0.5, 0.25]: the image and its
         * 2× and 4× box-downscaled copies, each kept while at least one crop wide).
         */
        scales: z.array(z.number().positive().max(1)).min(1).optional(),
        /** Region kept out of training crops (applies to every image). */
        holdout: HoldoutRect.optional(),
        /** Training masks: a generator type (freeform strokes of Yu et al. by default) or a folder of mask files (white = hole). */
        masks: z
          .object({
            type: z.enum(['freeform', 'thick', 'thin', 'mat-small', 'mat-large', 'genhalf', 'ex64', 'files']).default('freeform'),
            dir: z.string().optional(),
          })
          .strict()
          .default({ type: 'freeform' }),
      })
      .strict(),
    /**
     * Warm start: a model folder whose weights initialise the network. Its network config is used; a `model` given
     * as well must resolve to the same config. Fine-tuning a shipped prior on one image is how fitting starts.
     */
    init: z.string().min(1).optional(),
    /** The network: a preset name or `{ preset, ...overrides }` (engine UNet config; default `frugal`). */
    model: z.union([z.string(), z.looseObject({ preset: z.string().optional() })]).optional(),
    /** The noise schedule (core registry format); default: the `init` model's, else linear 1e-4→0.02, T = 1000. */
    schedule: z.looseObject({ type: z.string().default('linear') }).optional(),
    /**
     * `diffusion`: Algorithm 1 of Diff-2sIR (x₀-, ε- or v-target per the model). `regression`: the same network
     * trained with plain L2 on the hole from the masked image alone (one step, no diffusion; seed 000's baseline).
     */
    objective: z.enum(['diffusion', 'regression']).default('diffusion'),
    train: z
      .object({
        steps: z.number().int().min(1).default(10000),
        /** Time budget in seconds: stop (and save) after the step that passes it, even before `steps`. */
        maxSeconds: z.number().positive().optional(),
        /**
         * Highest diffusion step trained (t ~ U{1..tMax}; default T). A refiner-only model needs t ≤ T_k plus a
         * margin; a model that is also the diffusion guide needs all of 1..T.
         */
        tMax: z.number().int().min(1).optional(),
        batch: z.number().int().min(1).max(256).default(16),
        lr: z.number().positive().default(1e-4),
        lrSchedule: z.enum(['constant', 'cosine']).default('constant'),
        /** Linear warm-up steps. */
        warmup: z.number().int().min(0).default(0),
        /** Final learning rate of the cosine schedule, as a fraction of lr. */
        lrMinFactor: z.number().min(0).max(1).default(0.1),
        beta1: z.number().min(0).lt(1).default(0.9),
        beta2: z.number().min(0).lt(1).default(0.999),
        eps: z.number().positive().default(1e-8),
        /** Exponential moving average of the weights (0 = off); the saved model uses the EMA weights. */
        ema: z.number().min(0).lt(1).default(0),
        /** Gradient workers (data parallelism over worker threads; 1 = in process). */
        workers: z.number().int().min(1).max(16).default(2),
        checkpointEvery: z.number().int().min(1).default(500),
        logEvery: z.number().int().min(1).default(50),
        /** Loss on the hole only (eq. 12) or on the whole image. */
        lossOn: z.enum(['hole', 'all']).default('hole'),
        /**
         * `tfjs`: TensorFlow.js gradients (worker threads per `workers`) + Adam in JavaScript. `onnx`: the whole step
         * (forward, loss, backward, Adam) as one onnxruntime graph generated from the network definition (src/ortrain;
         * `workers` is ignored, onnxruntime uses its own threads). Checkpoints and model folders are the same.
         */
        engine: z.enum(['tfjs', 'onnx']).default('tfjs'),
      })
      .strict()
      .default({} as never),
    /** Output model folder (model card + weights; `checkpoint/` and `loss.csv` inside). */
    output: z.string().min(1),
    /** Free text for the model card. */
    description: z.string().optional(),
  })
  .strict();
export type TrainConfig = z.infer<typeof TrainConfig>;
export type TrainConfigInput = z.input<typeof TrainConfig>;
