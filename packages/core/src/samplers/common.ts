/**
 * Step mathematics shared by every built-in sampler, in one place:
 * the step table (plain or respaced sub-sequence of a schedule), x₀ prediction (+ clipping), the posterior mean
 * and ancestral noise, DDIM's update, RePaint's forward "undo" step, the known-region paste (clean or noised) and
 * request set-up (start state, conditioning, buffers), cancellation and progress reporting.
 *
 * Buffers: a run allocates its image-sized working arrays once ({@link SamplerState}: x_t, x̂₀, one noise buffer,
 * x_m) and every step writes into them in place; the tensors handed to `onStep` are those buffers.
 */
import { z } from 'zod';
import type { Conditioning, Denoiser } from '../denoiser';
import { CancelledError, ConfigError } from '../errors';
import { convertPrediction } from '../prediction';
import type { SampleRequest, SampleStart } from '../sampler';
import type { NoiseSchedule } from '../schedules/schedule';
import { assertBinaryMask, assertMaskFits, assertSameShape, blendByMask, Tensor4 } from '../tensor';

// ---------------------------------------------------------------------------------------------------------------
// Config pieces shared by the sampler schemas

/**
 * How known pixels are pasted back. `auto` follows the denoiser's `conditional` flag:
 * conditional → clean (Diff-2sIR eq. 18), unconditional → noised to the new step's level (RePaint).
 */
export const PasteMode = z.enum(['auto', 'conditional', 'unconditional']);
export type PasteMode = z.infer<typeof PasteMode>;

/** Reverse-step variance of the ancestral samplers: the posterior β̃_t (DDPM "fixedsmall") or β_t ("fixedlarge"). */
export const VarianceKind = z.enum(['posterior', 'beta']);
export type VarianceKind = z.infer<typeof VarianceKind>;

/** The resolved paste mode: known pixels clean, or noised to the current level. */
export type ResolvedMode = 'conditional' | 'unconditional';

/** `mode` of a config resolved against a denoiser. */
export function resolveMode(mode: PasteMode, denoiser: Denoiser): ResolvedMode {
  if (mode === 'auto') return denoiser.conditional ? 'conditional' : 'unconditional';
  return mode;
}

// ---------------------------------------------------------------------------------------------------------------
// Step tables and respacing

/**
 * The levels a sampler walks: level 0 is the clean image and level k (1..K) is step `steps[k]` of the original
 * schedule (increasing). For the plain schedule steps = [0, 1, 2, …, K].
 *
 * Respacing (guided-diffusion's `respace.py`, used by RePaint and DDIM): on a sub-sequence s_1 < … < s_K of 1..T
 * (s_0 = 0) the process is redefined with ᾱ'_k = ᾱ_{s_k} and
 *   β'_k = 1 − ᾱ_{s_k} / ᾱ_{s_{k−1}},   α'_k = 1 − β'_k,
 * so that ᾱ'_k = Π_{i≤k} α'_i is exactly the original ᾱ at s_k (the network still sees the original t = s_k and
 * ᾱ_{s_k}). Posterior coefficients and variance are the DDPM ones computed from β', ᾱ'. Where s_k = s_{k−1} + 1
 * the original β_{s_k} is used as is (bit-identical to the unspaced schedule).
 */
export interface StepTable {
  /** Number of noisy levels K. */
  readonly K: number;
  /** Original schedule step of each level, length K + 1, steps[0] = 0. */
  readonly steps: readonly number[];
  /** ᾱ of each level (= the original ᾱ_{steps[k]}), [0] = 1. */
  readonly alphaBars: Float64Array;
  /** β'_k, [0] = 0. */
  readonly betas: Float64Array;
  /** Posterior mean coefficient of x̂₀: √ᾱ'_{k−1} β'_k / (1 − ᾱ'_k). */
  readonly coefX0: Float64Array;
  /** Posterior mean coefficient of x_k: √α'_k (1 − ᾱ'_{k−1}) / (1 − ᾱ'_k). */
  readonly coefXt: Float64Array;
  /** Posterior variance β̃'_k = (1 − ᾱ'_{k−1}) / (1 − ᾱ'_k) β'_k. */
  readonly posteriorVariance: Float64Array;
}

