/**
 * The onnxruntime differentiator (src/ortrain/autodiff.ts), op by op: each primitive's ONNX forward and gradients
 * against the tfjs engine's ops (tf.grads, cpu backend) and against central finite differences run on onnxruntime,
 * with standard ops and (where this CPU supports it) the NCHWc conv path.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import { Rng } from '@diff2s/core';
import { detectNchwc, initEngine, loadOrtSession, NchwcInfo, OnnxGraphBuilder, Tape, V } from '@diff2s/engine';
import * as ops from '../src/tfjs/ops';
import { relErr } from './helpers';

interface InputSpec {
  shape: number[];
  grad?: boolean;
  /** Values in [0.5, 1.5] (divisors). */
  positive?: boolean;
}

interface OpCase {
  name: string;
  inputs: Record<string, InputSpec>;
  onnx: (t: Tape, v: Record<string, V>) => V;
  /** The same function with tfjs (NCHW semantics; the helpers below convert to the engine's NHWC ops). */
  tfjs: (v: Record<string, Tensor>) => Tensor;
  /** Conv cases run again on the NCHWc path. */
  conv?: boolean;
  /** Finite-difference step (default 1e-2); kinks (relu) want a smaller one. */
  h?: number;
}

const nhwc = (x: Tensor) => tf.transpose(x, [0, 2, 3, 1]);
const nchw = (x: Tensor) => tf.transpose(x, [0, 3, 1, 2]);
const hwio = (w: Tensor) => tf.transpose(w, [2, 3, 1, 0]);

const convCase = (name: string, n: number, cin: number, cout: number, s: number, k: number, stride: number, bias: boolean, relu = false): OpCase => ({
  name,
  conv: true,
  h: relu ? 1e-3 : undefined,
  inputs: { x: { shape: [n, cin, s, s] }, w: { shape: [cout, cin, k, k] }, ...(bias ? { b: { shape: [cout] } } : {}) },
  onnx: (t, v) => t.conv(v.x, v.w, v.b, stride, (k - 1) >> 1, relu),
  tfjs: (v) => {
    const y = nchw(ops.conv2d(nhwc(v.x), hwio(v.w), v.b, stride, (k - 1) >> 1));
    return relu ? tf.relu(y) : y;
  },
});

const img = (n: number, c: number, s: number, grad = true): InputSpec => ({ shape: [n, c, s, s], grad });

