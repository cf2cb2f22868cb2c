import { randomUUID } from 'crypto';
import type { ServerResponse } from 'http';
import { CancelledError, Diff2sError, Tensor4, decodeImage, decodeMask, encodeImage } from '@diff2s/core';
import type { StudioBackend, StudioPipeline, StudioProgress } from './backend';

/** Lifecycle of a job. */
export type JobState = 'queued' | 'running' | 'done' | 'error' | 'cancelled';

/** A server-sent event: name and JSON payload. */
export interface StudioEvent {
  event: 'queued' | 'progress' | 'done' | 'error' | 'cancelled';
  data: Record<string, unknown>;
}

/** What a job needs to run: the uploaded PNG bytes (decoded again when it starts) and the validated pipeline. */
export interface JobInput {
  image: Uint8Array;
  mask: Uint8Array;
  width: number;
  height: number;
  pipeline: StudioPipeline;
  model?: string;
}

/** Encoded results of a finished job: one PNG per sample and stage. */
export interface JobResults {
  stage1: Buffer[];
  stage2?: Buffer[];
  width: number;
  height: number;
}

/** One studio job: its input, state, SSE listeners and (when done) results. */
export class Job {
  readonly id = randomUUID();
  readonly key: string;
  state: JobState = 'queued';
  position = 0;
  input: JobInput | undefined;
  results?: JobResults;
  readonly controller = new AbortController();
  readonly listeners = new Set<ServerResponse>();
  /** Last queued / progress event (replayed to late listeners) and the terminal event. */
  lastQueued?: StudioEvent;
  lastProgress?: StudioEvent;
  lastPreview?: string;
  /** The guide's event carrying stage 1's preview (replayed to a listener that connects after it). */
  stage1Event?: StudioEvent;
  terminal?: StudioEvent;
  finishedAt = 0;
  abandonTimer?: NodeJS.Timeout;
  /** Progress events are encoded in order through this chain. */
  chain: Promise<void> = Promise.resolve();
  previewBusy = false;
  lastPreviewStep = -Infinity;

  constructor(input: JobInput) {
    this.input = input;
    this.key = input.model ?? '';
  }

  get finished(): boolean {
    return this.state === 'done' || this.state === 'error' || this.state === 'cancelled';
  }

  /** Send an event to every listener and remember it for late ones. */
  emit(ev: StudioEvent): void {
    if (this.finished) return;
    if (ev.event === 'queued') this.lastQueued = ev;
    else if (ev.event === 'progress') {
      this.lastProgress = ev;
      if (ev.data.stage === 'guide' && ev.data.preview) this.stage1Event = ev;
    }
    const text = formatEvent(ev);
    for (const res of this.listeners) res.write(text);
  }

  /** Move to a terminal state (once), tell the listeners, and end their streams. */
  finish(state: 'done' | 'error' | 'cancelled', data: Record<string, unknown> = {}): void {
    if (this.finished) return;
    this.state = state;
    this.finishedAt = Date.now();
    this.terminal = { event: state, data: { id: this.id, ...data } };
    this.input = undefined;
    if (this.abandonTimer) clearTimeout(this.abandonTimer);
    const text = formatEvent(this.terminal);
    for (const res of this.listeners) res.end(text);
    this.listeners.clear();
  }

  /** Status as JSON for `GET /api/jobs/:id`. */
  status(): Record<string, unknown> {
    return {
      id: this.id,
      state: this.state,
      position: this.state === 'queued' ? this.position : 0,
      ...(this.terminal ? { result: this.terminal.data } : {}),
    };
  }
}

/** Format one SSE frame. */
export function formatEvent(ev: StudioEvent): string {
  return `event: ${ev.event}\ndata: ${JSON.stringify(ev.data)}\n\n`;
}

/** A message fit for the page from anything thrown. */
export function readableError(err: unknown): string {
  if (err instanceof Error) {
    const m = err.message?.trim();
    if (m) return redactPaths(m);
    return `${err.name || 'Error'} (no message)`;
  }
  const s = String(err);
  return s && s !== '[object Object]' ? redactPaths(s) : 'the job failed (no message)';
}

/**
 * The server's folders out of a message for the page: every absolute path (POSIX `/a/b/c`, Windows `C:\a\c`) keeps
 * its last name only (`…/c`), so an error names the file without showing where the server keeps it.
 */
