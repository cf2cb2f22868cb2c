import { realpathSync } from 'fs';
import * as path from 'path';
import YAML from 'yaml';
import {
  ConfigError, Diff2sContainer, InputError, applyMask, assertWritableFolder, Tensor4, exitCodeFor, loadMask, readImage, readImageHeader, writeImage,
} from '@diff2s/core';
import { createPipeline, type Pipeline } from '../pipeline';
import { COLOUR_PRIOR, SHIPPED_MODELS_DIR } from '../models';
import { ConfigErrors, readConfigFile, resolvePath } from '../config/load';
import { parsePipelineConfig, setPath } from '../config/parse';
import type { PipelineConfig } from '../config/schema';
import { pairInputs, InputPair } from '../inputs';
import { estimateFullBytes } from '../hd';
import { resolveCommandLinePaths } from '../config/cli-paths';
import { BatchProgress, Progress } from '../progress';
import { type BatchRecord, writeBatchSummary } from '../batch-summary';
import { sideBySide } from '../sheet';

/** The repository's examples folder (the embedded default config and data live there). */
export const EXAMPLES_DIR = path.resolve(__dirname, '../../../../examples');
export const DEFAULT_CONFIG = path.join(EXAMPLES_DIR, 'default.yaml');

export interface InpaintFlags {
  config?: string;
  image?: string;
  mask?: string;
  maskConvention?: string;
  out?: string;
  seed?: number;
  samples?: number;
  concat?: boolean;
  tk?: number;
  /** Fit budget in seconds (sets model.fit.seconds; the refiner fits a model to each image). */
  fit?: number;
  /** `false` (--no-fit): no fitting; the refiner uses the config's model, else the shipped colour prior. */
  fitEnabled?: boolean;
  /** Keep the fitted model as a model folder here. */
  keepModel?: string;
  /** `key.path=value` overrides (value parsed as YAML: numbers, booleans, lists); path keys resolve against the cwd. */
  set?: string[];
  /** Stage-1 guide type (sets guide.type; the config's guide options are kept only when they are for this type). */
  guide?: string;
  /** The refiner's model folder (sets model.path, no fit). */
  model?: string;
  /** `false` (--no-refine): stage 1 only. */
  refine?: boolean;
  quiet?: boolean;
}

export interface InpaintSummary {
  done: { image: string; outputs: string[] }[];
  failed: { image: string; error: string; code: number }[];
  skipped: string[];
  /** Batch mode: the summary files written at the end (input, outputs, status, error, seconds per input). */
  summaryFiles?: { csv: string; json: string };
}

const IMG_EXT = /\.(png|jpe?g|webp)$/i;

/** What `diff2s inpaint` (and `diff2s batch submit`) run: the validated config, its folder, the output spec and the pairs. */
export interface PreparedInpaint {
  cfg: PipelineConfig;
  /** The folder relative paths of the config resolve against. */
  baseDir: string;
  /** The output folder (or file, for a single image). */
  outSpec: string;
  pairs: InputPair[];
  /** Images of a mask folder without a mask of their stem. */
  unmatched: string[];
  batch: boolean;
  maskPath?: string;
}

/**
 * The flags over the config, validated; the inputs paired and the output folder checked writable (no work yet).
 * Flag paths resolve against the working directory, config paths against the config's folder.
 */
