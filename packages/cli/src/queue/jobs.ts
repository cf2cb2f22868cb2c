/**
 * The jobs of the queue and the storage contract between submit and workers.
 *
 * Storage contract (this version: a shared folder). A job names its files by path in one namespace that every machine
 * sees the same way (e.g. an NFS mount at the same path everywhere): the image, its mask, the output folder and any
 * file the config names (model folders, ONNX files, guide result files), all absolute. A worker reads inputs whole and
 * writes each output whole under a deterministic name (`<stem>_stage1.png`, `<stem>_stage2.png`, … as the CLI), to a
 * temporary name first and then renamed into place, so an output is either absent or complete, and a retried or
 * duplicated job rewrites the same file with the same bytes. A worker only touches paths inside its roots.
 * An object store can replace the folder by implementing the same three operations per key: read whole, write whole
 * atomically (an object PUT is), list a prefix (the submit's listing of the input folders).
 */
import { realpathSync } from 'fs';
import * as path from 'path';
import { InputError } from '@diff2s/core';
import type { PipelineConfig } from '../config/schema';

/** Job data version (a worker refuses others with one line). */
export const JOB_VERSION = 1;

/** One image of a batch. */
export interface InpaintJobData {
  v: number;
  kind: 'inpaint';
  batchId: string;
  index: number;
  stem: string;
  image: string;
  mask?: string;
  /** The output folder (absolute). */
  outDir: string;
  /** The validated pipeline config, every path in it absolute (relative paths resolved at submit). */
  config: PipelineConfig;
}

/** What a finished job returns (stored by BullMQ as its return value). */
export interface InpaintJobResult {
  outputs: string[];
  seconds: number;
  worker: string;
}

/** The record of a batch, stored at `diff2s:batch:<id>`. */
export interface BatchInfo {
  id: string;
  /** `inpaint` (one job per image) or `eval` (one job per image × run; the submit's --wait writes the report). */
  kind?: 'inpaint' | 'eval';
  /** Eval batches: the eval config as submitted (paths absolute, --limit and --seed applied), its file, --only. */
  evalConfig?: Record<string, unknown>;
  configFile?: string;
  only?: string[];
  created: string;
  total: number;
  image: string;
  mask?: string;
  outDir: string;
  /** Images skipped at submit (no mask of their stem). */
  skipped: string[];
}

/** A batch's job ids: `<batch>-<index>` (deterministic: a resubmitted id cannot duplicate a job). */
export const jobIdOf = (batchId: string, index: number): string => `${batchId}-${index}`;

/** A fresh batch id: UTC time and a random suffix, e.g. `20260102-153012-4f9a`. */
export function newBatchId(now = new Date()): string {
  const t = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${t}-${Math.random().toString(16).slice(2, 6)}`;
}

/** One path-valued key of a pipeline config. */
interface PathKey {
  key: string;
  get: (c: PipelineConfig) => string | undefined;
  set: (c: PipelineConfig, v: string) => void;
}

type Obj = Record<string, unknown>;
const guideStr = (k: string, skip: string[] = []): PathKey => ({
  key: `guide.${k}`,
  get: (c) => {
    const v = (c.guide as Obj)[k];
    return typeof v === 'string' && !skip.includes(v) ? v : undefined;
  },
  set: (c, v) => { (c.guide as Obj)[k] = v; },
});

/**
 * Every key of a pipeline config that names a file or folder: the inputs, the output folder, the refiner's model,
 * a fit's init and keep folders, and the guides' files (onnx/diffusion `model`, file `path`/`dir`).
 */
export const CONFIG_PATH_KEYS: readonly PathKey[] = [
  { key: 'input.image', get: (c) => c.input?.image, set: (c, v) => { c.input!.image = v; } },
  { key: 'input.mask', get: (c) => c.input?.mask, set: (c, v) => { c.input!.mask = v; } },
  { key: 'output.dir', get: (c) => c.output.dir, set: (c, v) => { c.output.dir = v; } },
  { key: 'model.path', get: (c) => c.model?.path, set: (c, v) => { c.model!.path = v; } },
  { key: 'model.fit.init', get: (c) => (c.model?.fit && !['prior', 'none'].includes(c.model.fit.init) ? c.model.fit.init : undefined), set: (c, v) => { c.model!.fit!.init = v; } },
  { key: 'model.fit.keep', get: (c) => c.model?.fit?.keep, set: (c, v) => { c.model!.fit!.keep = v; } },
  guideStr('model', ['fit']),
  guideStr('path'),
  guideStr('dir'),
];

/** A copy of the config with every path key absolute (resolved against `baseDir`). */
export function absolutizeConfig(cfg: PipelineConfig, baseDir: string): PipelineConfig {
  const out = structuredClone(cfg);
  for (const k of CONFIG_PATH_KEYS) {
    const v = k.get(out);
    if (v !== undefined) k.set(out, path.resolve(baseDir, v));
  }
  return out;
}

/** The real path of `p`, or (when it does not exist yet) its nearest existing folder's real path joined with the rest. */
export function realpathNearest(p: string): string {
  const abs = path.resolve(p);
  let head = abs;
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(realpathSync(head), ...rest);
    } catch {
      const parent = path.dirname(head);
      if (parent === head) return abs;
      rest.unshift(path.basename(head));
      head = parent;
    }
  }
}

/** The folders a worker may read and write; every path of a job is checked against them (after symlinks). */
export class Roots {
  readonly dirs: string[];
  constructor(dirs: readonly string[]) {
    if (dirs.length === 0) throw new Error('a worker needs at least one root folder');
    this.dirs = dirs.map((d) => realpathNearest(d));
  }

  contains(p: string): boolean {
    if (!path.isAbsolute(p)) return false;
    const real = realpathNearest(p);
    return this.dirs.some((r) => real === r || real.startsWith(r.endsWith(path.sep) ? r : r + path.sep));
  }

  /** Throw an InputError naming the key when `p` is outside every root. */
  check(p: string, what: string): void {
    if (!this.contains(p)) {
      throw new InputError(`${what} ${p} is outside the worker's roots (${this.dirs.join(', ')}): refusing it (start the worker with --root)`, p);
    }
  }

  /** Check every path key of a pipeline config (relative ones resolved against `baseDir`). */
  checkPipeline(cfg: PipelineConfig, baseDir: string, where = ''): void {
    for (const k of CONFIG_PATH_KEYS) {
      const v = k.get(cfg);
      if (v !== undefined) this.check(path.resolve(baseDir, v), `${where}${k.key}`);
    }
  }

  /** Check every path of a job: image, mask, output folder and every path key of its config. */
  checkJob(job: InpaintJobData): void {
    this.check(job.image, 'image');
    if (job.mask) this.check(job.mask, 'mask');
    this.check(job.outDir, 'output folder');
    this.checkPipeline(job.config, job.outDir);
  }
}
