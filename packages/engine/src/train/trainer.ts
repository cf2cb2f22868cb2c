import { createHash } from 'crypto';
import { promises as fs } from 'fs';
import * as path from 'path';
import {
  CancelledError, ConfigError, Logger, NoiseSchedule, Rng, consoleLogger, createContainer, isGreyContent, parseConfig, writeFileAtomic,
} from '@diff2s/core';
import { createTrainEngine } from '../engines';
import { flattenWeights, weightViews } from '../net/types';
import { defineUNet, resolveUNetConfig, type UNetConfig } from '../net/unet';
import { initWeights } from '../net/init';
import { readModel, saveModel } from '../io/model-io';
import { Adam, learningRate } from './adam';
import { loadCheckpoint, saveCheckpoint, type CheckpointState } from './checkpoint';
import { TrainConfig, type TrainConfigInput } from './config';
import { makeBatch, TrainingData } from './data';

/** Progress of a training run, after every step. */
export interface TrainProgress {
  step: number;
  steps: number;
  /** Loss of this step (mean over the hole pixels). */
  loss: number;
  /** Running mean loss over the last `logEvery` steps. */
  meanLoss: number;
  lr: number;
  /** Steps per second over this session. */
  stepsPerSec: number;
  /** Training seconds so far (a resumed run counts its earlier sessions). */
  seconds: number;
}

export interface TrainOptions {
  /** Folder relative paths of the config resolve against (default cwd). */
  baseDir?: string;
  /** Continue from the output folder's checkpoint (same config required). */
  resume?: boolean;
  onProgress?: (p: TrainProgress) => void;
  /**
   * The training source, built by the caller (e.g. {@link TrainingData.fromImage}: one image with the user's hole);
   * replaces `data.images` (the other `data` keys — crop, flips, masks — still apply to the sampling).
   */
  data?: TrainingData;
  /** Called after each checkpoint is written. */
  onCheckpoint?: (step: number) => void;
  signal?: AbortSignal;
  logger?: Logger;
}

export interface TrainResult {
  output: string;
  steps: number;
  /** Mean loss over the last logging window. */
  finalLoss: number;
  seconds: number;
  /** Steps run in this session (less than `steps` after a resume). */
  sessionSteps: number;
  backend: string;
}

/** A training run whose loss became NaN or infinite (exit 1: a runtime failure, not a config error). */
export class TrainingDivergedError extends Error {
  override name = 'TrainingDivergedError';
}

/** The schedule a diffusion model is trained with when neither the config nor the init model names one (seed 000's). */
export const DEFAULT_TRAIN_SCHEDULE = { type: 'linear', T: 1000, betaStart: 1e-4, betaEnd: 0.02 } as const;

/** The 1-step schedule a regression model is saved with: ᾱ_1 ≈ 0, so sampling is one x₀ prediction from noise. */
export const REGRESSION_SCHEDULE = { type: 'explicit', betas: [0.999999] } as const;

function hashConfig(cfg: TrainConfig): string {
  const { train, output: _o, description: _d, $schema: _s, ...rest } = cfg;
  const { steps: _st, maxSeconds: _ms, checkpointEvery: _c, logEvery: _l, workers: _w, engine: _e, ...trainRest } = train;
  return createHash('sha256').update(JSON.stringify({ ...rest, train: trainRest })).digest('hex').slice(0, 16);
}

/**
 * Train a diffusion (or regression) inpainting network on one or a few images (seed 000's frugal recipe, Diff-2sIR
 * Algorithm 1): random crops + flips, free-form masks, loss on the hole, Adam, optional EMA and LR schedule.
 * Checkpoints every `checkpointEvery` steps (atomically) and writes a loadable model folder each time; `resume`
 * continues from the last checkpoint with the same data order and noise (batch k is drawn from a stream derived from
 * (seed, k), so an interrupted and resumed run sees exactly the batches of an uninterrupted one).
 */
