/**
 * A queue worker: takes inpaint jobs from BullMQ and runs them with the CLI's own runner (`createPipeline` + the batch
 * mode's `runOne`: same checks, same messages, same output names, atomic writes). Pipelines are built once per distinct
 * config and kept (one model load per worker, shared by every job of that config).
 *
 * Faults: a bad input or config fails its job at once (UnrecoverableError: no retries) with the CLI's message; other
 * errors are retried with the job's backoff. A worker killed mid-job loses its lock; after `lockDuration` another
 * worker's stalled-job check (every `stalledInterval`) puts the job back and runs it again. close() (SIGTERM) finishes
 * the jobs in hand, then stops.
 */
import { promises as fs } from 'fs';
import { hostname } from 'os';
import * as path from 'path';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { Diff2sContainer, exitCodeFor } from '@diff2s/core';
import { progressUnits, runOne } from '../commands/inpaint';
import { parsePipelineConfig } from '../config/parse';
import { ModelResolver } from '../models';
import { createPipeline, type Pipeline } from '../pipeline';
import { connectRedis, QUEUE_NAME, redactUrl } from './connection';
import type { PipelineConfig } from '../config/schema';
import { EvalRunner, type EvalJobData, type EvalJobResult } from './eval';
import { JOB_VERSION, Roots, type InpaintJobData, type InpaintJobResult } from './jobs';

export interface WorkerOptions {
  queue: string;
  roots: string[];
  concurrency?: number;
  /** BullMQ lock duration in ms (a killed worker's job is taken over after it). Default 30000. */
  lockDuration?: number;
  /** BullMQ stalled-job check interval in ms. Default 30000. */
  stalledInterval?: number;
  container: Diff2sContainer;
  log?: (m: string) => void;
}

export interface RunningWorker {
  /** Finish the jobs in hand, then disconnect and free the models. */
  close(): Promise<void>;
  /** Resolves when the worker has closed. */
  closed: Promise<void>;
  /** Jobs finished by this worker (completed or failed). */
  readonly processed: number;
}

/** Most pipelines (distinct configs) kept loaded at once; the least recently used is disposed beyond. */
const MAX_PIPELINES = 4;

/** Remove temporary files a killed writer left for this job's outputs (the job is ours now: nobody else writes them). */
async function removeStaleTemps(outDir: string, stem: string, samples: number): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(outDir);
  } catch {
    return;
  }
  const esc = stem.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`^\\.${esc}${samples > 1 ? '_\\d+' : ''}_(stage1|stage2|sheet)\\.[A-Za-z]+\\.\\d+\\.[a-z0-9]+\\.tmp$`);
  await Promise.all(names.filter((n) => re.test(n)).map((n) => fs.rm(path.join(outDir, n), { force: true })));
}

