/**
 * `diff2s batch submit | status | retry`: batch inpainting as jobs on a Redis-backed queue (BullMQ), run by
 * `diff2s worker` processes on any machine that sees the same storage (see queue/jobs.ts for the contract).
 * Inputs, flags and output names are the batch mode's of `diff2s inpaint`; one job per image. With `--eval`, an eval
 * config instead: one job per run × image (queue/eval.ts), the eval's report written after the batch.
 */
import * as path from 'path';
import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { ConfigError, type Diff2sContainer } from '@diff2s/core';
import { ConfigErrors } from '../config/load';
import { createPipeline } from '../pipeline';
import { writeBatchSummary, type BatchRecord as SummaryRecord } from '../batch-summary';
import { Progress, formatDuration, linearEta } from '../progress';
import { connectRedis, batchKey, QUEUE_NAME } from '../queue/connection';
import {
  JOB_VERSION, absolutizeConfig, jobIdOf, newBatchId, type BatchInfo, type InpaintJobData, type InpaintJobResult,
} from '../queue/jobs';
import { evalJobs, finishEval, type EvalJobData, type EvalJobResult } from '../queue/eval';
import { prepareInpaint, type InpaintFlags } from './inpaint';

export interface SubmitFlags extends Pick<InpaintFlags, 'config' | 'image' | 'mask' | 'maskConvention' | 'seed' | 'samples' | 'concat' | 'tk' | 'fit' | 'fitEnabled' | 'keepModel' | 'set' | 'guide' | 'model' | 'refine' | 'quiet'> {
  out?: string;
  queue: string;
  wait?: boolean;
  /** Attempts per job for runtime errors (bad inputs fail at once). Default 3. */
  attempts?: number;
  /** First retry delay in ms (exponential backoff). Default 2000. */
  backoff?: number;
  /** An eval config: one job per run × image instead (`--wait` writes the eval's report). */
  eval?: string;
  limit?: number;
  only?: string[];
}

export interface BatchState {
  id: string;
  total: number;
  done: { image: string; outputs: string[] }[];
  failed: { image: string; error: string; attempts: number; unrecoverable: boolean }[];
  active: { image: string; progress: number }[];
  /** Job ids of the jobs waiting (or delayed for a retry). */
  waiting: string[];
  skipped: string[];
  /** The batch mode's summary rows (summary.csv/.json), in submit order: finished jobs, then the skipped images. */
  records: SummaryRecord[];
}

type AnyData = InpaintJobData | EvalJobData;
type AnyResult = InpaintJobResult | EvalJobResult;
type AnyJob = Job<AnyData, AnyResult>;
type AnyQueue = Queue<AnyData, AnyResult>;

const IMG_EXT = /\.(png|jpe?g|webp)$/i;

async function openQueue(url: string): Promise<{ redis: Redis; queue: AnyQueue; close: () => Promise<void> }> {
  const redis = await connectRedis(url, { failFast: true });
  const queue: AnyQueue = new Queue<AnyData, AnyResult>(QUEUE_NAME, { connection: redis });
  return { redis, queue, close: async () => { await queue.close(); redis.disconnect(); } };
}

async function readBatch(redis: Redis, id: string): Promise<BatchInfo> {
  if (!/^[A-Za-z0-9_-]+$/.test(id)) throw new ConfigError(`"${id}" is not a batch id`);
  const raw = await redis.get(batchKey(id));
  if (!raw) throw new ConfigError(`no batch "${id}" on this queue`);
  return JSON.parse(raw) as BatchInfo;
}

