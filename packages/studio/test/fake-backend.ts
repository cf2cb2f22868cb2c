import { EventEmitter } from 'events';
import { CancelledError, ConfigError, Rng, Tensor4, blendByMask, encodeImage } from '@diff2s/core';
import type {
  StudioBackend,
  StudioDescription,
  StudioExample,
  StudioPipeline,
  StudioRunHooks,
  StudioRunRequest,
  StudioRunResult,
} from '../src/backend';

/** A promise with its resolve/reject exposed. */
export class Deferred<T = void> {
  readonly promise: Promise<T>;
  resolve!: (v: T) => void;
  reject!: (e: unknown) => void;
  constructor() {
    this.promise = new Promise<T>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
  }
}

/** What a fake run reports on its `events` emitter ('start', 'step', 'end'). */
export interface FakeRunInfo {
  run: number;
  model?: string;
  seed: number;
  step?: number;
  total?: number;
  signal: AbortSignal;
}

export interface FakeBackendOptions {
  /** Model ids offered (default none). */
  models?: string[];
  /** Real delay between refiner steps, for watching the page (default 0: only a macrotask yield). */
  stepDelayMs?: number;
  /** Largest T_k (default 50). */
  maxTk?: number;
  /** Default T_k of the default pipeline (default 8). */
  defaultTk?: number;
}

const GUIDES = [
  { name: 'mean', description: 'fills the hole with the mean colour of the known pixels', schema: { type: 'object', properties: {}, additionalProperties: false } },
  {
    name: 'flat',
    description: 'fills the hole with one grey level',
    options: { value: 0 },
    // the JSON Schema the page builds its option form from (as z.toJSONSchema writes it)
    schema: {
      type: 'object',
      properties: {
        value: { type: 'number', minimum: -1, maximum: 1, default: 0, description: 'grey level of the fill, in [-1, 1]' },
        edge: { type: 'string', enum: ['hard', 'soft'], default: 'hard', description: 'how the fill meets the known pixels' },
        dither: { type: 'boolean', default: false },
        passes: { type: 'integer', minimum: 1, maximum: 8, default: 1 },
        label: { type: 'string', default: 'fill' },
        // zod's int() without bounds: no limits worth showing
        offset: { type: 'integer', minimum: -9007199254740991, maximum: 9007199254740991, default: 0 },
        noise: { type: 'number', exclusiveMinimum: 0, default: 0.1 },
      },
      additionalProperties: false,
    },
  },
  { name: 'explode', description: 'always fails (to test error messages)' },
];
const SAMPLERS = ['fake-ddpm', 'fake-ddim'];
const HD_STRATEGIES = ['auto', 'crop', 'resize', 'original'];

/**
 * A real but simple {@link StudioBackend} for tests: a 'mean' guide computed here, and a fake refiner that runs T_k
 * cheap steps, reports progress with previews and honours the AbortSignal. Tests make queue/cancel behaviour
 * deterministic with `beforeRun` / `beforeStep` hooks (await a {@link Deferred}) and the `events` emitter.
 */
export class FakeBackend implements StudioBackend {
  readonly events = new EventEmitter();
  /** Awaited at the start of every run (after the 'start' event). */
  beforeRun?: (info: FakeRunInfo) => Promise<void> | void;
  /** Awaited before every refiner step. */
  beforeStep?: (info: FakeRunInfo) => Promise<void> | void;
  runs = 0;
  /** The pipeline of the latest run. */
  lastPipeline?: StudioPipeline;
  completed = 0;
  /** Largest number of runs seen at once for one model key. */
  maxConcurrentPerModel = 0;
  /** Largest number of runs seen at once over all models. */
  maxConcurrent = 0;
  private readonly active = new Map<string, number>();
  private activeTotal = 0;
  private readonly opts: Required<FakeBackendOptions>;

  constructor(options: FakeBackendOptions = {}) {
    this.opts = { models: [], stepDelayMs: 0, maxTk: 50, defaultTk: 8, ...options };
  }

  async describe(): Promise<StudioDescription> {
    return {
      guides: GUIDES.map((g) => ({ ...g })),
      samplers: [...SAMPLERS],
      refinerAvailable: true,
      maxTk: this.opts.maxTk,
      defaultPipeline: this.defaultPipeline(),
      models: [...this.opts.models],
      hdStrategies: [...HD_STRATEGIES],
      samplerSchemas: { 'fake-ddim': { type: 'object', properties: { eta: { type: 'number', minimum: 0, maximum: 1, default: 0, description: 'stochasticity' } } } },
    };
  }

