import { ChildProcess, fork } from 'child_process';
import { existsSync } from 'fs';
import * as path from 'path';
import { CancelledError, ModelError, Tensor4 } from '@diff2s/core';
import type {
  StudioBackend, StudioDescription, StudioEncodedRunRequest, StudioEncodedRunResult, StudioExample, StudioPipeline,
  StudioProgress, StudioRunHooks, StudioRunRequest, StudioRunResult,
} from '@diff2s/studio';
import { PlainError, PlainTensor, plainTensor, reviveError, tensorOf } from './messages';
import { PipelineStudioBackend, StudioBackendOptions } from './studio-backend';

export { plainError, plainTensor, reviveError, tensorOf, type PlainError, type PlainTensor } from './messages';

/** Parent → job process. */
export type JobProcessRequest =
  | { type: 'run'; options: StudioBackendOptions; request: JobProcessInput }
  | { type: 'cancel' };

/** A job's input: decoded tensors, or the uploaded PNG bytes (decoded in the job process). */
export type JobProcessInput = { pipeline: StudioPipeline; model?: string } & (
  | { kind: 'tensors'; image: PlainTensor; mask: PlainTensor }
  | { kind: 'png'; image: Uint8Array; mask: Uint8Array; maxPixels: number }
);

/** A job's output: tensors, or PNG bytes per sample (for a `png` input). */
export type JobProcessOutput =
  | { kind: 'tensors'; stage1: PlainTensor; stage2?: PlainTensor }
  | { kind: 'png'; stage1: Uint8Array[]; stage2?: Uint8Array[]; width: number; height: number };

/** Job process → parent. */
export type JobProcessReply =
  | { type: 'ready' }
  | { type: 'progress'; progress: Omit<StudioProgress, 'preview'> & { preview?: PlainTensor } }
  | { type: 'result'; output: JobProcessOutput }
  | { type: 'error'; error: PlainError };

/** The built job-process script (dist/studio-child.js), found beside this file or in the package's dist folder. */
export function jobProcessScript(): string {
  const candidates = [path.resolve(__dirname, 'studio-child.js'), path.resolve(__dirname, '../dist/studio-child.js')];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new ModelError(`the studio's job process script is missing (looked in ${candidates.join(', ')}); build the CLI first: pnpm build`);
  return found;
}

/** Options of {@link ProcessStudioBackend}: the real backend's, and how jobs are run and stopped. */
export interface ProcessStudioBackendOptions extends StudioBackendOptions {
  /** After a cancel, how long a job's process may take to stop by itself before it is killed (ms, default 300). */
  cancelGraceMs?: number;
  /** Keep one job process started and waiting, so a job does not wait for Node and the modules to load (default true). */
  spare?: boolean;
  /** The job-process script (default {@link jobProcessScript}). */
  script?: string;
}

/**
 * The studio's backend for `diff2s serve`: {@link PipelineStudioBackend} with every job run in a child process of its
 * own. The studio's event loop never computes (pages, progress and cancel stay answered while a job runs); a cancel
 * reaches the job at once and its process is killed if it has not stopped within `cancelGraceMs`; a job's memory is
 * returned to the system when its process exits after the job. Descriptions, examples and config checks are answered
 * in the studio's process (they are cheap).
 */
export class ProcessStudioBackend implements StudioBackend {
  private readonly local: PipelineStudioBackend;
  private spareChild?: ChildProcess;
  private readonly running = new Set<ChildProcess>();
  private closed = false;

  constructor(private readonly options: ProcessStudioBackendOptions) {
    this.local = new PipelineStudioBackend(options);
    jobProcessScript(); // fail at start, not at the first job, when the script is missing
  }

  /** Model ids, as {@link PipelineStudioBackend.modelIds}. */
  modelIds(): string[] {
    return this.local.modelIds();
  }

  /** ONNX guide model ids, as {@link PipelineStudioBackend.onnxModelIds}. */
  onnxModelIds(): string[] {
    return this.local.onnxModelIds();
  }

  describe(): Promise<StudioDescription> {
    return this.local.describe();
  }

  examples(): Promise<StudioExample[]> {
    return this.local.examples();
  }

  parsePipeline(input: unknown): Promise<StudioPipeline> {
    return this.local.parsePipeline(input);
  }

  /** Process ids of the job processes now running a job (for tests and the soak bench). */
  runningPids(): number[] {
    return [...this.running].map((c) => c.pid).filter((p): p is number => typeof p === 'number');
  }