export async function prepareInpaint(flags: InpaintFlags): Promise<PreparedInpaint> {
  const cfgFile = flags.config ?? DEFAULT_CONFIG;
  const { value, baseDir } = await readConfigFile(cfgFile);
  const raw = structuredClone(value) as Record<string, unknown>;
  const cwd = process.cwd();
  if (flags.image !== undefined) setPath(raw, 'input.image', path.resolve(cwd, flags.image));
  if (flags.mask !== undefined) setPath(raw, 'input.mask', path.resolve(cwd, flags.mask));
  if (flags.maskConvention !== undefined) setPath(raw, 'input.maskConvention', flags.maskConvention);
  if (flags.seed !== undefined) setPath(raw, 'seed', flags.seed);
  if (flags.samples !== undefined) setPath(raw, 'samples', flags.samples);
  if (flags.concat !== undefined) setPath(raw, 'output.concat', flags.concat);
  if (flags.tk !== undefined) setPath(raw, 'refiner.tk', flags.tk);
  applyGuideModelFlags(raw, flags, cwd);
  applyFitFlags(raw, flags, cwd);
  for (const kv of flags.set ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new ConfigError(`expected key.path=value, got "${kv}"`, '--set');
    const key = kv.slice(0, eq).trim();
    // a path typed on the command line is relative to the current directory, not to the config's folder
    setPath(raw, key, resolveCommandLinePaths(key, YAML.parse(kv.slice(eq + 1)), cwd));
  }
  const cfg = parsePipelineConfig(raw);
  if (!cfg.input) throw new ConfigErrors([new ConfigError('expected an input image (set input.image or pass --image)', 'input')]);
  // output: a flag is relative to cwd; a config value to the config's folder; the default to cwd
  const outSpec = flags.out !== undefined ? path.resolve(cwd, flags.out)
    : (value as { output?: { dir?: string } }).output?.dir ? resolvePath(baseDir, cfg.output.dir) : path.resolve(cwd, cfg.output.dir);
  const imagePath = resolvePath(baseDir, cfg.input.image);
  const maskPath = cfg.input.mask ? resolvePath(baseDir, cfg.input.mask) : undefined;
  const { pairs, unmatched, batch } = await pairInputs(imagePath, maskPath);
  if (!maskPath && !cfg.input.alphaAsMask) {
    throw new ConfigErrors([new ConfigError('expected a mask (set input.mask, pass --mask, or set input.alphaAsMask: true)', 'input.mask')]);
  }
  // the output folder must be writable before any work (a pseudo file system such as /proc would hang a mkdir)
  await assertWritableFolder(IMG_EXT.test(outSpec) && !batch ? path.dirname(outSpec) : outSpec, '--out');
  return { cfg, baseDir, outSpec, pairs, unmatched, batch, maskPath };
}

/**
 * `diff2s inpaint`: guide → refiner → outputs, for one image or a folder (batch).
 * Flags override the config; flag paths resolve against the working directory, config paths against the config's folder.
 */
