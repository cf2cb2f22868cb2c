import type { Denoiser } from './denoiser';
import type { Rng } from './rng';
import type { NoiseSchedule } from './schedules/schedule';
import type { Tensor4 } from './tensor';

/** Where sampling starts. */
export type SampleStart =
  /** Pure Gaussian noise at step `t` (default T): Algorithm 2. */
  | { from: 'noise'; t?: number }
  /**
   * A given image (e.g. a guide's stage-1 result) noised to step `t`:
   * x_t = √ᾱ_t·image + √(1−ᾱ_t)·ε (SDEdit; Diff-2sIR⁺ Algorithm 3). t = 0 returns the image with known pixels pasted.
   */
  | { from: 'image'; image: Tensor4; t: number };

/** Reported after each reverse step. Tensors are the sampler's working buffers: copy them to keep them. */
export interface StepInfo {
  /** 1-based count of denoising evaluations done so far, and the planned total. */
  index: number;
  total: number;
  /** The step just produced (x_t after the step, i.e. t is the new step). */
  t: number;
  xt: Tensor4;
  /** The denoiser's current estimate of x₀ (for previews). */
  x0Pred: Tensor4;
}

export interface SampleRequest {
  denoiser: Denoiser;
  schedule: NoiseSchedule;
  /** The known image x_0 [N,C,H,W] in [-1,1] (hole content ignored). */
  image: Tensor4;
  /** [N,1,H,W], 1 = hole. */
  mask: Tensor4;
  /** Every random draw comes from here. */
  rng: Rng;
  /** Default: noise at T. */
  start?: SampleStart;
  /** Progress after each denoising step; may be async (awaited). */
  onStep?: (info: StepInfo) => void | Promise<void>;
  /** Cancels between steps (throws CancelledError). */
  signal?: AbortSignal;
}

/**
 * A reverse-diffusion sampler. Output: [N,C,H,W] in [-1,1] with known pixels equal to `image`'s exactly
 * (conditional and unconditional modes both paste the clean known pixels after the final step).
 * For N samples per image, repeat the batch (`Tensor4.repeatEach`).
 */
export interface Sampler {
  readonly name: string;
  sample(request: SampleRequest): Promise<Tensor4>;
  /** Denoiser evaluations a request starting at step `tStart` will make (for progress bars). */
  plannedSteps(tStart: number, schedule: NoiseSchedule): number;
  /**
   * The step a request without `start` begins at (T for most samplers; SDEdit's t₀; RePaint's configured t_T).
   * Optional: absent means T. Use `plannedSteps(sampler.defaultStartStep?.(schedule) ?? schedule.T, schedule)`.
   */
  defaultStartStep?(schedule: NoiseSchedule): number;
}