  defaultPipeline(): StudioPipeline {
    return { guide: { type: 'mean' }, refiner: { enabled: true, tk: this.opts.defaultTk, sampler: { type: 'fake-ddpm' } }, seed: 1, samples: 1 };
  }

  async examples(): Promise<StudioExample[]> {
    const w = 96, h = 64;
    const img = new Tensor4([1, 3, h, w]);
    const rings = new Tensor4([1, 3, h, w]);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        img.data[img.index(0, 0, y, x)] = (x / (w - 1)) * 2 - 1;
        img.data[img.index(0, 1, y, x)] = (y / (h - 1)) * 2 - 1;
        img.data[img.index(0, 2, y, x)] = 0.3;
        const r = Math.hypot(x - w / 2, y - h / 2);
        for (let c = 0; c < 3; c++) rings.data[rings.index(0, c, y, x)] = Math.sin(r / (2 + c)) * 0.8;
      }
    }
    const mask = new Tensor4([1, 1, h, w]);
    for (let y = 20; y < 44; y++) for (let x = 30; x < 66; x++) mask.data[y * w + x] = 1;
    return [
      { id: 'gradient', name: 'Gradient with a square hole', image: await encodeImage(img, 'png'), mask: await encodeImage(scaleMask(mask), 'png') },
      { id: 'rings', name: 'Rings (paint your own mask)', image: await encodeImage(rings, 'png') },
    ];
  }

  async parsePipeline(input: unknown): Promise<StudioPipeline> {
    let obj: unknown = input;
    if (typeof input === 'string') {
      try {
        obj = JSON.parse(input);
      } catch (err) {
        throw new ConfigError(`the config is not valid JSON: ${(err as Error).message} (the fake backend reads JSON only)`);
      }
    }
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new ConfigError('a pipeline must be an object');
    const o = obj as Record<string, unknown>;
    const g = o.guide as Record<string, unknown> | undefined;
    if (!g || typeof g !== 'object') throw new ConfigError('missing guide', 'guide');
    if (typeof g.type !== 'string' || !GUIDES.some((x) => x.name === g.type)) {
      throw new ConfigError(`unknown guide "${String(g.type)}"; registered: ${GUIDES.map((x) => x.name).join(', ')}`, 'guide.type');
    }
    if (g.value !== undefined && (typeof g.value !== 'number' || g.value < -1 || g.value > 1)) {
      throw new ConfigError('value must be a number in [-1, 1]', 'guide.value');
    }
    const out: StudioPipeline = { guide: { ...g, type: g.type }, seed: 0, samples: 1 };
    if (o.refiner !== undefined) {
      const r = o.refiner as Record<string, unknown>;
      if (!r || typeof r !== 'object') throw new ConfigError('refiner must be an object', 'refiner');
      const enabled = r.enabled === undefined ? true : r.enabled;
      if (typeof enabled !== 'boolean') throw new ConfigError('enabled must be true or false', 'refiner.enabled');
      const tk = r.tk === undefined ? this.opts.defaultTk : r.tk;
      if (typeof tk !== 'number' || !Number.isInteger(tk) || tk < 1 || tk > this.opts.maxTk) {
        throw new ConfigError(`tk must be an integer in [1, ${this.opts.maxTk}], got ${JSON.stringify(tk)}`, 'refiner.tk');
      }
      const s = (r.sampler ?? { type: 'fake-ddpm' }) as Record<string, unknown>;
      if (typeof s.type !== 'string' || !SAMPLERS.includes(s.type)) {
        throw new ConfigError(`unknown sampler "${String(s.type)}"; registered: ${SAMPLERS.join(', ')}`, 'refiner.sampler.type');
      }
      out.refiner = { enabled, tk, sampler: { ...s, type: s.type } };
    }
    if (o.hd !== undefined) {
      const hd = o.hd as Record<string, unknown>;
      if (!hd || typeof hd !== 'object' || !HD_STRATEGIES.includes(String(hd.strategy))) {
        throw new ConfigError(`hd.strategy must be one of ${HD_STRATEGIES.join(', ')}`, 'hd.strategy');
      }
      out.hd = { ...hd, strategy: String(hd.strategy) };
    }
    if (o.seed !== undefined) {
      if (typeof o.seed !== 'number' || !Number.isInteger(o.seed)) throw new ConfigError('seed must be an integer', 'seed');
      out.seed = o.seed;
    }
    if (o.samples !== undefined) {
      if (typeof o.samples !== 'number' || !Number.isInteger(o.samples) || o.samples < 1 || o.samples > 4) {
        throw new ConfigError('samples must be an integer in [1, 4]', 'samples');
      }
      out.samples = o.samples;
    }
    return out;
  }

  async run(req: StudioRunRequest, hooks: StudioRunHooks): Promise<StudioRunResult> {
    const key = req.model ?? '';
    const run = ++this.runs;
    const now = (this.active.get(key) ?? 0) + 1;
    this.active.set(key, now);
    this.activeTotal++;
    this.maxConcurrentPerModel = Math.max(this.maxConcurrentPerModel, now);
    this.maxConcurrent = Math.max(this.maxConcurrent, this.activeTotal);
    const { signal } = hooks;
    this.lastPipeline = req.pipeline;
    const base: FakeRunInfo = { run, model: req.model, seed: req.pipeline.seed, signal };
    this.events.emit('start', base);
    try {
      await this.beforeRun?.(base);
      throwIfAborted(signal);
      const { image, mask, pipeline } = req;
      if (pipeline.guide.type === 'explode') throw new Error('the fake guide exploded on purpose');
      const one = pipeline.guide.type === 'flat' ? flatFill(image, mask, Number(pipeline.guide.value ?? 0)) : meanFill(image, mask);
      const stage1 = one.repeatEach(pipeline.samples);
      hooks.onProgress({ stage: 'guide', fraction: 1, label: 'stage 1 ready', preview: stage1 }); // as the real backend: as soon as stage 1 exists
      if (!pipeline.refiner?.enabled) {
        this.completed++;
        return { stage1 };
      }
      const total = pipeline.refiner.tk ?? this.opts.defaultTk;
      const masks = mask.repeatEach(pipeline.samples);
      const known = image.repeatEach(pipeline.samples);
      const rng = new Rng(pipeline.seed);
      const noise = new Tensor4(stage1.shape);
      rng.fillNormal(noise.data);
      const x = stage1.clone();
      for (let step = 1; step <= total; step++) {
        await pause(this.opts.stepDelayMs, signal);
        await this.beforeStep?.({ ...base, step, total });
        throwIfAborted(signal);
        const level = 0.5 * (1 - step / total);
        for (let i = 0; i < x.size; i++) x.data[i] = Math.max(-1, Math.min(1, stage1.data[i] + level * noise.data[i] + 0.1 * Math.sin(i * 0.05)));
        blendByMask(x, known, masks, x);
        this.events.emit('step', { ...base, step, total });
        hooks.onProgress({ stage: 'refiner', step, total, preview: x });
      }
      this.completed++;
      return { stage1, stage2: x };
    } finally {
      this.active.set(key, (this.active.get(key) ?? 1) - 1);
      this.activeTotal--;
      this.events.emit('end', base);
    }
  }
}

