/**
 * The one pipeline runner: a pipeline config → a running pipeline (guide → refiner), used by `diff2s inpaint`,
 * `diff2s eval`, the studio and library users alike (as transformers.js's `pipeline()`).
 *
 * @example
 * const p = await createPipeline({ guide: { type: 'patch' }, refiner: { tk: 100 } });   // fits a model per image
 * const { final } = await p.run({ image, mask, seed: 0 });
 * await p.dispose();
 */
import {
  CancelledError, ConfigError, Diff2sContainer, Guide, GuideContext, InputError, Logger, NoiseSchedule, Rng, Sampler, Tensor4,
  createContainer, erodeMask, isGreyContent, knownPixelViolations, toChannels,
} from '@diff2s/core';
import { defineUNet, engineModule, receptiveField } from '@diff2s/engine';
import { guidesModule } from '@diff2s/guides';
import {
  checkRefinerSampler, inpaint, judgeOnValidation, judgeRefinement, refine, transferDetail, validationHole, type GuardVerdict,
  type PipelineProgress as StageProgress, type RefinerOptionsInput,
} from '@diff2s/refiner';
import { ConfigErrors } from './config/load';
import { parsePipelineConfig } from './config/parse';
import { FitConfig, type PipelineConfig } from './config/schema';
import { cachedFit, fitModel, fitSchedule, type FitProgress, type FitResult } from './fit';
import { COLOUR_PRIOR, ModelResolver, type ResolvedModel } from './models';
import { cropRect, padToMultiple, type Rect } from '@diff2s/guides';
import { estimateRunBytes, type RunFootprint, pasteHole, planHd, resizeMaskCovering, resizeTensor } from './hd';
import { guideWorkerRequest, runGuideInWorker, WORKER_GUIDES } from './parallel-guide';

/** The container every CLI command uses: core + engine + guides modules. */
export function cliContainer(logger?: Logger): Diff2sContainer {
  const c = createContainer(engineModule, guidesModule);
  if (logger) c.registerInstance(Symbol.for('diff2s.Logger'), logger);
  return c;
}

/** Progress of a pipeline run: the guide, the fit (when the model is fitted to the image), the refiner. */
export type PipelineProgress = StageProgress | { stage: 'fit'; fit: FitProgress } | { stage: 'validate'; fraction: number; label: string };

