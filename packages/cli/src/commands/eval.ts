/**
 * `diff2s eval --config eval.yaml`: run a list of pipelines (methods, sweeps expanded) over a dataset with synthetic
 * holes, measure every result against the original image, check the known-pixel invariant, and write per-image and
 * summary tables, plots, a sample grid and one self-contained HTML report.
 */
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  ConfigError, Diff2sContainer, InputError, ModelError, Tensor4, encodeImage, exitCodeFor, knownPixelViolations, maskToImage,
  quantizeTensor8, toChannels, writeFileAtomic, writeImage,
} from '@diff2s/core';
import { describeBackend, engineInfo } from '@diff2s/engine';
import { createPipeline, type Pipeline } from '../pipeline';
import { ConfigErrors, readConfigFile, resolvePath } from '../config/load';
import { setPath } from '../config/parse';
import { loadSample, resolveDataset, type EvalItem, type EvalSample, type ResolvedDataset } from '../eval/dataset';
import { composeGrid, maskedInput } from '../eval/grid';
import { measure } from '../eval/measure';
import { loadClassifyScorers, type ClassifyScorer } from '../eval/classify';
import { parseEvalConfig, type EvalRun, type ParsedEval } from '../eval/parse';
import { pipelineForImage, usesStem } from '../eval/template';
import { stemOf } from '../inputs';
import {
  makePlots, perImageCsv, reportHtml, summaryCsv, summaryJson, summaryMarkdown, toJson, type EvalReportData, type HtmlGrid,
} from '../eval/report';
import { summarizeRun, type ImageRow, type RunSummary } from '../eval/results';
import { evalJsonSchema } from '../eval/schema';
import { Progress } from '../progress';

/** Flags of `diff2s eval` (paths resolve against the working directory). */
export interface EvalFlags {
  config: string;
  /** Override the output folder. */
  out?: string;
  /** Override dataset.limit. */
  limit?: number;
  /** Override the eval seed. */
  seed?: number;
  /** Only these runs (names or method names; a run matches when its name or its method's name is listed). */
  only?: string[];
  quiet?: boolean;
}

/** What `diff2s eval` wrote and found. */
export interface EvalResult {
  outputDir: string;
  /** Main files: report.html, summary.md, summary.csv, summary.json, per-image.csv, per-image.json, grid.png (if any). */
  files: Record<string, string>;
  plots: string[];
  runs: RunSummary[];
  rows: ImageRow[];
  failed: number;
  knownPixelViolations: number;
  seconds: number;
  /** 0: all good; 1: known-pixel violations or an internal failure; 2: failures from inputs/config only. */
  exitCode: number;
}

function stripAt(e: ConfigError): string {
  const suffix = ` (at ${e.path})`;
  return e.path && e.message.endsWith(suffix) ? e.message.slice(0, -suffix.length) : e.message;
}

/** The distinct pipeline configs of a run over the items (one, unless it uses `{stem}`), with the items' stems. */
function configsOf(run: EvalRun, items: EvalItem[]): { pipeline: EvalRun['pipeline']; image?: string }[] {
  if (!usesStem(run.pipeline)) return [{ pipeline: run.pipeline }];
  const seen = new Map<string, { pipeline: EvalRun['pipeline']; image?: string }>();
  for (const item of items) {
    const p = pipelineForImage(run.pipeline, item.image);
    const key = JSON.stringify(p);
    if (!seen.has(key)) seen.set(key, { pipeline: p, image: path.basename(item.image) });
  }
  return [...seen.values()];
}

/**
 * Compose every run once (per distinct `{stem}` substitution; then dispose) so config problems stop the eval before
 * any work, with method key paths.
 */