/** Submit one job per image; with `wait`, follow the batch to its end. Resolves to the batch id and the exit code. */
export async function submitCommand(flags: SubmitFlags, container: Diff2sContainer): Promise<{ id: string; exitCode: number; state?: BatchState }> {
  if (flags.eval !== undefined) return submitEval(flags, flags.eval, container);
  const { cfg, baseDir, outSpec, pairs, unmatched, maskPath, batch } = await prepareInpaint(flags);
  if (!batch && IMG_EXT.test(outSpec)) throw new ConfigErrors([new ConfigError('expected an output folder for batch submit (outputs are named <stem>_stage2.png …)', '--out')]);
  // the whole config is checked here (guides' and samplers' options, the model), not by the first worker
  const check = await createPipeline(cfg, { container, baseDir });
  await check.dispose();
  const log = (m: string) => { if (!flags.quiet) process.stderr.write(`${m}\n`); };
  const { redis, queue, close } = await openQueue(flags.queue);
  try {
    const id = newBatchId();
    const outDir = path.resolve(outSpec);
    const base = absolutizeConfig(cfg, baseDir);
    base.output.dir = outDir;
    const record: BatchInfo = {
      id, created: new Date().toISOString(), total: pairs.length, image: base.input!.image, outDir, skipped: unmatched,
      ...(maskPath ? { mask: maskPath } : {}),
    };
    const jobs = pairs.map((p, index) => {
      const config = structuredClone(base);
      config.input = { ...config.input!, image: p.image, ...(p.mask ? { mask: p.mask } : {}) };
      if (!p.mask) delete config.input.mask;
      const data: InpaintJobData = { v: JOB_VERSION, kind: 'inpaint', batchId: id, index, stem: p.stem, image: p.image, ...(p.mask ? { mask: p.mask } : {}), outDir, config };
      return { name: 'inpaint', data, opts: jobOptions(flags, jobIdOf(id, index)) };
    });
    await redis.set(batchKey(id), JSON.stringify(record));
    for (let i = 0; i < jobs.length; i += 500) await queue.addBulk(jobs.slice(i, i + 500));
    for (const u of unmatched) log(`skipped ${u}: no mask with the same file stem in ${maskPath}`);
    log(`batch ${id}: ${jobs.length} job(s) on ${QUEUE_NAME}`);
    if (!flags.wait) return { id, exitCode: 0 };
    const state = await waitForBatch(queue, record, { quiet: flags.quiet });
    return { id, exitCode: exitCodeOf(state), state };
  } finally {
    await close();
  }
}

function jobOptions(flags: SubmitFlags, jobId: string) {
  return { jobId, attempts: flags.attempts ?? 3, backoff: { type: 'exponential' as const, delay: flags.backoff ?? 2000 }, removeOnComplete: false, removeOnFail: false };
}

/** An eval config as jobs, one per run × image; with `wait`, the eval's outputs once all are done. */
async function submitEval(flags: SubmitFlags, evalFile: string, container: Diff2sContainer): Promise<{ id: string; exitCode: number; state?: BatchState }> {
  const id = newBatchId();
  const { info, jobs, ctx } = await evalJobs({
    eval: evalFile, ...(flags.out !== undefined ? { out: flags.out } : {}), ...(flags.limit !== undefined ? { limit: flags.limit } : {}),
    ...(flags.seed !== undefined ? { seed: flags.seed } : {}), ...(flags.only?.length ? { only: flags.only } : {}), quiet: flags.quiet,
  }, id, container);
  const log = (m: string) => { if (!flags.quiet) process.stderr.write(`${m}\n`); };
  const { redis, queue, close } = await openQueue(flags.queue);
  try {
    const record: BatchInfo = { id, created: new Date().toISOString(), ...info };
    await redis.set(batchKey(id), JSON.stringify(record));
    const bulk = jobs.map((data) => ({ name: 'eval', data, opts: jobOptions(flags, jobIdOf(id, data.index)) }));
    for (let i = 0; i < bulk.length; i += 500) await queue.addBulk(bulk.slice(i, i + 500));
    log(`batch ${id}: ${ctx.runs.length} run(s) × ${ctx.items.length} input(s) = ${jobs.length} job(s) on ${QUEUE_NAME}; ${ctx.dataset.description}`);
    for (const u of ctx.dataset.unmatched) log(`skipped ${u}: no mask with the same file stem`);
    if (!flags.wait) return { id, exitCode: 0 };
    const state = await waitForBatch(queue, record, { quiet: flags.quiet });
    const r = await finishEval(queue, record, container, flags.quiet);
    return { id, exitCode: r.exitCode, state };
  } finally {
    await close();
  }
}

