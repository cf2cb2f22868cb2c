import {
  assertBinaryMask, assertMaskFits, Guide, InputError, Rng, StepInfo, Tensor4, blendByMask,
} from '@diff2s/core';
import { refine, RefineSetup } from './refine';

/** Stage 2 of a pipeline: the refiner's setup without the RNG (derived from the pipeline's seed). */
export type RefinerSpec = Omit<RefineSetup, 'rng' | 'onStep' | 'signal'>;

export interface InpaintRequest {
  /** [N,C,H,W] in [-1,1]. */
  image: Tensor4;
  /** [N,1,H,W], binary: 1 = hole, 0 = known (see core's `binaryMask` for soft masks). */
  mask: Tensor4;
  /** Stage 1. */
  guide: Guide;
  /** Stage 2; omit to return the guide's result only. */
  refiner?: RefinerSpec;
  /** Seed of every random draw (guide and refiner get independent derived streams). */
  seed: number;
  /** Samples per image (default 1): the batch is repeated, each sample gets its own noise. */
  samples?: number;
  /** Progress of both stages. */
  onProgress?: (event: PipelineProgress) => void;
  signal?: AbortSignal;
  /** [N,1,H,W]: the hole pixels whose stage 1 the caller uses (passed to the guide, see GuideOptions.focus). */
  focus?: Tensor4;
}

export type PipelineProgress =
  | { stage: 'guide'; fraction: number; label?: string }
  | { stage: 'refiner'; step: StepInfo };

export interface InpaintResult {
  /** Stage-1 result [N·samples, C, H, W] (known pixels pasted). */
  stage1: Tensor4;
  /** Stage-2 result, when a refiner was given. */
  stage2?: Tensor4;
  /** The image and mask as repeated for the samples (what stage1/stage2 line up with). */
  image: Tensor4;
  mask: Tensor4;
  timings: { guideMs: number; refinerMs: number; stepMs: number[] };
}

/**
 * Two-stage inpainting: `guide` fills the hole, then (optionally) the Diff-2sIR refiner re-noises that result to T_k
 * and denoises it so the fill agrees with the known pixels. Known pixels of every output equal the input's exactly.
 *
 * @example
 * const out = await inpaint({ image, mask, guide, refiner: { network, schedule, sampler, options: { tk: 200 } }, seed: 1 });
 */
export async function inpaint(req: InpaintRequest): Promise<InpaintResult> {
  assertMaskFits(req.image, req.mask, 'mask');
  assertBinaryMask(req.mask, 'mask');
  const samples = req.samples ?? 1;
  if (!Number.isInteger(samples) || samples < 1) throw new InputError(`samples must be a positive integer, got ${samples}`);
  const image = samples > 1 ? req.image.repeatEach(samples) : req.image;
  const mask = samples > 1 ? req.mask.repeatEach(samples) : req.mask;
  const root = new Rng(req.seed);
  const t0 = performance.now();
  const raw = await req.guide.inpaint(image, mask, {
    rng: root.derive('guide'),
    onProgress: (fraction, label) => req.onProgress?.({ stage: 'guide', fraction, label }),
    signal: req.signal,
    ...(req.focus ? { focus: samples > 1 ? req.focus.repeatEach(samples) : req.focus } : {}),
  });
  const stage1 = blendByMask(raw, image, mask, raw.zerosLike());
  const t1 = performance.now();
  const stepMs: number[] = [];
  let stage2: Tensor4 | undefined;
  if (req.refiner) {
    let last = performance.now();
    stage2 = await refine(stage1, image, mask, {
      ...req.refiner,
      rng: root.derive('refiner'),
      signal: req.signal,
      onStep: (step) => {
        const now = performance.now();
        stepMs.push(now - last);
        last = now;
        req.onProgress?.({ stage: 'refiner', step });
      },
    });
  }
  const t2 = performance.now();
  return { stage1, stage2, image, mask, timings: { guideMs: t1 - t0, refinerMs: t2 - t1, stepMs } };
}
