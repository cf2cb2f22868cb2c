/**
 * Training graphs from the engine-neutral {@link NetworkDef}: the whole training step — forward, the training job's
 * masked loss, backward, and the optimizer update — as ONE ONNX graph for onnxruntime, for one batch shape.
 *
 * Interface (all float32, fixed dims):
 * - inputs: `x` [N, inputChannels, H, W], `noise` [N], `target` [N, outputChannels, H, W], `weight` [N, 1, H, W]
 *   (the loss weights, e.g. the hole mask; ones for an unweighted loss), `params` [P] (all parameters flat, in
 *   `def.params` order, PyTorch/ONNX layouts — the checkpoint layout of the tfjs engine); Adam also `m`, `v` [P] and
 *   `adam_a` [1] = lr / (1 − β₁ᵗ), `adam_sc2` [1] = 1 / √(1 − β₂ᵗ) (so one graph serves every step); SGD `lr` [1].
 * - outputs: `loss` [1] = Σ w·(pred − target)² / (N·C·H·W) (the tfjs engine's loss); then per mode:
 *   `adam` → `params_out`, `m_out`, `v_out`; `sgd` → `params_out`; `grads` → `grads` [P]; `forward` → `output`.
 * The Adam update is the engine's {@link Adam.step}: m' = β₁m + (1−β₁)g, v' = β₂v + (1−β₂)g²,
 * w' = w − a·m' / (√v'·sc2 + ε).
 */
import { NetOp, NetworkDef, opInputs, SECTION_ORDER, shapeSize } from '../net/def';
import { OnnxGraphBuilder, ONNX_OPSET } from '../onnx/graph';
import { NchwcInfo, numel, Tape, V } from './autodiff';

/** The training graphs' opset: the one every diff2s graph uses ({@link ONNX_OPSET}). */
export const ORTRAIN_OPSET = ONNX_OPSET;

/** What a training graph computes after the loss. */
export type TrainGraphMode = 'adam' | 'sgd' | 'grads' | 'forward';

/** Options of {@link buildTrainGraph}. */
export interface TrainGraphOptions {
  batch: number;
  height: number;
  width: number;
  mode: TrainGraphMode;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** The NCHWc fast path (undefined: standard ONNX ops only). */
  nchwc?: NchwcInfo;
  /** Bound on one weight-gradient patch-matrix chunk in bytes. */
  patchBytes?: number;
  /** Weight-gradient method of stride-1 convs (see `TapeOptions.weightGrad`). */
  weightGrad?: 'shift' | 'patches';
}

/** A built training graph. */
export interface TrainGraph {
  bytes: Uint8Array;
  /** Input names and dims. */
  inputs: Record<string, number[]>;
  /** Output names and dims. */
  outputs: Record<string, number[]>;
  /** Parameter count P. */
  paramCount: number;
  stats: { nodes: number; nchwcConvs: number; standardConvs: number };
}

/** Ops of the definition (all sections, in order). */
function allOps(def: NetworkDef): NetOp[] {
  return SECTION_ORDER.flatMap((s) => def.sections[s].ops);
}

