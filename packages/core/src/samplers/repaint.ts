import { z } from 'zod';
import type { RegistryEntry } from '../di/registry';
import { ConfigError } from '../errors';
import type { SampleRequest, Sampler } from '../sampler';
import type { NoiseSchedule } from '../schedules/schedule';
import type { Tensor4 } from '../tensor';
import {
  evenlySpacedSteps, initState, PasteMode, resolveStart, runAncestral, stepsFromStart, stepTable, VarianceKind,
} from './common';

/** Parameters of RePaint's time sequence (`get_schedule_jump` of the reference code). */
export interface RepaintScheduleParams {
  /** t_T: the number of levels the walk starts above the clean image (RePaint's conf: 250). */
  tT: number;
  /** j: how many steps each jump goes back up. */
  jumpLength: number;
  /** r: how many times each jump interval is denoised (r − 1 jumps back per jump point); r = 1 is plain DDPM. */
  jumpNSample: number;
}

/**
 * RePaint's time sequence, exactly as the reference `get_schedule_jump(t_T, n_sample=1, jump_length,
 * jump_n_sample)` returns it, in **RePaint's 0-based indices**: it starts at t_T − 1 and ends with −1.
 *
 * Index mapping onto diff2s's steps 1..T: RePaint's value τ is the state *before* its network call at index τ,
 * i.e. our x_{τ+1} (its index τ uses betas[τ] = our β_{τ+1}); τ = −1 is the clean image, our x_0. A pair τ → τ−1
 * is one denoising evaluation at our step t = τ + 1 producing x_τ; a pair τ → τ+1 is an undo step
 * x_{τ+2} = √(1−β_{τ+2}) x_{τ+1} + √β_{τ+2} ε (the reference calls it with `t_last + 1`, which is our β_{τ+2}).
 * {@link repaintLevels} returns the same walk in our levels (τ + 1: from t_T down to 0).
 *
 * Jump points are τ ∈ {0, j, 2j, …} with τ < t_T − j (our levels 1, j+1, 2j+1, …); the first time the walk
 * reaches one it goes back up j steps, one at a time, and comes down again, r − 1 times in all.
 */
export function repaintTimesteps(params: RepaintScheduleParams): number[] {
  const { tT, jumpLength, jumpNSample } = params;
  if (!Number.isInteger(tT) || tT < 0) throw new ConfigError(`repaint tT must be a non-negative integer, got ${tT}`, 'tT');
  if (!Number.isInteger(jumpLength) || jumpLength < 1) {
    throw new ConfigError(`repaint jumpLength must be a positive integer, got ${jumpLength}`, 'jumpLength');
  }
  if (!Number.isInteger(jumpNSample) || jumpNSample < 1) {
    throw new ConfigError(`repaint jumpNSample must be a positive integer, got ${jumpNSample}`, 'jumpNSample');
  }
  const jumps = new Map<number, number>();
  for (let j = 0; j < tT - jumpLength; j += jumpLength) jumps.set(j, jumpNSample - 1);
  let t = tT;
  const ts: number[] = [];
  while (t >= 1) {
    t = t - 1;
    ts.push(t);
    const left = jumps.get(t) ?? 0;
    if (left > 0) {
      jumps.set(t, left - 1);
      for (let i = 0; i < jumpLength; i++) {
        t = t + 1;
        ts.push(t);
      }
    }
  }
  ts.push(-1);
  return ts;
}

/** {@link repaintTimesteps} mapped onto diff2s levels (τ + 1): starts at t_T, ends at 0 (the clean image). */
export function repaintLevels(params: RepaintScheduleParams): number[] {
  return repaintTimesteps(params).map((tau) => tau + 1);
}

/** Denoising (down) and undo (up) transitions of a RePaint walk. */
export function countRepaintTransitions(times: readonly number[]): { denoise: number; undo: number } {
  let denoise = 0, undo = 0;
  for (let i = 1; i < times.length; i++) {
    if (times[i] < times[i - 1]) denoise++;
    else undo++;
  }
  return { denoise, undo };
}

/**
 * `repaint` config: jumpLength j (RePaint: 10), jumpNSample r (RePaint: 10), optional `respacing` — a step count
 * spaced evenly over 1..T or an explicit list of steps — on which the walk runs (RePaint: 250 of 1000), and
 * optional `tT` (the level the walk starts at, counted in the respaced sequence) for requests without `start`.
 */
