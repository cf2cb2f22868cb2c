/**
 * The engine's backend module: the only place in diff2s that imports TensorFlow.js backends.
 *
 * Choice (`backend: 'auto'`, the default):
 *  1. `tensorflow` — when `@tensorflow/tfjs-node-gpu` or `@tensorflow/tfjs-node` is installed (optional peer
 *     dependencies, loaded with a dynamic `require`). If the package is absent, its native library fails to load, or
 *     it registered its backend with a different copy of `@tensorflow/tfjs-core`, we fall back (and say why).
 *  2. `wasm` — `@tensorflow/tfjs-backend-wasm` (one thread in Node), with the gradient kernels diff2s adds
 *     (see `kernels.ts`).
 * `cpu` (`@tensorflow/tfjs-backend-cpu`, slow, pure JS) is used only when asked for explicitly.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { ConfigError, Logger } from '@diff2s/core';
import { registerWasmGradientKernels } from './kernels';
import { registerGradients } from './gradients';

/** A backend the engine can run on. */
export type EngineBackend = 'tensorflow' | 'wasm' | 'cpu';
/** What the user may ask for. */
export type BackendRequest = 'auto' | EngineBackend;

/** Which backend runs, and why. */
export interface BackendInfo {
  /** The backend in use. */
  backend: EngineBackend;
  /** The tfjs backend name (`tensorflow`, `wasm`, `cpu`). */
  tfBackend: string;
  /** The npm package providing it. */
  package: string;
  /** What was asked for. */
  requested: BackendRequest;
  /** Why a preferred backend was not used (auto mode), if one was skipped. */
  fallbackReason?: string;
  /** Threads tfjs uses inside this process (wasm in Node: 1). */
  threads: number;
  /** WebAssembly SIMD available (wasm backend). */
  simd?: boolean;
}

let current: BackendInfo | undefined;
let tensorflowAttempt: ReturnType<typeof tryTensorflow> | undefined;
let pending: Promise<BackendInfo> | undefined;

/** The tfjs-core namespace the engine uses (one instance for the whole process). */
export { tf };

/** Options of {@link initEngine}. */
export interface InitEngineOptions {
  /** Backend to use (default `auto`; the env variable `DIFF2S_BACKEND` overrides `auto`). */
  backend?: BackendRequest;
  /** Where the choice is reported (debug level; fallbacks at warn level). */
  logger?: Logger;
}

function tryTensorflow(): { ok: true; pkg: string } | { ok: false; reason: string } {
  const reasons: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      require.resolve(pkg);
    } catch {
      reasons.push(`${pkg} is not installed`);
      continue;
    }
    // A package whose native library is missing registers some kernels before failing; a second attempt then
    // prints one "already registered" line per kernel. Keep the console quiet while trying.
    const warn = console.warn;
    console.warn = () => undefined;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require(pkg);
    } catch (err) {
      reasons.push(`${pkg} failed to load: ${(err as Error).message.split('\n')[0].trim()}`);
      continue;
    } finally {
      console.warn = warn;
    }
    if (tf.findBackendFactory('tensorflow') === null) {
      reasons.push(`${pkg} loaded but registered its backend with another copy of @tensorflow/tfjs-core (versions must match 4.22)`);
      continue;
    }
    return { ok: true, pkg };
  }
  return { ok: false, reason: reasons.join('; ') };
}

async function activate(name: EngineBackend): Promise<void> {
  if (name === 'wasm') registerWasmGradientKernels();
  const ok = await tf.setBackend(name);
  if (!ok) throw new ConfigError(`the tfjs backend "${name}" failed to initialise`);
  await tf.ready();
  // tfjs-cpu prints a "install tfjs-node" banner on first use in Node; the choice is reported by initEngine instead.
  if (name === 'cpu') (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
}

/**
 * Select and initialise the backend (idempotent: later calls with the same request return the same info; a call
 * asking for a different explicit backend switches). Returns which backend runs.
 */
export async function initEngine(options: InitEngineOptions = {}): Promise<BackendInfo> {
  let requested: BackendRequest = options.backend ?? 'auto';
  if (requested === 'auto' && process.env.DIFF2S_BACKEND) {
    const env = process.env.DIFF2S_BACKEND;
    if (env !== 'auto' && env !== 'tensorflow' && env !== 'wasm' && env !== 'cpu') {
      throw new ConfigError(`DIFF2S_BACKEND must be auto, tensorflow, wasm or cpu, got "${env}"`);
    }
    requested = env;
  }
  if (pending) await pending.catch(() => undefined);
  if (current && (requested === 'auto' || requested === current.backend) && tf.getBackend() === current.tfBackend) {
    return current;
  }
  pending = (async () => {
    let chosen: EngineBackend;
    let fallbackReason: string | undefined;
    let pkg: string;
    if (requested === 'auto' || requested === 'tensorflow') {
      const r = tensorflowAttempt ??= tryTensorflow();
      if (r.ok) {
        chosen = 'tensorflow';
        pkg = r.pkg;
      } else if (requested === 'tensorflow') {
        throw new ConfigError(`backend "tensorflow" is not available: ${r.reason}`, 'engine.backend');
      } else {
        chosen = 'wasm';
        pkg = '@tensorflow/tfjs-backend-wasm';
        fallbackReason = r.reason;
      }
    } else {
      chosen = requested;
      pkg = requested === 'wasm' ? '@tensorflow/tfjs-backend-wasm' : '@tensorflow/tfjs-backend-cpu';
    }
    // After the tensorflow attempt: if it loaded @tensorflow/tfjs, its gradients are registered and kept.
    registerGradients();
    try {
      await activate(chosen);
    } catch (err) {
      if (chosen === 'tensorflow' && requested === 'auto') {
        fallbackReason = `tensorflow backend failed to initialise: ${(err as Error).message}`;
        chosen = 'wasm';
        pkg = '@tensorflow/tfjs-backend-wasm';
        await activate(chosen);
      } else {
        throw err;
      }
    }
    const info: BackendInfo = {
      backend: chosen,
      tfBackend: tf.getBackend(),
      package: pkg,
      requested,
      threads: chosen === 'wasm' ? 1 : chosen === 'cpu' ? 1 : 0,
      ...(fallbackReason ? { fallbackReason } : {}),
      ...(chosen === 'wasm' ? { simd: Boolean(tf.env().getBool('WASM_HAS_SIMD_SUPPORT')) } : {}),
    };
    if (chosen === 'tensorflow') info.threads = 0; // libtensorflow manages its own thread pool
    current = info;
    options.logger?.debug(`engine: tfjs backend ${info.backend} (${info.package})` + (fallbackReason ? ` — ${fallbackReason}` : ''));
    return info;
  })();
  try {
    return await pending;
  } finally {
    pending = undefined;
  }
}

/** The backend chosen by the last {@link initEngine}, or undefined before it. */
export function engineInfo(): BackendInfo | undefined {
  return current && tf.getBackend() === current.tfBackend ? current : undefined;
}

/** A one-line description, e.g. `wasm (@tensorflow/tfjs-backend-wasm, 1 thread, SIMD)`. */
export function describeBackend(info: BackendInfo): string {
  const parts = [info.package];
  if (info.backend === 'wasm') parts.push(`${info.threads} thread`, info.simd ? 'SIMD' : 'no SIMD');
  return `${info.backend} (${parts.join(', ')})` + (info.fallbackReason ? ` [fallback: ${info.fallbackReason}]` : '');
}

/** Number of live tfjs tensors (for leak checks: it must not grow per sampling or training step). */
export function liveTensorCount(): number {
  return tf.memory().numTensors;
}