/** Emits the network's forward pass on a tape; returns the output value. */
export function emitNetwork(t: Tape, def: NetworkDef, x: V, noise: V, params: Map<string, V>): V {
  const g = t.g;
  const env = new Map<string, V>([[def.io.input, x], [def.io.noise, noise]]);
  const ops = allOps(def);
  const uses = new Map<string, number>();
  for (const op of ops) for (const v of opInputs(op)) uses.set(v, (uses.get(v) ?? 0) + 1);
  for (const v of [def.io.output, def.io.hEnc, def.io.hMid, ...def.io.skips]) uses.set(v, (uses.get(v) ?? 0) + 1);
  const P = (name: string): V => {
    const p = params.get(name);
    if (!p) throw new Error(`parameter "${name}" is missing`);
    return p;
  };
  const get = (v: string): V => {
    const r = env.get(v);
    if (!r) throw new Error(`value "${v}" is not defined`);
    return r;
  };
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_.~-]/g, '_');
  for (let k = 0; k < ops.length; k++) {
    const op = ops[k];
    const base = safe(op.out);
    let out: V;
    switch (op.op) {
      case 'conv2d': {
        const next = ops[k + 1];
        const fuse = next?.op === 'act' && next.fn === 'relu' && next.in === op.out && uses.get(op.out) === 1;
        out = t.conv(get(op.in), P(op.weight), op.bias ? P(op.bias) : undefined, op.stride, op.pad, fuse, base);
        if (fuse) {
          // conv + relu as one primitive: the conv's own output is read by nothing else
          k++;
          env.set(next.out, out);
          continue;
        }
        break;
      }
      case 'groupNorm':
        out = t.groupNorm(get(op.in), op.groups, op.eps, P(op.scale), P(op.shift), base);
        break;
      case 'act':
        out = op.fn === 'relu' ? t.relu(get(op.in), base) : t.silu(get(op.in), base);
        break;
      case 'add':
        out = t.add(get(op.a), get(op.b), base);
        break;
      case 'addVector': {
        const v = get(op.vec);
        out = t.add(get(op.in), t.reshape(v, [v.shape[0], v.shape[1], 1, 1], `${base}/vec`), base);
        break;
      }
      case 'scaleShift': {
        const v = get(op.vec);
        const [n, c2] = v.shape;
        const c = c2 / 2;
        const v4 = t.reshape(v, [n, c2, 1, 1], `${base}/vec`);
        const [scale, shift] = t.split(v4, [c, c], 1, `${base}/ss`);
        out = t.add(t.mul(get(op.in), t.addScalar(scale, 1, `${base}/1+scale`), `${base}/scaled`), shift, base);
        break;
      }
      case 'concat':
        out = t.concat(op.ins.map(get), 1, base);
        break;
      case 'avgPool2':
        out = t.avgPool2(get(op.in), base);
        break;
      case 'upsample2':
        out = t.upsample2(get(op.in), base);
        break;
      case 'dense':
        out = t.dense(get(op.in), P(op.weight), op.bias ? P(op.bias) : undefined, base);
        break;
      case 'timestepEmbedding': {
        const nz = get(op.in);
        if (nz.grad) throw new Error('timestepEmbedding: its input must not need a gradient');
        const half = op.dim / 2;
        const freqs = new Float32Array(half);
        for (let j = 0; j < half; j++) freqs[j] = Math.exp((-Math.log(op.maxPeriod) * j) / half);
        const n = nz.shape[0];
        const col = g.op('Reshape', [g.op('Mul', [nz.name, g.scalar(op.scale)], `${base}/scaled`), g.constI64([n, 1])], `${base}/col`);
        const args = t.value(g.op('Mul', [col, g.constF32(freqs, [1, half], `${base}/freqs`)], `${base}/args`), [n, half]);
        out = t.concat([t.unaryNoGrad('Cos', args, `${base}/cos`), t.unaryNoGrad('Sin', args, `${base}/sin`)], 1, base);
        break;
      }
      case 'tile': {
        const like = get(op.like);
        out = t.tile(get(op.in), like.shape[2], like.shape[3], base);
        break;
      }
      case 'attention':
        out = emitAttention(t, get(op.in), op, P, base);
        break;
    }
    env.set(op.out, out);
  }
  return get(def.io.output);
}

function emitAttention(t: Tape, x: V, op: Extract<NetOp, { op: 'attention' }>, P: (n: string) => V, base: string): V {
  const [n, c, h, w] = x.shape;
  const heads = op.heads;
  const d = c / heads;
  const T = h * w;
  const qkvW = t.reshape(P(op.qkvWeight), [3 * c, c, 1, 1], `${base}/qkvw`);
  const qkv = t.conv(x, qkvW, op.qkvBias ? P(op.qkvBias) : undefined, 1, 0, false, `${base}/qkv`);
  const qkv5 = t.reshape(qkv, [n, heads, 3, d, T], `${base}/qkv5`);
  const [q5, k5, v5] = t.split(qkv5, [1, 1, 1], 2, `${base}/split`);
  const q = t.reshape(q5, [n, heads, d, T], `${base}/q`);
  const k = t.reshape(k5, [n, heads, d, T], `${base}/k`);
  const v = t.reshape(v5, [n, heads, d, T], `${base}/v`);
  const qT = t.transpose(q, [0, 1, 3, 2], `${base}/qT`);
  const scores = t.scale(t.matmul(qT, k, `${base}/scores`), 1 / Math.sqrt(d), `${base}/scaled`);
  const wts = t.softmax(scores, `${base}/softmax`);
  const wT = t.transpose(wts, [0, 1, 3, 2], `${base}/wT`);
  const a = t.matmul(v, wT, `${base}/a`);
  const merged = t.reshape(a, [n, c, h, w], `${base}/merged`);
  const projW = t.reshape(P(op.projWeight), [c, c, 1, 1], `${base}/projw`);
  return t.conv(merged, projW, op.projBias ? P(op.projBias) : undefined, 1, 0, false, base);
}