export function redactPaths(message: string): string {
  return message
    .replace(/(^|[\s"'`(=\[])\/(?:[^\s"'`()\[\]/]+\/)+([^\s"'`()\[\]/]*)/g, (_m, pre: string, last: string) => `${pre}…/${last}`)
    .replace(/(^|[\s"'`(=\[])[A-Za-z]:\\(?:[^\s"'`()\[\]\\]+\\)*([^\s"'`()\[\]\\]*)/g, (_m, pre: string, last: string) => `${pre}…\\${last}`);
}

/** Whether `err` means the run stopped because it was cancelled. */
function isCancellation(err: unknown, signal: AbortSignal): boolean {
  return signal.aborted || err instanceof CancelledError || (err instanceof Error && err.name === 'AbortError');
}

interface Lane {
  running?: Job;
  runningDone?: Promise<void>;
  waiting: Job[];
}

/** Options of the {@link Scheduler}. */
export interface SchedulerOptions {
  backend: StudioBackend;
  maxPixels: number;
  warn(m: string): void;
  /** Preview images are shrunk to this many pixels on their longer side. */
  previewMaxSide?: number;
  /** About how many previews to send over a refiner run. */
  previewsPerRun?: number;
}

/**
 * One job at a time per model key (jobs naming no model share the key ''), first come first served; waiting jobs are
 * told their position whenever it changes. Cancelling a queued job removes it; cancelling a running one aborts its
 * signal, and the lane is freed when the backend's run settles.
 */
export class Scheduler {
  private readonly lanes = new Map<string, Lane>();
  constructor(private readonly opts: SchedulerOptions) {}

  /** Jobs waiting over all lanes. */
  get waitingCount(): number {
    let n = 0;
    for (const l of this.lanes.values()) n += l.waiting.length;
    return n;
  }

  /** Promises of the runs in progress (for shutdown). */
  runningSettled(): Promise<void>[] {
    const out: Promise<void>[] = [];
    for (const l of this.lanes.values()) if (l.runningDone) out.push(l.runningDone);
    return out;
  }

  /** Queue a job; it starts at once when its lane is free. */
  submit(job: Job): void {
    let lane = this.lanes.get(job.key);
    if (!lane) this.lanes.set(job.key, (lane = { waiting: [] }));
    lane.waiting.push(job);
    this.pump(lane);
    this.announce(lane);
  }

  /** Cancel a queued or running job. Returns false when it had already finished. */
  cancel(job: Job, reason = 'cancelled'): boolean {
    if (job.finished) return false;
    const lane = this.lanes.get(job.key);
    if (job.state === 'queued' && lane) {
      const i = lane.waiting.indexOf(job);
      if (i >= 0) lane.waiting.splice(i, 1);
      job.finish('cancelled', { reason });
      this.announce(lane);
      this.cleanup(job.key);
      return true;
    }
    job.controller.abort(new CancelledError(reason));
    job.finish('cancelled', { reason });
    return true;
  }

  private pump(lane: Lane): void {
    if (lane.running) return;
    const job = lane.waiting.shift();
    if (!job) return;
    lane.running = job;
    lane.runningDone = this.execute(job).finally(() => {
      lane.running = undefined;
      lane.runningDone = undefined;
      this.pump(lane);
      this.announce(lane);
      this.cleanup(job.key);
    });
  }

  private cleanup(key: string): void {
    const lane = this.lanes.get(key);
    if (lane && !lane.running && lane.waiting.length === 0) this.lanes.delete(key);
  }

  private announce(lane: Lane): void {
    lane.waiting.forEach((job, i) => {
      const position = i + 1;
      if (job.position === position && job.lastQueued) return;
      job.position = position;
      job.emit({ event: 'queued', data: { id: job.id, position, running: lane.running ? 1 : 0 } });
    });
  }

  private async execute(job: Job): Promise<void> {
    const input = job.input;
    if (!input || job.finished) return;
    job.state = 'running';
    job.position = 0;
    job.emit({ event: 'progress', data: { stage: 'guide', fraction: 0 } });
    const signal = job.controller.signal;
    try {
      const hooks = { onProgress: (e: StudioProgress) => this.onProgress(job, e), signal };
      const model = input.model !== undefined ? { model: input.model } : {};
      let results: JobResults;
      if (this.opts.backend.runEncoded) {
        results = await this.opts.backend.runEncoded({ image: input.image, mask: input.mask, pipeline: input.pipeline, ...model, maxPixels: this.opts.maxPixels }, hooks);
        if (signal.aborted) throw new CancelledError();
      } else {
        const { image, mask } = await decodeUpload(input.image, input.mask, this.opts.maxPixels);
        if (signal.aborted) throw new CancelledError();
        const out = await this.opts.backend.run({ image, mask, pipeline: input.pipeline, ...model }, hooks);
        if (signal.aborted) throw new CancelledError();
        const stage1 = await encodeBatch(out.stage1);
        const stage2 = out.stage2 ? await encodeBatch(out.stage2) : undefined;
        results = { stage1, stage2, width: out.stage1.w, height: out.stage1.h };
      }
      const { stage1, stage2 } = results;
      await job.chain;
      if (job.finished) return;
      job.results = results;
      const url = (stage: string, i: number) => `/api/jobs/${job.id}/results/${stage}/${i}.png`;
      job.finish('done', {
        width: results.width,
        height: results.height,
        stage1: stage1.map((_, i) => url('stage1', i)),
        ...(stage2 ? { stage2: stage2.map((_, i) => url('stage2', i)) } : {}),
      });
    } catch (err) {
      await job.chain.catch(() => undefined);
      if (isCancellation(err, signal)) {
        job.finish('cancelled', { reason: 'cancelled' });
      } else {
        const message = readableError(err);
        if (!(err instanceof Diff2sError)) this.opts.warn(`studio: job ${job.id} failed: ${err instanceof Error && err.stack ? err.stack : message}`);
        else if (err.message.trim() !== message) this.opts.warn(`studio: job ${job.id} failed: ${err.message}`); // the paths the page does not see
        job.finish('error', { message });
      }
    }
  }

  private onProgress(job: Job, e: StudioProgress): void {
    if (job.finished || !e || (e.stage !== 'guide' && e.stage !== 'fit' && e.stage !== 'refiner')) return;
    const data: Record<string, unknown> = { stage: e.stage };
    if (typeof e.label === 'string') data.label = e.label.slice(0, 200);
    for (const k of ['step', 'total', 'fraction'] as const) {
      const v = e[k];
      if (typeof v === 'number' && Number.isFinite(v)) data[k] = v;
    }
    let preview: Tensor4 | undefined;
    if (e.preview && !job.previewBusy && this.wantPreview(job, e)) {
      try {
        preview = shrinkForPreview(e.preview, this.opts.previewMaxSide ?? 384);
      } catch {
        preview = undefined;
      }
      if (preview) {
        job.previewBusy = true;
        if (typeof e.step === 'number') job.lastPreviewStep = e.step;
      }
    }
    job.chain = job.chain.then(async () => {
      if (preview) {
        try {
          const png = await encodeImage(preview, 'png');
          job.lastPreview = `data:image/png;base64,${png.toString('base64')}`;
          data.preview = job.lastPreview;
        } catch {
          // a preview that cannot be encoded is skipped
        } finally {
          job.previewBusy = false;
        }
      }
      job.emit({ event: 'progress', data });
    });
  }

  private wantPreview(job: Job, e: StudioProgress): boolean {
    if (typeof e.step !== 'number' || typeof e.total !== 'number' || e.total <= 0) return true;
    if (e.step >= e.total) return true;
    const every = Math.max(1, Math.ceil(e.total / (this.opts.previewsPerRun ?? 12)));
    return e.step - job.lastPreviewStep >= every;
  }
}

/**
 * Decode a job's uploaded image (3 channels) and mask (the image's size) with the studio's pixel limit, as the studio
 * does before {@link StudioBackend.run}. Backends implementing `runEncoded` call this where they compute.
 */
export async function decodeUpload(imageBytes: Uint8Array, maskBytes: Uint8Array, maxPixels: number): Promise<{ image: Tensor4; mask: Tensor4 }> {
  const image = (await decodeImage(imageBytes, 'uploaded image', { pixelLimit: maxPixels, channels: 3 })).tensor;
  const mask = await decodeMask(maskBytes, 'uploaded mask', {
    pixelLimit: maxPixels,
    expect: { width: image.w, height: image.h },
    onWarning: () => undefined,
  });
  return { image, mask };
}

/** Encode every image of a batch as PNG (the studio's result files). */
export async function encodeBatch(t: Tensor4): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let i = 0; i < t.n; i++) out.push(await encodeImage(t, 'png', { index: i }));
  return out;
}

/** Image 0 of `t`, subsampled so its longer side is at most `maxSide`, with 1 or 3 channels (a copy). */
export function shrinkForPreview(t: Tensor4, maxSide: number): Tensor4 | undefined {
  if (t.n < 1 || t.h < 1 || t.w < 1) return undefined;
  const c = t.c >= 3 ? 3 : t.c === 1 ? 1 : 0;
  if (!c) return undefined;
  const s = Math.max(1, Math.ceil(Math.max(t.h, t.w) / maxSide));
  const h = Math.ceil(t.h / s), w = Math.ceil(t.w / s);
  const out = new Tensor4([1, c, h, w]);
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < h; y++) {
      const src = t.index(0, ch, y * s, 0);
      const dst = (ch * h + y) * w;
      for (let x = 0; x < w; x++) out.data[dst + x] = t.data[src + x * s];
    }
  }
  return out;
}
