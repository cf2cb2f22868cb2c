/**
 * `diff2s eval` configs on the queue: one job per run × image, run by workers with the eval's own `evalImage` (same
 * sample, masks, metrics and result files as `diff2s eval`); the submitting side's `--wait` collects the rows and writes
 * the eval's tables, plots, grid and report with `writeEvalOutputs`.
 */
import * as path from 'path';
import type { Job, Queue } from 'bullmq';
import { ConfigError, InputError, decodeImage, encodeImage, type Diff2sContainer, type Tensor4 } from '@diff2s/core';
import { readConfigFile } from '../config/load';
import { setPath } from '../config/parse';
import { evalImage, prepareEval, sampleLoader, writeEvalOutputs, type EvalContext, type EvalResult } from '../commands/eval';
import type { EvalItem, EvalSample } from '../eval/dataset';
import type { EvalRun } from '../eval/parse';
import { summarizeRun, type ImageRow, type RunSummary } from '../eval/results';
import { pipelineForImage } from '../eval/template';
import type { Pipeline } from '../pipeline';
import { JOB_VERSION, jobIdOf, type BatchInfo, type Roots } from './jobs';

/** One run of an eval config on one image of its dataset. */
export interface EvalJobData {
  v: number;
  kind: 'eval';
  batchId: string;
  index: number;
  /** The eval config as submitted: every path absolute, --limit and --seed applied. */
  evalConfig: Record<string, unknown>;
  configFile: string;
  only?: string[];
  runName: string;
  itemIndex: number;
  itemId: string;
  /** The item's image (the worker checks its dataset listing gives the same). */
  image: string;
  outDir: string;
  /** Whether the item is in the report's grid (the job returns its result as PNG). */
  grid: boolean;
}

/** Non-finite metric values survive JSON as strings. */
type Encoded = Record<string, number | string>;
export interface EvalJobResult {
  kind: 'eval';
  row: Omit<ImageRow, 'metrics' | 'unguarded'> & { metrics: Encoded; unguarded?: Encoded };
  channels?: string;
  summary?: string;
  /** The result as PNG (base64), for the grid. */
  gridPng?: string;
  seconds: number;
  worker: string;
}

const enc = (m: Record<string, number>): Encoded => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Number.isFinite(v) ? v : String(v)]));
const dec = (m: Encoded): Record<string, number> => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, typeof v === 'number' ? v : Number(v)]));

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
/** Path keys of a raw method pipeline (as CONFIG_PATH_KEYS, on the raw object), with values that are not paths. */
const PIPELINE_PATHS: [string, string[]][] = [
  ['model.path', []], ['model.fit.init', ['prior', 'none']], ['model.fit.keep', []], ['guide.model', ['fit']], ['guide.path', []], ['guide.dir', []],
];

function getPath(o: Obj, key: string): unknown {
  let cur: unknown = o;
  for (const k of key.split('.')) cur = isObj(cur) ? cur[k] : undefined;
  return cur;
}

/**
 * Every path of a raw eval config, made absolute against `baseDir` (dataset images and masks, classifier files,
 * the methods' pipeline paths and path-valued sweeps); `visit` sees each (key, absolute path).
 */
export function absolutizeEvalConfig(raw: Obj, baseDir: string, visit?: (key: string, p: string) => void): Obj {
  const out = structuredClone(raw);
  const abs = (key: string, v: unknown): unknown => {
    if (typeof v !== 'string') return v;
    const p = path.resolve(baseDir, v);
    visit?.(key, p);
    return p;
  };
  const ds = out.dataset;
  if (isObj(ds)) {
    ds.images = Array.isArray(ds.images) ? ds.images.map((x, i) => abs(`dataset.images[${i}]`, x)) : abs('dataset.images', ds.images);
    if (isObj(ds.masks)) for (const k of ['dir', 'file']) if (k in ds.masks) ds.masks[k] = abs(`dataset.masks.${k}`, ds.masks[k]);
  }
  if (Array.isArray(out.metrics)) {
    out.metrics.forEach((m, i) => {
      if (isObj(m)) for (const k of ['model', 'labels']) if (k in m) m[k] = abs(`metrics[${i}].${k}`, m[k]);
    });
  }
  if (Array.isArray(out.methods)) {
    out.methods.forEach((m, i) => {
      if (!isObj(m)) return;
      if (isObj(m.pipeline)) {
        for (const [key, skip] of PIPELINE_PATHS) {
          const v = getPath(m.pipeline, key);
          if (typeof v === 'string' && !skip.includes(v)) setPath(m.pipeline, key, abs(`methods[${i}].pipeline.${key}`, v));
        }
      }
      if (isObj(m.sweep)) {
        for (const [key, skip] of PIPELINE_PATHS) {
          const vals = m.sweep[key];
          if (Array.isArray(vals)) m.sweep[key] = vals.map((v) => (typeof v === 'string' && !skip.includes(v) ? abs(`methods[${i}].sweep["${key}"]`, v) : v));
        }
      }
    });
  }
  return out;
}