const CASES: OpCase[] = [
  convCase('conv 3x3 stride 1 + bias', 2, 16, 16, 6, 3, 1, true),
  convCase('conv 3x3 stride 1, 3 → 16 channels (NCHW input)', 2, 3, 16, 6, 3, 1, true),
  convCase('conv 3x3 stride 1, 32 → 16, fused relu', 2, 32, 16, 6, 3, 1, true, true),
  convCase('conv 3x3 stride 2', 2, 16, 16, 8, 3, 2, true),
  convCase('conv 1x1 16 → 3 (output conv)', 2, 16, 3, 6, 1, 1, true),
  convCase('conv 3x3 odd channels (standard fallback)', 3, 5, 7, 5, 3, 1, false),
  {
    name: 'relu', h: 1e-3, inputs: { x: img(2, 3, 4) },
    onnx: (t, v) => t.relu(v.x), tfjs: (v) => tf.relu(v.x),
  },
  { name: 'silu', inputs: { x: img(2, 3, 4) }, onnx: (t, v) => t.silu(v.x), tfjs: (v) => ops.activation(v.x, 'silu') },
  { name: 'sigmoid', inputs: { x: img(2, 3, 4) }, onnx: (t, v) => t.sigmoid(v.x), tfjs: (v) => tf.sigmoid(v.x) },
  {
    name: 'add with broadcast [N,C,1,1]', inputs: { a: img(2, 3, 4), b: { shape: [2, 3, 1, 1] } },
    onnx: (t, v) => t.add(v.a, v.b), tfjs: (v) => tf.add(v.a, v.b),
  },
  {
    name: 'sub with broadcast [C,1,1]', inputs: { a: img(2, 3, 4), b: { shape: [3, 1, 1] } },
    onnx: (t, v) => t.sub(v.a, v.b), tfjs: (v) => tf.sub(v.a, v.b),
  },
  {
    name: 'mul with broadcast', inputs: { a: img(2, 3, 4), b: { shape: [2, 3, 1, 1] } },
    onnx: (t, v) => t.mul(v.a, v.b), tfjs: (v) => tf.mul(v.a, v.b),
  },
  {
    name: 'div', inputs: { a: img(2, 3, 4), b: { shape: [2, 3, 4, 4], positive: true } },
    onnx: (t, v) => t.div(v.a, v.b), tfjs: (v) => tf.div(v.a, v.b),
  },
  { name: 'scale, addScalar', inputs: { x: img(2, 3, 4) }, onnx: (t, v) => t.addScalar(t.scale(v.x, 0.3), 1), tfjs: (v) => tf.add(tf.mul(v.x, 0.3), 1) },
  { name: 'avgPool2', inputs: { x: img(2, 3, 8) }, onnx: (t, v) => t.avgPool2(v.x), tfjs: (v) => nchw(ops.avgPool2(nhwc(v.x))) },
  { name: 'upsample2 (nearest)', inputs: { x: img(2, 3, 4) }, onnx: (t, v) => t.upsample2(v.x), tfjs: (v) => nchw(ops.upsampleNearest2(nhwc(v.x))) },
  {
    name: 'concat (channels)', inputs: { a: img(2, 3, 4), b: img(2, 5, 4) },
    onnx: (t, v) => t.concat([v.a, v.b], 1), tfjs: (v) => tf.concat([v.a, v.b], 1),
  },
  {
    name: 'split + slice', inputs: { x: img(2, 6, 4) },
    onnx: (t, v) => {
      const [a, b] = t.split(v.x, [2, 4], 1);
      return t.add(t.mul(a, a), t.slice(b, 1, 1, 3));
    },
    tfjs: (v) => {
      const a = tf.slice(v.x, [0, 0, 0, 0], [2, 2, 4, 4]); // tfjs has no SplitV gradient: slices
      return tf.add(tf.mul(a, a), tf.slice(v.x, [0, 3, 0, 0], [2, 2, 4, 4]));
    },
  },
  {
    name: 'reshape + transpose', inputs: { x: img(2, 3, 4) },
    onnx: (t, v) => t.transpose(t.reshape(v.x, [2, 3, 16]), [0, 2, 1]),
    tfjs: (v) => tf.transpose(tf.reshape(v.x, [2, 3, 16]), [0, 2, 1]),
  },
  {
    name: 'matmul (batched)', inputs: { a: { shape: [2, 3, 4, 5] }, b: { shape: [2, 3, 5, 6] } },
    onnx: (t, v) => t.matmul(v.a, v.b), tfjs: (v) => tf.matMul(v.a as tf.Tensor4D, v.b as tf.Tensor4D),
  },
  {
    name: 'dense (Gemm)', inputs: { x: { shape: [3, 5] }, w: { shape: [4, 5] }, b: { shape: [4] } },
    onnx: (t, v) => t.dense(v.x, v.w, v.b), tfjs: (v) => ops.dense(v.x, tf.transpose(v.w), v.b),
  },
  { name: 'softmax', inputs: { x: { shape: [2, 3, 7] } }, onnx: (t, v) => t.softmax(v.x), tfjs: (v) => tf.softmax(v.x) },
  {
    name: 'mean and sum', inputs: { x: img(2, 3, 4) },
    onnx: (t, v) => t.add(t.mean(v.x, [2, 3], true), t.sum(v.x, [1], true)),
    tfjs: (v) => tf.add(tf.mean(v.x, [2, 3], true), tf.sum(v.x, [1], true)),
  },
  {
    name: 'groupNorm', inputs: { x: img(2, 8, 5), gamma: { shape: [8] }, beta: { shape: [8] } },
    onnx: (t, v) => t.groupNorm(v.x, 4, 1e-5, v.gamma, v.beta),
    tfjs: (v) => nchw(ops.groupNorm(nhwc(v.x), 4, 1e-5, v.gamma, v.beta)),
  },
  {
    name: 'tile', inputs: { v: { shape: [2, 3] } },
    onnx: (t, v) => t.tile(v.v, 4, 4), tfjs: (v) => tf.mul(tf.reshape(v.v, [2, 3, 1, 1]), tf.ones([1, 1, 4, 4])),
  },
  {
    name: 'sin/cos of a constant input, times a weight', inputs: { c: { shape: [2, 3], grad: false }, w: { shape: [2, 3] } },
    onnx: (t, v) => t.mul(t.concat([t.unaryNoGrad('Sin', v.c), t.unaryNoGrad('Cos', v.c)], 1), t.concat([v.w, v.w], 1)),
    tfjs: (v) => tf.mul(tf.concat([tf.sin(v.c), tf.cos(v.c)], 1), tf.concat([v.w, v.w], 1)),
  },
];

