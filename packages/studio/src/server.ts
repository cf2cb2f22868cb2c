import * as http from 'http';
import type { AddressInfo } from 'net';
import { ConfigError, Diff2sError, InputError, decodeImage, decodeMask, holeFraction } from '@diff2s/core';
import type { StudioBackend, StudioExample, StudioOptions, StudioPipeline } from './backend';
import { Job, Scheduler, formatEvent, readableError } from './jobs';
import { serveStatic } from './static';

/** A running studio: its address and how to stop it. */
export interface StudioServer {
  /** Base URL of the page, e.g. `http://127.0.0.1:8765/`. */
  url: string;
  /** The port actually bound (useful with `port: 0`). */
  port: number;
  /** Cancel every job, end every progress stream and stop listening. */
  close(): Promise<void>;
}

/** Default port of `diff2s serve`. */
export const DEFAULT_PORT = 8765;
/** Default upload limit: 50 MiB per request. */
export const DEFAULT_MAX_UPLOAD_BYTES = 50 * 1024 * 1024;
/** Default image limit: 4096 × 4096 pixels. */
export const DEFAULT_MAX_PIXELS = 4096 * 4096;
const MAX_CONFIG_BYTES = 1024 * 1024;
/** Bytes of a refused body we read and throw away (so the client sees our answer) before hanging up. */
const DRAIN_CAP = 256 * 1024 * 1024;
const HEARTBEAT_MS = 20000;

const SECURITY_HEADERS: Record<string, string> = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Content-Security-Policy':
    "default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; style-src 'self'; script-src 'self'; " +
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
};

/** An error answered with an HTTP status and a readable message. */
class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly extra: Record<string, unknown> = {}) {
    super(message);
  }
}

function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || h.endsWith('.localhost');
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}

function uploadTooLarge(limit: number, size?: number): HttpError {
  return new HttpError(
    413,
    `the upload${size !== undefined ? ` is ${formatBytes(size)}, which is` : ' is'} over the studio's limit of ${formatBytes(limit)} per request` +
      ' (use a smaller image, or start the studio with a larger upload limit)',
    { limit, ...(size !== undefined ? { size } : {}) },
  );
}

/**
 * Read a request body up to `limit` bytes: refused from Content-Length before reading anything, and counted while
 * streaming (chunked uploads). A refused body is still read and discarded (up to a cap) so the client gets the 413.
 */
function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const cl = req.headers['content-length'];
    let over = false;
    let total = 0;
    const chunks: Buffer[] = [];
    const fail = (err: HttpError) => {
      over = true;
      chunks.length = 0;
      reject(err);
    };
    if (cl !== undefined) {
      const n = Number(cl);
      if (!/^\d+$/.test(cl) || !Number.isSafeInteger(n)) fail(new HttpError(400, 'invalid Content-Length header'));
      else if (n > limit) fail(uploadTooLarge(limit, n));
    }
    req.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (over) {
        if (total > DRAIN_CAP) req.destroy();
        return;
      }
      if (total > limit) {
        fail(uploadTooLarge(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks, total));
    });
    req.on('error', (err) => {
      if (!over) fail(new HttpError(400, `the upload failed: ${err.message}`));
    });
  });
}

/** Width and height from a PNG header, or undefined when the bytes are not a PNG. */
export function pngSize(bytes: Uint8Array): { width: number; height: number } | undefined {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 24 || sig.some((b, i) => bytes[i] !== b)) return undefined;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: dv.getUint32(16), height: dv.getUint32(20) };
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, head = false): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(head ? undefined : text);
}

function sendText(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(text);
}

function configErrorBody(err: unknown): { error: string; path?: string } {
  if (err instanceof ConfigError) return { error: err.message, ...(err.path ? { path: err.path } : {}) };
  return { error: readableError(err) };
}

/**
 * Start the web studio: the page (from the package's `public` folder) and its JSON/SSE API over Node's http module.
 * Binds 127.0.0.1 unless `host` says otherwise (with a warning). Resolves once listening.
 *
 * API: `GET /api/info`, `GET /api/examples`, `GET /api/examples/:id/{image,mask}.png`, `POST /api/pipeline` (config
 * text → validated pipeline), `POST /api/jobs` (multipart: image, mask PNGs, pipeline JSON, model id), `GET
 * /api/jobs/:id`, `GET /api/jobs/:id/events` (SSE: queued, progress, done, error, cancelled), `POST
 * /api/jobs/:id/cancel`, `GET /api/jobs/:id/results/:stage/:index.png[?download=1]`.
 */
