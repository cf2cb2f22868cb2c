import {
  assertBinaryMask, assertMaskFits, assertSameShape, blendByMask, ConfigError, cropRect, maskBounds, NoiseSchedule, parseConfig, pasteRect,
  Rng, Sampler, StepInfo, Tensor4, type Rect,
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
  /**
   * [N,1,H,W], binary, within the mask: the hole pixels whose refinement the caller uses (default: all). With the
   * `crop` option the crop is grown around these only: hole pixels beyond it keep the guide's values, and those inside
   * it are refined with the context the crop holds (the validating guard's held-out hole: its own crop, not its union
   * with the user's hole).
   */
  focus?: Tensor4;
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
  if (setup.focus) assertMaskFits(image, setup.focus, 'refine focus');
  const crop = opts.crop ? refineCrop(setup.focus ?? mask, setup.network.receptiveField) : undefined;
  if (crop) return refineOnCrop(guideImage, image, mask, crop, { ...setup, options: { ...opts, crop: false }, focus: undefined });
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

/**
 * The crop the refinement needs (`crop` option): the hole's bounding box (over the batch) grown by the network's
 * receptive-field radius, its corners moved out to multiples of the network's size multiple (so its downsampling
 * grid is the whole image's), within the image. Undefined when the network declares no receptive field, the mask has
 * no hole, or the crop would be the whole image.
 */
export function refineCrop(mask: Tensor4, field: { radius: number; multiple: number } | undefined): Rect | undefined {
  if (!field || !Number.isFinite(field.radius)) return undefined;
  const box = maskBounds(mask);
  if (!box) return undefined;
  const m = Math.max(1, field.multiple), r = Math.max(0, Math.ceil(field.radius));
  const lo = (v: number) => Math.max(0, Math.floor((v - r) / m) * m);
  const hi = (v: number, size: number) => Math.min(size, Math.ceil((v + r) / m) * m);
  const rect = { x0: lo(box.x0), y0: lo(box.y0), x1: hi(box.x1, mask.w), y1: hi(box.y1, mask.h) };
  return rect.x0 === 0 && rect.y0 === 0 && rect.x1 === mask.w && rect.y1 === mask.h ? undefined : rect;
}

/**
 * Refine the crop `r` and paste it into a copy of `image` whose hole holds the guide (hole pixels beyond the crop: only
 * with a focus); per-step previews are shown at the full size.
 */
async function refineOnCrop(guideImage: Tensor4, image: Tensor4, mask: Tensor4, r: Rect, setup: RefineSetup): Promise<Tensor4> {
  const onStep = setup.onStep;
  let xt: Tensor4 | undefined, x0: Tensor4 | undefined; // full-size preview buffers, reused every step
  const refined = await refine(cropRect(guideImage, r), cropRect(image, r), cropRect(mask, r), {
    ...setup,
    onStep: onStep && ((info) => {
      xt ??= image.clone();
      x0 ??= image.clone();
      pasteRect(xt, info.xt, r);
      pasteRect(x0, info.x0Pred, r);
      return onStep({ ...info, xt, x0Pred: x0 });
    }),
  });
  const out = blendByMask(guideImage, image, mask, image.zerosLike());
  pasteRect(out, refined, r);
  return out;
}