/** Build the training graph of `def` for one batch shape (see the file comment for its interface). */
export function buildTrainGraph(def: NetworkDef, o: TrainGraphOptions): TrainGraph {
  const g = new OnnxGraphBuilder();
  const t = new Tape(g, { nchwc: o.nchwc, patchBytes: o.patchBytes, weightGrad: o.weightGrad });
  const { batch: N, height: H, width: W } = o;
  if (H % def.shapes.sizeMultiple !== 0 || W % def.shapes.sizeMultiple !== 0) {
    throw new Error(`image size ${H}x${W} is not a multiple of ${def.shapes.sizeMultiple}`);
  }
  const Cin = def.shapes.inputChannels, Cout = def.shapes.outputChannels;
  const total = def.params.reduce((s, p) => s + shapeSize(p.shape), 0);
  const inputs: Record<string, number[]> = { x: [N, Cin, H, W], noise: [N], params: [total] };
  const x = t.input('x', inputs.x);
  const noise = t.input('noise', inputs.noise);
  const flat = g.input('params', inputs.params);
  // one Split of the flat parameters, one Reshape each
  const sizes = def.params.map((p) => shapeSize(p.shape));
  const pieces = def.params.map((p) => g.fresh(`p:${p.name}/flat`));
  g.node('Split', [flat, g.constI64(sizes)], pieces, { axis: { i: 0 } });
  const params = new Map<string, V>();
  def.params.forEach((p, i) => {
    params.set(p.name, t.value(g.op('Reshape', [pieces[i], g.constI64(p.shape)], `p:${p.name}`), p.shape, o.mode !== 'forward'));
  });
  const pred = emitNetwork(t, def, x, noise, params);
  const outputs: Record<string, number[]> = {};
  if (o.mode === 'forward') {
    g.output('output', pred.name, pred.shape);
    outputs.output = [...pred.shape];
  } else {
    // masked loss: Σ w·d² / count (Mul + ReduceMean: ReduceSumSquare loses precision on large reductions)
    inputs.target = [N, Cout, H, W];
    inputs.weight = [N, 1, H, W];
    const target = g.input('target', inputs.target);
    const weight = g.input('weight', inputs.weight);
    const count = numel(pred.shape);
    const d = g.op('Sub', [pred.name, target], 'loss/d');
    const wd = g.op('Mul', [d, weight], 'loss/wd');
    const l = g.op('ReduceMean', [g.op('Mul', [wd, d], 'loss/wdd')], 'loss/mean', { axes: { ints: [0, 1, 2, 3] }, keepdims: { i: 1 } });
    g.output('loss', g.op('Reshape', [l, g.constI64([1])], 'loss/1'), [1]);
    outputs.loss = [1];
    const seed = g.op('Mul', [wd, g.scalar(2 / count)], 'loss/dpred');
    t.backward(pred, seed);
    const flatGrads = def.params.map((p) => {
      const gp = t.gradOf(params.get(p.name)!);
      const gpv = gp ?? g.constF32(new Float32Array(shapeSize(p.shape)), p.shape, 'zeros');
      return g.op('Reshape', [gpv, g.constI64([-1])], `g:${p.name}/flat`);
    });
    const grad = g.op('Concat', flatGrads, 'grads_flat', { axis: { i: 0 } });
    if (o.mode === 'grads') {
      g.output('grads', grad, [total]);
      outputs.grads = [total];
    } else if (o.mode === 'sgd') {
      inputs.lr = [1];
      const lr = g.input('lr', [1]);
      g.output('params_out', g.op('Sub', [flat, g.op('Mul', [grad, lr], 'sgd/step')], 'sgd/w'), [total]);
      outputs.params_out = [total];
    } else {
      const b1 = o.beta1 ?? 0.9, b2 = o.beta2 ?? 0.999, eps = o.eps ?? 1e-8;
      inputs.m = [total]; inputs.v = [total]; inputs.adam_a = [1]; inputs.adam_sc2 = [1];
      const m = g.input('m', [total]);
      const v = g.input('v', [total]);
      const a = g.input('adam_a', [1]);
      const sc2 = g.input('adam_sc2', [1]);
      const m2 = g.op('Add', [g.op('Mul', [m, g.scalar(b1)], 'adam/b1m'), g.op('Mul', [grad, g.scalar(1 - b1)], 'adam/g1')], 'adam/m');
      const gg = g.op('Mul', [grad, grad], 'adam/gg');
      const v2 = g.op('Add', [g.op('Mul', [v, g.scalar(b2)], 'adam/b2v'), g.op('Mul', [gg, g.scalar(1 - b2)], 'adam/g2')], 'adam/v');
      const denom = g.op('Add', [g.op('Mul', [g.op('Sqrt', [v2], 'adam/sqrtv'), sc2], 'adam/sv'), g.scalar(eps)], 'adam/denom');
      const stepv = g.op('Div', [g.op('Mul', [m2, a], 'adam/am'), denom], 'adam/step');
      g.output('params_out', g.op('Sub', [flat, stepv], 'adam/w'), [total]);
      g.output('m_out', m2, [total]);
      g.output('v_out', v2, [total]);
      Object.assign(outputs, { params_out: [total], m_out: [total], v_out: [total] });
    }
  }
  const bytes = g.encode({ name: `diff2s_train_${o.mode}`, doc: `diff2s ${def.family} training step (${o.mode}), batch ${N}, ${H}x${W}`, producer: 'diff2s-ortrain' });
  return { bytes, inputs, outputs, paramCount: total, stats: { nodes: g.nodes.length, ...t.stats } };
}