/** Flags of an eval submit. */
export interface EvalSubmitFlags {
  eval: string;
  out?: string;
  limit?: number;
  seed?: number;
  only?: string[];
  quiet?: boolean;
}

/**
 * The jobs of an eval config: validated here (every run composed once, the dataset found, the classifiers loaded),
 * one job per run × image in the CLI's order (run by run).
 */
export async function evalJobs(flags: EvalSubmitFlags, batchId: string, container: Diff2sContainer): Promise<{ info: Omit<BatchInfo, 'id' | 'created'>; jobs: EvalJobData[]; ctx: EvalContext }> {
  const { value, baseDir } = await readConfigFile(flags.eval);
  const raw = structuredClone(value) as Obj;
  if (flags.limit !== undefined) setPath(raw, 'dataset.limit', flags.limit);
  if (flags.seed !== undefined) setPath(raw, 'seed', flags.seed);
  const outDir = flags.out !== undefined ? path.resolve(flags.out) : path.resolve(baseDir, typeof raw.output === 'string' ? raw.output : 'out/eval');
  const evalConfig = absolutizeEvalConfig(raw, baseDir);
  evalConfig.output = outDir;
  const ctx = await prepareEval({ config: flags.eval, out: outDir, ...(flags.only ? { only: flags.only } : {}), quiet: flags.quiet }, container, { raw: evalConfig, baseDir });
  const configFile = path.resolve(flags.eval);
  const jobs: EvalJobData[] = [];
  for (const run of ctx.runs) {
    for (const item of ctx.items) {
      jobs.push({
        v: JOB_VERSION, kind: 'eval', batchId, index: jobs.length, evalConfig, configFile, ...(flags.only ? { only: flags.only } : {}),
        runName: run.name, itemIndex: item.index, itemId: item.id, image: item.image, outDir, grid: item.index < ctx.gridCount,
      });
    }
  }
  return {
    info: { kind: 'eval', total: jobs.length, image: ctx.dataset.description, outDir, skipped: ctx.dataset.unmatched, evalConfig, configFile, ...(flags.only ? { only: flags.only } : {}) },
    jobs,
    ctx,
  };
}

/** A worker's eval state: contexts (dataset listing, classifiers, sample loaders) per eval config. */
export class EvalRunner {
  private readonly contexts = new Map<string, Promise<{ ctx: EvalContext; sampleOf: (item: EvalItem) => Promise<EvalSample> }>>();

  constructor(
    private readonly container: Diff2sContainer,
    private readonly roots: Roots,
    private readonly pipelineFor: (cfg: EvalRun['pipeline'], baseDir: string) => Promise<Pipeline>,
  ) {}

  private contextFor(data: EvalJobData) {
    const key = JSON.stringify([data.evalConfig, data.only ?? null, data.outDir]);
    let c = this.contexts.get(key);
    if (!c) {
      c = prepareEval({ config: data.configFile, out: data.outDir, ...(data.only ? { only: data.only } : {}), quiet: true }, this.container, { validate: false, raw: data.evalConfig, baseDir: data.outDir })
        .then((ctx) => ({ ctx, sampleOf: sampleLoader(ctx) }));
      c.catch(() => this.contexts.delete(key));
      this.contexts.set(key, c);
      while (this.contexts.size > 2) this.contexts.delete(this.contexts.keys().next().value as string);
    }
    return c;
  }

  /** Run one eval job. A runtime failure of the pipeline throws while attempts are left (BullMQ retries); otherwise it is recorded in the row, as `diff2s eval` does. */
  async run(job: Job<EvalJobData>, worker: string): Promise<EvalJobResult> {
    const t0 = performance.now();
    const data = job.data;
    this.roots.check(data.outDir, 'output folder');
    // every file the config names, before the dataset is listed or a classifier read
    absolutizeEvalConfig(data.evalConfig, data.outDir, (key, p) => this.roots.check(p, key));
    const { ctx, sampleOf } = await this.contextFor(data);
    const run = ctx.runs.find((r) => r.name === data.runName);
    if (!run) throw new ConfigError(`the eval config has no run "${data.runName}"`);
    const item = ctx.items[data.itemIndex];
    if (!item || item.image !== data.image) {
      throw new InputError(`the dataset changed since the submit: item ${data.itemIndex} is ${item?.image ?? 'missing'}, the job names ${data.image}`, data.image);
    }
    this.roots.check(item.image, 'image');
    if (item.mask) this.roots.check(item.mask, 'mask');
    const cfg = pipelineForImage(run.pipeline, item.image);
    this.roots.checkPipeline(cfg, data.outDir, `run "${run.name}": `);
    let summary: string | undefined;
    const r = await evalImage(ctx, run, item, async () => {
      const p = await this.pipelineFor(cfg, data.outDir);
      summary = cfg !== run.pipeline && cfg.model ? p.summary.replace(`model ${cfg.model.path}`, `model ${run.pipeline.model!.path}`) : p.summary;
      return p;
    }, sampleOf);
    if (r.row.status === 'failed' && r.row.errorCode === 1 && job.attemptsMade + 1 < (job.opts.attempts ?? 1)) throw new Error(r.row.error);
    const { metrics, unguarded, ...rest } = r.row;
    return {
      kind: 'eval',
      row: { ...rest, metrics: enc(metrics), ...(unguarded ? { unguarded: enc(unguarded) } : {}) },
      ...(r.channels ? { channels: r.channels } : {}),
      ...(summary ? { summary } : {}),
      ...(r.final && data.grid ? { gridPng: (await encodeImage(r.final, 'png')).toString('base64') } : {}),
      seconds: (performance.now() - t0) / 1000,
      worker,
    };
  }
}

