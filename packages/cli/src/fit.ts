/**
 * Fitting a refiner model to the image being inpainted (DESIGN: "A prior for the user's own image"): seed 000's
 * frugal training on crops of this one image, warm-started from the shipped colour prior, within a time budget.
 * The user's hole is never an input or a target (engine `TrainingData.fromImage`); fitted models are cached by
 * content in the user's cache folder, so a re-run or a second sample starts at once.
 */
import { createHash } from 'crypto';
import { existsSync, promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { applyMask, ConfigError, Diff2sContainer, InputError, Logger, NoiseSchedule, Tensor4 } from '@diff2s/core';
import {
  DEFAULT_TRAIN_SCHEDULE, TrainingData, engineVersion, ortAvailability, readModelCard, train, type TrainConfigInput,
} from '@diff2s/engine';
import type { FitConfig } from './config/schema';
import { COLOUR_PRIOR, SHIPPED_MODELS_DIR, scheduleFromCard } from './models';

/** The per-user cache folder: `$DIFF2S_CACHE_DIR`, else `$XDG_CACHE_HOME/diff2s`, else `~/.cache/diff2s`. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DIFF2S_CACHE_DIR) return path.resolve(env.DIFF2S_CACHE_DIR);
  if (env.XDG_CACHE_HOME) return path.join(path.resolve(env.XDG_CACHE_HOME), 'diff2s');
  return path.join(os.homedir(), '.cache', 'diff2s');
}

/** Progress of a fit. */
export interface FitProgress {
  step: number;
  /** Steps planned (the budget usually stops the fit earlier). */
  steps: number;
  seconds: number;
  /** The time budget in seconds. */
  budget: number;
  loss: number;
  /** Fraction done: the larger of steps and time used. */
  fraction: number;
}

export interface FitRequest {
  /** The image [1,C,H,W] in the model's channels, in [-1,1]; its hole pixels are never read. */
  image: Tensor4;
  /** [1,1,H,W], 1 = hole. */
  mask: Tensor4;
  /**
   * What the hole holds during training (the stage-1 result): crops covering the hole look as they will when refined.
   * Either the values, or (`key` + `get`) a deterministic recipe for them — the cache key then hashes `key` (what the
   * fill is made from: the guide's config and seed; the image and the mask are hashed anyway) and `get` runs only on a
   * cache miss, so a cached fit is found before the fill exists.
   */
  fill?: Tensor4 | { key: string; get: () => Promise<Tensor4> };
  fit: FitConfig;
  /** The refiner's start step (for `tMax: auto`). */
  tk: number;
  seed: number;
  /** Folder `fit.init` and `fit.keep` resolve against. */
  baseDir: string;
  logger: Logger;
  onProgress?: (p: FitProgress) => void;
  signal?: AbortSignal;
}

export interface FitResult {
  /** The fitted model folder (in the cache, or a temporary one when `cache: false`). */
  dir: string;
  /** True when the model came from the cache (no training ran). */
  cached: boolean;
  steps: number;
  seconds: number;
  finalLoss: number;
  /** The settings the fit resolved to (what the cache key covers). */
  settings: ResolvedFit;
}

/** The fit settings after `auto` and the image size are resolved. */
export interface ResolvedFit {
  init?: string;
  seconds: number;
  steps: number;
  crop: number;
  batch: number;
  lr: number;
  ema: number;
  scales: number[];
  tMax: number;
  engine: 'onnx' | 'tfjs';
}

/** The default time budget: 45 s at 128², growing with the image's side (√pixels), at most 120 s. */
export function autoFitSeconds(width: number, height: number): number {
  return Math.min(120, Math.round(45 * Math.max(1, Math.sqrt(width * height) / 128)));
}

/** `fit.init` as a folder: `prior` is the shipped colour prior, `none` none. */
export function resolveFitInit(init: string, baseDir: string): string | undefined {
  if (init === 'none') return undefined;
  const dir = init === 'prior' ? path.join(SHIPPED_MODELS_DIR, COLOUR_PRIOR) : path.resolve(baseDir, init);
  if (!existsSync(path.join(dir, 'model.json'))) {
    throw new ConfigError(init === 'prior'
      ? `the shipped colour prior is missing (${dir}); outside the repository, copy its models/${COLOUR_PRIOR} and set model.fit.init to that folder, or set model.fit.init: none to fit from scratch`
      : `${dir} is not a model folder (no model.json)`, 'model.fit.init');
  }
  return dir;
}

/** The noise schedule a fit will have: its init model's (the fit keeps it), else the default training schedule. */
export async function fitSchedule(container: Diff2sContainer, fit: FitConfig, baseDir: string): Promise<NoiseSchedule> {
  const init = resolveFitInit(fit.init, baseDir);
  const card = init ? await readModelCard(init) : undefined;
  return scheduleFromCard(container, { card: { schedule: card?.schedule ?? { ...DEFAULT_TRAIN_SCHEDULE } } }, 'model.fit.init');
}

/** Resolve `auto` values against the image and the refiner's T_k. */
export async function resolveFit(fit: FitConfig, image: Tensor4, tk: number, baseDir: string): Promise<ResolvedFit> {
  const init = resolveFitInit(fit.init, baseDir);
  const T = init ? Number((await readModelCard(init)).schedule?.T ?? DEFAULT_TRAIN_SCHEDULE.T) : DEFAULT_TRAIN_SCHEDULE.T;
  const side = Math.min(image.h, image.w);
  if (side < 16) throw new InputError(`the image is ${image.w}x${image.h}: fitting needs at least 16 pixels on each side`);
  const crop = Math.max(16, Math.min(fit.crop, Math.floor(side / 8) * 8));
  let engine: 'onnx' | 'tfjs' = fit.engine === 'tfjs' ? 'tfjs' : 'onnx';
  if (fit.engine === 'auto' && !(await ortAvailability()).available) engine = 'tfjs';
  const tMax = fit.tMax === 'auto' ? Math.min(T, tk + Math.max(50, Math.round(tk / 2))) : Math.min(T, fit.tMax);
  return {
    ...(init ? { init } : {}),
    seconds: fit.seconds === 'auto' ? autoFitSeconds(image.w, image.h) : fit.seconds,
    steps: fit.steps, crop, batch: fit.batch, lr: fit.lr, ema: fit.ema, scales: fit.scales, tMax, engine,
  };
}

/**
 * The cache key: the image's known pixels (the hole's values are excluded: they never affect the fit), the mask, the
 * stage-1 fill, the resolved settings, the seed, the init model's weights and the engine version.
 */
async function fitKey(req: FitRequest, s: ResolvedFit): Promise<string> {
  const h = createHash('sha256');
  const known = applyMask(req.image, req.mask, 0);
  h.update(JSON.stringify([known.shape, req.seed, { ...s, init: undefined }, engineVersion()]));
  h.update(new Uint8Array(known.data.buffer, known.data.byteOffset, known.data.byteLength));
  h.update(new Uint8Array(req.mask.data.buffer, req.mask.data.byteOffset, req.mask.data.byteLength));
  if (req.fill instanceof Tensor4) h.update(new Uint8Array(req.fill.data.buffer, req.fill.data.byteOffset, req.fill.data.byteLength));
  else if (req.fill) h.update(`fill: ${req.fill.key}`);
  if (s.init) h.update(await fs.readFile(path.join(s.init, 'weights.bin')));
  return h.digest('hex').slice(0, 24);
}

/** The resolved settings, the cache key and folder of `req`, and the cached fit when the cache holds it. */
async function lookupFit(req: FitRequest): Promise<{ s: ResolvedFit; key: string; hit?: FitResult }> {
  if (req.image.n !== 1) throw new InputError('fitting takes one image at a time');
  const s = await resolveFit(req.fit, req.image, req.tk, req.baseDir);
  const key = await fitKey(req, s);
  const dir = path.join(cacheDir(), 'fits', key);
  if (!req.fit.cache || !existsSync(path.join(dir, 'model.json'))) return { s, key };
  const card = await readModelCard(dir);
  req.logger.info(`fitted model from the cache: ${dir}`);
  if (req.fit.keep) await copyModel(dir, path.resolve(req.baseDir, req.fit.keep));
  return { s, key, hit: { dir, cached: true, steps: card.training?.steps ?? 0, seconds: Number(card.training?.seconds ?? 0), finalLoss: Number(card.training?.finalLoss ?? NaN), settings: s } };
}

/** The fit `req` asks for when the cache holds it (no training, no fill made), else undefined. */
export async function cachedFit(req: FitRequest): Promise<FitResult | undefined> {
  return (await lookupFit(req)).hit;
}

/**
 * Fit (or fetch from the cache) a model for this image. The number of steps a time budget allows depends on the
 * machine, so two fresh fits may differ; the cache makes re-runs identical (set `seconds` high and `steps` to pin a fit).
 */
export async function fitModel(req: FitRequest): Promise<FitResult> {
  const { s, key, hit } = await lookupFit(req);
  if (hit) return hit;
  const root = req.fit.cache ? path.join(cacheDir(), 'fits') : await fs.mkdtemp(path.join(os.tmpdir(), 'diff2s-fit-'));
  const dir = req.fit.cache ? path.join(root, key) : path.join(root, 'model');
  const keep = async () => {
    if (req.fit.keep) await copyModel(dir, path.resolve(req.baseDir, req.fit.keep));
  };
  await fs.mkdir(root, { recursive: true });
  const tmp = await fs.mkdtemp(path.join(root, `.fit-${key}-`));
  const dataCfg = { crop: s.crop, flips: true, scales: s.scales, masks: { type: 'freeform' as const } };
  const fill = req.fill instanceof Tensor4 || !req.fill ? req.fill : await req.fill.get();
  const data = TrainingData.fromImage(req.image, req.mask, dataCfg, { fill, name: 'the image being inpainted (hole excluded)' });
  const cfg: TrainConfigInput = {
    seed: req.seed,
    ...(s.init ? { init: s.init } : { model: { preset: 'frugal', imageChannels: req.image.c === 1 ? 1 : 3 } }),
    data: dataCfg,
    objective: 'diffusion',
    train: {
      steps: s.steps, maxSeconds: s.seconds, tMax: s.tMax, batch: s.batch, lr: s.lr, lrSchedule: 'constant', ema: s.ema,
      engine: s.engine, workers: 1, checkpointEvery: s.steps, logEvery: 25,
    },
    output: tmp,
    description: `fitted to one image by diff2s (${s.init ? `from ${path.basename(s.init)}` : 'from scratch'}, t <= ${s.tMax})`,
  };
  try {
    const r = await train(cfg, {
      data,
      logger: req.logger,
      signal: req.signal,
      onProgress: (p) => req.onProgress?.({
        step: p.step, steps: p.steps, seconds: p.seconds, budget: s.seconds, loss: p.meanLoss,
        fraction: Math.min(1, Math.max(p.step / s.steps, p.seconds / s.seconds)),
      }),
    });
    await fs.rm(path.join(tmp, 'checkpoint'), { recursive: true, force: true });
    await fs.rm(dir, { recursive: true, force: true });
    await fs.rename(tmp, dir);
    await keep();
    return { dir, cached: false, steps: r.steps, seconds: r.seconds, finalLoss: r.finalLoss, settings: s };
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Copy a model folder's files (card, weights, loss log) to `to`, card last (a folder with a card is complete). */
async function copyModel(from: string, to: string): Promise<void> {
  await fs.mkdir(to, { recursive: true });
  const names = (await fs.readdir(from)).filter((n) => n !== 'model.json' && !n.startsWith('.'));
  for (const n of [...names, 'model.json']) {
    const st = await fs.stat(path.join(from, n));
    if (st.isFile()) await fs.copyFile(path.join(from, n), path.join(to, n));
  }
}
