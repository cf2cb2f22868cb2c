import type { Conditioning, DenoiserStep, PredictionType, Tensor4 } from '@diff2s/core';

/**
 * A UNet split into the three parts the Diff-2sIR refiner needs (seed 002, eqs. 15–17):
 * encoder F_e (input → h₋₁ plus skip connections), middle block F_m (h₋₁ → h) and decoder F_D (h + skips → output).
 * Engine-neutral: the native tfjs UNet and ONNX sessions split in three both implement it. `S` is the engine's
 * handle for the skip tensors (they may stay on the engine's side; the refiner only passes them to `decode`).
 */
export interface UNetParts<S = unknown> {
  readonly predictionType: PredictionType;
  /** Whether the network sees (x_m, mask) (Palette / Diff-2sIR) or only x_t (RePaint-style). */
  readonly conditional: boolean;
  /**
   * Optional: input pixels farther than `radius` from an output pixel cannot change it, and crops whose origin is a
   * multiple of `multiple` keep the network's function (a convolutional network without attention or normalisation
   * over the image). With it, the refiner runs on a crop around the hole ({@link RefinerOptions} `crop`).
   */
  readonly receptiveField?: { radius: number; multiple: number };
  /** F_e on the batch: returns h₋₁ [N, C_h, h, w] and the skips. */
  encode(xt: Tensor4, step: DenoiserStep, cond: Conditioning): Promise<{ h: Tensor4; skips: S }>;
  /** F_m: h₋₁ → h. */
  middle(h: Tensor4, step: DenoiserStep, cond: Conditioning): Promise<Tensor4>;
  /** F_D: (h, skips) → the network's prediction (of `predictionType`). */
  decode(h: Tensor4, skips: S, step: DenoiserStep, cond: Conditioning): Promise<Tensor4>;
  /** Free the skips of one `encode` call (engines holding native tensors). */
  releaseSkips?(skips: S): void;
  /**
   * Optional fast path: F_e then F_m on x_t and on x̄_t as one batch of 2N (what the refiner does every step).
   * Returns the encoder outputs and middle outputs of both passes, and the skips of the x_t pass.
   */
  encodeMiddlePair?(
    xt: Tensor4,
    guideT: Tensor4,
    step: DenoiserStep,
    cond: Conditioning,
    swapAtHm1: (a: Tensor4, b: Tensor4) => Tensor4,
  ): Promise<{ mid: Tensor4; midGuide: Tensor4; skips: S }>;
  /**
   * Optional fastest path: the whole swapped step — F_e and F_m on [x_t; x̄_t], the swaps Cat[a¹, b²] of the last
   * round(C·fraction) channels at h₋₁ (`atHm1`) and/or h (`atH`), F_D on the x_t half with its skips — in one call
   * (e.g. one onnxruntime graph). Must equal the three-part path's result. May return a buffer reused by the next call.
   */
  predictSwapped?(
    xt: Tensor4,
    guideT: Tensor4,
    step: DenoiserStep,
    cond: Conditioning,
    swap: { fraction: number; atHm1: boolean; atH: boolean },
  ): Promise<Tensor4>;
}

/** The plain network's prediction: F_D(F_m(F_e(x_t)), skips). */
export async function plainForward<S>(net: UNetParts<S>, xt: Tensor4, step: DenoiserStep, cond: Conditioning): Promise<Tensor4> {
  const e = await net.encode(xt, step, cond);
  try {
    const m = await net.middle(e.h, step, cond);
    return await net.decode(m, e.skips, step, cond);
  } finally {
    net.releaseSkips?.(e.skips);
  }
}