/**
 * Build the {@link StepTable} of the increasing sub-sequence `steps` (each in 1..T, without the leading 0) of
 * `schedule`. `steps = [1..t]` gives the plain schedule truncated at t.
 */
export function stepTable(schedule: NoiseSchedule, steps: readonly number[]): StepTable {
  const K = steps.length;
  const all = [0, ...steps];
  for (let k = 1; k <= K; k++) {
    schedule.assertStep(all[k], 'sampler step');
    if (!(all[k] > all[k - 1])) {
      throw new ConfigError(`sampler steps must be strictly increasing and ≥ 1, got [${steps.join(', ')}]`);
    }
  }
  const alphaBars = new Float64Array(K + 1);
  const betas = new Float64Array(K + 1);
  const coefX0 = new Float64Array(K + 1);
  const coefXt = new Float64Array(K + 1);
  const posteriorVariance = new Float64Array(K + 1);
  alphaBars[0] = 1;
  for (let k = 1; k <= K; k++) {
    const t = all[k], tPrev = all[k - 1];
    const ab = schedule.alphaBars[t];
    alphaBars[k] = ab;
    if (t === tPrev + 1) {
      betas[k] = schedule.betas[t];
      coefX0[k] = schedule.posteriorCoefX0[t];
      coefXt[k] = schedule.posteriorCoefXt[t];
      posteriorVariance[k] = schedule.posteriorVariance[t];
    } else {
      const abPrev = schedule.alphaBars[tPrev];
      const b = 1 - ab / abPrev;
      betas[k] = b;
      coefX0[k] = (Math.sqrt(abPrev) * b) / (1 - ab);
      coefXt[k] = (Math.sqrt(1 - b) * (1 - abPrev)) / (1 - ab);
      posteriorVariance[k] = ((1 - abPrev) / (1 - ab)) * b;
    }
  }
  return { K, steps: all, alphaBars, betas, coefX0, coefXt, posteriorVariance };
}

/**
 * `count` timesteps evenly spaced over 1..T, both ends included (guided-diffusion's `space_timesteps` with one
 * section: 0-based indices round(i·(T−1)/(count−1)) with Python's half-to-even rounding, shifted to our 1-based
 * steps). `count ≥ T` gives 1..T.
 */
export function evenlySpacedSteps(T: number, count: number): number[] {
  if (!Number.isInteger(count) || count < 1) throw new ConfigError(`step count must be a positive integer, got ${count}`);
  if (count >= T) return Array.from({ length: T }, (_, i) => i + 1);
  if (count === 1) return [T];
  const stride = (T - 1) / (count - 1);
  const out = new Set<number>();
  for (let i = 0; i < count; i++) out.add(roundHalfEven(i * stride) + 1);
  return [...out].sort((a, b) => a - b);
}