export interface PipelineRunRequest {
  /** [N,C,H,W] in [-1,1], any channel count the model accepts (grey images run on a colour model, see `channels`). */
  image: Tensor4;
  /** [N,1,H,W], 1 = hole. */
  mask: Tensor4;
  /** Seed of every draw (default: the config's). */
  seed?: number;
  /** Samples per image (default: the config's). */
  samples?: number;
  onProgress?: (e: PipelineProgress) => void;
  /** Called with stage 1 as soon as it exists (before any fit or refinement). */
  onStage1?: (stage1: Tensor4) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface PipelineRunResult {
  /** Stage 1 [N·samples, C, H, W], known pixels pasted; in the input's channels. */
  stage1: Tensor4;
  /** Stage 2 as the refiner produced it (before the guard), when a refiner ran. */
  stage2?: Tensor4;
  /** What the pipeline returns: stage 2 where the guard accepted it, else stage 1. */
  final: Tensor4;
  /** The image and mask as repeated for the samples. */
  image: Tensor4;
  mask: Tensor4;
  /** Per sample, the guard's measurements and decision (when the guard is on). */
  guard?: GuardVerdict[];
  /** The refiner's model: folder, engine, and the fit when fitted. */
  model?: { path: string; engine: 'onnx' | 'tfjs'; fit?: FitResult };
  timings: { guideMs: number; fitMs: number; refinerMs: number; stepMs: number[] };
  /**
   * Where the pipeline ran (the HD strategy, `hd`): the crops in image pixels, or the whole image (`scaled`: the size it
   * ran at for `resize`). Absent when the whole image ran as it is.
   */
  regions?: (Rect & { strategy: 'crop' | 'resize' | 'original'; scaled?: [number, number] })[];
}

/** A pipeline built from a config: run it on images, then dispose it. */
export interface Pipeline {
  readonly config: PipelineConfig;
  readonly guide: Guide;
  /** One line describing the pipeline, for logs. */
  readonly summary: string;
  /** Refiner evaluations per sample (0 without a refiner). */
  readonly refinerSteps: number;
  /** Whether a model is fitted to each image. */
  readonly fits: boolean;
  /** The model's channels (1 or 3), or `keep` without a refiner. */
  readonly channels: 1 | 3 | 'keep';
  /** The fixed refiner model (none when fitting, or without a refiner). */
  readonly model?: ResolvedModel;
  run(req: PipelineRunRequest): Promise<PipelineRunResult>;
  dispose(): Promise<void>;
}

export interface CreatePipelineOptions {
  /** Registries (default: a fresh CLI container). */
  container?: Diff2sContainer;
  /** Folder that relative paths in the config resolve against (default cwd). */
  baseDir?: string;
  logger?: Logger;
  /** Share a model resolver (and its loaded models) between pipelines; the caller disposes it. */
  models?: ModelResolver;
  /**
   * Fill the validating guard's held-out hole in a worker thread while the user's hole is filled (default true; CPU
   * guides only, see `WORKER_GUIDES`). The results are the same either way; false keeps everything in this thread.
   */
  parallelGuide?: boolean;
}

/** What a model was trained on, from its card: `grey` content (even in 3 channels), `colour`, or unknown. */
export function modelContent(card: { training?: Record<string, unknown> } | undefined): 'grey' | 'colour' | undefined {
  const c = card?.training?.content;
  return c === 'grey' || c === 'colour' ? c : undefined;
}

/**
 * Build a pipeline from a config (validated here when raw). Every config problem found is collected and thrown
 * together (one line each, as {@link ConfigErrors}). The model is loaded once, on the engine the config names; with no
 * model (or `model.fit`) the refiner fits one to each image, warm-started from the shipped colour prior.
 */
export async function createPipeline(config: unknown, options: CreatePipelineOptions = {}): Promise<Pipeline> {
  const cfg = parsePipelineConfig(config); // idempotent on an already parsed config
  const container = options.container ?? cliContainer(options.logger);
  const logger = options.logger ?? container.logger;
  const baseDir = options.baseDir ?? process.cwd();
  const ownResolver = !options.models;
  const models = options.models ?? new ModelResolver(container, baseDir, logger);
  const errors: ConfigError[] = [];
  const attempt = <T>(f: () => T): T | undefined => {
    try {
      return f();
    } catch (e) {
      if (e instanceof ConfigErrors) errors.push(...e.errors);
      else if (e instanceof ConfigError) errors.push(e);
      else throw e;
      return undefined;
    }
  };
  const ctx: GuideContext = { container, baseDir, logger, models };
  const refinerCfg = cfg.refiner && cfg.refiner.enabled ? cfg.refiner : undefined;
  let sampler: Sampler | undefined;
  if (refinerCfg) {
    const { type, ...rest } = refinerCfg.sampler;
    attempt(() => checkRefinerSampler(type, 'refiner.sampler.type'));
    sampler = attempt(() => container.samplers.create(type, rest, undefined, 'refiner.sampler'));
  }
  const { type: guideType, ...guideRest } = cfg.guide;
  const guide = attempt(() => container.guides.create(guideType, guideRest, ctx, 'guide'));
  const fit: FitConfig | undefined = refinerCfg && !cfg.model?.path ? cfg.model?.fit ?? FitConfig.parse({}) : undefined;
  // `guide: { type: diffusion, model: fit }`: the diffusion guide samples with a model fitted to each image (all noise
  // levels); a fitting refiner then reuses that model
  const guideFit: FitConfig | undefined = guideType === 'diffusion' && guideRest.model === 'fit' ? cfg.model?.fit ?? FitConfig.parse({}) : undefined;
  if (errors.length) {
    if (ownResolver) await models.dispose();
    throw new ConfigErrors(errors);
  }
  const dispose = async () => {
    await guide?.dispose?.();
    if (ownResolver) await models.dispose();
  };
  try {
    let fixed: ResolvedModel | undefined;
    let schedule: NoiseSchedule | undefined;
    if (refinerCfg && cfg.model?.path) {
      fixed = await models.resolve({ path: cfg.model.path, format: cfg.model.format, engine: cfg.model.engine }, 'model');
      schedule = fixed.schedule;
    } else if (fit) {
      // the fitted model's schedule is its init's: known before any fit, so T_k and the steps are checked now
      schedule = await fitSchedule(container, fit, baseDir);
    }
    const tk = refinerCfg ? (refinerCfg.strategy === 'start' ? schedule!.T : refinerCfg.tk) : 0;
    if (refinerCfg && schedule && tk > schedule.T) {
      throw new ConfigErrors([new ConfigError(`T_k = ${tk} exceeds the model's schedule length T = ${schedule.T}`, 'refiner.tk')]);
    }
    const refinerSteps = refinerCfg && sampler && schedule ? sampler.plannedSteps(tk, schedule) : 0;
    const { enabled: _e, sampler: _s, guard: _g, guardMethod: _gm, guardTexture: _gt, band: _b, detail: _d, tone: _t, ...refinerOptions } = refinerCfg ?? { enabled: false, sampler: { type: 'ddpm' }, guard: false, guardMethod: 'texture', guardTexture: 0, band: 0, detail: 0, tone: 0 };
    const modelLabel = fixed ? `model ${cfg.model!.path} on ${fixed.engine}` : fit ? `model fitted to each image (${fit.seconds === 'auto' ? 'auto' : `${fit.seconds} s`} budget, from ${fit.init})` : '';
    const summary = `guide ${guideType}` + (refinerCfg ? ` → refiner (${refinerCfg.sampler.type}, T_k ${tk}, ${modelLabel}${refinerCfg.guard ? `, guard: ${refinerCfg.guardMethod}` : ''})` : '');
    const channels: 1 | 3 | 'keep' = fixed ? (fixed.model.config.imageChannels as 1 | 3) : fit ? 3 : 'keep';
    const guideSchedule = guideFit ? await fitSchedule(container, guideFit, baseDir) : undefined;
    // any image size: what runs is padded to the guide's and the networks' size multiple (a fitted model's init is a
    // frugal UNet; 16 covers up to four levels)
    const levels = fixed ? (fixed.model.config as { channelMults?: unknown[] }).channelMults?.length ?? 4 : 4;
    const multiple = lcm(guide!.sizes.multiple, refinerCfg || guideFit ? 2 ** levels : 1);
    // what the memory estimate counts: a CPU guide or a network on each region, the refiner on its crop or region (a
    // fitted model is a frugal UNet, as its init)
    const footprint: RunFootprint = {
      cpuGuide: WORKER_GUIDES.has(guideType),
      refiner: !refinerCfg ? 'none' : !refinerCfg.crop ? 'whole'
        : (fixed ? fixed.model.receptiveField : receptiveField(defineUNet('frugal'))) ?? 'whole',
      validation: !!refinerCfg?.guard && refinerCfg.guardMethod === 'validate',
    };
    const run = (req: PipelineRunRequest) => runHd(req, cfg, multiple, !!fit || !!guideFit, footprint, (sub) => runPipeline({
      cfg, req: sub, guide: guide!, sampler, refinerOptions, tk, fixed, fit, models, baseDir, logger, channels,
      parallelGuide: options.parallelGuide ?? true,
      ...(guideFit ? { guideFit: { fit: guideFit, T: guideSchedule!.T, options: guideRest, ctx } } : {}),
    }));
    return { config: cfg, guide: guide!, summary, refinerSteps, fits: !!fit || !!guideFit, channels, model: fixed, run, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

interface RunContext {
  cfg: PipelineConfig;
  req: PipelineRunRequest;
  guide: Guide;
  sampler?: Sampler;
  refinerOptions: RefinerOptionsInput;
  tk: number;
  fixed?: ResolvedModel;
  fit?: FitConfig;
  models: ModelResolver;
  baseDir: string;
  logger: Logger;
  channels: 1 | 3 | 'keep';
  /** Fill the validation hole in a worker thread (see {@link CreatePipelineOptions.parallelGuide}). */
  parallelGuide: boolean;
  /** A diffusion guide on a model fitted to each image (all T levels). */
  guideFit?: { fit: FitConfig; T: number; options: Record<string, unknown>; ctx: GuideContext };
}

/** The model's channels for an image: a grey image runs on a colour model (repeated in, luma out); not the reverse. */
function adaptChannels(image: Tensor4, channels: 1 | 3 | 'keep', where: string, content?: 'grey' | 'colour'): Tensor4 {
  if (channels === 'keep' || channels === image.c) {
    if (content === 'grey' && image.c === 3 && !isGreyContent(image)) {
      throw new InputError(`${where} was trained on grey images only, and this image is in colour: fit a model to the image (model: { fit: {} }) or use the colour prior (models/${COLOUR_PRIOR})`);
    }
    return image;
  }
  if (image.c === 1 && channels === 3) return toChannels(image, 3);
  throw new InputError(`${where} has ${channels} channel(s) and the image has ${image.c}: a grey model cannot fill a colour image (use a colour model, or fit one: model: { fit: {} })`);
}

/** Stage 1 of a run, and the rest of it (fit, guard, refiner) to run when wanted. */
interface StagedRun {
  /** Stage 1 in the input's channels. */
  stage1: Tensor4;
  finish(): Promise<PipelineRunResult>;
  /** Stop what runs beside stage 1 (the validation hole's guide worker) when finish() will not be called. */
  cancel(): void;
}

async function runPipeline(x: RunContext): Promise<StagedRun> {
  const { cfg, req } = x;
  const seed = req.seed ?? cfg.seed;
  const samples = req.samples ?? cfg.samples;
  const refinerOn = !!x.sampler && (!!x.fixed || !!x.fit);
  const inC = req.image.c;
  const where = x.fixed ? `model ${x.fixed.path}` : 'the fitted model';
  const image = refinerOn ? adaptChannels(req.image, x.channels, where, x.fixed ? modelContent(x.fixed.model.card) : undefined)
    : x.guideFit ? adaptChannels(req.image, 3, 'the fitted model') : req.image;
  let guide = x.guide;
  let fitResult: FitResult | undefined;
  let fitMs = 0;
  if (x.guideFit) {
    if (image.n !== 1) throw new InputError('fitting a model takes one image per run (a batch of images: run them one at a time)');
    const tf = performance.now();
    fitResult = await fitModel({
      image, mask: req.mask, fit: { ...x.guideFit.fit, tMax: x.guideFit.T }, tk: x.guideFit.T, seed,
      baseDir: x.baseDir, logger: x.logger, signal: req.signal,
      onProgress: (p) => req.onProgress?.({ stage: 'fit', fit: p }),
    });
    fitMs = performance.now() - tf;
    guide = x.guideFit.ctx.container.guides.create('diffusion', { ...x.guideFit.options, model: fitResult.dir }, x.guideFit.ctx, 'guide');
  }
  // the validating guard's held-out hole (known before stage 1: it depends on the mask only); its stage 1 is filled
  // in a worker thread while this thread fills the user's hole, where the guide can run there. That fill has both holes
  // unknown (the user's hole is never a source) and focuses on the validation hole: the patch guide fills the user's
  // hole there from its coarser levels only
  const validation = refinerOn ? planValidation(x, req.mask) : undefined;
  const stopWorker = new AbortController();
  const onAbort = () => stopWorker.abort();
  req.signal?.addEventListener('abort', onAbort, { once: true });
  const pending = validation && x.parallelGuide
    ? runGuideInWorker(guideWorkerRequest(x.cfg.guide, x.baseDir, req.image.slice(0), validation.union, seed, validation.hole), stopWorker.signal)
    : undefined;
  pending?.catch(() => undefined); // awaited in finish(); never an unhandled rejection meanwhile
  // stage 1 (the same derived streams as refiner's inpaint(): 'guide', then 'refiner')
  // the guide fills the image in its own channels (a grey photo stays grey for the patch guide, so stage 1 is the
  // same with or without a colour refiner); a guide on the fitted model works in the model's
  let s1;
  try {
    s1 = await inpaint({
      image: guide === x.guide ? req.image : image, mask: req.mask, guide, seed, samples, signal: req.signal,
      onProgress: (e) => req.onProgress?.(e),
    });
  } catch (err) {
    stopWorker.abort();
    throw err;
  } finally {
    req.signal?.removeEventListener('abort', onAbort);
    if (guide !== x.guide) await guide.dispose?.();
  }
  if (s1.image.c !== image.c) s1 = { ...s1, stage1: toChannels(s1.stage1, image.c), image: toChannels(s1.image, image.c) };
  assertFinite(s1.stage1, `guide "${guide.name}"`);
  const back = (t: Tensor4) => (t.c === inC ? t : toChannels(t, inC));
  const plannedValidation = validation ? { ...validation, ...(pending ? { pending } : {}) } : undefined;
  return {
    stage1: back(s1.stage1),
    finish: () => finishPipeline(x, { s1, guide, back, fitResult, fitMs, seed, samples, refinerOn, validation: plannedValidation }),
    cancel: () => stopWorker.abort(),
  };
}

/**
 * The validating guard's held-out hole for this run (refiner.guardMethod validate, one image, not a fitted diffusion
 * guide): the user's hole shifted onto known pixels, and the union of both; undefined when the guard judges by texture
 * (no room for one: logged).
 */
function planValidation(x: RunContext, mask: Tensor4): { hole: Tensor4; union: Tensor4; pixels: number } | undefined {
  const g = x.cfg.refiner;
  if (!g || !g.guard || g.guardMethod !== 'validate' || x.guideFit || mask.n !== 1) return undefined;
  const v = validationHole(mask);
  if (!v) {
    x.logger.debug('guard: no room for a validation hole beside this hole; judging by texture instead');
    return undefined;
  }
  const union = mask.clone();
  for (let k = 0; k < union.size; k++) if (v.hole.data[k] !== 0) union.data[k] = 1;
  return { hole: v.hole, union, pixels: v.pixels };
}

async function finishPipeline(x: RunContext, st: {
  s1: Awaited<ReturnType<typeof inpaint>>; guide: Guide; back: (t: Tensor4) => Tensor4; fitResult?: FitResult; fitMs: number;
  seed: number; samples: number; refinerOn: boolean;
  validation?: { hole: Tensor4; union: Tensor4; pixels: number; pending?: Promise<{ stage1: Tensor4; guideMs: number }> };
}): Promise<PipelineRunResult> {
  const { cfg, req } = x;
  const { s1, guide, back, fitMs, seed, samples, refinerOn } = st;
  let fitResult = st.fitResult;
  const timings = { guideMs: s1.timings.guideMs, fitMs, refinerMs: 0, stepMs: [] as number[] };
  if (!refinerOn) {
    const stage1 = back(s1.stage1);
    check(stage1, back(s1.image), s1.mask);
    return {
      stage1, final: stage1, image: back(s1.image), mask: s1.mask, timings,
      ...(fitResult ? { model: { path: fitResult.dir, engine: fitResult.settings.engine, fit: fitResult } } : {}),
    };
  }
  const guardCfg = cfg.refiner!;
  // `band`: only the hole's border band is refined; stage 1's interior is context (pasted like known pixels)
  const band = guardCfg.band;
  const refineOne = (model: ResolvedModel, stage1: Tensor4, image: Tensor4, mask: Tensor4, stream: string, signal: AbortSignal | undefined,
    onStep?: Parameters<typeof refine>[3]['onStep'], focus?: Tensor4) => {
    let refineMask = mask;
    let refineImage = image;
    if (band > 0) {
      const interior = erodeMask(mask, band);
      refineMask = mask.clone();
      for (let k = 0; k < refineMask.size; k++) if (interior.data[k] === 1) refineMask.data[k] = 0;
      refineImage = stage1; // the known pixels and stage 1's interior
    }
    const refined = refine(stage1, refineImage, refineMask, {
      network: model.model, schedule: model.schedule, sampler: x.sampler!, options: x.refinerOptions,
      rng: new Rng(seed).derive(stream), signal, onStep, ...(focus ? { focus } : {}),
    });
    // `detail`: stage 1's fine detail kept, the refinement's coarse part taken; `tone`: and stage 1's coarsest scales
    return guardCfg.detail > 0 || guardCfg.tone > 0 ? refined.then((r) => transferDetail(stage1, r, refineMask, guardCfg.detail, guardCfg.tone)) : refined;
  };
  // the refinement of the user's hole, with its progress and step timings
  let refinerStart = 0;
  const refineUserHole = (model: ResolvedModel, signal: AbortSignal | undefined) => {
    refinerStart = performance.now();
    let last = refinerStart;
    return refineOne(model, s1.stage1, s1.image, s1.mask, 'refiner', signal, (step) => {
      const now = performance.now();
      timings.stepMs.push(now - last);
      last = now;
      req.onProgress?.({ stage: 'refiner', step });
    }).then((r) => {
      timings.refinerMs += performance.now() - refinerStart;
      return r;
    });
  };
  // self-validation (refiner.guardMethod validate): a held-out hole of known pixels, filled by the same guide, kept
  // out of the fit, refined by the same model, and compared with the real pixels there
  let verdict: GuardVerdict | undefined;
  let stage2!: Tensor4;
  let resolvedModel!: ResolvedModel;
  let validation: { hole: Tensor4; union: Tensor4; stage1: Tensor4; image: Tensor4; pixels: number } | undefined;
  const v = st.validation;
  // with a model folder, the user's hole is refined while the validation hole's guide still runs in its worker (the
  // two refinements share the model; the result is the same as one after the other)
  let early: { result: Promise<Tensor4>; stop: AbortController } | undefined;
  const fits = !x.fixed && !fitResult;
  if (fits && s1.image.n / samples !== 1) throw new InputError('fitting a model takes one image per run (a batch of images: run them one at a time)');
  // the fit's request; with a validation hole, the fit sees neither hole (its pixels are the truth the guard measures
  // against), and the fill of both is the guide's focused fill (keyed by the guide's config and seed: a cached fit is
  // found before the worker has made it)
  let validationFill: Tensor4 | undefined;
  const fitRequest = (): Parameters<typeof fitModel>[0] => ({
    image: s1.image.slice(0), mask: v?.union ?? s1.mask.slice(0),
    fill: v ? { key: JSON.stringify({ validationHole: true, focus: 'validation', guide: cfg.guide, seed }), get: async () => validationFill! } : s1.stage1.slice(0),
    fit: x.fit!, tk: x.tk, seed, baseDir: x.baseDir, logger: x.logger, signal: req.signal,
    onProgress: (p) => req.onProgress?.({ stage: 'fit', fit: p }),
  });
  const resolveFitted = (f: FitResult) => x.models.resolve({ path: f.dir, engine: cfg.model?.engine ?? 'auto' }, 'model', { transient: true });
  let resolved = x.fixed;
  if (!resolved && fitResult) resolved = await resolveFitted(fitResult); // the guide's fitted model (all noise levels) serves the refiner too
  if (!resolved && v?.pending) {
    const tf = performance.now();
    fitResult = await cachedFit(fitRequest());
    if (fitResult) resolved = await resolveFitted(fitResult);
    timings.fitMs += performance.now() - tf;
  }
  if (resolved && v?.pending) {
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    req.signal?.addEventListener('abort', onAbort, { once: true });
    const result = refineUserHole(resolved, stop.signal).finally(() => req.signal?.removeEventListener('abort', onAbort));
    result.catch(() => undefined); // awaited below; a failure meanwhile is not unhandled
    early = { result, stop };
  }
  try {
    if (v) {
      const { hole, union, pixels } = v;
      req.onProgress?.({ stage: 'validate', fraction: 0, label: `stage 1 of a validation hole (${pixels} px)` });
      const inImage = s1.image.c === req.image.c ? s1.image.slice(0) : toChannels(s1.image.slice(0), req.image.c);
      let fromWorker: { stage1: Tensor4; guideMs: number } | undefined;
      if (v.pending) {
        try {
          fromWorker = await v.pending;
        } catch (err) {
          if (err instanceof CancelledError || req.signal?.aborted) throw err;
          // a guide error here is this thread's too (the same guide): run it here, where it is reported as usual
          x.logger.debug(`guard: the validation hole's guide worker failed (${(err as Error).message}); filling it here`);
        }
      }
      let sv = fromWorker ? { stage1: fromWorker.stage1, image: inImage, timings: { guideMs: 0 } }
        : await inpaint({ image: inImage, mask: union, guide, seed, samples: 1, signal: req.signal, focus: hole });
      if (sv.image.c !== s1.image.c) sv = { ...sv, stage1: toChannels(sv.stage1, s1.image.c), image: toChannels(sv.image, s1.image.c) };
      assertFinite(sv.stage1, `guide "${guide.name}"`);
      timings.guideMs += sv.timings.guideMs; // the worker's fill ran beside stage 1: no wall time of its own
      validation = { hole, union, stage1: sv.stage1, image: sv.image, pixels };
      validationFill = sv.stage1;
    }
    if (!resolved) {
      const tf = performance.now();
      fitResult = await fitModel(fitRequest());
      resolved = await resolveFitted(fitResult);
      timings.fitMs += performance.now() - tf;
    }
    const model = resolved;
    if (validation) {
      const tv = performance.now();
      const v2 = await refineOne(model, validation.stage1, validation.image, validation.union, 'validate', req.signal, (step) => {
        req.onProgress?.({ stage: 'validate', fraction: step.index / step.total, label: `refining the validation hole: step ${step.index}/${step.total}` });
      }, validation.hole); // on the validation hole's own crop: the guard reads only that hole
      assertFinite(v2, 'the refiner (its model)');
      verdict = judgeOnValidation(validation.stage1, v2, validation.image, validation.hole, { textureTolerance: guardCfg.guardTexture });
      timings.refinerMs += performance.now() - tv;
    }
    stage2 = await (early ? early.result : refineUserHole(model, req.signal));
    resolvedModel = model;
  } catch (err) {
    early?.stop.abort();
    await early?.result.catch(() => undefined); // no refinement outlives its run
    throw err;
  }
  assertFinite(stage2, 'the refiner (its model)');
  let final = stage2;
  let guard: GuardVerdict[] | undefined;
  if (guardCfg.guard) {
    guard = verdict ? Array.from({ length: stage2.n }, () => verdict!)
      : judgeRefinement(s1.stage1, stage2, s1.mask, { textureTolerance: guardCfg.guardTexture });
    final = stage2.clone();
    const per = stage2.c * stage2.h * stage2.w;
    guard.forEach((v, i) => {
      if (!v.accept) final.data.set(s1.stage1.data.subarray(i * per, (i + 1) * per), i * per);
      x.logger.debug(`guard${guard!.length > 1 ? ` (sample ${i})` : ''}: ${v.reason}`);
    });
  }
  const out = {
    stage1: back(s1.stage1), stage2: back(stage2), final: back(final), image: back(s1.image), mask: s1.mask, guard,
    model: { path: resolvedModel.path, engine: resolvedModel.engine, ...(fitResult ? { fit: fitResult } : {}) }, timings,
  };
  check(out.final, out.image, out.mask);
  return out;
}

const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);
const lcm = (a: number, b: number) => (a * b) / gcd(a, b);

/** The top-left h×w crop of every image of `t`. */
function topLeft(t: Tensor4, h: number, w: number): Tensor4 {
  return cropRect(t, { x0: 0, y0: 0, x1: w, y1: h });
}

/** The timings of several runs (regions or images), added up. */
function sumTimings(parts: PipelineRunResult[]): PipelineRunResult['timings'] {
  const sum = (k: 'guideMs' | 'fitMs' | 'refinerMs') => parts.reduce((s, p) => s + p.timings[k], 0);
  return { guideMs: sum('guideMs'), fitMs: sum('fitMs'), refinerMs: sum('refinerMs'), stepMs: parts.flatMap((p) => p.timings.stepMs) };
}

/** Concatenate per-image results (each [samples,…]) in image order. */
function concatResults(parts: PipelineRunResult[]): PipelineRunResult {
  const cat = (ts: Tensor4[]) => {
    const out = new Tensor4([ts.reduce((s, t) => s + t.n, 0), ts[0].c, ts[0].h, ts[0].w]);
    let off = 0;
    for (const t of ts) {
      out.data.set(t.data, off);
      off += t.size;
    }
    return out;
  };
  const first = parts[0];
  return {
    stage1: cat(parts.map((p) => p.stage1)),
    ...(parts.every((p) => p.stage2) ? { stage2: cat(parts.map((p) => p.stage2!)) } : {}),
    final: cat(parts.map((p) => p.final)),
    image: cat(parts.map((p) => p.image)),
    mask: cat(parts.map((p) => p.mask)),
    ...(parts.every((p) => p.guard) ? { guard: parts.flatMap((p) => p.guard!) } : {}),
    ...(first.model ? { model: first.model } : {}),
    regions: parts.flatMap((p) => p.regions ?? []),
    timings: sumTimings(parts),
  };
}

/**
 * The HD strategy and padding around the runner (./hd.ts): each image's regions (crops, or the whole image, scaled
 * for `resize`) are padded to `multiple`, run, cropped back, and their hole pixels pasted into the input.
 */
async function runHd(
  req: PipelineRunRequest, cfg: PipelineConfig, multiple: number, fits: boolean, footprint: RunFootprint,
  inner: (req: PipelineRunRequest) => Promise<StagedRun>,
): Promise<PipelineRunResult> {
  const { image } = req;
  const maskOf = (i: number) => (req.mask.n === image.n ? req.mask.slice(i) : req.mask.slice(0));
  const plans = Array.from({ length: image.n }, (_, i) => planHd(maskOf(i), cfg.hd));
  // memory: estimated from the sizes before any work, and refused over the limit with the figures
  const samples = req.samples ?? cfg.samples;
  const need = plans.reduce((mx, p, i) => Math.max(mx, estimateRunBytes(p, maskOf(i), image.c, samples, multiple, fits, footprint)), 0)
    + (image.n - 1) * image.imageSize * 4 * (1 + 3 * samples);
  const limit = cfg.memoryLimit * 1024 * 1024;
  if (need > limit) {
    const mib = (b: number) => Math.ceil(b / (1024 * 1024));
    const where = plans[0].strategy === 'crop' ? `${plans[0].regions.length} crop(s)` : plans[0].strategy === 'resize' ? `resized to ${plans[0].scaled?.join('×')}` : 'the whole image';
    throw new InputError(
      `this run needs about ${mib(need)} MiB (a ${image.w}×${image.h} image, ${samples} sample(s), ${where}), over the memory limit of ${cfg.memoryLimit} MiB: use hd.strategy crop or resize, fewer samples, or raise memoryLimit`,
    );
  }
  const trivial = plans.every((p) => p.strategy === 'original') && image.h % multiple === 0 && image.w % multiple === 0;
  if (trivial) {
    const staged = await inner(req);
    try {
      await req.onStage1?.(staged.stage1);
    } catch (err) {
      staged.cancel();
      throw err;
    }
    return staged.finish();
  }
  if (image.n > 1) {
    const parts: PipelineRunResult[] = [];
    for (let i = 0; i < image.n; i++) parts.push(await runHd({ ...req, image: image.slice(i), mask: maskOf(i), onStage1: undefined }, cfg, multiple, fits, footprint, inner));
    const out = concatResults(parts);
    await req.onStage1?.(out.stage1);
    return out;
  }
  const plan = plans[0];
  const mask = maskOf(0);
  const base = samples > 1 ? image.repeatEach(samples) : image; // never written: copies are made from it
  const fullMask = samples > 1 ? mask.repeatEach(samples) : mask;
  const stage1 = base.clone();
  // stage 1 of every region first (shown as soon as it exists), then the fits and refinements
  const staged: { rect: Rect; run: StagedRun; back: (t: Tensor4) => Tensor4 }[] = [];
  const parts: { rect: Rect; res: PipelineRunResult; back: (t: Tensor4) => Tensor4 }[] = [];
  try {
    for (const rect of plan.regions) {
      const rw = rect.x1 - rect.x0, rh = rect.y1 - rect.y0;
      let img = cropRect(image, rect), m = cropRect(mask, rect);
      if (plan.scaled) {
        img = resizeTensor(img, plan.scaled[0], plan.scaled[1]);
        m = resizeMaskCovering(m, plan.scaled[0], plan.scaled[1]);
      }
      const ph = img.h, pw = img.w;
      img = padToMultiple(img, multiple, cfg.hd.pad);
      m = padToMultiple(m, multiple, 'zero');
      const back = (t: Tensor4) => {
        const u = topLeft(t, ph, pw);
        return plan.scaled ? resizeTensor(u, rw, rh) : u;
      };
      const run = await inner({ ...req, image: img, mask: m, onStage1: undefined });
      pasteHole(stage1, back(run.stage1), rect, mask);
      staged.push({ rect, run, back });
    }
    await req.onStage1?.(stage1);
    for (const p of staged) parts.push({ rect: p.rect, res: await p.run.finish(), back: p.back });
  } catch (err) {
    for (const p of staged) p.run.cancel(); // workers of regions not finished stop with the run
    throw err;
  }
  const assemble = (pick: (r: PipelineRunResult) => Tensor4 | undefined): Tensor4 | undefined => {
    if (!parts.every((p) => pick(p.res))) return undefined;
    const out = base.clone();
    for (const p of parts) pasteHole(out, p.back(pick(p.res)!), p.rect, mask);
    return out;
  };
  const stage2 = assemble((r) => r.stage2);
  // full-size copies are few (a 12 MP photo is 145 MB a copy): the final image is stage 2 where every region kept it
  // (or stage 1 itself where the guard kept stage 1 for every region and sample)
  const keptStage1 = parts.every((p) => p.res.guard && p.res.guard.every((v) => !v.accept));
  const final = keptStage1 ? stage1
    : stage2 && parts.every((p) => p.res.final === p.res.stage2) ? stage2 : assemble((r) => r.final)!;
  const verdicts = parts.map((p) => p.res.guard);
  let guard: GuardVerdict[] | undefined;
  if (verdicts.every((v) => v)) {
    guard = parts.length === 1 ? verdicts[0] : verdicts[0]!.map((v0, i) => {
      const all = verdicts.map((v) => v![i]);
      return { ...v0, accept: all.some((v) => v.accept), reason: all.map((v, k) => `region ${k + 1}: ${v.reason}`).join('; ') };
    });
  }
  const out: PipelineRunResult = {
    stage1, ...(stage2 ? { stage2 } : {}), final, image: base, mask: fullMask,
    ...(guard ? { guard } : {}), ...(parts[0].res.model ? { model: parts[0].res.model } : {}),
    regions: parts.map((p) => ({ ...p.rect, strategy: plan.strategy, ...(plan.scaled ? { scaled: plan.scaled } : {}) })),
    timings: sumTimings(parts.map((p) => p.res)),
  };
  check(out.final, out.image, out.mask);
  if (out.stage2) assertFinite(out.stage2, 'the refiner (its model)');
  return out;
}

/** NaN or ±Inf never reaches a file: one clear error naming the stage that produced it. */
function assertFinite(t: Tensor4, what: string): void {
  for (let k = 0; k < t.size; k++) {
    if (!Number.isFinite(t.data[k])) throw new Error(`${what} produced ${t.data[k]} (at value ${k} of ${t.size}): nothing was written`);
  }
}

function check(result: Tensor4, image: Tensor4, mask: Tensor4): void {
  assertFinite(result, 'the pipeline');
  const bad = knownPixelViolations(result, image, mask);
  if (bad) throw new Error(`internal error: ${bad} known pixels changed (the output would violate the known-pixel invariant)`);
}
