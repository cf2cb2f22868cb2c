/**
 * {@link OrtTrainer}: runs the training graphs of {@link buildTrainGraph} on onnxruntime-node (through src/onnx/ort.ts),
 * one session per (batch shape, mode), created on first use and cached. Weights and Adam moments live in JavaScript
 * as flat Float32Arrays in `def.params` order — the tfjs engine's checkpoint layout — so the two engines' checkpoints
 * and model folders are interchangeable.
 *
 * The fast conv path (`fastConv: 'auto'`) uses onnxruntime's internal, undocumented `com.microsoft.nchwc` ops (x86
 * only). Its block size depends on the CPU; {@link detectNchwc} guesses it from the CPU flags and then verifies it by
 * running a probe conv against a JavaScript reference, falling back to standard ONNX ops when nothing matches.
 */
import * as fs from 'fs';
import { InputError, ModelError, Tensor4 } from '@diff2s/core';
import type { NetworkDef } from '../net/def';
import type { TrainBatch } from '../net/types';
import { loadOrtSession, OrtFeed, OrtSession } from '../onnx/ort';
import { NchwcInfo, Tape } from './autodiff';
import { buildTrainGraph, TrainGraph, TrainGraphMode } from './build';
import { OnnxGraphBuilder } from '../onnx/graph';

/** Options of {@link OrtTrainer}. */
export interface OrtTrainerOptions {
  /** Optimizer of {@link OrtTrainer.step} (default adam). */
  optimizer?: 'adam' | 'sgd';
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** `auto` (default): NCHWc convs when the probe verifies them; `nchwc`: require them; `standard`: standard ops only. */
  fastConv?: 'auto' | 'nchwc' | 'standard';
  /** onnxruntime intra-op threads (default: ort.ts's default, the number of cores up to 8). */
  threads?: number;
  /** Bound on one weight-gradient patch-matrix chunk, bytes (default 32 MiB). */
  patchBytes?: number;
}

/** Result of one optimizer step: the loss before the update and the updated state (new arrays). */
export interface OrtStepResult {
  loss: number;
  params: Float32Array;
  m?: Float32Array;
  v?: Float32Array;
}

/** Optimizer state given to {@link OrtTrainer.step}: flat params and Adam moments, `t` = updates done so far. */
export interface OrtOptimizerState {
  params: Float32Array;
  m?: Float32Array;
  v?: Float32Array;
  t: number;
}

function cpuFlags(): Set<string> {
  try {
    const m = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:\s*(.*)$/m);
    return new Set(m ? m[1].split(/\s+/) : []);
  } catch {
    return new Set();
  }
}

let nchwcProbe: Promise<NchwcInfo | undefined> | undefined;

/** Reference conv (stride 1, pad 1, 3×3) for the probe. */
function refConv(x: Float32Array, w: Float32Array, c: number, s: number): Float32Array {
  const y = new Float32Array(c * s * s);
  for (let o = 0; o < c; o++) for (let i = 0; i < c; i++) for (let yy = 0; yy < s; yy++) for (let xx = 0; xx < s; xx++) {
    let acc = 0;
    for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) {
      const sy = yy + ky - 1, sx = xx + kx - 1;
      if (sy < 0 || sx < 0 || sy >= s || sx >= s) continue;
      acc += x[(i * s + sy) * s + sx] * w[((o * c + i) * 3 + ky) * 3 + kx];
    }
    y[(o * s + yy) * s + xx] += acc;
  }
  return y;
}

