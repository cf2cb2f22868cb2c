/**
 * {@link TfjsNetwork}: executes a {@link NetworkDef} with TensorFlow.js given a weights map — forward (whole network or
 * section by section) and loss + gradient for training.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import { InputError, ModelError, Tensor4 } from '@diff2s/core';
import { NetOp, NetworkDef, SECTION_ORDER, SectionName, shapeSize } from '../net/def';
import type { LossAndGrads, LossKind, TrainBatch, WeightMap } from '../net/types';
import * as ops from './ops';

/** Values flowing through an execution, by name (images NHWC). */
export type ValueEnv = Map<string, Tensor>;

/** Gives the executor its parameters in tfjs layouts. */
interface ParamAccess {
  /** Canonical tensor (biases, norm scale/shift). */
  raw(name: string): Tensor;
  /** Conv filter as HWIO. */
  conv(name: string): Tensor;
  /** Dense weight transposed to [In, Out]. */
  denseT(name: string): Tensor;
}

/** One op on NHWC tensors. */
function runOp(op: NetOp, env: ValueEnv, P: ParamAccess): Tensor {
  const get = (name: string): Tensor => {
    const v = env.get(name);
    if (!v) throw new Error(`value "${name}" is not defined (op ${op.op} → ${op.out})`);
    return v;
  };
  switch (op.op) {
    case 'conv2d':
      return ops.conv2d(get(op.in), P.conv(op.weight), op.bias ? P.raw(op.bias) : undefined, op.stride, op.pad);
    case 'groupNorm':
      return ops.groupNorm(get(op.in), op.groups, op.eps, P.raw(op.scale), P.raw(op.shift));
    case 'act':
      return ops.activation(get(op.in), op.fn);
    case 'add':
      return tf.add(get(op.a), get(op.b));
    case 'addVector': {
      const v = get(op.vec);
      return tf.add(get(op.in), tf.reshape(v, [v.shape[0], 1, 1, v.shape[1] as number]));
    }
    case 'scaleShift': {
      const x = get(op.in);
      const v = get(op.vec);
      const [n, c2] = v.shape;
      const c = c2 / 2;
      const scale = tf.reshape(tf.slice(v, [0, 0], [n, c]), [n, 1, 1, c]);
      const shift = tf.reshape(tf.slice(v, [0, c], [n, c]), [n, 1, 1, c]);
      return tf.add(tf.mul(x, tf.add(scale, 1)), shift);
    }
    case 'concat':
      return tf.concat(op.ins.map(get), 3);
    case 'avgPool2':
      return ops.avgPool2(get(op.in));
    case 'upsample2':
      return ops.upsampleNearest2(get(op.in));
    case 'dense':
      return ops.dense(get(op.in), P.denseT(op.weight), op.bias ? P.raw(op.bias) : undefined);
    case 'timestepEmbedding':
      return ops.timestepEmbedding(get(op.in), op.dim, op.maxPeriod, op.scale);
    case 'tile': {
      const v = get(op.in);
      const like = get(op.like);
      return tf.mul(tf.reshape(v, [v.shape[0], 1, 1, v.shape[1] as number]), tf.ones([1, like.shape[1] as number, like.shape[2] as number, 1]));
    }
    case 'attention':
      return ops.attention(
        get(op.in), op.heads, P.denseT(op.qkvWeight), op.qkvBias ? P.raw(op.qkvBias) : undefined,
        P.denseT(op.projWeight), op.projBias ? P.raw(op.projBias) : undefined,
      );
  }
}