async function validateRuns(runs: EvalRun[], items: EvalItem[], baseDir: string, container: Diff2sContainer): Promise<void> {
  const errors: ConfigError[] = [];
  const seen = new Set<string>();
  const add = (e: ConfigError) => {
    if (!seen.has(e.message)) {
      seen.add(e.message);
      errors.push(e);
    }
  };
  for (const run of runs) {
    const where = (p: string): string => {
      const key = Object.keys(run.params).find((k) => p === k || p.startsWith(`${k}.`));
      if (key) return `methods[${run.methodIndex}].sweep["${key}"]`;
      return `methods[${run.methodIndex}].pipeline${p ? `.${p}` : ''}`;
    };
    for (const { pipeline, image } of configsOf(run, items)) {
      const forImage = image ? ` (for ${image})` : '';
      try {
        const p = await createPipeline(pipeline, { container, baseDir });
        await p.dispose();
      } catch (err) {
        const list = err instanceof ConfigErrors ? err.errors : err instanceof ConfigError ? [err] : undefined;
        if (list) {
          for (const e of list) {
            const key = Object.keys(run.params).find((k) => e.path === k || e.path.startsWith(`${k}.`));
            add(new ConfigError(`${stripAt(e)}${key ? ` (${run.name})` : ''}${forImage}`, where(e.path)));
          }
        } else if (err instanceof InputError || err instanceof ModelError) {
          // the composition root's only file access is the refiner's model
          add(new ConfigError(`${(err as Error).message.split('\n')[0]}${forImage}`, `methods[${run.methodIndex}].pipeline${pipeline.model ? '.model.path' : ''}`));
        } else throw err;
      }
    }
  }
  if (errors.length) throw new ConfigErrors(errors);
}

async function pngDataUrl(t: Tensor4): Promise<string> {
  return `data:image/png;base64,${(await encodeImage(t, 'png')).toString('base64')}`;
}

/** The image as the pipeline works on it: its channels converted to the pipeline's (8-bit values kept). */
function adapt(t: Tensor4, channels: Pipeline['channels']): Tensor4 {
  // a colour image for a grey model is measured in grey (the runner itself turns grey images into colour for a colour model)
  if (channels !== 1 || t.c !== 3) return t;
  return quantizeTensor8(toChannels(t, channels).clone());
}

/**
 * Run the eval described by `flags.config`. Config problems throw {@link ConfigErrors} (one line each, exit 2) before
 * any image is processed; a run failing on one image is recorded and the rest continue.
 */
/** Everything an eval needs before its first image: the config, its runs, the dataset, the classifiers, the output folder. */
export interface EvalContext {
  configFile: string;
  baseDir: string;
  config: ParsedEval['config'];
  columns: ParsedEval['columns'];
  runs: EvalRun[];
  dataset: ResolvedDataset;
  items: EvalItem[];
  classifiers: Map<string, ClassifyScorer>;
  outputDir: string;
  maskSeed: number;
  /** Images shown in the grid: the first `gridCount` items. */
  gridCount: number;
  started: Date;
  t0: number;
  log: (m: string) => void;
  /** A warning, printed once. */
  warn: (m: string) => void;
}

/**
 * Read, validate and expand an eval config (flags applied), find the dataset, load the classifiers and create the
 * output folder. Config problems throw {@link ConfigErrors} (one line each, exit 2) before any image is processed.
 * `validate: false` skips composing every run (done once by whoever submitted the eval).
 */
export async function prepareEval(flags: EvalFlags, container: Diff2sContainer, options: { validate?: boolean; raw?: Record<string, unknown>; baseDir?: string } = {}): Promise<EvalContext> {
  const started = new Date();
  const t0 = performance.now();
  const read = options.raw ? { value: options.raw, baseDir: options.baseDir ?? process.cwd() } : await readConfigFile(flags.config);
  const { value, baseDir } = read;
  const raw = structuredClone(value) as Record<string, unknown>;
  if (flags.limit !== undefined) setPath(raw, 'dataset.limit', flags.limit);
  if (flags.seed !== undefined) setPath(raw, 'seed', flags.seed);
  const parsed = parseEvalConfig(raw);
  const { config, columns } = parsed;
  let runs = parsed.runs;
  if (flags.only?.length) {
    const want = new Set(flags.only);
    runs = runs.filter((r) => want.has(r.name) || want.has(r.method));
    if (runs.length === 0) {
      throw new ConfigErrors([new ConfigError(`--only matches no run; runs: ${parsed.runs.map((r) => `"${r.name}"`).join(', ')}`, '--only')]);
    }
  }
  const dataset = await resolveDataset(config.dataset, baseDir);
  if (options.validate !== false) await validateRuns(runs, dataset.items, baseDir, container);
  const classifiers = await loadClassifyScorers(columns, dataset.items.map((it) => stemOf(it.image)), baseDir);
  const outputDir = flags.out !== undefined ? path.resolve(process.cwd(), flags.out) : resolvePath(baseDir, config.output);
  await fs.mkdir(path.join(outputDir, 'plots'), { recursive: true });
  const log = (m: string) => {
    if (!flags.quiet) process.stderr.write(`${m}\n`);
  };
  const warnings = new Set<string>();
  const warn = (m: string) => {
    if (!warnings.has(m)) {
      warnings.add(m);
      log(`warning: ${m}`);
    }
  };
  const maskSeed = ('type' in config.dataset.masks ? config.dataset.masks.seed : undefined) ?? config.seed;
  const items = dataset.items;
  return {
    configFile: path.resolve(flags.config), baseDir, config, columns, runs, dataset, items, classifiers, outputDir, maskSeed,
    gridCount: Math.min(config.grid.maxImages, items.length), started, t0, log, warn,
  };
}