export async function inpaintCommand(flags: InpaintFlags, container: Diff2sContainer): Promise<InpaintSummary> {
  const { cfg, baseDir, outSpec, pairs, unmatched, batch, maskPath } = await prepareInpaint(flags);
  const pipeline = await createPipeline(cfg, { container, baseDir });
  // batch: a bar of images done (ETA from image times) over a bar of the current image's steps; lines go above them
  const multi = batch ? new BatchProgress(pairs.length, !flags.quiet) : undefined;
  const log = (m: string) => { if (!flags.quiet) { if (multi) multi.log(m); else process.stderr.write(`${m}\n`); } };
  const warn = (m: string) => (multi ? multi.log(m) : process.stderr.write(`${m}\n`)); // even with --quiet
  log(`diff2s: ${pipeline.summary}`);
  const summary: InpaintSummary = { done: [], failed: [], skipped: unmatched };
  // every input of the run (all images and masks of a batch), by real path: no output may overwrite one
  const inputFiles = new Map<string, { kind: 'image' | 'mask'; file: string }>();
  for (const p of pairs) {
    inputFiles.set(realpathOrSelf(p.image), { kind: 'image', file: p.image });
    if (p.mask) inputFiles.set(realpathOrSelf(p.mask), { kind: 'mask', file: p.mask });
  }
  for (const u of unmatched) warn(`skipped ${u}: no mask with the same file stem in ${maskPath}`);
  const units = progressUnits(cfg, pipeline);
  const unitsPerImage = units.total;
  const single = batch ? undefined : new Progress('inpaint', !flags.quiet);
  single?.start(unitsPerImage);
  const records: BatchRecord[] = [];
  const singleFile = !batch && IMG_EXT.test(outSpec) && cfg.samples === 1;
  try {
    for (let i = 0; i < pairs.length; i++) {
      const pair = pairs[i];
      const t0 = performance.now();
      const seconds = () => (performance.now() - t0) / 1000;
      multi?.startImage(path.basename(pair.image), unitsPerImage);
      const onUnits = (k: number, info: string) => (multi ? multi.step(k, info) : single!.update(k, info));
      try {
        const outputs = await runOne(pair, cfg, pipeline, outSpec, singleFile, units, onUnits, log, inputFiles, warn);
        summary.done.push({ image: pair.image, outputs });
        records.push({ input: pair.image, mask: pair.mask, outputs, status: 'ok', seconds: seconds() });
        multi?.endImage('ok', seconds());
      } catch (err) {
        if (!batch || err instanceof ConfigErrors) throw err;
        const msg = err instanceof Error ? err.message : String(err);
        summary.failed.push({ image: pair.image, error: msg, code: exitCodeFor(err) });
        records.push({ input: pair.image, mask: pair.mask, outputs: [], status: 'failed', error: msg, seconds: seconds() });
        warn(`ERROR: ${msg} (skipped)`); // errors reach stderr even with --quiet
        multi?.endImage('failed', seconds());
      }
    }
  } finally {
    single?.stop();
    multi?.stop();
    await pipeline.dispose();
  }
  if (batch) {
    for (const u of unmatched) records.push({ input: u, outputs: [], status: 'skipped', error: `no mask with the same file stem in ${maskPath}`, seconds: 0 });
    const files = await writeBatchSummary(outSpec, records);
    summary.summaryFiles = files;
    log(`summary: ${files.csv}, ${files.json}`);
  }
  if (batch) log(`done: ${summary.done.length} written, ${summary.failed.length} failed, ${summary.skipped.length} skipped (no mask)`);
  return summary;
}

/**
 * Progress units of one image: the guide 1, a fit 100 (by its fraction of the budget), each refiner step 1, and each
 * step of the validating guard's refinement 1 (it can run beside the user's).
 */
export function progressUnits(cfg: PipelineConfig, pipeline: Pipeline): { fit: number; validate: number; total: number } {
  const steps = pipeline.refinerSteps;
  const fit = pipeline.fits ? 100 : 0;
  const validate = steps > 0 && cfg.refiner?.guard && cfg.refiner.guardMethod === 'validate' ? steps : 0;
  return { fit, validate, total: 1 + fit + steps + validate };
}

