/**
 * The one place in diff2s that imports `onnxruntime-node` (architecture rule). Everything else runs ONNX models
 * through {@link loadOrtSession} / {@link OrtSession} with plain typed arrays.
 *
 * The runtime is loaded lazily on the first {@link loadOrtSession}, so importing the engine does not load the
 * native library.
 */
import { promises as fs } from 'fs';
import * as fsSync from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vm from 'vm';
import type * as Ort from 'onnxruntime-node';
import { InputError, ModelError, ModelFileError } from '@diff2s/core';

type OrtModule = typeof Ort;
let ortModule: Promise<OrtModule> | undefined;

/**
 * When this code runs inside a vm sandbox (Jest runs tests in one), the sandbox's typed-array classes differ from the
 * main realm's, where onnxruntime's native binding creates its outputs, and onnxruntime-common's `instanceof`
 * checks fail. In that case onnxruntime-node is loaded in the main realm and typed arrays are copied across;
 * in plain Node this is null and nothing is copied.
 */
interface MainRealm {
  require: (id: string) => unknown;
  /** The main realm's constructor for a typed array's class name. */
  ctor(name: string): unknown;
}
let mainRealmCache: MainRealm | null | undefined;
function mainRealm(): MainRealm | null {
  if (mainRealmCache !== undefined) return mainRealmCache;
  mainRealmCache = null;
  try {
    const MainF32 = vm.runInThisContext('Float32Array') as unknown;
    if (MainF32 !== Float32Array) {
      const proc = vm.runInThisContext('process') as NodeJS.Process & { getBuiltinModule?: (id: string) => unknown };
      const mod = (proc.getBuiltinModule?.('module') ?? (proc as unknown as { mainModule?: { constructor: unknown } }).mainModule?.constructor) as
        | { createRequire?: (file: string) => (id: string) => unknown }
        | undefined;
      if (mod?.createRequire) {
        const req = mod.createRequire(__filename);
        mainRealmCache = { require: req, ctor: (name) => vm.runInThisContext(name) as unknown };
      }
    }
  } catch {
    mainRealmCache = null;
  }
  return mainRealmCache;
}

/** Load onnxruntime-node once (lazily). */
function loadOrt(): Promise<OrtModule> {
  const realm = mainRealm();
  ortModule ??= (realm ? Promise.resolve().then(() => realm.require('onnxruntime-node') as OrtModule) : import('onnxruntime-node')).catch(
    (err: unknown) => {
      ortModule = undefined;
      throw new ModelError(`onnxruntime-node could not be loaded: ${(err as Error).message}`, { cause: err });
    },
  );
  return ortModule;
}

/**
 * Whether onnxruntime-node loads on this machine (its native library included). Never throws; the reason it does
 * not load is in `reason`.
 */
export async function ortAvailability(): Promise<{ available: boolean; reason?: string }> {
  try {
    await loadOrt();
    return { available: true };
  } catch (err) {
    return { available: false, reason: (err as Error).message };
  }
}

/** Options for {@link loadOrtSession}. */
export interface OrtLoadOptions {
  /** Threads inside one operator (default: the number of CPU cores, at most 8). */
  intraOpNumThreads?: number;
  /** Threads across operators (default 1; only used with executionMode `parallel`). */
  interOpNumThreads?: number;
  /** Execution providers in order of preference (default `['cpu']`). */
  executionProviders?: string[];
  /** Graph optimisation level (default `all`). */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** onnxruntime's own log level: 0 verbose … 4 fatal (default 4: failures reach the caller as ModelError instead). */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  /** Name used in messages when the model is given as bytes. */
  name?: string;
  /**
   * Whether idle intra-op threads spin-wait for work (onnxruntime's default: true). Turn it off when several
   * sessions run one after another on few cores (each session has its own pool, and spinning pools steal the cores
   * the next session needs) — OnnxUNet does for its encoder/middle/decoder sessions; its `full` and refine-step
   * sessions spin (one session, run after run).
   */
  allowSpinning?: boolean;
  /** Raw session config entries (`session.*` keys of onnxruntime's session_options_config_keys.h). */
  configEntries?: Record<string, string>;
  /**
   * Turn on onnxruntime's profiler: every run's per-node timings go to a JSON file (Chrome trace format) whose path
   * starts with this prefix; {@link OrtSession.endProfiling} closes it and returns its path.
   */
  profileFilePrefix?: string;
}

/** Element types the wrapper reports (onnxruntime's names: float32, float16, int64, uint8, …). */
export type OrtElementType = string;

/** What a model declares for one input or output. */
export interface OrtValueInfo {
  name: string;
  /** False for sequences/maps (not supported by diff2s). */
  isTensor: boolean;
  /** Element type, e.g. `float32`; `unknown` for non-tensors. */
  type: OrtElementType;
  /** Declared dimensions: a number when fixed, a string for a symbolic/free dimension (e.g. `batch`, `?`). */
  dims: readonly (number | string)[];
}

/** Typed arrays accepted as inputs. */
export type OrtInputData = Float32Array | Int32Array | BigInt64Array | Uint8Array | Float64Array;