/**
 * The samples of a context's items: loaded (and cached while they fail), each item's mask written to masks/ and its
 * crop to reference/ once; `onFirst` sees every sample the first time it loads.
 */
export function sampleLoader(ctx: EvalContext, onFirst?: (s: EvalSample) => void): (item: EvalItem) => Promise<EvalSample> {
  const written = new Set<number>();
  const sampleErrors = new Map<number, Error>();
  return async (item: EvalItem): Promise<EvalSample> => {
    const known = sampleErrors.get(item.index);
    if (known) throw known;
    try {
      const s = await loadSample(item, ctx.config.dataset, ctx.maskSeed, ctx.warn);
      if (!written.has(item.index)) {
        written.add(item.index);
        await writeImage(path.join(ctx.outputDir, 'masks', `${item.id}.png`), maskToImage(s.mask));
        if (ctx.config.dataset.crop) await writeImage(path.join(ctx.outputDir, 'reference', `${item.id}.png`), s.image);
        onFirst?.(s);
      }
      return s;
    } catch (err) {
      sampleErrors.set(item.index, err as Error);
      throw err;
    }
  };
}

/**
 * One run on one image: the row of per-image.csv (a failure is recorded in it, with its message and exit code) and,
 * when it succeeded, the final image (results/<run>/<id>.png written when the config saves results).
 */
export async function evalImage(
  ctx: EvalContext,
  run: EvalRun,
  item: EvalItem,
  pipelineFor: (item: EvalItem) => Promise<Pipeline>,
  sampleOf: (item: EvalItem) => Promise<EvalSample>,
  onProgress: (info: string) => void = () => undefined,
): Promise<{ row: ImageRow; final?: Tensor4; channels?: string }> {
  const { columns, classifiers, config, outputDir } = ctx;
  const row: ImageRow = {
    run: run.name, method: run.method, params: run.params, image: item.id, file: item.image,
    status: 'ok', metrics: {}, knownPixelViolations: 0,
  };
  const info = `${run.name} · ${item.id}`;
  let channels: string | undefined;
  try {
    const pipeline = await pipelineFor(item);
    channels = String(pipeline.channels);
    const steps = pipeline.refinerSteps;
    const s = await sampleOf(item);
    row.holeFraction = s.holeFraction;
    const input = adapt(s.image, pipeline.channels);
    if (input !== s.image) {
      ctx.warn(`run "${run.name}" works in ${pipeline.channels} channel(s) (its model's); ${item.id} has ${s.image.c}: converted, and its reference too`);
    }
    const res = await pipeline.run({
      image: input,
      mask: s.mask,
      seed: run.pipeline.seed,
      onProgress: (e) => {
        if (e.stage === 'refiner') onProgress(`${info} step ${e.step.index}/${e.step.total}`);
        else if (e.stage === 'fit') onProgress(`${info} fitting ${Math.round(e.fit.seconds)}/${Math.round(e.fit.budget)} s`);
      },
    });
    const final = quantizeTensor8(res.final.slice(0));
    row.guideMs = res.timings.guideMs;
    row.fitMs = res.timings.fitMs;
    if (res.model?.fit) row.fitSeconds = res.model.fit.seconds;
    row.refinerMs = res.timings.refinerMs;
    row.totalMs = res.timings.guideMs + res.timings.fitMs + res.timings.refinerMs;
    if (res.guard) row.guard = res.guard[0].accept ? 'refined' : 'stage1';
    row.steps = res.stage2 ? steps : 0;
    row.knownPixelViolations = knownPixelViolations(final, input, s.mask);
    const tm = performance.now();
    row.metrics = measure(final, input, s.mask, columns, { stem: stemOf(item.image), classifiers });
    if (res.guard && res.stage2) {
      row.unguarded = measure(quantizeTensor8(res.stage2.slice(0)), input, s.mask, columns, { stem: stemOf(item.image), classifiers });
    }
    row.metricsMs = performance.now() - tm;
    if (config.saveResults) {
      row.result = path.join('results', run.slug, `${item.id}.png`).split(path.sep).join('/');
      await writeImage(path.join(outputDir, row.result), final);
    }
    return { row, final, channels };
  } catch (err) {
    row.status = 'failed';
    row.error = err instanceof Error ? err.message.split('\n')[0] : String(err);
    row.errorCode = exitCodeFor(err);
    row.metrics = Object.fromEntries(columns.map((c) => [c.key, NaN]));
    return { row, ...(channels ? { channels } : {}) };
  }
}