/** One image of a run: read, check, run the pipeline, write its outputs (atomically); returns the files written. */
export async function runOne(
  pair: InputPair,
  cfg: PipelineConfig,
  pipeline: Pipeline,
  outSpec: string,
  singleFile: boolean,
  /** Progress units of a fit and of the validating guard's refinement (0 when the run has none). */
  units: { fit: number; validate: number },
  progress: (units: number, info: string) => void,
  log: (m: string) => void,
  inputFiles: Map<string, { kind: 'image' | 'mask'; file: string }>,
  /** Warnings (printed even with --quiet; in batch mode above the progress bars, which would overwrite a raw write). */
  warn: (m: string) => void = (m) => process.stderr.write(`${m}\n`),
): Promise<string[]> {
  const input = cfg.input!;
  // memory first, from the header: the full-size buffers alone must fit before a pixel is decoded
  const header = await readImageHeader(pair.image);
  const fullNeed = estimateFullBytes(header.width, header.height, pipeline.channels === 'keep' ? header.channels : pipeline.channels, cfg.samples);
  if (header.width * header.height <= input.pixelLimit && fullNeed > cfg.memoryLimit * 1024 * 1024) {
    throw new InputError(
      `${pair.image} is ${header.width}×${header.height}: a run needs at least ${Math.ceil(fullNeed / 2 ** 20)} MiB for it (${cfg.samples} sample(s)), over the memory limit of ${cfg.memoryLimit} MiB (memoryLimit; fewer samples, or a smaller image)`,
      pair.image,
    );
  }
  const img = await readImage(pair.image, {
    pixelLimit: input.pixelLimit,
    alpha: pair.mask ? 'drop' : 'mask',
  });
  let mask: Tensor4;
  if (pair.mask) {
    mask = await loadMask(pair.mask, {
      convention: input.maskConvention,
      expect: { width: img.width, height: img.height },
      resize: input.resizeMask,
      resizeHint: 'set input.resizeMask: true (or pass --set input.resizeMask=true)',
      onWarning: warn,
    });
  } else {
    if (!img.alphaMask) throw new InputError(`${pair.image} has no alpha channel to use as the mask (give input.mask)`, pair.image);
    mask = img.alphaMask;
  }
  let holes = 0;
  for (let k = 0; k < mask.size; k++) holes += mask.data[k];
  if (holes === 0) throw new InputError(`mask ${pair.mask ?? pair.image} has no hole (all pixels known): nothing to inpaint`, pair.mask ?? pair.image);
  // a mask of the other convention inverts the job: the real pixels become the hole, silently
  if (pair.mask && holes < mask.size) {
    const w = holeShareWarning(pair.mask, holes / mask.size, input.maskConvention);
    if (w) warn(w);
  }
  const sz = pipeline.guide.sizes;
  if (holes === mask.size && !sz.fullMask) {
    throw new InputError(`mask ${pair.mask ?? pair.image} covers the whole image: guide "${pipeline.guide.name}" needs known pixels`, pair.mask ?? pair.image);
  }
  const ext = cfg.output.format === 'jpeg' ? 'jpg' : cfg.output.format;
  const stemDir = singleFile ? path.dirname(outSpec) : outSpec;
  const writeOpts = (f: string) => ({ format: /\.png$/i.test(f) ? 'png' as const : cfg.output.format, ...(img.icc ? { icc: img.icc } : {}) });
  const stage1Name = (k: number, n: number) => singleFile
    ? path.join(stemDir, `${path.basename(outSpec, path.extname(outSpec))}_stage1${path.extname(outSpec)}`)
    : path.join(stemDir, `${pair.stem}${n > 1 ? `_${k}` : ''}_stage1.${ext}`);
  const refusesInput = (f: string) => {
    const input = inputFiles.get(realpathOrSelf(f));
    if (input) throw new InputError(`output ${f} is the input ${input.kind} ${input.file}: refusing to overwrite it (choose another --out)`, f);
  };
  // stage 1 first: written as soon as it exists, while the fit and the refiner run; so every name this image can
  // write is checked against the inputs before anything is written
  const early: string[] = [];
  const nOut = img.tensor.n * cfg.samples;
  if (singleFile) refusesInput(outSpec);
  for (let k = 0; k < nOut; k++) {
    const suffix = nOut > 1 ? `_${k}` : '';
    for (const kind of ['stage2', 'sheet']) refusesInput(path.join(stemDir, `${pair.stem}${suffix}_${kind}.${kind === 'sheet' ? 'png' : ext}`));
    refusesInput(stage1Name(k, nOut));
  }
  // image k of a batch; a single image is used as it is (a 12 MP photo is 145 MB a copy)
  const one = (t: Tensor4, k: number) => (t.n === 1 ? t : t.slice(k));
  const fitUnits = units.fit;
  let stepsDone = 0, validated = 0; // steps done of the user's refinement and of the guard's (they may interleave)
  const res = await pipeline.run({
    image: img.tensor,
    mask,
    onStage1: pipeline.refinerSteps > 0 && cfg.output.stage1 ? async (s1) => {
      for (let k = 0; k < s1.n; k++) {
        const f = stage1Name(k, s1.n);
        await writeImage(f, one(s1, k), writeOpts(f));
        early.push(f);
      }
      log(`stage 1: ${early.join(', ')}`);
    } : undefined,
    onProgress: (e) => {
      if (e.stage === 'guide') progress(0, `guide ${Math.round(e.fraction * 100)}%`);
      else if (e.stage === 'fit') {
        const f = e.fit;
        progress(1 + Math.round(f.fraction * fitUnits), `fitting to the image: step ${f.step}, ${Math.round(f.seconds)}/${Math.round(f.budget)} s, loss ${Number.isFinite(f.loss) ? f.loss.toFixed(4) : '-'}`);
      } else if (e.stage === 'validate') {
        validated = Math.max(validated, Math.round(e.fraction * units.validate));
        progress(1 + fitUnits + stepsDone + validated, `guard: ${e.label}`);
      } else {
        stepsDone = e.step.index;
        progress(1 + fitUnits + stepsDone + validated, `step ${e.step.index}/${e.step.total} (t=${e.step.t})`);
      }
    },
  });
  // the guard may judge without a validation run (no room for its hole): the bar still ends full
  if (units.validate && validated < units.validate) progress(1 + fitUnits + pipeline.refinerSteps + units.validate, 'guard: judged');
  const fitted = res.model?.fit;
  if (fitted) log(`${fitted.cached ? 'fitted model from the cache' : `fitted a model in ${fitted.seconds.toFixed(1)} s (${fitted.steps} steps, loss ${fitted.finalLoss.toFixed(4)})`}: ${fitted.dir}`);
  for (const [k, v] of (res.guard ?? []).entries()) log(`${pair.stem}${res.guard!.length > 1 ? ` sample ${k}` : ''}: ${v.reason}`);
  const final = res.final;
  const refined = !!res.stage2;
  const outputs: string[] = [];
  const all: [string, Tensor4][] = [];
  const n = final.n;
  for (let k = 0; k < n; k++) {
    const suffix = n > 1 ? `_${k}` : '';
    const finalName = singleFile ? outSpec : path.join(stemDir, `${pair.stem}${suffix}_${refined ? 'stage2' : 'stage1'}.${ext}`);
    const files: [string, Tensor4][] = [[finalName, one(final, k)]];
    if (refined && cfg.output.stage1) {
      const s1 = stage1Name(k, n);
      if (!early.includes(s1)) files.push([s1, one(res.stage1, k)]);
    }
    if (cfg.output.concat) {
      const masked = applyMask(one(res.image, k), one(res.mask, k), 0); // the incomplete input: hole in mid-grey
      const panels = [{ tensor: masked }, { tensor: one(res.mask, k), isMask: true }, { tensor: one(res.stage1, k) }];
      if (refined) panels.push({ tensor: one(final, k) });
      files.push([path.join(stemDir, `${pair.stem}${suffix}_sheet.png`), sideBySide(panels)]);
    }
    all.push(...files);
  }
  // no output may be an input (after symlinks): checked for every file before the first is written
  for (const [f] of all) refusesInput(f);
  for (const [f, t] of all) {
    await writeImage(f, t, writeOpts(f));
    outputs.push(f);
  }
  // the early stage-1 files are listed after the final image, as before
  return [outputs[0], ...early, ...outputs.slice(1)].filter((f) => f !== undefined);
}

