import {
  assertBinaryMask, assertMaskFits, assertSameShape, blendByMask, ConfigError, NoiseSchedule, Rng, Sampler, StepInfo, Tensor4, parseConfig,
} from '@diff2s/core';
import { REFINER_SAMPLERS, RefinerOptions, RefinerOptionsInput } from './config';
import { RefinerDenoiser } from './network';
import type { UNetParts } from './parts';

/** Everything the refinement loop needs besides the three images. */
export interface RefineSetup {
  /** The split UNet (native or ONNX). */
  network: UNetParts<any>;
  /** The model's noise schedule. */
  schedule: NoiseSchedule;
  /** A registered sampler (ddpm, ddim or repaint). */
  sampler: Sampler;
  /** Seeded generator for the start noise, the sampler's noise and the guide noise. */
  rng: Rng;
  options?: RefinerOptionsInput;
  /** Per-step progress, with the predicted x₀ for previews. */
  onStep?: (info: StepInfo) => void | Promise<void>;
  signal?: AbortSignal;
}

/** Throws a ConfigError if the sampler cannot drive the refiner. */
export function checkRefinerSampler(name: string, path = 'refiner.sampler.type'): void {
  if (!REFINER_SAMPLERS.has(name)) {
    const why =
      name === 'sdedit'
        ? 'sdedit is the plain-network special case of the refiner (start from the guide at t0, no channel swap); use ddpm, ddim or repaint'
        : `the refiner runs ${[...REFINER_SAMPLERS].join(', ')}`;
    throw new ConfigError(`sampler "${name}" cannot drive the refiner: ${why}`, path);
  }
}

/**
 * Diff-2sIR stage 2: refine a stage-1 result.
 * `guideImage` (x̄_0) is re-noised to T_k (or T with `strategy: 'start'`) and denoised with the swapped network;
 * known pixels are pasted back after every step (eq. 18), so the result equals `image` outside the hole exactly.
 * T_k = 0 returns the guide with the known pixels pasted.
 *
 * @param guideImage x̄_0 [N,C,H,W] in [-1,1]
 * @param image the input image x_0 (known pixels) [N,C,H,W]
 * @param mask [N,1,H,W], binary: 1 = hole, 0 = known
 */
export async function refine(guideImage: Tensor4, image: Tensor4, mask: Tensor4, setup: RefineSetup): Promise<Tensor4> {
  assertSameShape(guideImage, image, 'refine: guide image vs image');
  assertMaskFits(image, mask, 'refine mask');
  assertBinaryMask(mask, 'refine mask');
  const opts = parseConfig(RefinerOptions, setup.options ?? {}, 'refiner');
  checkRefinerSampler(setup.sampler.name);
  const T = setup.schedule.T;
  const tStart = opts.strategy === 'start' ? T : opts.tk;
  if (tStart > T) throw new ConfigError(`T_k = ${tStart} exceeds the model's schedule length T = ${T}`, 'refiner.tk');
  if (tStart === 0) return blendByMask(guideImage, image, mask, guideImage.zerosLike());
  const denoiser = new RefinerDenoiser(setup.network, guideImage, image, mask, setup.rng.derive('guide-noise'), opts);
  return setup.sampler.sample({
    denoiser,
    schedule: setup.schedule,
    image,
    mask,
    rng: setup.rng,
    start: { from: 'image', image: guideImage, t: tStart },
    onStep: setup.onStep,
    signal: setup.signal,
  });
}