export async function train(input: TrainConfigInput | TrainConfig, options: TrainOptions = {}): Promise<TrainResult> {
  const cfg = parseConfig(TrainConfig, input);
  const logger = options.logger ?? consoleLogger;
  const baseDir = options.baseDir ?? process.cwd();
  const out = path.resolve(baseDir, cfg.output);
  const init = cfg.init ? await readModel(path.resolve(baseDir, cfg.init)) : undefined;
  let ucfg: UNetConfig = resolveUNetConfig((cfg.model ?? 'frugal') as never, 'model');
  if (init) {
    if (cfg.model !== undefined && JSON.stringify(ucfg) !== JSON.stringify(init.card.config)) {
      throw new ConfigError(`the network config differs from the init model's (${cfg.init}); leave model out to use the init model's`, 'model');
    }
    ucfg = init.card.config;
  }
  if (cfg.objective === 'regression' && ucfg.predictionType !== 'x0') {
    throw new ConfigError('the regression objective needs an x0-predicting model (predictionType: x0)', 'model.predictionType');
  }
  const container = createContainer();
  const scheduleCfg: Record<string, unknown> = cfg.objective === 'regression' ? { ...REGRESSION_SCHEDULE }
    : cfg.schedule ?? init?.card.schedule ?? { ...DEFAULT_TRAIN_SCHEDULE };
  const { type: sType, ...sRest } = scheduleCfg as { type: string };
  const schedule: NoiseSchedule = container.schedules.create(sType, sRest, undefined, 'schedule');
  const def = defineUNet(ucfg);
  const data = options.data ?? await TrainingData.load(cfg.data, baseDir, ucfg.imageChannels);
  if (data.images[0].c !== (ucfg.imageChannels === 1 ? 1 : 3)) {
    throw new ConfigError(`the training images have ${data.images[0].c} channel(s), the network ${ucfg.imageChannels}`, 'model.imageChannels');
  }
  const t = cfg.train;
  const root = new Rng(cfg.seed);
  // flat parameter storage (one Adam over all weights) and per-parameter views into it
  const flat = flattenWeights(def, init ? init.weights : initWeights(def, root.derive('init')));
  const views = weightViews(def, flat);
  const adam = new Adam(flat.length, t.beta1, t.beta2, t.eps);
  let ema: Float32Array | undefined = t.ema > 0 ? new Float32Array(flat) : undefined;
  const configHash = hashConfig(cfg);
  let step = 0;
  let losses: [number, number][] = [];
  let seconds = 0;
  const ckptDir = path.join(out, 'checkpoint');
  if (options.resume) {
    const ck = await loadCheckpoint(ckptDir, flat.length);
    if (!ck) {
      logger.warn(`no checkpoint in ${ckptDir}: starting from step 0`);
    } else {
      if (ck.state.configHash !== configHash) {
        throw new ConfigError(`the checkpoint in ${ckptDir} was written with a different config (only train.steps, maxSeconds, checkpointEvery, logEvery, workers and engine may change on resume)`, 'resume');
      }
      flat.set(ck.arrays.params);
      adam.m.set(ck.arrays.m);
      adam.v.set(ck.arrays.v);
      adam.t = ck.state.adamT;
      if (ck.arrays.ema) ema = ck.arrays.ema;
      step = ck.state.step;
      losses = ck.state.losses;
      seconds = ck.state.seconds;
      logger.info(`resuming from step ${step} (${ckptDir})`);
    }
  }
  // the step's engine (engines.ts): tfjs gradients (in process or over worker threads) + Adam in JavaScript, or the
  // whole step (Adam included) as one onnxruntime graph in a worker thread
  const engine = await createTrainEngine(def, { engine: t.engine, workers: t.workers, beta1: t.beta1, beta2: t.beta2, eps: t.eps, logger });
  const backend = engine.backend;
  const card = () => ({
    preset: init ? init.card.preset : typeof cfg.model === 'string' ? cfg.model : (cfg.model as { preset?: string } | undefined)?.preset ?? 'frugal',
    schedule: scheduleCfg,
    description: cfg.description ?? (cfg.objective === 'regression' ? 'regression baseline (one-step x0 regression on the hole)' : undefined),
    training: {
      data: data.files.map((f) => (path.isAbsolute(f) ? path.relative(out, f) : f)),
      steps: step,
      objective: cfg.objective,
      crop: cfg.data.crop,
      batch: t.batch,
      lr: t.lr,
      ema: t.ema,
      seed: cfg.seed,
      holdout: cfg.data.holdout,
      content: data.images.every((im) => isGreyContent(im)) ? 'grey' : 'colour',
      ...(cfg.init ? { init: path.relative(out, path.resolve(baseDir, cfg.init)) || '.' } : {}),
      ...(t.tMax ? { tMax: t.tMax } : {}),
      ...(cfg.data.scales ? { scales: cfg.data.scales } : {}),
      finalLoss: losses.length ? losses[losses.length - 1][1] : undefined,
      seconds: Math.round(seconds),
      backend,
    },
  });
  const writeAll = async () => {
    const state: CheckpointState = { format: 'diff2s.checkpoint', version: 1, step, configHash, adamT: adam.t, losses, seconds, hasEma: !!ema };
    await saveCheckpoint(ckptDir, state, { params: flat, m: adam.m, v: adam.v, ema });
    await saveModel(out, { config: ucfg, weights: ema ? weightViews(def, ema) : views }, card());
    await writeFileAtomic(path.join(out, 'loss.csv'), 'step,loss\n' + losses.map(([s, l]) => `${s},${l}`).join('\n') + '\n');
    options.onCheckpoint?.(step);
  };
  const lossOnHole = t.lossOn === 'hole';
  const started = performance.now();
  const startStep = step;
  const secondsBefore = seconds;
  const window: number[] = [];
  try {
    let steps = t.steps;
    while (step < steps) {
      if (options.signal?.aborted) throw new CancelledError('training cancelled');
      const batch = makeBatch(data, ucfg, schedule, cfg.objective, t.batch, t.lossOn, root.derive(`batch-${step + 1}`), t.tMax);
      const lr = learningRate(step + 1, { ...t, steps: t.steps });
      const r = await engine.step(flat, adam, batch, lr);
      if (ema) {
        const d = t.ema;
        for (let i = 0; i < flat.length; i++) ema[i] = d * ema[i] + (1 - d) * flat[i];
      }
      step++;
      // loss per hole value (the engine normalises by all values)
      let holeFrac = 1;
      if (batch.weight && (lossOnHole || data.holes.some((h) => !!h))) {
        let s = 0;
        for (const v of batch.weight.data) s += v;
        holeFrac = Math.max(s / batch.weight.size, 1e-6);
      }
      const loss = r.loss / holeFrac;
      if (!Number.isFinite(loss)) {
        // nothing is written for this step: the model folder and the checkpoint stay at the last good save
        throw new TrainingDivergedError(`training diverged at step ${step}: the loss is ${loss} (lower train.lr); no model was written for it, the last checkpoint in ${ckptDir} is kept`);
      }
      window.push(loss);
      if (window.length > t.logEvery) window.shift();
      const meanLoss = window.reduce((a, b) => a + b, 0) / window.length;
      const elapsed = (performance.now() - started) / 1000;
      const last = step === steps || (t.maxSeconds !== undefined && secondsBefore + elapsed >= t.maxSeconds);
      if (step % t.logEvery === 0 || last) losses.push([step, meanLoss]);
      options.onProgress?.({ step, steps, loss, meanLoss, lr, stepsPerSec: (step - startStep) / Math.max(elapsed, 1e-9), seconds: secondsBefore + elapsed });
      // the time budget: this step is the last one (and is saved) once the session's time passes it
      if (t.maxSeconds !== undefined && step < steps && secondsBefore + elapsed >= t.maxSeconds) steps = step;
      if (step % t.checkpointEvery === 0 || step === steps) {
        seconds = secondsBefore + (performance.now() - started) / 1000;
        await writeAll();
      }
    }
  } finally {
    await engine.dispose();
  }
  return {
    output: out,
    steps: step,
    finalLoss: losses.length ? losses[losses.length - 1][1] : NaN,
    seconds,
    sessionSteps: step - startStep,
    backend: engine.summary,
  };
}

/** Read a training config file's `output` folder's loss log (for reports). */
export async function readLossLog(dir: string): Promise<[number, number][]> {
  const text = await fs.readFile(path.join(dir, 'loss.csv'), 'utf8');
  return text.trim().split('\n').slice(1).map((l) => l.split(',').map(Number) as [number, number]);
}