  private spawn(): ChildProcess {
    const child = fork(this.options.script ?? jobProcessScript(), [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.on('error', () => undefined); // reported through 'exit'
    return child;
  }

  private takeChild(): ChildProcess {
    let child = this.spareChild;
    this.spareChild = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null || !child.connected) child = this.spawn();
    child.ref();
    (child.channel as { ref?: () => void } | undefined)?.ref?.();
    if (this.options.spare !== false && !this.closed) {
      const next = this.spawn();
      next.unref();
      (next.channel as { unref?: () => void } | undefined)?.unref?.();
      next.once('exit', () => { if (this.spareChild === next) this.spareChild = undefined; });
      this.spareChild = next;
    }
    return child;
  }

  /** Run a job from decoded tensors (the library's way; `diff2s serve` uses {@link runEncoded}). */
  async run(req: StudioRunRequest, hooks: StudioRunHooks): Promise<StudioRunResult> {
    const out = await this.inProcess({
      kind: 'tensors', image: plainTensor(req.image), mask: plainTensor(req.mask), pipeline: req.pipeline,
      ...(req.model !== undefined ? { model: req.model } : {}),
    }, hooks);
    if (out.kind !== 'tensors') throw new ModelError('the job process answered PNGs for a tensor job');
    return { stage1: tensorOf(out.stage1), ...(out.stage2 ? { stage2: tensorOf(out.stage2) } : {}) };
  }

  /** Run a job from its uploaded PNGs: decoded, run and encoded in the job's process. */
  async runEncoded(req: StudioEncodedRunRequest, hooks: StudioRunHooks): Promise<StudioEncodedRunResult> {
    const out = await this.inProcess({
      kind: 'png', image: req.image, mask: req.mask, maxPixels: req.maxPixels, pipeline: req.pipeline,
      ...(req.model !== undefined ? { model: req.model } : {}),
    }, hooks);
    if (out.kind !== 'png') throw new ModelError('the job process answered tensors for a PNG job');
    const buf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
    return { stage1: out.stage1.map(buf), ...(out.stage2 ? { stage2: out.stage2.map(buf) } : {}), width: out.width, height: out.height };
  }

  private inProcess(request: JobProcessInput, hooks: StudioRunHooks): Promise<JobProcessOutput> {
    if (this.closed) return Promise.reject(new CancelledError('the studio is closing'));
    if (hooks.signal.aborted) return Promise.reject(new CancelledError('cancelled'));
    const { cancelGraceMs = 300, spare: _s, script: _c, ...backendOptions } = this.options;
    const child = this.takeChild();
    this.running.add(child);
    return new Promise<JobProcessOutput>((resolve, reject) => {
      let settled = false;
      let killTimer: NodeJS.Timeout | undefined;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        hooks.signal.removeEventListener('abort', onAbort);
        fn();
        if (child.exitCode === null && child.signalCode === null) {
          // the job is over: its process goes, with its memory (it exits by itself after a result; make sure)
          if (!killTimer) killTimer = setTimeout(() => child.kill('SIGKILL'), cancelGraceMs);
        }
      };
      const onAbort = () => {
        if (child.connected) child.send({ type: 'cancel' } satisfies JobProcessRequest, () => undefined);
        killTimer = setTimeout(() => child.kill('SIGKILL'), cancelGraceMs);
        settle(() => reject(new CancelledError('cancelled')));
      };
      hooks.signal.addEventListener('abort', onAbort);
      child.on('message', (m: JobProcessReply) => {
        if (settled || !m || typeof m !== 'object') return;
        if (m.type === 'progress') {
          const { preview, ...rest } = m.progress;
          hooks.onProgress({ ...rest, ...(preview ? { preview: tensorOf(preview) } : {}) });
        } else if (m.type === 'result') {
          settle(() => resolve(m.output));
        } else if (m.type === 'error') {
          const err = reviveError(m.error);
          settle(() => reject(hooks.signal.aborted ? new CancelledError('cancelled') : err));
        }
      });
      child.once('exit', (code, signal) => {
        this.running.delete(child);
        if (killTimer) clearTimeout(killTimer);
        settle(() => reject(hooks.signal.aborted || this.closed ? new CancelledError('cancelled')
          : new ModelError(`the job's process ended before its result (${signal ? `signal ${signal}` : `exit code ${code}`}${signal === 'SIGKILL' ? ': out of memory?' : ''})`)));
      });
      const msg: JobProcessRequest = { type: 'run', options: backendOptions, request };
      child.send(msg, (err) => {
        if (err) settle(() => reject(new ModelError(`could not start the job's process: ${err.message}`)));
      });
    });
  }

  /** Stop the spare process and every running job's process, and free the local backend's models. */
  async dispose(): Promise<void> {
    this.closed = true;
    const all = [...this.running, ...(this.spareChild ? [this.spareChild] : [])];
    this.spareChild = undefined;
    await Promise.all(all.map((c) => new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve();
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    })));
    await this.local.dispose();
  }
}