/**
 * Run the eval described by `flags.config`. Config problems throw {@link ConfigErrors} (one line each, exit 2) before
 * any image is processed; a run failing on one image is recorded and the rest continue.
 */
export async function evalCommand(flags: EvalFlags, container: Diff2sContainer): Promise<EvalResult> {
  const ctx = await prepareEval(flags, container);
  const { runs, dataset, items, baseDir, log, gridCount, columns } = ctx;
  log(`diff2s eval: ${runs.length} run(s) × ${dataset.items.length} input(s); ${dataset.description}`);
  for (const u of dataset.unmatched) log(`skipped ${u}: no mask with the same file stem`);
  const gridSamples = new Map<number, EvalSample>();
  const gridResults = new Map<string, Tensor4>(); // `${run}\u0000${index}`
  const sampleOf = sampleLoader(ctx, (s) => { if (s.item.index < gridCount) gridSamples.set(s.item.index, s); });

  const rows: ImageRow[] = [];
  const summaries: RunSummary[] = [];
  const bar = new Progress('eval', !flags.quiet);
  const total = runs.length * items.length;
  bar.start(total);
  let done = 0;
  try {
    for (const run of runs) {
      const runStart = performance.now();
      // one composed pipeline at a time: a `{stem}` run composes again when the substituted config changes
      let pipeline: Pipeline | undefined;
      let pipelineKey = '';
      let summary = '';
      const pipelineFor = async (item: EvalItem): Promise<Pipeline> => {
        const cfg = pipelineForImage(run.pipeline, item.image);
        const key = cfg === run.pipeline ? '' : JSON.stringify(cfg);
        if (!pipeline || key !== pipelineKey) {
          const old = pipeline;
          pipeline = undefined;
          await old?.dispose();
          pipeline = await createPipeline(cfg, { container, baseDir });
          pipelineKey = key;
          // the summary names the model path: show the run's own (with `{stem}`), not this image's
          if (!summary) summary = key && cfg.model ? pipeline.summary.replace(`model ${cfg.model.path}`, `model ${run.pipeline.model!.path}`) : pipeline.summary;
        }
        return pipeline;
      };
      const runRows: ImageRow[] = [];
      let channels = '';
      try {
        for (const item of items) {
          const info = `${run.name} · ${item.id}`;
          bar.update(done, info);
          const r = await evalImage(ctx, run, item, pipelineFor, sampleOf, (text) => bar.update(done, text));
          if (r.channels) channels = r.channels;
          if (r.final && item.index < gridCount) gridResults.set(`${run.name}\u0000${item.index}`, r.final);
          if (r.row.status === 'failed') {
            bar.stop();
            log(`ERROR: ${run.name} on ${item.id}: ${r.row.error} (recorded; continuing)`);
          }
          runRows.push(r.row);
          done++;
          bar.update(done, info);
        }
      } finally {
        await (pipeline as Pipeline | undefined)?.dispose();
      }
      rows.push(...runRows);
      summaries.push(summarizeRun({
        run: run.name, slug: run.slug, method: run.method, params: run.params, pipeline: summary,
        seed: run.pipeline.seed, channels, wallSeconds: (performance.now() - runStart) / 1000,
      }, runRows, columns));
    }
  } finally {
    bar.stop();
  }

  return writeEvalOutputs(ctx, rows, summaries, gridSamples, gridResults);
}