/** The exit code of a finished batch, as the CLI's batch mode: 1 for a runtime failure, 2 for bad inputs or skipped images. */
export function exitCodeOf(s: BatchState): number {
  if (s.failed.some((f) => !f.unrecoverable)) return 1;
  return s.failed.length || s.skipped.length ? 2 : 0;
}

type JobEntry = { id: string; state: string; job?: AnyJob };

/**
 * The batch's jobs, each with its state: the state is read first, so the job read after it is at least as recent.
 * Waiting jobs are not read (only counted); `finished` keeps completed and failed jobs between polls (final while
 * nobody retries them), so a poll reads only the jobs still in flight.
 */
async function jobsOf(queue: AnyQueue, rec: BatchInfo, finished?: Map<string, JobEntry>): Promise<JobEntry[]> {
  const ids = Array.from({ length: rec.total }, (_, i) => jobIdOf(rec.id, i));
  return Promise.all(ids.map(async (id) => {
    const known = finished?.get(id);
    if (known) return known;
    const state = await queue.getJobState(id);
    if (state !== 'active' && state !== 'completed' && state !== 'failed' && state !== 'unknown') return { id, state };
    const e: JobEntry = { id, state, job: await queue.getJob(id) };
    if (finished && (state === 'completed' || state === 'failed') && e.job) finished.set(id, e);
    return e;
  }));
}

/** Where every job of a batch stands (states read from Redis). */
export async function batchState(queue: AnyQueue, rec: BatchInfo, finished?: Map<string, JobEntry>): Promise<BatchState> {
  const jobs = await jobsOf(queue, rec, finished);
  const s: BatchState = { id: rec.id, total: rec.total, done: [], failed: [], active: [], waiting: [], skipped: rec.skipped, records: [] };
  for (const { id, state: st, job: j } of jobs) {
    if (st !== 'active' && st !== 'completed' && st !== 'failed' && st !== 'unknown') {
      s.waiting.push(id);
      continue;
    }
    if (!j || st === 'unknown') {
      s.failed.push({ image: `job ${id}`, error: 'job removed from the queue', attempts: 0, unrecoverable: true });
      continue;
    }
    const d = j.data;
    // an eval job is one run on one image
    const label = d.kind === 'eval' ? `${d.runName} on ${d.image}` : d.image;
    const base = { input: d.image, ...(d.kind === 'inpaint' && d.mask ? { mask: d.mask } : {}) };
    const outputs = j.returnvalue && 'outputs' in j.returnvalue ? j.returnvalue.outputs : [];
    if (st === 'completed') {
      s.done.push({ image: label, outputs });
      s.records.push({ ...base, outputs, status: 'ok', seconds: j.returnvalue?.seconds ?? 0 });
    } else if (st === 'failed') {
      s.failed.push({ image: label, error: j.failedReason, attempts: j.attemptsMade, unrecoverable: j.attemptsMade < (j.opts.attempts ?? 1) });
      const seconds = j.finishedOn && j.processedOn ? (j.finishedOn - j.processedOn) / 1000 : 0;
      s.records.push({ ...base, outputs: [], status: 'failed', error: j.failedReason, seconds });
    } else s.active.push({ image: label, progress: typeof j.progress === 'number' ? j.progress : 0 });
  }
  for (const u of rec.skipped) s.records.push({ input: u, outputs: [], status: 'skipped', error: `no mask with the same file stem in ${rec.mask}`, seconds: 0 });
  const byName = (a: { image: string }, b: { image: string }) => (a.image < b.image ? -1 : a.image > b.image ? 1 : 0);
  s.done.sort(byName);
  s.failed.sort(byName);
  s.active.sort(byName);
  s.waiting.sort();
  return s;
}

/**
 * Follow a batch until no job is waiting or active: a progress bar over all jobs (finished + the running jobs'
 * fractions, from every worker) with an ETA; each failure printed once, as the CLI prints it.
 */