/** Kinds of parameter use, to know which layout conversion each parameter needs. */
function paramUses(def: NetworkDef): Map<string, 'conv' | 'dense' | 'raw'> {
  const uses = new Map<string, 'conv' | 'dense' | 'raw'>();
  for (const s of SECTION_ORDER) {
    for (const op of def.sections[s].ops) {
      if (op.op === 'conv2d') { uses.set(op.weight, 'conv'); if (op.bias) uses.set(op.bias, 'raw'); }
      else if (op.op === 'dense') { uses.set(op.weight, 'dense'); if (op.bias) uses.set(op.bias, 'raw'); }
      else if (op.op === 'groupNorm') { uses.set(op.scale, 'raw'); uses.set(op.shift, 'raw'); }
      else if (op.op === 'attention') {
        uses.set(op.qkvWeight, 'dense'); uses.set(op.projWeight, 'dense');
        if (op.qkvBias) uses.set(op.qkvBias, 'raw');
        if (op.projBias) uses.set(op.projBias, 'raw');
      }
    }
  }
  return uses;
}

function toTfLayout(t: Tensor, use: 'conv' | 'dense' | 'raw'): Tensor {
  if (use === 'conv') return tf.transpose(t, [2, 3, 1, 0]);
  if (use === 'dense') return tf.transpose(t, [1, 0]);
  return t;
}

/** NCHW Tensor4 → NHWC tf tensor. */
export function toNHWC(t: Tensor4): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor4d(t.data, [t.n, t.c, t.h, t.w]), [0, 2, 3, 1]));
}

/** NHWC tf tensor → NCHW Tensor4 (into `out` when its shape fits). */
export function fromNHWC(x: Tensor, out?: Tensor4): Tensor4 {
  const [n, h, w, c] = x.shape;
  const nchw = tf.transpose(x, [0, 3, 1, 2]);
  try {
    const data = nchw.dataSync() as Float32Array;
    if (out && out.n === n && out.c === c && out.h === h && out.w === w) {
      out.data.set(data);
      return out;
    }
    return new Tensor4([n, c, h, w], new Float32Array(data));
  } finally {
    nchw.dispose();
  }
}

/**
 * Executes a NetworkDef with tfjs. Holds the weights as tfjs tensors in the canonical layout, plus (lazily) copies
 * converted to tfjs layouts for inference. All methods taking/returning tf tensors use NHWC images; the caller owns
 * returned tensors. Tensor-leak free: repeated calls keep `tf.memory().numTensors` constant.
 */
export class TfjsNetwork {
  readonly def: NetworkDef;
  private readonly uses: Map<string, 'conv' | 'dense' | 'raw'>;
  private params = new Map<string, Tensor>();
  private cache = new Map<string, Tensor>();
  private disposed = false;

  /** @param weights one Float32Array per parameter of `def` (names and sizes checked). */
  constructor(def: NetworkDef, weights: WeightMap) {
    this.def = def;
    this.uses = paramUses(def);
    this.setWeights(weights);
  }

  /** Replace all weights (sizes checked against the definition). */
  setWeights(weights: WeightMap): void {
    this.assertLive();
    const next = new Map<string, Tensor>();
    for (const p of this.def.params) {
      const w = weights.get(p.name);
      if (!w) throw new ModelError(`weights lack parameter "${p.name}" [${p.shape.join(', ')}]`);
      if (w.length !== shapeSize(p.shape)) {
        throw new ModelError(`parameter "${p.name}" has ${w.length} values, shape [${p.shape.join(', ')}] needs ${shapeSize(p.shape)}`);
      }
      next.set(p.name, tf.tensor(w, p.shape, 'float32'));
    }
    this.disposeTensors();
    this.params = next;
  }

  /** Copy of the weights (canonical layouts). */
  getWeights(): WeightMap {
    this.assertLive();
    const out: WeightMap = new Map();
    for (const p of this.def.params) out.set(p.name, new Float32Array(this.params.get(p.name)!.dataSync() as Float32Array));
    return out;
  }