/** Above this share of hole pixels a mask file gets a warning: it may be of the other convention. */
export const HOLE_SHARE_WARNING = 0.5;

/**
 * The warning for a mask whose hole covers most of the image (more than {@link HOLE_SHARE_WARNING}): with the other
 * convention (white = known) the real pixels would be replaced. Names the flag that flips it; undefined below.
 */
export function holeShareWarning(maskFile: string, share: number, convention: 'hole-white' | 'known-white'): string | undefined {
  if (!(share > HOLE_SHARE_WARNING)) return undefined;
  const holeColour = convention === 'hole-white' ? 'white' : 'black';
  const other = convention === 'hole-white' ? 'known-white' : 'hole-white';
  return `warning: mask ${maskFile} marks ${(100 * share).toFixed(1)}% of the image as the hole (${holeColour} = hole, ` +
    `--mask-convention ${convention}); if ${holeColour} marks the pixels to keep, pass --mask-convention ${other} ` +
    `(input.maskConvention: ${other})`;
}

/**
 * `--guide TYPE` (the config's guide options kept only for the same type), `--model DIR` (a model folder: no fit; adds
 * a refiner with its defaults to a config without one) and `--no-refine` (stage 1 only).
 */
export function applyGuideModelFlags(raw: Record<string, unknown>, flags: Pick<InpaintFlags, 'guide' | 'model' | 'refine' | 'fit' | 'keepModel' | 'tk'>, cwd: string): void {
  if (flags.guide !== undefined) {
    const g = raw.guide;
    const same = g !== null && typeof g === 'object' && ((g as { type?: unknown }).type ?? 'patch') === flags.guide;
    raw.guide = same ? { ...(g as Record<string, unknown>), type: flags.guide } : { type: flags.guide };
  }
  if (flags.refine === false) {
    const other = flags.model !== undefined ? '--model' : flags.fit !== undefined ? '--fit' : flags.keepModel !== undefined ? '--keep-model' : flags.tk !== undefined ? '--tk' : undefined;
    if (other) throw new ConfigError(`--no-refine and ${other} contradict each other (${other} sets the refiner)`, '--no-refine');
    setPath(raw, 'refiner.enabled', false);
  }
  if (flags.model !== undefined) {
    if (flags.fit !== undefined || flags.keepModel !== undefined) {
      throw new ConfigError(`--model and ${flags.fit !== undefined ? '--fit' : '--keep-model'} contradict each other (a model folder is used as it is, not fitted)`, '--model');
    }
    const { fit: _fit, ...model } = (raw.model ?? {}) as Record<string, unknown>;
    raw.model = { ...model, path: path.resolve(cwd, flags.model) };
    if (raw.refiner === undefined || raw.refiner === null) raw.refiner = {};
  }
}