export async function waitForBatch(queue: AnyQueue, rec: BatchInfo, opts: { quiet?: boolean; pollMs?: number } = {}): Promise<BatchState> {
  const bar = new Progress('batch', !opts.quiet);
  const live = !!process.stderr.isTTY && !process.env.CI;
  const t0 = Date.now();
  const reported = new Set<string>();
  const seen = new Map<string, JobEntry>();
  bar.start(rec.total * 100);
  try {
    for (;;) {
      const s = await batchState(queue, rec, seen);
      const fresh = s.failed.filter((f) => !reported.has(f.image));
      if (fresh.length) {
        bar.stop();
        for (const f of fresh) {
          reported.add(f.image);
          if (!opts.quiet) process.stderr.write(`ERROR: ${f.error} (skipped)\n`);
        }
        if (live) bar.start(rec.total * 100);
      }
      const finished = s.done.length + s.failed.length;
      const units = finished + s.active.reduce((a, j) => a + j.progress, 0);
      // the bar's own ETA on a terminal; in logs (no terminal) the lines say it
      const eta = live ? '' : `, ETA ${formatDuration(linearEta((Date.now() - t0) / 1000, units, rec.total))}`;
      bar.update(Math.round(units * 100), `${finished}/${rec.total} done, ${s.active.length} running, ${s.waiting.length} waiting${eta}`);
      if (s.active.length === 0 && s.waiting.length === 0) {
        bar.stop();
        if (rec.kind === 'eval') {
          if (!opts.quiet) process.stderr.write(`done: ${s.done.length} image run(s), ${s.failed.length} failed\n`);
          return s; // the eval's own tables and report follow (finishEval)
        }
        // the batch mode's summary files, in the output folder
        const files = await writeBatchSummary(rec.outDir, s.records);
        if (!opts.quiet) {
          process.stderr.write(`summary: ${files.csv}, ${files.json}\n`);
          process.stderr.write(`done: ${s.done.length} written, ${s.failed.length} failed, ${s.skipped.length} skipped (no mask)\n`);
        }
        return s;
      }
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
    }
  } finally {
    bar.stop();
  }
}

/** Print a batch's state: counts, then one line per failed job with its error. */
export function formatState(s: BatchState): string {
  const lines = [
    `batch ${s.id}: ${s.total} job(s): ${s.done.length} done, ${s.failed.length} failed, ${s.active.length} running, ${s.waiting.length} waiting${s.skipped.length ? `; ${s.skipped.length} skipped at submit (no mask)` : ''}`,
  ];
  for (const a of s.active) lines.push(`running ${a.image} (${Math.round(a.progress * 100)}%)`);
  for (const f of s.failed) lines.push(`failed ${f.image}: ${f.error}${f.unrecoverable ? ' (bad input: not retried)' : ` (after ${f.attempts} attempts)`}`);
  return lines.join('\n');
}

export async function statusCommand(id: string, flags: { queue: string; json?: boolean }): Promise<{ text: string; state: BatchState }> {
  const { redis, queue, close } = await openQueue(flags.queue);
  try {
    const rec = await readBatch(redis, id);
    const state = await batchState(queue, rec);
    return { text: flags.json ? JSON.stringify(state, null, 2) : formatState(state), state };
  } finally {
    await close();
  }
}

/**
 * Put a batch's failed jobs back in the queue (fresh attempts); with `wait`, follow the batch to its end (an eval
 * batch: then write the eval's tables and report — also the way to get them for a batch submitted without --wait).
 */
export async function retryCommand(id: string, flags: { queue: string; wait?: boolean; quiet?: boolean }, container?: Diff2sContainer): Promise<{ retried: number; exitCode: number }> {
  const { redis, queue, close } = await openQueue(flags.queue);
  try {
    const rec = await readBatch(redis, id);
    const jobs = await jobsOf(queue, rec);
    let retried = 0;
    for (const { state, job: j } of jobs) {
      if (j && state === 'failed') {
        await j.retry('failed', { resetAttemptsMade: true });
        retried++;
      }
    }
    if (!flags.quiet) process.stderr.write(`batch ${id}: ${retried} failed job(s) back in the queue\n`);
    if (!flags.wait) return { retried, exitCode: 0 };
    const state = await waitForBatch(queue, rec, { quiet: flags.quiet });
    if (rec.kind === 'eval') {
      if (!container) throw new Error('an eval batch needs a container to write its report');
      return { retried, exitCode: (await finishEval(queue, rec, container, flags.quiet)).exitCode };
    }
    return { retried, exitCode: exitCodeOf(state) };
  } finally {
    await close();
  }
}