async function probeBlock(block: number): Promise<boolean> {
  const c = 32, s = 6;
  const g = new OnnxGraphBuilder();
  const t = new Tape(g, { nchwc: { block } });
  const x = t.input('x', [1, c, s, s]);
  const w = t.input('w', [c, c, 3, 3]);
  const y = t.conv(x, w, undefined, 1, 1);
  g.output('y', y.name, y.shape);
  let session: OrtSession | undefined;
  try {
    session = await loadOrtSession(g.encode('nchwc_probe'), { name: `nchwc probe (block ${block})`, intraOpNumThreads: 1 });
    const xd = Float32Array.from({ length: c * s * s }, (_, i) => Math.sin(i * 0.37));
    const wd = Float32Array.from({ length: c * c * 9 }, (_, i) => Math.cos(i * 0.11) * 0.1);
    const out = await session.run({ x: { dims: [1, c, s, s], data: xd }, w: { dims: [c, c, 3, 3], data: wd } });
    const ref = refConv(xd, wd, c, s);
    let err = 0;
    for (let i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(out.y.data[i] - ref[i]));
    return err < 1e-3;
  } catch {
    return false;
  } finally {
    await session?.release();
  }
}

/**
 * Whether onnxruntime's NCHWc convs work here and their block size: x86-64 only; candidates from the CPU flags
 * (16 with AVX-512F, 8 with AVX2), each verified by a probe conv against a JavaScript reference. Cached.
 */
export function detectNchwc(): Promise<NchwcInfo | undefined> {
  nchwcProbe ??= (async () => {
    if (process.arch !== 'x64') return undefined;
    const flags = cpuFlags();
    const candidates = flags.has('avx512f') ? [16, 8] : flags.has('avx2') ? [8, 16] : flags.size ? [] : [16, 8];
    for (const b of candidates) if (await probeBlock(b)) return { block: b };
    return undefined;
  })();
  return nchwcProbe;
}

/** Runs training steps of one network on onnxruntime (see the file comment). */
export class OrtTrainer {
  private readonly sessions = new Map<string, Promise<{ session: OrtSession; graph: TrainGraph }>>();
  private disposed = false;
  /** Parameter count. */
  readonly size: number;

  private constructor(
    readonly def: NetworkDef,
    private readonly options: OrtTrainerOptions,
    /** The NCHWc block in use (undefined: standard ops). */
    readonly nchwc: NchwcInfo | undefined,
  ) {
    this.size = def.params.reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
  }

  /** Create a trainer; resolves the conv path (probing NCHWc support when `fastConv` is auto or nchwc). */
  static async create(def: NetworkDef, options: OrtTrainerOptions = {}): Promise<OrtTrainer> {
    const mode = options.fastConv ?? 'auto';
    let nchwc: NchwcInfo | undefined;
    if (mode !== 'standard') {
      nchwc = await detectNchwc();
      if (!nchwc && mode === 'nchwc') throw new ModelError('onnxruntime NCHWc convs are not available on this machine (x86-64 with AVX2/AVX-512 needed)');
    }
    return new OrtTrainer(def, options, nchwc);
  }

  /** Human-readable description of the engine, e.g. for the model card. */
  describe(): string {
    return `onnxruntime (cpu, ${this.nchwc ? `nchwc block ${this.nchwc.block}` : 'standard ops'})`;
  }

  private async sessionFor(mode: TrainGraphMode, n: number, h: number, w: number): Promise<{ session: OrtSession; graph: TrainGraph }> {
    if (this.disposed) throw new ModelError('OrtTrainer was disposed');
    const key = `${mode}:${n}x${h}x${w}`;
    let s = this.sessions.get(key);
    if (!s) {
      s = (async () => {
        const graph = buildTrainGraph(this.def, {
          batch: n, height: h, width: w, mode,
          beta1: this.options.beta1, beta2: this.options.beta2, eps: this.options.eps,
          nchwc: this.nchwc, patchBytes: this.options.patchBytes,
        });
        const session = await loadOrtSession(graph.bytes, { name: `training graph ${key}`, intraOpNumThreads: this.options.threads });
        return { session, graph };
      })();
      s.catch(() => this.sessions.delete(key));
      this.sessions.set(key, s);
    }
    return s;
  }