  private inferenceAccess(): ParamAccess {
    const cached = (name: string): Tensor => {
      let t = this.cache.get(name);
      if (!t) {
        const use = this.uses.get(name) ?? 'raw';
        const src = this.params.get(name);
        if (!src) throw new Error(`unknown parameter ${name}`);
        t = use === 'raw' ? src : tf.keep(tf.tidy(() => toTfLayout(src, use)));
        this.cache.set(name, t);
      }
      return t;
    };
    return { raw: cached, conv: cached, denseT: cached };
  }

  private static gradAccess(values: Map<string, Tensor>): ParamAccess {
    const get = (name: string) => {
      const t = values.get(name);
      if (!t) throw new Error(`unknown parameter ${name}`);
      return t;
    };
    return {
      raw: get,
      conv: (name) => tf.transpose(get(name), [2, 3, 1, 0]),
      denseT: (name) => tf.transpose(get(name), [1, 0]),
    };
  }

  private execute(sections: readonly SectionName[], env: ValueEnv, P: ParamAccess): ValueEnv {
    for (const s of sections) {
      for (const op of this.def.sections[s].ops) env.set(op.out, runOp(op, env, P));
    }
    return env;
  }

  /**
   * Run sections on the given values (NHWC images, [N] noise, [N,D] embeddings) with the inference weights.
   * Returns the named outputs (new tensors the caller owns); intermediates are disposed.
   */
  run(sections: readonly SectionName[], inputs: Record<string, Tensor>, outputs: readonly string[]): Tensor[] {
    this.assertLive();
    const P = this.inferenceAccess();
    return tf.tidy(() => {
      const env: ValueEnv = new Map(Object.entries(inputs));
      this.execute(sections, env, P);
      const seen = new Set<Tensor>(Object.values(inputs));
      return outputs.map((o) => {
        const v = env.get(o);
        if (!v) throw new Error(`output "${o}" was not produced by sections ${sections.join(', ')}`);
        // every returned tensor is distinct and new (an output may also be an input, or listed twice: h₋₁ is
        // also the last skip in the guided layout)
        if (seen.has(v)) return tf.clone(v);
        seen.add(v);
        return v;
      });
    });
  }

  /** Whole network on NHWC input [N,H,W,inputChannels] and noise [N] → NHWC output. */
  forward(x: Tensor, noise: Tensor): Tensor {
    const io = this.def.io;
    return this.run(SECTION_ORDER, { [io.input]: x, [io.noise]: noise }, [io.output])[0];
  }

  /** Embedding values (io.embeddings) for a noise vector [N]. */
  embed(noise: Tensor): Tensor[] {
    return this.run(['embed'], { [this.def.io.noise]: noise }, this.def.io.embeddings);
  }

  /** Encoder: x (NHWC) + embeddings → [h₋₁, ...skips]. */
  encode(x: Tensor, embeddings: Tensor[]): { h: Tensor; skips: Tensor[] } {
    const io = this.def.io;
    const out = this.run(['encoder'], { [io.input]: x, ...this.embInputs(embeddings) }, [io.hEnc, ...io.skips]);
    return { h: out[0], skips: out.slice(1) };
  }

  /** Middle block: h₋₁ → h. */
  middle(hEnc: Tensor, embeddings: Tensor[]): Tensor {
    const io = this.def.io;
    return this.run(['middle'], { [io.hEnc]: hEnc, ...this.embInputs(embeddings) }, [io.hMid])[0];
  }

  /** Decoder: h + skips → output (NHWC). */
  decode(hMid: Tensor, skips: Tensor[], embeddings: Tensor[]): Tensor {
    const io = this.def.io;
    if (skips.length !== io.skips.length) throw new InputError(`decoder needs ${io.skips.length} skips, got ${skips.length}`);
    const inputs: Record<string, Tensor> = { [io.hMid]: hMid, ...this.embInputs(embeddings) };
    io.skips.forEach((s, i) => { inputs[s] = skips[i]; });
    return this.run(['decoder'], inputs, [io.output])[0];
  }