function scaleMask(m: Tensor4): Tensor4 {
  const out = m.clone();
  for (let i = 0; i < out.size; i++) out.data[i] = out.data[i] * 2 - 1; // {0,1} → {-1,1}: black/white in [-1,1]
  return out;
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new CancelledError();
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    };
    const onAbort = () => {
      clearTimeout(t);
      reject(new CancelledError());
    };
    const t = ms > 0 ? setTimeout(done, ms) : (setImmediate(done) as unknown as NodeJS.Timeout);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** The hole filled with the per-channel mean of the known pixels. */
export function meanFill(image: Tensor4, mask: Tensor4): Tensor4 {
  const out = image.clone();
  const hw = image.h * image.w;
  for (let c = 0; c < image.c; c++) {
    let s = 0, n = 0;
    for (let p = 0; p < hw; p++) if (mask.data[p] < 0.5) { s += image.data[c * hw + p]; n++; }
    const mean = n ? s / n : 0;
    for (let p = 0; p < hw; p++) if (mask.data[p] >= 0.5) out.data[c * hw + p] = mean;
  }
  return out;
}

function flatFill(image: Tensor4, mask: Tensor4, value: number): Tensor4 {
  const out = image.clone();
  const hw = image.h * image.w;
  for (let c = 0; c < image.c; c++) for (let p = 0; p < hw; p++) if (mask.data[p] >= 0.5) out.data[c * hw + p] = value;
  return out;
}