/** An input value: data and its dimensions. */
export interface OrtFeed {
  dims: readonly number[];
  data: OrtInputData;
}

/** An output value, always converted to float32. `type` is the element type the model produced. */
export interface OrtResult {
  dims: number[];
  data: Float32Array;
  type: OrtElementType;
}

/** Options of {@link OrtSession.run}. */
export interface OrtRunOptions {
  /**
   * Caller-owned output buffers by output name (dims must be the exact output dims): onnxruntime writes into them and
   * the result's `data` is that buffer — the way to reuse output memory across calls.
   */
  into?: Record<string, { dims: readonly number[]; data: Float32Array }>;
}

/** `name [1,3,h,w] float32`: one declared value as text. */
export function formatOrtValueInfo(v: OrtValueInfo): string {
  return v.isTensor ? `${v.name} [${v.dims.join(',')}] ${v.type}` : `${v.name} (not a tensor)`;
}

/** A loaded ONNX model: its declared inputs/outputs and a `run` on typed arrays. */
export class OrtSession {
  private released = false;

  /** @internal use {@link loadOrtSession}. */
  constructor(
    private readonly session: Ort.InferenceSession,
    private readonly ort: OrtModule,
    /** The model file (or the name given for bytes), for messages. */
    readonly source: string,
    readonly inputs: readonly OrtValueInfo[],
    readonly outputs: readonly OrtValueInfo[],
    private readonly profilePrefix?: string,
  ) {}

  /** Inputs and outputs as text, e.g. `inputs: image [1,3,h,w] float32, mask [...]; outputs: output [...]`. */
  describe(): string {
    return `inputs: ${this.inputs.map(formatOrtValueInfo).join(', ')}; outputs: ${this.outputs.map(formatOrtValueInfo).join(', ')}`;
  }

  /**
   * Run the model. `feeds` maps input names to data; `outputNames` picks outputs (default all); `options.into`
   * gives pre-allocated output buffers.
   * Throws {@link ModelError} (naming the model) when onnxruntime fails, e.g. on a shape the graph cannot take.
   */
  async run(feeds: Record<string, OrtFeed>, outputNames?: readonly string[], options: OrtRunOptions = {}): Promise<Record<string, OrtResult>> {
    if (this.released) throw new ModelError(`ONNX session for ${this.source} was released`);
    const into = options.into ?? {};
    const ortFeeds: Record<string, Ort.Tensor> = {};
    for (const [name, f] of Object.entries(feeds)) {
      const size = f.dims.reduce((a, b) => a * b, 1);
      if (size !== f.data.length) {
        throw new ModelError(`input "${name}" of ${this.source}: ${f.data.length} values for dims [${f.dims.join(',')}]`);
      }
      const realm = mainRealm();
      let data = f.data;
      if (realm) {
        // allocate in the main realm, then a typed-array copy (fast even across realms)
        const Ctor = realm.ctor(f.data.constructor.name) as unknown as new (n: number) => OrtInputData;
        data = new Ctor(f.data.length);
        (data as Float32Array).set(f.data as Float32Array);
      }
      ortFeeds[name] = new this.ort.Tensor(data, f.dims);
    }
    let out: Ort.InferenceSession.ReturnType;
    // pre-allocated outputs: onnxruntime writes into the caller's buffers (main realm only; in a sandbox the result
    // is copied into them below)
    const realm = mainRealm();
    const preNames = realm ? [] : Object.keys(into);
    for (const name of preNames) {
      const f = into[name];
      const size = f.dims.reduce((a, b) => a * b, 1);
      if (size !== f.data.length) throw new ModelError(`output buffer "${name}" of ${this.source}: ${f.data.length} values for dims [${f.dims.join(',')}]`);
    }
    try {
      if (preNames.length > 0) {
        const fetches: Record<string, Ort.Tensor | null> = {};
        for (const name of outputNames ?? this.outputs.map((o) => o.name)) fetches[name] = null;
        for (const name of preNames) fetches[name] = new this.ort.Tensor(into[name].data, into[name].dims);
        out = await this.session.run(ortFeeds, fetches);
      } else {
        out = outputNames ? await this.session.run(ortFeeds, [...outputNames]) : await this.session.run(ortFeeds);
      }
    } catch (err) {
      throw new ModelError(`running ONNX model ${this.source} failed: ${(err as Error).message}`, { cause: err });
    }
    const result: Record<string, OrtResult> = {};
    for (const [name, value] of Object.entries(out)) {
      const t = value as Ort.Tensor;
      const raw = t.data as unknown;
      const target = into[name];
      let data: Float32Array;
      if (target && preNames.includes(name)) data = target.data;
      else if (target && t.type === 'float32' && ArrayBuffer.isView(raw) && (raw as Float32Array).length === target.data.length) {
        target.data.set(raw as Float32Array);
        data = target.data;
      } else if (raw instanceof Float32Array) data = raw;
      else if (t.type === 'int64' || t.type === 'uint64') data = Float32Array.from(raw as ArrayLike<bigint>, (v) => Number(v));
      else if (t.type === 'float32' && ArrayBuffer.isView(raw)) {
        data = new Float32Array((raw as Float32Array).length); // a main-realm array seen from a sandbox: copy
        data.set(raw as Float32Array);
      } else if (ArrayBuffer.isView(raw) && t.type !== 'float16') {
        const src = raw as unknown as Float64Array;
        data = new Float32Array(src.length);
        data.set(src);
      }
      else throw new ModelError(`output "${name}" of ${this.source} has element type ${t.type}, which diff2s cannot read`);
      result[name] = { dims: [...t.dims], data, type: t.type };
    }
    return result;
  }