/** Python's round(): halves go to the even neighbour (so spacings match guided-diffusion exactly). */
function roundHalfEven(x: number): number {
  const f = Math.floor(x), d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * The part of a sub-sequence a run starting at `tStart` walks: the steps below `tStart`, then `tStart` itself
 * (added when the sub-sequence does not contain it, so a run always starts exactly at the requested level).
 */
export function stepsFromStart(steps: readonly number[], tStart: number): number[] {
  const out = [...new Set(steps)].filter((s) => s >= 1 && s < tStart).sort((a, b) => a - b);
  if (tStart >= 1) out.push(tStart);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Element-wise step math (all in place on Float32Array buffers)

/** Clamp every value to [-1, 1] in place. */
export function clipInPlace(a: Float32Array): Float32Array {
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    a[i] = v < -1 ? -1 : v > 1 ? 1 : v;
  }
  return a;
}

/**
 * Ask the denoiser about x_t at (t, ᾱ) and write its x₀ estimate into `x0` (converted from the network's
 * prediction type with {@link convertPrediction}, then clipped to [-1, 1] if `clip`).
 */
export async function predictX0(
  denoiser: Denoiser,
  xt: Tensor4,
  t: number,
  alphaBar: number,
  cond: Conditioning,
  x0: Tensor4,
  clip: boolean,
): Promise<Tensor4> {
  const pred = await denoiser.predict(xt, { t, alphaBar }, cond);
  assertSameShape(pred, xt, `denoiser ${denoiser.name ?? ''} output`.trim());
  convertPrediction(pred.data, denoiser.predictionType, 'x0', xt.data, alphaBar, x0.data);
  if (clip) clipInPlace(x0.data);
  return x0;
}

/**
 * One ancestral reverse step k → k−1 in place: x ← c0·x̂₀ + ct·x + σ·z with the posterior coefficients of
 * level k and σ² = β̃'_k (`posterior`) or β'_k (`beta`). No noise is added when k = 1 (the result is x₀) or when
 * `noise` is null. `noise` must hold fresh N(0, 1) draws.
 */
export function posteriorStep(
  x: Float32Array,
  x0: Float32Array,
  table: StepTable,
  k: number,
  variance: VarianceKind,
  noise: Float32Array | null,
): void {
  const c0 = table.coefX0[k], ct = table.coefXt[k];
  const sigma = k > 1 && noise ? Math.sqrt(variance === 'beta' ? table.betas[k] : table.posteriorVariance[k]) : 0;
  if (sigma > 0 && noise) {
    for (let i = 0; i < x.length; i++) x[i] = c0 * x0[i] + ct * x[i] + sigma * noise[i];
  } else {
    for (let i = 0; i < x.length; i++) x[i] = c0 * x0[i] + ct * x[i];
  }
}

/** DDIM's σ for a step from ᾱ_t down to ᾱ_s: η·√((1−ᾱ_s)/(1−ᾱ_t))·√(1 − ᾱ_t/ᾱ_s) (Song et al. eq. 16). */
export function ddimSigma(alphaBarT: number, alphaBarS: number, eta: number): number {
  if (eta === 0) return 0;
  return eta * Math.sqrt((1 - alphaBarS) / (1 - alphaBarT)) * Math.sqrt(1 - alphaBarT / alphaBarS);
}

/**
 * One DDIM step t → s in place: ε̂ = (x_t − √ᾱ_t x̂₀)/√(1−ᾱ_t) (recomputed from the clipped x̂₀),
 * x_s = √ᾱ_s x̂₀ + √(1−ᾱ_s−σ²) ε̂ + σ z. `noise` (fresh N(0,1)) is needed only when σ > 0.
 */
export function ddimStep(
  x: Float32Array,
  x0: Float32Array,
  alphaBarT: number,
  alphaBarS: number,
  sigma: number,
  noise: Float32Array | null,
): void {
  const at = Math.sqrt(alphaBarT), st = Math.sqrt(1 - alphaBarT);
  const as = Math.sqrt(alphaBarS);
  const dir = Math.sqrt(Math.max(0, 1 - alphaBarS - sigma * sigma));
  const useNoise = sigma > 0 && noise !== null;
  for (let i = 0; i < x.length; i++) {
    const eps = (x[i] - at * x0[i]) / st;
    x[i] = as * x0[i] + dir * eps + (useNoise ? sigma * noise![i] : 0);
  }
}

/** RePaint's undo (one forward step) in place: x_t = √(1−β_t)·x_{t−1} + √β_t·ε, `noise` = fresh ε. */
export function forwardStep(x: Float32Array, beta: number, noise: Float32Array): void {
  const a = Math.sqrt(1 - beta), s = Math.sqrt(beta);
  for (let i = 0; i < x.length; i++) x[i] = a * x[i] + s * noise[i];
}

/** out = √ᾱ·image + √(1−ᾱ)·noise (the forward process q(x_t | x_0)); `out` may alias `noise`. */
export function noiseToLevel(image: Float32Array, alphaBar: number, noise: Float32Array, out: Float32Array): Float32Array {
  const a = Math.sqrt(alphaBar), s = Math.sqrt(1 - alphaBar);
  for (let i = 0; i < out.length; i++) out[i] = a * image[i] + s * noise[i];
  return out;
}

/**
 * Known-region paste in place, per channel with mask m [N,1,H,W] (1 = hole), through core's {@link blendByMask}:
 * where m = 0, x ← image (clean, `noise` null or ᾱ = 1) or x ← √ᾱ·image + √(1−ᾱ)·noise (noised to ᾱ; the noised
 * image is written into `noise`, which is scratch). Hole pixels are left as they are.
 */
export function pasteKnownInPlace(x: Tensor4, image: Tensor4, mask: Tensor4, alphaBar: number, noise: Float32Array | null): void {
  if (noise !== null && alphaBar < 1) {
    const known = new Tensor4(image.shape, noiseToLevel(image.data, alphaBar, noise, noise));
    blendByMask(x, known, mask, x);
  } else {
    blendByMask(x, image, mask, x);
  }
}

/** Clamp hole pixels to [-1, 1] in place (known pixels are left exactly as they are). */
export function clampHole(x: Tensor4, mask: Tensor4): void {
  const { n, c } = x;
  const hw = x.h * x.w;
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      const base = (i * c + ch) * hw;
      for (let p = 0; p < hw; p++) {
        if (mask.data[i * hw + p] === 0) continue;
        const v = x.data[base + p];
        x.data[base + p] = v < -1 ? -1 : v > 1 ? 1 : v;
      }
    }
  }
}

