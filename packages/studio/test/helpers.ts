import * as http from 'http';
import { Tensor4, encodeImage } from '@diff2s/core';
import { startStudio } from '../src/server';
import type { StudioOptions } from '../src/backend';
import { FakeBackend, type FakeBackendOptions } from './fake-backend';

/** A studio on a random loopback port with a fake backend and a logger that records. */
export async function startFake(fake: FakeBackendOptions = {}, options: Partial<StudioOptions> = {}) {
  const backend = new FakeBackend(fake);
  const logs: { info: string[]; warn: string[] } = { info: [], warn: [] };
  const studio = await startStudio({
    backend,
    port: 0,
    logger: { info: (m) => logs.info.push(m), warn: (m) => logs.warn.push(m) },
    ...options,
  });
  return { backend, studio, logs, base: studio.url.replace(/\/$/, '') };
}

/** A w×h test image (PNG) with a smooth pattern, and its tensor. */
export async function testImage(w = 48, h = 32): Promise<{ png: Buffer; tensor: Tensor4 }> {
  const t = new Tensor4([1, 3, h, w]);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      t.data[t.index(0, 0, y, x)] = Math.sin(x / 5);
      t.data[t.index(0, 1, y, x)] = Math.cos(y / 4);
      t.data[t.index(0, 2, y, x)] = ((x + y) % 7) / 7 - 0.5;
    }
  }
  return { png: await encodeImage(t, 'png'), tensor: t };
}

/** A mask PNG (white = hole) with a rectangular hole; also returns the [1,1,H,W] tensor (1 = hole). */
export async function testMask(w = 48, h = 32, box = { x0: 10, y0: 8, x1: 30, y1: 20 }): Promise<{ png: Buffer; tensor: Tensor4 }> {
  const m = new Tensor4([1, 1, h, w]);
  for (let y = box.y0; y < box.y1; y++) for (let x = box.x0; x < box.x1; x++) m.data[y * w + x] = 1;
  const img = m.clone();
  for (let i = 0; i < img.size; i++) img.data[i] = img.data[i] * 2 - 1;
  return { png: await encodeImage(img, 'png'), tensor: m };
}

/** POST a job (multipart). Returns the status and parsed JSON body. */
export async function postJob(
  base: string,
  parts: { image?: Uint8Array; mask?: Uint8Array; pipeline?: unknown; model?: string },
): Promise<{ status: number; body: Record<string, any> }> {
  const form = new FormData();
  if (parts.image) form.append('image', new Blob([new Uint8Array(parts.image)], { type: 'image/png' }), 'image.png');
  if (parts.mask) form.append('mask', new Blob([new Uint8Array(parts.mask)], { type: 'image/png' }), 'mask.png');
  if (parts.pipeline !== undefined) form.append('pipeline', typeof parts.pipeline === 'string' ? parts.pipeline : JSON.stringify(parts.pipeline));
  if (parts.model !== undefined) form.append('model', parts.model);
  const res = await fetch(`${base}/api/jobs`, { method: 'POST', body: form });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

export interface SseEvent {
  event: string;
  data: Record<string, any>;
}

/** Follow a job's SSE stream: collects events, lets a test await one that matches, ends at a terminal event. */
export class EventStream {
  readonly events: SseEvent[] = [];
  readonly finished: Promise<SseEvent>;
  private waiters: { pred: (e: SseEvent) => boolean; resolve: (e: SseEvent) => void }[] = [];
  private req!: http.ClientRequest;
  readonly status: Promise<number>;

  constructor(url: string) {
    let finish!: (e: SseEvent) => void;
    let fail!: (e: unknown) => void;
    this.finished = new Promise((res, rej) => { finish = res; fail = rej; });
    this.finished.catch(() => undefined);
    let setStatus!: (n: number) => void;
    this.status = new Promise((r) => (setStatus = r));
    this.req = http.get(url, (res) => {
      setStatus(res.statusCode ?? 0);
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message';
          let data = '';
          for (const line of frame.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (!data) continue;
          const ev = { event, data: JSON.parse(data) };
          this.events.push(ev);
          this.waiters = this.waiters.filter((w) => (w.pred(ev) ? (w.resolve(ev), false) : true));
          if (['done', 'error', 'cancelled'].includes(event)) finish(ev);
        }
      });
      res.on('end', () => fail(new Error('stream ended without a terminal event')));
      res.on('error', fail);
    });
    this.req.on('error', fail);
  }

  /** The first event (past or future) matching `pred`. */
  next(pred: (e: SseEvent) => boolean): Promise<SseEvent> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }

  close(): void {
    this.req.destroy();
  }
}

/** A raw HTTP request (path sent byte for byte, no normalisation). */
export function rawRequest(
  base: string,
  path: string,
  init: { method?: string; headers?: Record<string, string | number>; body?: Buffer | Buffer[] } = {},
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path, method: init.method ?? 'GET', headers: init.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    const body = init.body;
    if (Array.isArray(body)) {
      for (const b of body) req.write(b);
      req.end();
    } else {
      req.end(body);
    }
  });
}