/**
 * The eval's outputs from its rows and run summaries: per-image.csv/.json, summary.md/.csv/.json, plots, the grid of
 * `gridSamples` × runs (`gridResults` keyed `${run name}\u0000${item index}`) and report.html; the result and exit code.
 */
export async function writeEvalOutputs(
  ctx: EvalContext,
  rows: ImageRow[],
  summaries: RunSummary[],
  gridSamples: Map<number, EvalSample>,
  gridResults: Map<string, Tensor4>,
  environmentExtra: Record<string, string> = {},
): Promise<EvalResult> {
  const { config, columns, runs, dataset, items, outputDir, log, started, t0 } = ctx;
  // ---- outputs
  const files: Record<string, string> = {};
  const put = async (name: string, data: string | Uint8Array) => {
    const f = path.join(outputDir, name);
    await writeFileAtomic(f, data);
    files[name] = f;
  };
  const finished = new Date();
  const seconds = (performance.now() - t0) / 1000;
  const engine = engineInfo();
  const environment: Record<string, string> = {
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    cpu: `${os.cpus()[0]?.model?.trim() ?? 'unknown'} ×${os.cpus().length}`,
    ...(engine ? { engine: describeBackend(engine) } : {}),
    ...environmentExtra,
  };
  const data: EvalReportData = {
    title: config.title,
    description: config.description,
    configFile: ctx.configFile,
    config,
    dataset: { description: dataset.description, images: items.map((i) => ({ id: i.id, file: i.image })), unmatched: dataset.unmatched, found: dataset.found },
    runs: summaries,
    rows,
    columns,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    seconds,
    environment,
  };
  await put('per-image.csv', perImageCsv(rows, columns));
  await put('per-image.json', toJson(rows));
  await put('summary.md', summaryMarkdown(data));
  await put('summary.csv', summaryCsv(summaries, columns));
  await put('summary.json', summaryJson(data));
  const plots = makePlots(summaries, columns, runs);
  const plotFiles: string[] = [];
  for (const p of plots) {
    const f = path.join(outputDir, 'plots', p.file);
    await writeFileAtomic(f, p.svg + '\n');
    plotFiles.push(f);
  }
  let grid: HtmlGrid | undefined;
  const gridIdx = [...gridSamples.keys()].sort((a, b) => a - b);
  if (gridIdx.length) {
    const cellRows: (Tensor4 | undefined)[][] = [];
    grid = { columns: ['input + mask', ...runs.map((r) => r.name), 'reference'], rows: [], cellWidth: 0 };
    for (const i of gridIdx) {
      const s = gridSamples.get(i)!;
      const cells = [maskedInput(s.image, s.mask), ...runs.map((r) => gridResults.get(`${r.name}\u0000${i}`)), s.image];
      cellRows.push(cells);
      grid.rows.push({ image: items[i].id, cells: await Promise.all(cells.map((c) => (c ? pngDataUrl(c) : Promise.resolve(undefined)))) });
    }
    const maxW = Math.max(...gridIdx.map((i) => gridSamples.get(i)!.image.w));
    grid.cellWidth = Math.max(96, Math.min(256, maxW));
    await put('grid.png', await encodeImage(composeGrid(cellRows), 'png'));
  }
  await put('report.html', reportHtml(data, plots, grid));
  const failed = rows.filter((r) => r.status === 'failed');
  const violations = rows.reduce((a, r) => a + r.knownPixelViolations, 0);
  const exitCode = violations > 0 || failed.some((r) => r.errorCode === 1) ? 1 : failed.length ? 2 : 0;
  log(`eval: ${rows.length - failed.length}/${rows.length} image runs ok, ${failed.length} failed, ${violations} known-pixel violations, ${seconds.toFixed(1)} s; report: ${files['report.html']}`);
  return { outputDir, files, plots: plotFiles, runs: summaries, rows, failed: failed.length, knownPixelViolations: violations, seconds, exitCode };
}

/** The eval config's JSON Schema as pretty JSON (for editors: put "$schema" in your eval config). */
export function evalSchemaCommand(container: Diff2sContainer): string {
  return JSON.stringify(evalJsonSchema(container), null, 2);
}