  private embInputs(embeddings: Tensor[]): Record<string, Tensor> {
    const names = this.def.io.embeddings;
    if (embeddings.length !== names.length) throw new InputError(`expected ${names.length} embedding tensors, got ${embeddings.length}`);
    return Object.fromEntries(names.map((n, i) => [n, embeddings[i]]));
  }

  /** The loss of {@link lossAndGrads} without gradients (validation, finite differences). */
  loss(batch: TrainBatch, loss: LossKind = 'mse'): number {
    this.assertLive();
    const io = this.def.io;
    const P = this.inferenceAccess();
    const t = tf.tidy(() => {
      const env: ValueEnv = new Map([[io.input, toNHWC(batch.input) as Tensor], [io.noise, tf.tensor1d(batch.noise)]]);
      this.execute(SECTION_ORDER, env, P);
      const diff = tf.sub(env.get(io.output)!, toNHWC(batch.target));
      let l = loss === 'mse' ? tf.square(diff) : tf.abs(diff);
      if (batch.weight) l = tf.mul(l, toNHWC(batch.weight));
      return tf.div(tf.sum(l), batch.target.size);
    });
    try {
      return t.dataSync()[0];
    } finally {
      t.dispose();
    }
  }

  /**
   * Loss and gradient of the weights on one batch: loss = Σ w·ℓ(pred − target) / (N·C·H·W). The normalisation
   * does not depend on the weights w, so gradients of equal batch parts average to the full-batch gradient.
   */
  lossAndGrads(batch: TrainBatch, loss: LossKind = 'mse'): LossAndGrads {
    this.assertLive();
    const names = this.def.params.map((p) => p.name);
    const io = this.def.io;
    const n = batch.input.n;
    if (batch.noise.length !== n) throw new InputError(`batch has ${n} inputs but ${batch.noise.length} noise levels`);
    if (batch.target.n !== n || batch.target.c !== this.def.shapes.outputChannels || batch.target.h !== batch.input.h || batch.target.w !== batch.input.w) {
      throw new InputError(`target shape [${batch.target.shape.join(', ')}] does not fit input [${batch.input.shape.join(', ')}]`);
    }
    const res = tf.tidy(() => {
      const x = toNHWC(batch.input);
      const noise = tf.tensor1d(batch.noise);
      const target = toNHWC(batch.target);
      const weight = batch.weight ? toNHWC(batch.weight) : undefined;
      const count = batch.target.size;
      const f = (...ws: Tensor[]): tf.Scalar => {
        const values = new Map(names.map((nm, i) => [nm, ws[i]]));
        const env: ValueEnv = new Map([[io.input, x as Tensor], [io.noise, noise]]);
        this.execute(SECTION_ORDER, env, TfjsNetwork.gradAccess(values));
        const diff = tf.sub(env.get(io.output)!, target);
        let l = loss === 'mse' ? tf.square(diff) : tf.abs(diff);
        if (weight) l = tf.mul(l, weight);
        return tf.div(tf.sum(l), count) as tf.Scalar;
      };
      const { value, grads } = tf.valueAndGrads(f)(names.map((nm) => this.params.get(nm)!));
      return { value, grads };
    });
    try {
      const out: WeightMap = new Map();
      names.forEach((nm, i) => out.set(nm, res.grads[i].dataSync() as Float32Array));
      return { loss: res.value.dataSync()[0], grads: out };
    } finally {
      res.value.dispose();
      for (const g of res.grads) g.dispose();
    }
  }

  /** Free all tensors. */
  dispose(): void {
    if (this.disposed) return;
    this.disposeTensors();
    this.disposed = true;
  }

  private disposeTensors(): void {
    for (const [name, t] of this.cache) if (this.params.get(name) !== t) t.dispose();
    this.cache.clear();
    for (const t of this.params.values()) t.dispose();
    this.params.clear();
  }

  private assertLive(): void {
    if (this.disposed) throw new ModelError('network was disposed');
  }
}
