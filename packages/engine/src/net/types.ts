/**
 * Engine-neutral value types shared by every engine (tfjs, onnxruntime inference, onnxruntime training) and by the
 * training job: weights by name, a training batch, the loss and its gradients. Plus the flat-weights helpers: every
 * engine and the checkpoints store parameters back to back in `def.params` order.
 */
import { ModelError, type Tensor4 } from '@diff2s/core';
import type { NetworkDef } from './def';
import { paramCount, shapeSize } from './def';

/** Parameter values by name, canonical layouts (conv [Cout,Cin,KH,KW], dense [Out,In]), float32. */
export type WeightMap = Map<string, Float32Array>;

/** A training batch (all NCHW): what a training engine computes the loss and gradients of. */
export interface TrainBatch {
  /** Network input [N, inputChannels, H, W] (built with the model's conditioning layout, see `buildUNetInput`). */
  input: Tensor4;
  /** Per-sample noise level fed to the embedding (t, ᾱ or √ᾱ per the config), length N. */
  noise: Float32Array;
  /** Regression target [N, outputChannels, H, W] (ε, x₀ or v). */
  target: Tensor4;
  /** Optional per-pixel loss weights, [N,1,H,W] (broadcast over channels) or [N,C,H,W] — e.g. the hole mask. */
  weight?: Tensor4;
}

/** The training loss: Σ w·ℓ(pred − target) / (N·C·H·W), ℓ = square (`mse`) or abs (`l1`). */
export type LossKind = 'mse' | 'l1';

/** Loss value and gradients (canonical layouts) of one batch. */
export interface LossAndGrads {
  loss: number;
  grads: WeightMap;
}

/** Per-parameter views (no copies) into flat storage laid out in `def.params` order. */
export function weightViews(def: NetworkDef, flat: Float32Array): WeightMap {
  const views: WeightMap = new Map();
  let off = 0;
  for (const p of def.params) {
    const n = shapeSize(p.shape);
    views.set(p.name, flat.subarray(off, off + n));
    off += n;
  }
  return views;
}

/**
 * Copy `weights` into flat storage in `def.params` order (into `out` when given, else a new array). Every parameter
 * must be present with its shape's size; errors name it.
 */
export function flattenWeights(def: NetworkDef, weights: WeightMap): Float32Array<ArrayBuffer>;
export function flattenWeights<T extends Float32Array<ArrayBufferLike>>(def: NetworkDef, weights: WeightMap, out: T): T;
export function flattenWeights(def: NetworkDef, weights: WeightMap, out: Float32Array = new Float32Array(paramCount(def))): Float32Array {
  let off = 0;
  for (const p of def.params) {
    const w = weights.get(p.name);
    const n = shapeSize(p.shape);
    if (!w || w.length !== n) throw new ModelError(`weights: parameter "${p.name}" is missing or has the wrong size`);
    out.set(w, off);
    off += n;
  }
  return out;
}