export async function startWorker(options: WorkerOptions): Promise<RunningWorker> {
  const log = options.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const roots = new Roots(options.roots);
  const redis: Redis = await connectRedis(options.queue);
  const models = new ModelResolver(options.container, process.cwd(), options.container.logger);
  const pipelines = new Map<string, Promise<Pipeline>>();
  const me = `${hostname()}:${process.pid}`;
  let processed = 0;

  const pipelineFor = (config: PipelineConfig, baseDir: string): Promise<Pipeline> => {
    const { input: _i, output: _o, ...rest } = config;
    const key = JSON.stringify([rest, baseDir]);
    let p = pipelines.get(key);
    if (p) {
      pipelines.delete(key); // re-insert: most recently used last
      pipelines.set(key, p);
      return p;
    }
    p = createPipeline(config, { container: options.container, baseDir, models });
    p.catch(() => pipelines.delete(key));
    pipelines.set(key, p);
    while (pipelines.size > MAX_PIPELINES) {
      const [oldKey, old] = pipelines.entries().next().value as [string, Promise<Pipeline>];
      pipelines.delete(oldKey);
      old.then((x) => x.dispose(), () => undefined);
    }
    return p;
  };

  const evalRunner = new EvalRunner(options.container, roots, pipelineFor);

  const processJob = async (job: Job<InpaintJobData | EvalJobData, InpaintJobResult | EvalJobResult>): Promise<InpaintJobResult | EvalJobResult> => {
    if (job.data?.v === JOB_VERSION && job.data.kind === 'eval') return processEval(job as Job<EvalJobData>);
    return processInpaint(job as Job<InpaintJobData>);
  };

  const processEval = async (job: Job<EvalJobData>): Promise<EvalJobResult> => {
    const data = job.data;
    const what = `${data.runName} on ${data.itemId}`;
    try {
      log(`job ${job.id} (${what}): started${job.attemptsMade ? ` (attempt ${job.attemptsMade + 1})` : ''}`);
      const r = await evalRunner.run(job, me);
      log(`job ${job.id} (${what}): ${r.row.status === 'ok' ? 'done' : `recorded a failure: ${r.row.error};`} in ${r.seconds.toFixed(2)} s`);
      return r;
    } catch (err) {
      const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
      if (exitCodeFor(err) === 2 || err instanceof UnrecoverableError) {
        log(`job ${job.id} (${what}): ERROR: ${msg}`);
        throw err instanceof UnrecoverableError ? err : new UnrecoverableError(msg);
      }
      log(`job ${job.id} (${what}): ERROR: ${msg} (attempt ${job.attemptsMade + 1} of ${job.opts.attempts ?? 1})`);
      throw err;
    }
  };

  const processInpaint = async (job: Job<InpaintJobData>): Promise<InpaintJobResult> => {
    const t0 = performance.now();
    const data = job.data;
    try {
      if (data?.v !== JOB_VERSION || data.kind !== 'inpaint') {
        throw new UnrecoverableError(`job ${job.id} is not a diff2s inpaint or eval job of version ${JOB_VERSION} (submitted by another diff2s version?)`);
      }
      const cfg = parsePipelineConfig(data.config); // never trust the queue: validated again
      roots.checkJob({ ...data, config: cfg });
      log(`job ${job.id} (${data.stem}): started${job.attemptsMade ? ` (attempt ${job.attemptsMade + 1})` : ''}`);
      const pipeline = await pipelineFor(cfg, data.outDir);
      await removeStaleTemps(data.outDir, data.stem, cfg.samples);
      const units = progressUnits(cfg, pipeline);
      let last = 0;
      const inputs = new Map<string, { kind: 'image' | 'mask'; file: string }>();
      inputs.set(await fs.realpath(data.image).catch(() => data.image), { kind: 'image', file: data.image });
      if (data.mask) inputs.set(await fs.realpath(data.mask).catch(() => data.mask!), { kind: 'mask', file: data.mask });
      const outputs = await runOne(
        { stem: data.stem, image: data.image, ...(data.mask ? { mask: data.mask } : {}) },
        cfg, pipeline, data.outDir, false, units,
        (done) => {
          const now = Date.now();
          if (now - last < 250) return;
          last = now;
          job.updateProgress(Math.min(0.99, done / units.total)).catch(() => undefined);
        },
        (m) => log(`[${job.id}] ${m}`),
        inputs,
      );
      const seconds = (performance.now() - t0) / 1000;
      log(`job ${job.id} (${data.stem}): done in ${seconds.toFixed(2)} s: ${outputs.map((o) => path.basename(o)).join(', ')}`);
      return { outputs, seconds, worker: me };
    } catch (err) {
      const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
      if (err instanceof UnrecoverableError) {
        log(`job ${job.id}: ERROR: ${msg}`);
        throw err;
      }
      if (exitCodeFor(err) === 2) {
        // a bad input or config: the CLI's message, no retries
        log(`job ${job.id} (${data.stem}): ERROR: ${msg}`);
        throw new UnrecoverableError(msg);
      }
      log(`job ${job.id} (${data?.stem}): ERROR: ${msg} (attempt ${job.attemptsMade + 1} of ${job.opts.attempts ?? 1})`);
      throw err;
    }
  };

  const worker = new Worker<InpaintJobData | EvalJobData, InpaintJobResult | EvalJobResult>(QUEUE_NAME, processJob, {
    connection: redis,
    concurrency: options.concurrency ?? 1,
    lockDuration: options.lockDuration ?? 30000,
    stalledInterval: options.stalledInterval ?? 30000,
    autorun: false,
  });
  worker.on('completed', () => { processed++; });
  worker.on('failed', () => { processed++; });
  worker.on('error', (err) => log(`worker: ${err.message}`));
  worker.on('stalled', (id) => log(`worker: job ${id} stalled (its worker stopped renewing the lock): back in the queue`));
  await worker.waitUntilReady();
  log(`diff2s worker ${me} on ${redactUrl(options.queue)} (queue ${QUEUE_NAME}, concurrency ${options.concurrency ?? 1}, roots ${roots.dirs.join(', ')})`);
  const closed = worker.run();

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      await worker.close();
      await closed.catch(() => undefined);
      for (const p of pipelines.values()) await p.then((x) => x.dispose(), () => undefined);
      pipelines.clear();
      await models.dispose();
      redis.disconnect();
    })();
    return closing;
  };
  return {
    close,
    closed: closed.then(() => closing ?? Promise.resolve()),
    get processed() { return processed; },
  };
}