/** Throw {@link CancelledError} if the signal has been aborted. */
export function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    const reason = signal.reason;
    throw new CancelledError(typeof reason === 'string' ? reason : 'sampling cancelled');
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Run set-up

/** The resolved start of a request: the step t and the image noised there (null: pure noise). */
export interface ResolvedStart {
  t: number;
  image: Tensor4 | null;
}

/**
 * The start of `request` (its `start`, else `fallback`), validated against the schedule and image.
 * `{from:'noise'}` without t starts at T.
 */
export function resolveStart(request: SampleRequest, fallback: SampleStart = { from: 'noise' }): ResolvedStart {
  const start = request.start ?? fallback;
  const { schedule } = request;
  if (start.from === 'noise') {
    const t = start.t ?? schedule.T;
    schedule.assertStep(t, 'start step');
    return { t, image: null };
  }
  schedule.assertStep(start.t, 'start step');
  assertSameShape(start.image, request.image, 'start image');
  return { t: start.t, image: start.image };
}

/**
 * The working state of one run: the buffers (allocated once, reused by every step), the conditioning and the
 * resolved options. Created by {@link initState}.
 */
export interface SamplerState {
  readonly request: SampleRequest;
  readonly mode: ResolvedMode;
  readonly clip: boolean;
  /** x_t, updated in place; becomes the output. */
  readonly x: Tensor4;
  /** x̂₀ of the last prediction. */
  readonly x0: Tensor4;
  /** Scratch for Gaussian draws (one image-sized buffer, refilled whenever noise is needed). */
  readonly noise: Float32Array;
  /** What conditional denoisers see: x_m = m⊙ε_m + (1−m)⊙x_0 (eq. 11) and the mask. */
  readonly cond: Conditioning;
  /** Denoiser evaluations done so far and planned. */
  index: number;
  total: number;
}

/**
 * Validate the request and set up the run at level ᾱ_start of step `start.t`:
 * 1. x_m = m⊙ε_m + (1−m)⊙x_0 (draws ε_m);
 * 2. x = pure noise, or √ᾱ·image + √(1−ᾱ)·ε for an image start (no draw at t = 0);
 * 3. known pixels pasted (clean, or noised to ᾱ_start in unconditional mode).
 * The draw order is fixed, so every sampler built on this consumes the generator identically up to its loop.
 */
export function initState(
  request: SampleRequest,
  start: ResolvedStart,
  options: { mode: PasteMode; clip: boolean; total: number },
): SamplerState {
  const { image, mask, rng, schedule, denoiser } = request;
  assertMaskFits(image, mask);
  assertBinaryMask(mask, 'sampler mask');
  const mode = resolveMode(options.mode, denoiser);
  const x = image.zerosLike();
  const x0 = image.zerosLike();
  const noise = new Float32Array(image.size);
  const xm = image.zerosLike();
  rng.fillNormal(xm.data);
  pasteKnownInPlace(xm, image, mask, 1, null);
  const cond: Conditioning = { xm, mask };
  const ab = schedule.alphaBars[start.t];
  if (start.image === null) {
    rng.fillNormal(x.data);
  } else if (start.t === 0) {
    x.copyFrom(start.image);
  } else {
    rng.fillNormal(noise);
    noiseToLevel(start.image.data, ab, noise, x.data);
  }
  pasteKnownAt(x, image, mask, mode, ab, rng, noise);
  return { request, mode, clip: options.clip, x, x0, noise, cond, index: 0, total: options.total };
}