export const RepaintSamplerConfig = z
  .object({
    type: z.literal('repaint').optional(),
    tT: z.number().int().min(0).optional(),
    jumpLength: z.number().int().min(1).default(10),
    jumpNSample: z.number().int().min(1).default(10),
    respacing: z.union([z.number().int().min(1), z.array(z.number().int().min(1)).min(1)]).optional(),
    mode: PasteMode.default('auto'),
    clip: z.boolean().default(true),
    variance: VarianceKind.default('posterior'),
  })
  .strict();
export type RepaintSamplerConfig = z.infer<typeof RepaintSamplerConfig>;

/**
 * RePaint (Lugmayr et al. 2022): ancestral sampling with known-region paste-back and resampling — the walk of
 * {@link repaintTimesteps} goes back up j steps by forward noising at every jump point, r − 1 times, so the
 * generated region harmonises with the known one. With r = 1 it is `ddpm` step for step.
 *
 * Respacing: with `respacing`, the walk runs on the sub-sequence s_1 < … < s_K of the schedule (evenly spaced,
 * guided-diffusion style, or listed) with betas recomputed as β'_k = 1 − ᾱ_{s_k}/ᾱ_{s_{k−1}} (see
 * {@link stepTable}); the network is asked at the original step s_k. A start step not in the sub-sequence is added
 * to it; levels above the start are dropped. t_T is then the start's index in the (truncated) sub-sequence.
 */
export class RepaintSampler implements Sampler {
  readonly name = 'repaint';
  readonly config: RepaintSamplerConfig;

  constructor(config: Partial<RepaintSamplerConfig> = {}) {
    this.config = RepaintSamplerConfig.parse(config);
  }

  /** The full (respaced) step sequence over 1..T. */
  sequence(schedule: NoiseSchedule): number[] {
    const r = this.config.respacing;
    if (r === undefined) return evenlySpacedSteps(schedule.T, schedule.T);
    if (typeof r === 'number') return evenlySpacedSteps(schedule.T, r);
    for (const s of r) schedule.assertStep(s, 'respacing step');
    return [...new Set(r)].sort((a, b) => a - b);
  }

  /** T, or the step of level tT of the (respaced) sequence when the config sets tT. */
  defaultStartStep(schedule: NoiseSchedule): number {
    const { tT } = this.config;
    if (tT === undefined) return schedule.T;
    if (tT === 0) return 0;
    const seq = this.sequence(schedule);
    if (tT > seq.length) {
      throw new ConfigError(`repaint tT = ${tT} exceeds the ${seq.length} steps of the (respaced) sequence`, 'tT');
    }
    return seq[tT - 1];
  }

  /** The levels walked by a run starting at `tStart`, and the original steps of those levels. */
  plan(tStart: number, schedule: NoiseSchedule): { steps: number[]; levels: number[] } {
    schedule.assertStep(tStart, 'start step');
    const steps = stepsFromStart(this.sequence(schedule), tStart);
    const levels = repaintLevels({ tT: steps.length, jumpLength: this.config.jumpLength, jumpNSample: this.config.jumpNSample });
    return { steps, levels };
  }

  plannedSteps(tStart: number, schedule: NoiseSchedule): number {
    return countRepaintTransitions(this.plan(tStart, schedule).levels).denoise;
  }

  async sample(request: SampleRequest): Promise<Tensor4> {
    const start = resolveStart(request, { from: 'noise', t: this.defaultStartStep(request.schedule) });
    const { steps, levels } = this.plan(start.t, request.schedule);
    const table = stepTable(request.schedule, steps);
    const total = countRepaintTransitions(levels).denoise;
    const state = initState(request, start, { mode: this.config.mode, clip: this.config.clip, total });
    return runAncestral(state, table, levels, this.config);
  }
}

export const repaintSamplerEntry: RegistryEntry<Sampler, RepaintSamplerConfig> = {
  name: 'repaint',
  description: 'RePaint resampling: jumps back j steps r-1 times at every jump point; optional respacing',
  configSchema: RepaintSamplerConfig,
  create: (c) => new RepaintSampler(c),
};