/**
 * The eval's outputs from a finished eval batch: rows in the CLI's order (a job that failed outright becomes a failed
 * row with its reason), per-run summaries (wall seconds: the runs' job times summed over the workers), the grid from
 * the jobs' PNGs, and every file `diff2s eval` writes.
 */
export async function finishEval(queue: Queue, rec: BatchInfo, container: Diff2sContainer, quiet?: boolean): Promise<EvalResult> {
  const ctx = await prepareEval({ config: rec.configFile ?? 'eval.yaml', out: rec.outDir, ...(rec.only ? { only: rec.only } : {}), quiet }, container, { validate: false, raw: rec.evalConfig ?? {}, baseDir: rec.outDir });
  // the eval ran from the submit on: its start and duration are the batch's
  const created = Date.parse(rec.created);
  if (Number.isFinite(created)) {
    ctx.started = new Date(created);
    ctx.t0 = performance.now() - (Date.now() - created);
  }
  const { runs, items, columns, gridCount } = ctx;
  if (runs.length * items.length !== rec.total) throw new InputError(`the eval's dataset changed since the submit (${runs.length * items.length} image runs, the batch has ${rec.total})`);
  const rows: ImageRow[] = [];
  const summaries: RunSummary[] = [];
  const gridResults = new Map<string, Tensor4>();
  const workers = new Set<string>();
  for (const [ri, run] of runs.entries()) {
    const runRows: ImageRow[] = [];
    let seconds = 0;
    let channels = '';
    let summary = '';
    for (const item of items) {
      const job = (await queue.getJob(jobIdOf(rec.id, ri * items.length + item.index))) as Job<EvalJobData, EvalJobResult> | undefined;
      const state = job ? await job.getState() : 'unknown';
      const r = state === 'completed' ? job!.returnvalue : undefined;
      if (job?.finishedOn && job.processedOn) seconds += (job.finishedOn - job.processedOn) / 1000;
      if (r) {
        workers.add(r.worker);
        if (r.channels) channels = r.channels;
        if (r.summary && !summary) summary = r.summary;
        const { metrics, unguarded, ...rest } = r.row;
        runRows.push({ ...rest, metrics: dec(metrics), ...(unguarded ? { unguarded: dec(unguarded) } : {}) });
        if (r.gridPng) {
          const png = Buffer.from(r.gridPng, 'base64');
          gridResults.set(`${run.name}\u0000${item.index}`, (await decodeImage(png, `${item.id}.png`)).tensor);
        }
      } else {
        const unrecoverable = !!job && job.attemptsMade < (job.opts.attempts ?? 1);
        runRows.push({
          run: run.name, method: run.method, params: run.params, image: item.id, file: item.image, status: 'failed',
          error: job?.failedReason ?? 'job removed from the queue', errorCode: unrecoverable || !job ? 2 : 1,
          metrics: Object.fromEntries(columns.map((c) => [c.key, NaN])), knownPixelViolations: 0,
        });
      }
    }
    rows.push(...runRows);
    summaries.push(summarizeRun({
      run: run.name, slug: run.slug, method: run.method, params: run.params, pipeline: summary, seed: run.pipeline.seed, channels, wallSeconds: seconds,
    }, runRows, columns));
  }
  const gridSamples = new Map<number, EvalSample>();
  const sampleOf = sampleLoader(ctx);
  for (const item of items.slice(0, gridCount)) {
    try {
      gridSamples.set(item.index, await sampleOf(item));
    } catch {
      // an unreadable sample: its failed rows say why; the grid leaves it out
    }
  }
  return writeEvalOutputs(ctx, rows, summaries, gridSamples, gridResults, { queue: `${workers.size} worker(s)` });
}