  private batchFeeds(batch: TrainBatch, params: Float32Array): Record<string, OrtFeed> {
    const { input, target, noise } = batch;
    const { n, h, w } = input;
    if (params.length !== this.size) throw new InputError(`expected ${this.size} parameters, got ${params.length}`);
    if (noise.length !== n) throw new InputError(`batch has ${n} inputs but ${noise.length} noise levels`);
    if (input.c !== this.def.shapes.inputChannels) throw new InputError(`input has ${input.c} channels, the network takes ${this.def.shapes.inputChannels}`);
    if (target.n !== n || target.c !== this.def.shapes.outputChannels || target.h !== h || target.w !== w) {
      throw new InputError(`target shape [${target.shape.join(', ')}] does not fit input [${input.shape.join(', ')}]`);
    }
    const weight = batch.weight;
    if (weight && (weight.n !== n || weight.c !== 1 || weight.h !== h || weight.w !== w)) {
      throw new InputError(`the onnx engine takes loss weights of shape [${n}, 1, ${h}, ${w}], got [${weight.shape.join(', ')}]`);
    }
    const wdata = weight ? weight.data : new Float32Array(n * h * w).fill(1);
    return {
      x: { dims: [n, input.c, h, w], data: input.data },
      noise: { dims: [n], data: noise },
      target: { dims: [n, target.c, h, w], data: target.data },
      weight: { dims: [n, 1, h, w], data: wdata },
      params: { dims: [params.length], data: params },
    };
  }

  /**
   * One optimizer step (forward, loss, backward and the update in one graph run): given the flat parameters, the
   * Adam moments and `t` (updates done so far) and the learning rate, returns the loss and the updated arrays.
   */
  async step(state: OrtOptimizerState, batch: TrainBatch, lr: number): Promise<OrtStepResult> {
    const opt = this.options.optimizer ?? 'adam';
    const { session } = await this.sessionFor(opt, batch.input.n, batch.input.h, batch.input.w);
    const feeds = this.batchFeeds(batch, state.params);
    if (opt === 'sgd') {
      feeds.lr = { dims: [1], data: Float32Array.of(lr) };
      const r = await session.run(feeds);
      return { loss: r.loss.data[0], params: r.params_out.data };
    }
    if (!state.m || !state.v) throw new InputError('Adam needs the moments m and v');
    const t = state.t + 1;
    const b1 = this.options.beta1 ?? 0.9, b2 = this.options.beta2 ?? 0.999;
    feeds.m = { dims: [this.size], data: state.m };
    feeds.v = { dims: [this.size], data: state.v };
    feeds.adam_a = { dims: [1], data: Float32Array.of(lr / (1 - b1 ** t)) };
    feeds.adam_sc2 = { dims: [1], data: Float32Array.of(1 / Math.sqrt(1 - b2 ** t)) };
    const r = await session.run(feeds);
    return { loss: r.loss.data[0], params: r.params_out.data, m: r.m_out.data, v: r.v_out.data };
  }

  /** Loss and flat gradient (def.params order) of one batch — the tfjs engine's `lossAndGrads`, flat. */
  async lossAndGrads(params: Float32Array, batch: TrainBatch): Promise<{ loss: number; grads: Float32Array }> {
    const { session } = await this.sessionFor('grads', batch.input.n, batch.input.h, batch.input.w);
    const r = await session.run(this.batchFeeds(batch, params));
    return { loss: r.loss.data[0], grads: r.grads.data };
  }

  /** The network's output for a batch (the forward graph; `target`/`weight` ignored). */
  async forward(params: Float32Array, input: Tensor4, noise: Float32Array): Promise<Tensor4> {
    const { n, h, w } = input;
    const { session } = await this.sessionFor('forward', n, h, w);
    const r = await session.run({ x: { dims: [n, input.c, h, w], data: input.data }, noise: { dims: [n], data: noise }, params: { dims: [params.length], data: params } });
    return new Tensor4(r.output.dims as [number, number, number, number], r.output.data);
  }

  /** Statistics of the graph used for a shape (nodes, NCHWc vs standard convs). */
  async graphStats(mode: TrainGraphMode, n: number, h: number, w: number): Promise<TrainGraph['stats']> {
    return (await this.sessionFor(mode, n, h, w)).graph.stats;
  }

  /** Release all sessions. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) {
      try {
        await (await s).session.release();
      } catch {
        /* a session that failed to load has nothing to release */
      }
    }
  }
}