export async function startStudio(options: StudioOptions): Promise<StudioServer> {
  const backend: StudioBackend = options.backend;
  if (!backend || typeof backend.run !== 'function') throw new ConfigError('startStudio needs a backend', 'backend');
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`port must be an integer in 0..65535, got ${port}`, 'port');
  const maxUploadBytes = options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!(maxUploadBytes > 0)) throw new ConfigError(`maxUploadBytes must be positive, got ${maxUploadBytes}`, 'maxUploadBytes');
  if (!(maxPixels > 0)) throw new ConfigError(`maxPixels must be positive, got ${maxPixels}`, 'maxPixels');
  const maxQueued = options.maxQueuedJobs ?? 64;
  const keepFinished = options.keepFinishedJobs ?? 32;
  const abandonMs = options.cancelAbandonedAfterMs ?? 30000;
  const logger = options.logger ?? { info: (m: string) => console.log(m), warn: (m: string) => console.warn(m) };
  const loopback = isLoopback(host);

  const scheduler = new Scheduler({ backend, maxPixels, warn: (m) => logger.warn(m) });
  const jobs = new Map<string, Job>();
  let closing = false;
  let examplesCache: Promise<StudioExample[]> | undefined;

  const examples = (): Promise<StudioExample[]> => {
    if (!examplesCache) {
      examplesCache = backend.examples();
      examplesCache.catch(() => (examplesCache = undefined));
    }
    return examplesCache;
  };

  const prune = () => {
    const done = [...jobs.values()].filter((j) => j.finished).sort((a, b) => a.finishedAt - b.finishedAt);
    for (let i = 0; i < done.length - keepFinished; i++) jobs.delete(done[i].id);
  };

  const getJob = (id: string): Job => {
    const job = jobs.get(id);
    if (!job) throw new HttpError(404, 'no such job (it may have finished long ago and been dropped)');
    return job;
  };

  async function createJob(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (closing) throw new HttpError(503, 'the studio is shutting down');
    const ct = req.headers['content-type'] ?? '';
    if (!/^multipart\/form-data\s*;/i.test(ct)) throw new HttpError(415, 'send the image and mask as multipart/form-data');
    if (scheduler.waitingCount >= maxQueued) {
      throw new HttpError(503, `the queue is full (${scheduler.waitingCount} jobs waiting); try again when some have finished`);
    }
    const body = await readBody(req, maxUploadBytes);
    let form: FormData;
    try {
      const bytes = new Uint8Array(body.buffer as ArrayBuffer, body.byteOffset, body.byteLength);
      form = await new Request('http://studio.invalid/', { method: 'POST', headers: { 'content-type': ct }, body: bytes }).formData();
    } catch {
      throw new HttpError(400, 'the upload is not valid multipart/form-data');
    }
    const file = async (name: string, what: string): Promise<Uint8Array> => {
      const v = form.get(name);
      if (!v || typeof v === 'string' || v.size === 0) throw new HttpError(400, `the upload has no ${what} (form field "${name}")`);
      return new Uint8Array(await v.arrayBuffer());
    };
    const imageBytes = await file('image', 'image');
    const maskBytes = await file('mask', 'mask');
    const size = pngSize(imageBytes);
    if (size && size.width * size.height > maxPixels) {
      throw new HttpError(
        413,
        `the image is ${size.width}×${size.height} = ${size.width * size.height} pixels, over the studio's limit of ${maxPixels} pixels`,
        { limit: maxPixels },
      );
    }

    const info = await backend.describe();
    const p = form.get('pipeline');
    let pipelineInput: unknown = info.defaultPipeline;
    if (typeof p === 'string' && p.trim()) {
      try {
        pipelineInput = JSON.parse(p);
      } catch {
        throw new HttpError(400, 'the pipeline field is not valid JSON');
      }
    }
    let pipeline: StudioPipeline;
    try {
      pipeline = await backend.parsePipeline(pipelineInput);
    } catch (err) {
      const b = configErrorBody(err);
      throw new HttpError(400, `invalid pipeline: ${b.error}`, b.path ? { path: b.path } : {});
    }
    const m = form.get('model');
    let model: string | undefined;
    if (typeof m === 'string' && m !== '') {
      if (!info.models.includes(m)) {
        throw new HttpError(400, `unknown model "${m}"; available: ${info.models.length ? info.models.join(', ') : '(none)'}`);
      }
      model = m;
    }

    let width: number, height: number;
    try {
      const img = await decodeImage(imageBytes, 'the image', { pixelLimit: maxPixels, channels: 3 });
      width = img.width;
      height = img.height;
      const mask = await decodeMask(maskBytes, 'the mask', { pixelLimit: maxPixels, expect: { width, height }, onWarning: () => undefined });
      if (holeFraction(mask)[0] === 0) throw new InputError('the mask has no hole: paint over the area to fill');
    } catch (err) {
      if (err instanceof InputError && /over the (pixel )?limit/.test(err.message)) {
        throw new HttpError(413, `${err.message.replace(/ \(decompression-bomb guard.*\)$/, '')} (the studio's limit is ${maxPixels} pixels)`);
      }
      throw new HttpError(400, readableError(err));
    }

    if (closing) throw new HttpError(503, 'the studio is shutting down');
    if (scheduler.waitingCount >= maxQueued) {
      throw new HttpError(503, `the queue is full (${scheduler.waitingCount} jobs waiting); try again when some have finished`);
    }
    const job = new Job({ image: imageBytes, mask: maskBytes, width, height, pipeline, ...(model !== undefined ? { model } : {}) });
    jobs.set(job.id, job);
    prune();
    scheduler.submit(job);
    sendJson(res, 202, {
      id: job.id,
      state: job.state,
      position: job.state === 'queued' ? job.position : 0,
      width,
      height,
      pipeline,
      events: `/api/jobs/${job.id}/events`,
      cancel: `/api/jobs/${job.id}/cancel`,
    });
  }

  function streamEvents(job: Job, req: http.IncomingMessage, res: http.ServerResponse): void {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 3000\n\n');
    if (job.finished && job.terminal) {
      res.end(formatEvent(job.terminal));
      return;
    }
    if (job.state === 'queued' && job.lastQueued) res.write(formatEvent(job.lastQueued));
    // a listener that connects after stage 1 still sees it first (the page shows stage 1 while stage 2 runs)
    if (job.state === 'running' && job.stage1Event && job.stage1Event !== job.lastProgress) res.write(formatEvent(job.stage1Event));
    if (job.state === 'running' && job.lastProgress) {
      const data = { ...job.lastProgress.data };
      if (job.lastPreview && !data.preview) data.preview = job.lastPreview;
      res.write(formatEvent({ event: 'progress', data }));
    }
    job.listeners.add(res);
    if (job.abandonTimer) {
      clearTimeout(job.abandonTimer);
      job.abandonTimer = undefined;
    }
    req.on('close', () => {
      job.listeners.delete(res);
      if (!job.finished && job.listeners.size === 0 && abandonMs >= 0 && !closing) {
        job.abandonTimer = setTimeout(() => {
          if (job.listeners.size === 0) scheduler.cancel(job, 'the page went away');
        }, abandonMs);
        job.abandonTimer.unref();
      }
    });
  }

  async function api(req: http.IncomingMessage, res: http.ServerResponse, parts: string[], query: URLSearchParams): Promise<void> {
    const method = req.method ?? 'GET';
    const get = method === 'GET' || method === 'HEAD';
    const [a, b, c, d, e] = parts;
    const allow = (ok: boolean, allowed: string) => {
      if (!ok) throw new HttpError(405, `method ${method} is not allowed here (use ${allowed})`);
    };
    if (a === 'info' && parts.length === 1) {
      allow(get, 'GET');
      const info = await backend.describe();
      sendJson(res, 200, { ...info, limits: { maxUploadBytes, maxPixels } }, method === 'HEAD');
      return;
    }
    if (a === 'examples' && parts.length === 1) {
      allow(get, 'GET');
      const list = await examples();
      sendJson(res, 200, list.map((x) => ({
        id: x.id,
        name: x.name,
        image: `/api/examples/${encodeURIComponent(x.id)}/image.png`,
        ...(x.mask ? { mask: `/api/examples/${encodeURIComponent(x.id)}/mask.png` } : {}),
      })), method === 'HEAD');
      return;
    }
    if (a === 'examples' && parts.length === 3 && (c === 'image.png' || c === 'mask.png')) {
      allow(get, 'GET');
      let id: string;
      try {
        id = decodeURIComponent(b);
      } catch {
        throw new HttpError(404, 'no such example');
      }
      const ex = (await examples()).find((x) => x.id === id);
      const bytes = ex && (c === 'image.png' ? ex.image : ex.mask);
      if (!bytes) throw new HttpError(404, 'no such example');
      res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': bytes.byteLength, 'Cache-Control': 'no-cache' });
      res.end(method === 'HEAD' ? undefined : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return;
    }
    if (a === 'pipeline' && parts.length === 1) {
      allow(method === 'POST', 'POST');
      const text = (await readBody(req, MAX_CONFIG_BYTES)).toString('utf8');
      if (!text.trim()) throw new HttpError(400, 'the pipeline config is empty');
      try {
        const pipeline = await backend.parsePipeline(text);
        sendJson(res, 200, { pipeline });
      } catch (err) {
        sendJson(res, 400, configErrorBody(err));
      }
      return;
    }
    if (a === 'jobs' && parts.length === 1) {
      allow(method === 'POST', 'POST');
      await createJob(req, res);
      return;
    }
    if (a === 'jobs' && parts.length >= 2) {
      prune();
      const job = getJob(b);
      if (parts.length === 2) {
        allow(get, 'GET');
        sendJson(res, 200, job.status(), method === 'HEAD');
        return;
      }
      if (c === 'events' && parts.length === 3) {
        allow(method === 'GET', 'GET');
        streamEvents(job, req, res);
        return;
      }
      if (c === 'cancel' && parts.length === 3) {
        allow(method === 'POST', 'POST');
        const cancelled = scheduler.cancel(job);
        sendJson(res, 200, { id: job.id, cancelled, state: job.state });
        return;
      }
      if (c === 'results' && parts.length === 5 && (d === 'stage1' || d === 'stage2')) {
        allow(get, 'GET');
        const m = /^(\d{1,4})\.png$/.exec(e);
        const list = job.results?.[d];
        const i = m ? Number(m[1]) : -1;
        if (!list || i < 0 || i >= list.length) throw new HttpError(404, 'no such result');
        const headers: Record<string, string | number> = {
          'Content-Type': 'image/png',
          'Content-Length': list[i].length,
          'Cache-Control': 'private, max-age=3600',
        };
        const dl = query.get('download');
        if (dl) {
          // `download=1` names the file after the job; a name from the page is reduced to safe characters
          const asked = dl === '1' ? '' : dl.replace(/\.png$/i, '').replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(0, 100);
          const name = asked ? `${asked}.png` : `diff2s-${d}-${job.id.slice(0, 8)}-${i + 1}.png`;
          headers['Content-Disposition'] = `attachment; filename="${name}"`;
        }
        res.writeHead(200, headers);
        res.end(method === 'HEAD' ? undefined : list[i]);
        return;
      }
    }
    throw new HttpError(404, 'no such API route');
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const rawPath = q >= 0 ? raw.slice(0, q) : raw;
    const query = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : '');
    const isApi = rawPath.startsWith('/api/');
    try {
      const hostHeader = req.headers.host;
      if (loopback && hostHeader) {
        const name = hostHeader.replace(/:\d+$/, '');
        if (!isLoopback(name)) throw new HttpError(403, `host "${hostHeader}" is not allowed (the studio answers on localhost only)`);
      }
      const method = req.method ?? 'GET';
      if (method !== 'GET' && method !== 'HEAD') {
        const origin = req.headers.origin;
        let foreign = req.headers['sec-fetch-site'] === 'cross-site';
        if (origin && origin !== 'null') {
          try {
            foreign ||= new URL(origin).host !== hostHeader;
          } catch {
            foreign = true;
          }
        } else if (origin === 'null') {
          foreign = true;
        }
        if (foreign) throw new HttpError(403, 'cross-origin requests are refused');
      }
      if (isApi) {
        await api(req, res, rawPath.slice(5).split('/'), query);
        return;
      }
      if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, `method ${method} is not allowed here`);
      const r = await serveStatic(rawPath, res, method === 'HEAD');
      if (!r.ok) throw new HttpError(r.status, r.reason);
    } catch (err) {
      const http = err instanceof HttpError
        ? err
        : err instanceof Diff2sError
          ? new HttpError(err instanceof ConfigError || err instanceof InputError ? 400 : 500, err.message)
          : new HttpError(500, `internal error: ${readableError(err)}`);
      if (!(err instanceof HttpError)) logger.warn(`studio: ${req.method} ${rawPath} failed: ${err instanceof Error && err.stack ? err.stack : String(err)}`);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (isApi) sendJson(res, http.status, { error: http.message, ...http.extra });
      else sendText(res, http.status, `${http.status} ${http.message}\n`);
    }
  }

  const server = http.createServer((req, res) => {
    void handle(req, res);
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new ConfigError(`port ${port} on ${host} is already in use (choose another port, or 0 for a free one)`, 'port', { cause: err })
          : new ConfigError(`cannot listen on ${host}:${port}: ${err.message}`, 'host', { cause: err }),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const heartbeat = setInterval(() => {
    for (const job of jobs.values()) for (const res of job.listeners) res.write(': keep-alive\n\n');
  }, HEARTBEAT_MS);
  heartbeat.unref();

  const bound = (server.address() as AddressInfo).port;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const url = `http://${shownHost}:${bound}/`;
  if (!loopback) {
    logger.warn(
      `warning: the studio listens on ${host}, not only on this machine: anyone who can reach port ${bound} can upload images and run jobs. ` +
        'There is no authentication; use the default 127.0.0.1 unless you trust the network.',
    );
  }
  logger.info(`diff2s studio: ${url}`);

  let closed: Promise<void> | undefined;
  return {
    url,
    port: bound,
    close(): Promise<void> {
      closed ??= (async () => {
        closing = true;
        clearInterval(heartbeat);
        for (const job of jobs.values()) scheduler.cancel(job, 'the studio is shutting down');
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.allSettled(scheduler.runningSettled()),
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, 5000);
            timer.unref();
          }),
        ]);
        if (timer) clearTimeout(timer);
        await stopped;
        jobs.clear();
      })();
      return closed;
    },
  };
}