function randomInputs(c: OpCase, rng: Rng): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const [name, s] of Object.entries(c.inputs)) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const a = new Float32Array(n);
    if (s.positive) for (let i = 0; i < n; i++) a[i] = 0.5 + rng.uniform();
    else rng.fillNormal(a);
    out[name] = a;
  }
  return out;
}

/** Build the op's graph (outputs y and the input gradients for seed gy) and a runner. */
async function onnxRunner(c: OpCase, nchwc?: NchwcInfo, weightGrad: 'patches' | 'shift' = 'patches') {
  const g = new OnnxGraphBuilder();
  const t = new Tape(g, { nchwc, patchBytes: 2000, weightGrad }); // tiny chunks: the chunked weight gradient too
  const vals: Record<string, V> = {};
  for (const [name, s] of Object.entries(c.inputs)) vals[name] = t.input(name, s.shape, s.grad ?? true);
  const y = c.onnx(t, vals);
  g.output('y', y.name, y.shape);
  const gy = g.input('gy', y.shape);
  t.backward(y, gy);
  const gradNames = Object.keys(c.inputs).filter((k) => c.inputs[k].grad ?? true);
  for (const k of gradNames) g.output(`d_${k}`, t.gradOf(vals[k])!, c.inputs[k].shape);
  const session = await loadOrtSession(g.encode(c.name), { name: c.name, intraOpNumThreads: 1 });
  const run = async (inputs: Record<string, Float32Array>, gyData: Float32Array) => {
    const feeds: Record<string, { dims: number[]; data: Float32Array }> = { gy: { dims: [...y.shape], data: gyData } };
    for (const [k, s] of Object.entries(c.inputs)) feeds[k] = { dims: s.shape, data: inputs[k] };
    return session.run(feeds);
  };
  return { run, yShape: y.shape, gradNames, session, stats: t.stats };
}

function tfjsReference(c: OpCase, inputs: Record<string, Float32Array>, gy: Float32Array, yShape: readonly number[]) {
  const names = Object.keys(c.inputs);
  const gradNames = names.filter((k) => c.inputs[k].grad ?? true);
  return tf.tidy(() => {
    const ts: Record<string, Tensor> = {};
    for (const k of names) ts[k] = tf.tensor(inputs[k], c.inputs[k].shape);
    const gyT = tf.tensor(gy, [...yShape]);
    const y = c.tfjs(ts);
    const f = (...xs: Tensor[]) => {
      const v = { ...ts };
      gradNames.forEach((k, i) => { v[k] = xs[i]; });
      return tf.sum(tf.mul(c.tfjs(v), gyT));
    };
    const grads = tf.grads(f)(gradNames.map((k) => ts[k]));
    return {
      y: y.dataSync() as Float32Array,
      grads: Object.fromEntries(gradNames.map((k, i) => [k, grads[i].dataSync() as Float32Array])),
    };
  });
}

let nchwcInfo: NchwcInfo | undefined;

beforeAll(async () => {
  await initEngine({ backend: 'cpu' });
  nchwcInfo = await detectNchwc();
});

