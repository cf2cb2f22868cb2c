/**
 * Gradient functions for the kernels the diff2s networks differentiate through.
 *
 * Why this file exists: `@tensorflow/tfjs-core`'s CommonJS bundle (what Node loads) registers **no** gradients — the
 * union package `@tensorflow/tfjs` does, from ES-module files Node cannot `require`. diff2s depends on tfjs-core
 * alone, so it registers the gradients it needs here (the same formulas as tfjs-core's `src/gradients`, Apache-2.0).
 * A gradient already registered (e.g. by `@tensorflow/tfjs-node`, which loads the union package) is kept.
 *
 * Covered: Add, Sub, Multiply, RealDiv, SquaredDifference, Square, Sqrt, Rsqrt, Neg, Abs, Relu, Sigmoid, Exp,
 * Sum, Mean, Reshape, Transpose, Concat, Slice, PadV2, BatchMatMul, Softmax, Cast, Identity, AddN, Conv2D.
 */
import * as tf from '@tensorflow/tfjs-core';
import { backend_util, GradConfig, NamedAttrMap, Tensor } from '@tensorflow/tfjs-core';

/** Sum `dy` over the axes broadcast from `shape` and reshape to it. */
function unbroadcast(dy: Tensor, shape: number[]): Tensor {
  const axes = backend_util.getReductionAxes(shape, dy.shape);
  let r = dy;
  if (axes.length > 0) r = tf.sum(r, axes);
  return tf.reshape(r, shape);
}

function binary(name: string, fa: (dy: Tensor, a: Tensor, b: Tensor) => Tensor, fb: (dy: Tensor, a: Tensor, b: Tensor) => Tensor): GradConfig {
  return {
    kernelName: name,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved) => {
      const [a, b] = saved;
      const d = dy as Tensor;
      return {
        a: () => unbroadcast(fa(d, a, b), a.shape),
        b: () => unbroadcast(fb(d, a, b), b.shape),
      };
    },
  };
}

function reduceGrad(name: 'Sum' | 'Mean'): GradConfig {
  return {
    kernelName: name,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs: NamedAttrMap) => {
      const [x] = saved;
      const axes = tf.util.parseAxisParam(attrs.axis as number | number[], x.shape);
      const expanded = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
      let count = 1;
      for (const a of axes) count *= x.shape[a];
      return {
        x: () => {
          const r = tf.mul(tf.reshape(dy as Tensor, expanded), tf.ones(x.shape, 'float32'));
          return name === 'Mean' ? tf.div(r, count) : r;
        },
      };
    },
  };
}

