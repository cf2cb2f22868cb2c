import type { PredictionType } from './schedules/schedule';
import type { Tensor4 } from './tensor';

/** The step a denoiser is asked about: the integer step t (1..T) and its ᾱ_t (networks use one or the other). */
export interface DenoiserStep {
  t: number;
  alphaBar: number;
}

/**
 * What a conditional network sees besides x_t.
 * `xm` = m⊙ε_m + (1−m)⊙x_0 (Diff-2sIR eq. 11: the masked image with noise in the hole), [N,C,H,W];
 * `mask` [N,1,H,W], 1 = hole. Unconditional denoisers ignore both.
 */
export interface Conditioning {
  xm: Tensor4;
  mask: Tensor4;
}

/**
 * A network plus its conditioning convention. `predict` returns the network's raw prediction, of type
 * {@link predictionType}; samplers convert with core's `convertPrediction`.
 * Implementations: native UNets (engine), ONNX sessions, the Diff-2sIR refiner network, analytic test denoisers.
 */
export interface Denoiser {
  /** What `predict` returns: ε, x₀ or v. */
  readonly predictionType: PredictionType;
  /**
   * true: the network is conditioned on (x_m, mask) and known pixels are pasted back clean (Palette / Diff-2sIR);
   * false: an unconditional model, known pixels are pasted back noised to t−1 (RePaint).
   */
  readonly conditional: boolean;
  /** Human-readable description for logs. */
  readonly name?: string;
  /**
   * Predict for the batch x_t [N,C,H,W] at `step`. The returned tensor may be a buffer the denoiser reuses on the
   * next call: read it before calling again.
   */
  predict(xt: Tensor4, step: DenoiserStep, cond: Conditioning): Promise<Tensor4>;
  /** Free native resources. */
  dispose?(): void | Promise<void>;
}