  /** Stop profiling (sessions loaded with `profileFilePrefix`) and return the trace file's path (undefined otherwise). */
  endProfiling(): string | undefined {
    if (!this.profilePrefix) return undefined;
    (this.session as unknown as { endProfiling(): unknown }).endProfiling();
    // onnxruntime-node does not return the file name: the newest file with the prefix
    const dir = path.dirname(this.profilePrefix), base = path.basename(this.profilePrefix);
    let best: { f: string; t: number } | undefined;
    for (const n of fsSync.readdirSync(dir)) {
      if (!n.startsWith(base) || !n.endsWith('.json')) continue;
      const f = path.join(dir, n);
      const t = fsSync.statSync(f).mtimeMs;
      if (!best || t > best.t) best = { f, t };
    }
    return best?.f;
  }

  /** Free the native session (idempotent). */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.session.release();
  }
}

function toValueInfo(meta: Ort.InferenceSession.ValueMetadata | undefined, name: string): OrtValueInfo {
  if (!meta) return { name, isTensor: true, type: 'unknown', dims: [] };
  if (!meta.isTensor) return { name, isTensor: false, type: 'unknown', dims: [] };
  return { name, isTensor: true, type: meta.type, dims: meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : String(d))) };
}

/**
 * Load an ONNX model from a file path (or bytes) on onnxruntime-node's CPU provider (or the given providers).
 * A missing file is an {@link InputError}; a file onnxruntime refuses is a {@link ModelError}; both name the file.
 */
export async function loadOrtSession(source: string | Uint8Array, options: OrtLoadOptions = {}): Promise<OrtSession> {
  const name = typeof source === 'string' ? source : options.name ?? '(in-memory model)';
  let bytes: Uint8Array;
  if (typeof source === 'string') {
    try {
      bytes = await fs.readFile(source);
    } catch (err) {
      throw new InputError(`cannot read ONNX model ${source}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, source, { cause: err });
    }
  } else {
    bytes = source;
  }
  const ort = await loadOrt();
  const sessionOptions: Ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: options.intraOpNumThreads ?? Math.max(1, Math.min(8, os.cpus().length)),
    interOpNumThreads: options.interOpNumThreads ?? 1,
    executionProviders: options.executionProviders ?? ['cpu'],
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
    logSeverityLevel: options.logSeverityLevel ?? 4,
  };
  if (options.profileFilePrefix) {
    sessionOptions.enableProfiling = true;
    sessionOptions.profileFilePrefix = options.profileFilePrefix;
  }
  const entries: Record<string, string> = { ...options.configEntries };
  if (options.allowSpinning !== undefined) {
    entries['session.intra_op.allow_spinning'] = options.allowSpinning ? '1' : '0';
    entries['session.inter_op.allow_spinning'] = options.allowSpinning ? '1' : '0';
  }
  if (Object.keys(entries).length > 0) sessionOptions.extra = entries;
  let session: Ort.InferenceSession;
  try {
    const realm = mainRealm();
    let modelBytes = bytes;
    if (realm) {
      modelBytes = new (realm.ctor('Uint8Array') as unknown as new (n: number) => Uint8Array)(bytes.length);
      modelBytes.set(bytes);
    }
    session = await ort.InferenceSession.create(modelBytes, sessionOptions);
  } catch (err) {
    // a file the user gave that is not a loadable ONNX model is bad input (exit 2), said as plainly as we can
    const head = Buffer.from(bytes.subarray(0, 64)).toString('latin1');
    const why = bytes.length === 0 ? 'the file is empty'
      : head.startsWith('version https://git-lfs') ? 'it is a Git LFS pointer, not the model (run `git lfs pull`)'
        : (err as Error).message;
    throw new ModelFileError(`cannot load ONNX model ${name}: ${why}`, name, { cause: err });
  }
  const inMeta = session.inputMetadata ?? [];
  const outMeta = session.outputMetadata ?? [];
  const inputs = session.inputNames.map((n, i) => toValueInfo(inMeta.find((m) => m.name === n) ?? inMeta[i], n));
  const outputs = session.outputNames.map((n, i) => toValueInfo(outMeta.find((m) => m.name === n) ?? outMeta[i], n));
  return new OrtSession(session, ort, name, inputs, outputs, options.profileFilePrefix ? path.resolve(options.profileFilePrefix) : undefined);
}
