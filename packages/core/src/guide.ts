import type { Rng } from './rng';
import type { Tensor4 } from './tensor';

/** Sizes a guide accepts. */
export interface SizeSupport {
  /** Smallest width/height (pixels). */
  min: number;
  /** Largest width/height (or Infinity). */
  max: number;
  /** Width and height must be a multiple of this (1 = any). Guides that pad or resize declare 1. */
  multiple: number;
  /** Whether a hole covering the whole image is accepted (guides that copy from known pixels refuse it). */
  fullMask: boolean;
}

export interface GuideOptions {
  /** All randomness (PatchMatch initialisation, diffusion noise) comes from here. */
  rng: Rng;
  /** Progress in [0, 1] with a short label. */
  onProgress?: (fraction: number, label?: string) => void;
  signal?: AbortSignal;
  /**
   * [N,1,H,W] binary, within the mask: the hole pixels whose fill the caller uses. A guide may fill the rest of the
   * hole more cheaply (the patch guide refines only these at its finest level; the others keep its coarser levels'
   * fill) — the whole hole is still filled. Default: every hole pixel. Guides without a cheaper way ignore it.
   */
  focus?: Tensor4;
}

/**
 * A stage-1 inpainter: fills the hole of `image` ([N,C,H,W] in [-1,1]) given `mask` ([N,1,H,W], 1 = hole).
 * The result has the input's shape and the input's known pixels bit for bit.
 */
export interface Guide {
  readonly name: string;
  readonly sizes: SizeSupport;
  inpaint(image: Tensor4, mask: Tensor4, options: GuideOptions): Promise<Tensor4>;
  dispose?(): void | Promise<void>;
}