/** The gradient configs diff2s provides (tfjs-core's formulas). */
export const diff2sGradientConfigs: readonly GradConfig[] = [
  binary('Add', (dy) => dy, (dy) => dy),
  binary('Sub', (dy) => dy, (dy) => tf.neg(dy)),
  binary('Multiply', (dy, _a, b) => tf.mul(dy, b), (dy, a) => tf.mul(dy, a)),
  binary('RealDiv', (dy, _a, b) => tf.div(dy, b), (dy, a, b) => tf.neg(tf.div(tf.mul(dy, a), tf.square(b)))),
  binary(
    'SquaredDifference',
    (dy, a, b) => tf.mul(dy, tf.mul(tf.sub(a, b), 2)),
    (dy, a, b) => tf.mul(dy, tf.mul(tf.sub(b, a), 2)),
  ),
  {
    kernelName: 'AddN',
    saveAllInputs: true,
    gradFunc: (dy, saved) => {
      const out: Record<string, () => Tensor> = {};
      saved.forEach((_, i) => { out[i] = () => tf.clone(dy as Tensor); });
      return out;
    },
  },
  { kernelName: 'Square', inputsToSave: ['x'], gradFunc: (dy, [x]) => ({ x: () => tf.mul(dy as Tensor, tf.mul(x, 2)) }) },
  { kernelName: 'Sqrt', inputsToSave: ['x'], gradFunc: (dy, [x]) => ({ x: () => tf.div(dy as Tensor, tf.mul(tf.sqrt(x), 2)) }) },
  {
    kernelName: 'Rsqrt',
    inputsToSave: ['x'],
    gradFunc: (dy, [x]) => ({ x: () => tf.neg(tf.div(dy as Tensor, tf.mul(tf.pow(x, 1.5), 2))) }),
  },
  { kernelName: 'Neg', gradFunc: (dy) => ({ x: () => tf.neg(dy as Tensor) }) },
  { kernelName: 'Abs', inputsToSave: ['x'], gradFunc: (dy, [x]) => ({ x: () => tf.mul(dy as Tensor, tf.sign(x)) }) },
  { kernelName: 'Relu', inputsToSave: ['x'], gradFunc: (dy, [x]) => ({ x: () => tf.mul(dy as Tensor, tf.step(x)) }) },
  {
    kernelName: 'Sigmoid',
    outputsToSave: [true],
    gradFunc: (dy, [y]) => ({ x: () => tf.mul(dy as Tensor, tf.mul(y, tf.sub(1, y))) }),
  },
  { kernelName: 'Exp', outputsToSave: [true], gradFunc: (dy, [y]) => ({ x: () => tf.mul(dy as Tensor, y) }) },
  reduceGrad('Sum'),
  reduceGrad('Mean'),
  { kernelName: 'Reshape', inputsToSave: ['x'], gradFunc: (dy, [x]) => ({ x: () => tf.reshape(dy as Tensor, x.shape) }) },
  {
    kernelName: 'Transpose',
    gradFunc: (dy, _saved, attrs) => {
      const perm = attrs.perm as number[];
      const undo = perm.map((_, i) => perm.indexOf(i));
      return { x: () => tf.transpose(dy as Tensor, undo) };
    },
  },
  {
    kernelName: 'Concat',
    saveAllInputs: true,
    gradFunc: (dy, saved, attrs) => {
      const axis = tf.util.parseAxisParam(attrs.axis as number, saved[0].shape)[0];
      const parts = tf.split(dy as Tensor, saved.map((t) => t.shape[axis]), axis);
      const out: Record<string, () => Tensor> = {};
      parts.forEach((p, i) => { out[i] = () => p; });
      return out;
    },
  },
  {
    kernelName: 'Slice',
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const begin = attrs.begin as number[];
      const size = attrs.size as number[];
      const pads = x.shape.map((d, i) => [begin[i], d - begin[i] - size[i]] as [number, number]);
      return { x: () => tf.pad(dy as Tensor, pads) };
    },
  },
  {
    kernelName: 'PadV2',
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const pads = attrs.paddings as [number, number][];
      return { x: () => tf.slice(dy as Tensor, pads.map((p) => p[0]), x.shape) };
    },
  },
  {
    kernelName: 'BatchMatMul',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, [a, b], attrs) => {
      const d = dy as Tensor;
      const ta = attrs.transposeA as boolean, tb = attrs.transposeB as boolean;
      if (!ta && !tb) return { a: () => tf.matMul(d, b, false, true), b: () => tf.matMul(a, d, true, false) };
      if (!ta && tb) return { a: () => tf.matMul(d, b, false, false), b: () => tf.matMul(d, a, true, false) };
      if (ta && !tb) return { a: () => tf.matMul(b, d, false, true), b: () => tf.matMul(a, d, false, false) };
      return { a: () => tf.matMul(b, d, true, true), b: () => tf.matMul(d, a, true, true) };
    },
  },
  {
    kernelName: 'Softmax',
    outputsToSave: [true],
    gradFunc: (dy, [y], attrs) => {
      const dim = attrs.dim as number;
      const dyy = tf.mul(dy as Tensor, y);
      return { logits: () => tf.sub(dyy, tf.mul(tf.sum(dyy, [dim], true), y)) };
    },
  },
  { kernelName: 'Cast', gradFunc: (dy) => ({ x: () => tf.clone(dy as Tensor) }) },
  { kernelName: 'Identity', gradFunc: (dy) => ({ x: () => tf.cast(dy as Tensor, 'float32') }) },
  {
    kernelName: 'Conv2D',
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, [x, filter], attrs) => {
      const dil = attrs.dilations as number | [number, number] | undefined;
      const d = typeof dil === 'number' ? [dil, dil] : dil ?? [1, 1];
      if (d[0] !== 1 || d[1] !== 1) throw new Error('diff2s: Conv2D gradient needs dilation 1');
      const common = {
        strides: attrs.strides, pad: attrs.pad, dataFormat: attrs.dataFormat, dimRoundingMode: attrs.dimRoundingMode,
      };
      return {
        x: () => tf.engine().runKernel('Conv2DBackpropInput', { dy: dy as Tensor, filter }, { ...common, inputShape: x.shape } as never) as Tensor,
        filter: () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: dy as Tensor }, { ...common, filterShape: filter.shape } as never) as Tensor,
      };
    },
  },
];

let done = false;

/**
 * Register the gradients above where none is registered yet (idempotent). Returns the kernel names registered.
 * `override: true` registers all of them, replacing existing ones (tests compare them with tfjs's own).
 */
export function registerGradients(options: { override?: boolean } = {}): string[] {
  if (done && !options.override) return [];
  done = true;
  const added: string[] = [];
  for (const c of diff2sGradientConfigs) {
    if (options.override || !tf.getGradient(c.kernelName)) {
      tf.registerGradient(c);
      added.push(c.kernelName);
    }
  }
  return added;
}
