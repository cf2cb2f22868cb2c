/**
 * Analytic denoisers for tests and demos: they need no network, and their exact answers make sampler behaviour
 * checkable (an oracle sampler run must return x₀; a Gaussian prior must give Gaussian hole statistics).
 * Each reuses one output buffer across calls (as the Denoiser contract allows), so it adds no per-step allocation.
 */
import type { Conditioning, Denoiser, DenoiserStep } from '../denoiser';
import { InputError } from '../errors';
import { convertPrediction } from '../prediction';
import type { PredictionType } from '../schedules/schedule';
import { Tensor4 } from '../tensor';

/** Base: turns a per-value x₀ estimate into the requested prediction type (core's conversion), into a reused buffer. */
abstract class AnalyticDenoiser implements Denoiser {
  private out: Tensor4 | null = null;
  /** The x₀ estimates in double precision (converted before rounding to float32, as one expression would). */
  private x0Values: Float64Array | null = null;
  /** Number of `predict` calls so far. */
  calls = 0;

  constructor(
    readonly predictionType: PredictionType,
    readonly conditional: boolean,
    readonly name: string,
  ) {}

  /** x₀ estimate for value `i` of x_t (the value x_t[i]) at noise level ᾱ with a = √ᾱ, s = √(1−ᾱ). */
  protected abstract x0At(i: number, xt: Tensor4, a: number, s: number): number;

  async predict(xt: Tensor4, step: DenoiserStep, _cond: Conditioning): Promise<Tensor4> {
    this.calls++;
    if (!this.out || this.out.n !== xt.n || this.out.c !== xt.c || this.out.h !== xt.h || this.out.w !== xt.w) {
      this.out = xt.zerosLike();
      this.x0Values = new Float64Array(xt.size);
    }
    const a = Math.sqrt(step.alphaBar), s = Math.sqrt(1 - step.alphaBar);
    const x0 = this.x0Values!;
    for (let i = 0; i < x0.length; i++) x0[i] = this.x0At(i, xt, a, s);
    convertPrediction(x0, 'x0', this.predictionType, xt.data, step.alphaBar, this.out.data);
    return this.out;
  }
}

/**
 * An oracle that knows the clean batch x₀ and returns the exact ε = (x_t − √ᾱ x₀)/√(1−ᾱ) (or x₀, or
 * v = √ᾱ ε − √(1−ᾱ) x₀, per `predictionType`) for any x_t. `x0` may hold fewer images than the batch when the
 * batch size is a multiple of it (batches built with `repeatEach`: image i of the batch uses x0[⌊i·n₀/N⌋]).
 */
export class OracleDenoiser extends AnalyticDenoiser {
  constructor(
    readonly x0: Tensor4,
    predictionType: PredictionType = 'epsilon',
    conditional = true,
  ) {
    super(predictionType, conditional, `oracle(${predictionType}${conditional ? ', conditional' : ''})`);
  }

  protected x0At(i: number, xt: Tensor4): number {
    const n0 = this.x0.n;
    if (n0 === xt.n) return this.x0.data[i];
    if (this.x0.imageSize !== xt.imageSize || xt.n % n0 !== 0) {
      throw new InputError(`oracle x0 [${this.x0.shape.join(', ')}] does not fit the batch [${xt.shape.join(', ')}]`);
    }
    const size = xt.imageSize;
    const img = Math.floor(i / size), within = i - img * size;
    return this.x0.data[Math.floor(img / (xt.n / n0)) * size + within];
  }
}

/** Predicts the same constant x₀ = `mean` everywhere (the MMSE denoiser of a point-mass prior). */
export class MeanDenoiser extends AnalyticDenoiser {
  constructor(
    readonly mean: number,
    predictionType: PredictionType = 'epsilon',
    conditional = true,
  ) {
    super(predictionType, conditional, `mean(${mean})`);
  }

  protected x0At(): number {
    return this.mean;
  }
}

/**
 * The exact MMSE denoiser when every value of x₀ is independent N(mean, std²):
 * E[x₀ | x_t] = mean + √ᾱ std² / (ᾱ std² + 1 − ᾱ) · (x_t − √ᾱ mean). Sampling with it draws (approximately, up
 * to the discretisation) from that Gaussian, so hole statistics are checkable.
 */
export class GaussianDenoiser extends AnalyticDenoiser {
  constructor(
    readonly mean: number,
    readonly std: number,
    predictionType: PredictionType = 'epsilon',
    conditional = false,
  ) {
    super(predictionType, conditional, `gaussian(${mean}, ${std})`);
  }

  protected x0At(i: number, xt: Tensor4, a: number, s: number): number {
    const v = this.std * this.std;
    return this.mean + ((a * v) / (a * a * v + s * s)) * (xt.data[i] - a * this.mean);
  }
}