describe('ortrain differentiator, op by op', () => {
  const variants: [string, boolean][] = [['standard ops', false], ['NCHWc', true]];
  for (const c of CASES) {
    for (const [label, fast] of variants) {
      if (fast && !c.conv) continue;
      test(`${c.name} (${label}): forward and gradients equal tfjs, gradients match finite differences`, async () => {
        if (fast && !nchwcInfo) {
          console.warn(`NCHWc convs are not available on this CPU: ${c.name} tested with standard ops only`);
          return;
        }
        const rng = new Rng(`op-${c.name}`);
        const r = await onnxRunner(c, fast ? nchwcInfo : undefined);
        try {
          if (fast && c.name.includes('odd')) expect(r.stats.nchwcConvs).toBe(0);
          const inputs = randomInputs(c, rng);
          const gy = new Float32Array(r.yShape.reduce((a, b) => a * b, 1));
          rng.fillNormal(gy);
          const out = await r.run(inputs, gy);
          const ref = tfjsReference(c, inputs, gy, r.yShape);
          expect(relErr(out.y.data, ref.y)).toBeLessThan(1e-5);
          for (const k of r.gradNames) expect(relErr(out[`d_${k}`].data, ref.grads[k])).toBeLessThan(1e-5);
          // central finite differences of L = Σ gy·y along a random direction, per input
          const h = c.h ?? 1e-2;
          const L = async (ins: Record<string, Float32Array>) => {
            const y = (await r.run(ins, gy)).y.data;
            let s = 0;
            for (let i = 0; i < y.length; i++) s += gy[i] * y[i];
            return s;
          };
          for (const k of r.gradNames) {
            const dir = new Float32Array(inputs[k].length);
            rng.fillNormal(dir);
            const plus = { ...inputs, [k]: inputs[k].map((x, i) => x + h * dir[i]) };
            const minus = { ...inputs, [k]: inputs[k].map((x, i) => x - h * dir[i]) };
            const fd = ((await L(plus)) - (await L(minus))) / (2 * h);
            let an = 0, scale = 0;
            const gk = out[`d_${k}`].data;
            for (let i = 0; i < dir.length; i++) { an += gk[i] * dir[i]; scale += Math.abs(gk[i] * dir[i]); }
            expect(Math.abs(fd - an)).toBeLessThan(2e-3 * Math.max(1, scale));
          }
        } finally {
          await r.session.release();
        }
      });
    }
  }

  test('the shifted-gradient weight gradient (weightGrad: shift) equals the patch-matrix one', async () => {
    const c = convCase('conv 3x3', 3, 16, 16, 6, 3, 1, true);
    const rng = new Rng('shift');
    const a = await onnxRunner(c, undefined, 'patches');
    const b = await onnxRunner(c, undefined, 'shift');
    try {
      const inputs = randomInputs(c, rng);
      const gy = new Float32Array(3 * 16 * 36);
      rng.fillNormal(gy);
      const ra = await a.run(inputs, gy), rb = await b.run(inputs, gy);
      expect(relErr(rb.d_w.data, ra.d_w.data)).toBeLessThan(1e-6);
    } finally {
      await a.session.release();
      await b.session.release();
    }
  });

  test('the NCHWc path is used where channel counts fit the block size', async () => {
    if (!nchwcInfo) return;
    const B = nchwcInfo.block;
    const g = new OnnxGraphBuilder();
    const t = new Tape(g, { nchwc: nchwcInfo });
    const x = t.input('x', [1, 2 * B, 4, 4], true);
    const w = t.input('w', [B, 2 * B, 3, 3], true);
    const odd = t.input('w2', [3, B, 1, 1], true);
    const y = t.conv(t.conv(x, w, undefined, 1, 1), odd, undefined, 1, 0);
    t.backward(y, g.input('gy', y.shape));
    // forward 2B→B and the input gradient B→2B are NCHWc; B→3 (3 outputs) is not; its input gradient 3→B is
    expect(t.stats.nchwcConvs).toBe(3);
    expect(t.stats.standardConvs).toBe(1);
  });
});
