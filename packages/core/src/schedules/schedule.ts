import { ConfigError } from '../errors';

/** Which quantity a network predicts. */
export type PredictionType = 'epsilon' | 'x0' | 'v';

/**
 * A discrete DDPM noise schedule with steps t = 1..T (index 0 is the clean image: ᾱ_0 = 1).
 * All tables have length T + 1 and are float64; entry [t] belongs to step t.
 */
export interface NoiseSchedule {
  /** Schedule family name (linear, cosine, quad, explicit). */
  readonly kind: string;
  /** Number of diffusion steps T. */
  readonly T: number;
  /** β_t (β_0 = 0). */
  readonly betas: Float64Array;
  /** α_t = 1 − β_t. */
  readonly alphas: Float64Array;
  /** ᾱ_t = Π_{s≤t} α_s (ᾱ_0 = 1). */
  readonly alphaBars: Float64Array;
  /** √ᾱ_t. */
  readonly sqrtAlphaBars: Float64Array;
  /** √(1 − ᾱ_t). */
  readonly sqrtOneMinusAlphaBars: Float64Array;
  /** Posterior q(x_{t−1} | x_t, x_0) = N(c0·x_0 + ct·x_t, β̃_t): c0 = √ᾱ_{t−1} β_t / (1 − ᾱ_t). */
  readonly posteriorCoefX0: Float64Array;
  /** ct = √α_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t). */
  readonly posteriorCoefXt: Float64Array;
  /** β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) β_t. */
  readonly posteriorVariance: Float64Array;
  /** The continuous noise level given to networks conditioned on ᾱ (Palette's "gamma"). */
  gamma(t: number): number;
  /** Checks that 0 ≤ t ≤ T and t is an integer. */
  assertStep(t: number, what?: string): void;
}

/** A schedule built from its β table; every family computes its betas and hands them here. */
export class TabulatedSchedule implements NoiseSchedule {
  readonly kind: string;
  readonly T: number;
  readonly betas: Float64Array;
  readonly alphas: Float64Array;
  readonly alphaBars: Float64Array;
  readonly sqrtAlphaBars: Float64Array;
  readonly sqrtOneMinusAlphaBars: Float64Array;
  readonly posteriorCoefX0: Float64Array;
  readonly posteriorCoefXt: Float64Array;
  readonly posteriorVariance: Float64Array;

  /** @param betas β_1..β_T (length T), each in (0, 1). */
  constructor(kind: string, betas: ArrayLike<number>) {
    const T = betas.length;
    if (T < 1) throw new ConfigError('a schedule needs at least one step', 'schedule');
    this.kind = kind;
    this.T = T;
    this.betas = new Float64Array(T + 1);
    this.alphas = new Float64Array(T + 1);
    this.alphaBars = new Float64Array(T + 1);
    this.sqrtAlphaBars = new Float64Array(T + 1);
    this.sqrtOneMinusAlphaBars = new Float64Array(T + 1);
    this.posteriorCoefX0 = new Float64Array(T + 1);
    this.posteriorCoefXt = new Float64Array(T + 1);
    this.posteriorVariance = new Float64Array(T + 1);
    this.alphas[0] = 1;
    this.alphaBars[0] = 1;
    this.sqrtAlphaBars[0] = 1;
    let ab = 1;
    for (let t = 1; t <= T; t++) {
      const b = betas[t - 1];
      if (!(b > 0 && b < 1)) {
        throw new ConfigError(`beta_${t} = ${b} is outside (0, 1)`, 'schedule.betas');
      }
      this.betas[t] = b;
      this.alphas[t] = 1 - b;
      ab *= 1 - b;
      this.alphaBars[t] = ab;
      this.sqrtAlphaBars[t] = Math.sqrt(ab);
      this.sqrtOneMinusAlphaBars[t] = Math.sqrt(1 - ab);
      const abPrev = this.alphaBars[t - 1];
      this.posteriorCoefX0[t] = (Math.sqrt(abPrev) * b) / (1 - ab);
      this.posteriorCoefXt[t] = (Math.sqrt(1 - b) * (1 - abPrev)) / (1 - ab);
      this.posteriorVariance[t] = ((1 - abPrev) / (1 - ab)) * b;
    }
  }

  gamma(t: number): number {
    this.assertStep(t);
    return this.alphaBars[t];
  }

  assertStep(t: number, what = 'step'): void {
    if (!Number.isInteger(t) || t < 0 || t > this.T) {
      throw new ConfigError(`${what} must be an integer in [0, ${this.T}], got ${t}`);
    }
  }
}