/**
 * Paste the known region for level ᾱ: clean in conditional mode or at ᾱ = 1, otherwise noised to ᾱ with fresh
 * draws into `noise`.
 */
export function pasteKnownAt(
  x: Tensor4,
  image: Tensor4,
  mask: Tensor4,
  mode: ResolvedMode,
  alphaBar: number,
  rng: SampleRequest['rng'],
  noise: Float32Array,
): void {
  if (mode === 'unconditional' && alphaBar < 1) {
    rng.fillNormal(noise);
    pasteKnownInPlace(x, image, mask, alphaBar, noise);
  } else {
    pasteKnownInPlace(x, image, mask, 1, null);
  }
}

/** Count one denoiser evaluation that produced step `t` and report it through `onStep`; then check cancellation. */
export async function reportStep(state: SamplerState, t: number): Promise<void> {
  state.index++;
  const { onStep, signal } = state.request;
  if (onStep) {
    await onStep({ index: state.index, total: state.total, t, xt: state.x, x0Pred: state.x0 });
  }
  throwIfCancelled(signal);
}

/** Final paste of the clean known pixels (both modes) and clamping of the hole to [-1, 1]; returns x. */
export function finish(state: SamplerState): Tensor4 {
  const { image, mask } = state.request;
  pasteKnownInPlace(state.x, image, mask, 1, null);
  clampHole(state.x, mask);
  return state.x;
}

// ---------------------------------------------------------------------------------------------------------------
// The ancestral walk (ddpm, sdedit, repaint)

/** Options of the ancestral samplers. */
export interface AncestralOptions {
  mode: PasteMode;
  clip: boolean;
  variance: VarianceKind;
}

/**
 * Walk `path` (levels of `table`, path[0] = table.K, last = 0; consecutive entries differ by one) from the state
 * set up by {@link initState}. A step down k → k−1 predicts x̂₀ at the original step steps[k], takes the posterior
 * step of the table, pastes the known region (clean, or noised to ᾱ'_{k−1}) and reports; a step up k → k+1 is
 * RePaint's undo x ← √(1−β'_{k+1}) x + √β'_{k+1} ε (followed by a clean paste in conditional mode, since a
 * conditional network is trained with clean known pixels).
 * Per down step the generator is drawn for: the ancestral noise (k > 1), then the paste noise (unconditional,
 * k − 1 > 0); per up step: ε.
 */
export async function runAncestral(state: SamplerState, table: StepTable, path: readonly number[], opts: AncestralOptions): Promise<Tensor4> {
  const { request } = state;
  const { denoiser, image, mask, rng, signal } = request;
  const { x, x0, noise, cond } = state;
  throwIfCancelled(signal);
  for (let i = 1; i < path.length; i++) {
    const k = path[i - 1], next = path[i];
    if (next === k - 1) {
      await predictX0(denoiser, x, table.steps[k], table.alphaBars[k], cond, x0, state.clip);
      const noisy = k > 1;
      if (noisy) rng.fillNormal(noise);
      posteriorStep(x.data, x0.data, table, k, opts.variance, noisy ? noise : null);
      pasteKnownAt(x, image, mask, state.mode, table.alphaBars[next], rng, noise);
      await reportStep(state, table.steps[next]);
    } else if (next === k + 1) {
      rng.fillNormal(noise);
      forwardStep(x.data, table.betas[next], noise);
      if (state.mode === 'conditional') pasteKnownInPlace(x, image, mask, 1, null);
      throwIfCancelled(signal);
    } else {
      throw new ConfigError(`sampler path must move one level at a time, got ${k} → ${next}`);
    }
  }
  return finish(state);
}

/** The unspaced steps [1, 2, …, t] (the plain schedule truncated at t). */
export function stepsUpTo(t: number): number[] {
  return Array.from({ length: t }, (_, i) => i + 1);
}

/** Levels K, K−1, …, 0: plain ancestral sampling. */
export function descendingPath(K: number): number[] {
  return Array.from({ length: K + 1 }, (_, i) => K - i);
}