/**
 * The fit flags: `--fit N` fits with an N-second budget (replacing a model folder of the config); `--no-fit` uses the
 * config's model folder, else the shipped colour prior; `--keep-model DIR` keeps the fitted model.
 */
export function applyFitFlags(raw: Record<string, unknown>, flags: Pick<InpaintFlags, 'fit' | 'fitEnabled' | 'keepModel'>, cwd: string): void {
  const model = (raw.model ?? {}) as Record<string, unknown>;
  if (flags.fitEnabled === false) {
    if (flags.fit !== undefined) throw new ConfigError('--fit and --no-fit contradict each other', '--fit');
    if (!model.path) raw.model = { ...model, fit: undefined, path: path.join(SHIPPED_MODELS_DIR, COLOUR_PRIOR) };
    else raw.model = { ...model, fit: undefined };
    return;
  }
  if (flags.fit !== undefined || flags.keepModel !== undefined) {
    const fit = { ...((model.fit ?? {}) as Record<string, unknown>) };
    if (flags.fit !== undefined) fit.seconds = flags.fit;
    if (flags.keepModel !== undefined) fit.keep = path.resolve(cwd, flags.keepModel);
    const { path: _p, ...rest } = model;
    raw.model = { ...rest, fit };
  }
}

/** The real path of a file (symlinks resolved), or of its folder + name when it does not exist yet. */
function realpathOrSelf(file: string): string {
  const abs = path.resolve(file);
  try {
    return realpathSync(abs);
  } catch {
    try {
      return path.join(realpathSync(path.dirname(abs)), path.basename(abs));
    } catch {
      return abs;
    }
  }
}
