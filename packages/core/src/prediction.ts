/**
 * Conversions between the three things a diffusion network may predict, at one noise level ᾱ:
 *   x_t = a·x_0 + s·ε, with a = √ᾱ, s = √(1−ᾱ);   v = a·ε − s·x_0.
 * Each function writes into `out` (which may alias an input) and returns it.
 */
import type { PredictionType } from './schedules/schedule';

/** x_0 from (x_t, ε). */
export function x0FromEps(xt: Float32Array, eps: Float32Array, alphaBar: number, out: Float32Array): Float32Array {
  const a = Math.sqrt(alphaBar), s = Math.sqrt(1 - alphaBar);
  for (let i = 0; i < out.length; i++) out[i] = (xt[i] - s * eps[i]) / a;
  return out;
}

/** ε from (x_t, x_0). Undefined at ᾱ = 1 (no noise): returns zeros there. */
export function epsFromX0(xt: Float32Array, x0: Float32Array, alphaBar: number, out: Float32Array): Float32Array {
  const a = Math.sqrt(alphaBar), s = Math.sqrt(1 - alphaBar);
  if (s === 0) return out.fill(0);
  for (let i = 0; i < out.length; i++) out[i] = (xt[i] - a * x0[i]) / s;
  return out;
}

/** x_0 from (x_t, v): x_0 = a·x_t − s·v. */
export function x0FromV(xt: Float32Array, v: Float32Array, alphaBar: number, out: Float32Array): Float32Array {
  const a = Math.sqrt(alphaBar), s = Math.sqrt(1 - alphaBar);
  for (let i = 0; i < out.length; i++) out[i] = a * xt[i] - s * v[i];
  return out;
}

/** ε from (x_t, v): ε = s·x_t + a·v. */
export function epsFromV(xt: Float32Array, v: Float32Array, alphaBar: number, out: Float32Array): Float32Array {
  const a = Math.sqrt(alphaBar), s = Math.sqrt(1 - alphaBar);
  for (let i = 0; i < out.length; i++) out[i] = s * xt[i] + a * v[i];
  return out;
}

/** v from (x_0, ε): v = a·ε − s·x_0. */
export function vFromX0Eps(x0: Float32Array, eps: Float32Array, alphaBar: number, out: Float32Array): Float32Array {
  const a = Math.sqrt(alphaBar), s = Math.sqrt(1 - alphaBar);
  for (let i = 0; i < out.length; i++) out[i] = a * eps[i] - s * x0[i];
  return out;
}

/**
 * Convert a network's raw prediction (of type `from`) into `to`, given x_t and ᾱ. The one conversion function of
 * diff2s: the samplers (for every denoiser, the refiner's included) and the analytic test denoisers call it; training
 * targets use {@link vFromX0Eps}. `out` may alias `pred`; `pred` may be double precision (rounded to float32 once,
 * in `out`).
 */
export function convertPrediction(
  pred: Float32Array | Float64Array,
  from: PredictionType,
  to: PredictionType,
  xt: Float32Array,
  alphaBar: number,
  out: Float32Array,
): Float32Array {
  if (from === to) {
    if (out !== pred) out.set(pred);
    return out;
  }
  const a = Math.sqrt(alphaBar), s = Math.sqrt(1 - alphaBar);
  for (let i = 0; i < out.length; i++) {
    const p = pred[i], x = xt[i];
    let x0: number, eps: number;
    if (from === 'epsilon') {
      eps = p;
      x0 = (x - s * p) / a;
    } else if (from === 'x0') {
      x0 = p;
      eps = s === 0 ? 0 : (x - a * p) / s;
    } else {
      x0 = a * x - s * p;
      eps = s * x + a * p;
    }
    out[i] = to === 'x0' ? x0 : to === 'epsilon' ? eps : a * eps - s * x0;
  }
  return out;
}
