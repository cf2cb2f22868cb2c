/**
 * tfjs implementations of the NetworkDef ops (NHWC inside tfjs). Their gradients are right on the wasm, cpu and
 * tensorflow backends: nearest upsampling and 2×2 average pooling carry custom gradients (tfjs-cpu's
 * ResizeNearestNeighborGrad is wrong; no MaxPool anywhere), GroupNorm is composed from reductions.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';

/** Sum-pool 2×2 (stride 2) of an NHWC tensor, via reshape + sum (exact on every backend). */
function sumPool2(x: Tensor): Tensor {
  const [n, h, w, c] = x.shape;
  return tf.reshape(tf.sum(tf.reshape(x, [n, h / 2, 2, w / 2, 2, c]), [2, 4]), [n, h / 2, w / 2, c]);
}

/** Nearest ×2 of an NHWC tensor (forward only). */
function nearest2(x: Tensor): Tensor {
  const [, h, w] = x.shape;
  return tf.image.resizeNearestNeighbor(x as Tensor4D, [2 * h, 2 * w], false, false);
}

/** Nearest-neighbour ×2 upsampling (NHWC); gradient = 2×2 sum pooling of dy. */
export const upsampleNearest2 = tf.customGrad(((x: Tensor) => {
  return { value: nearest2(x), gradFunc: (dy: Tensor) => sumPool2(dy) };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: Tensor) => Tensor;

/** 2×2 average pooling, stride 2 (NHWC, even H and W); gradient = nearest ×2 of dy / 4. */
export const avgPool2 = tf.customGrad(((x: Tensor) => {
  const [, h, w] = x.shape;
  if (h % 2 || w % 2) throw new Error(`avgPool2 needs even H and W, got ${h}×${w}`);
  const value = tf.avgPool(x as Tensor4D, 2, 2, 'valid');
  return { value, gradFunc: (dy: Tensor) => tf.mul(nearest2(dy), 0.25) };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: Tensor) => Tensor;

/** GroupNorm on NHWC: per sample and group (x − mean)/√(var + eps)·scale + shift. */
export function groupNorm(x: Tensor, groups: number, eps: number, scale: Tensor, shift: Tensor): Tensor {
  const [n, h, w, c] = x.shape;
  const g = tf.reshape(x, [n, h, w, groups, c / groups]);
  const mean = tf.mean(g, [1, 2, 4], true);
  const centered = tf.sub(g, mean);
  const variance = tf.mean(tf.square(centered), [1, 2, 4], true);
  const normed = tf.reshape(tf.mul(centered, tf.rsqrt(tf.add(variance, eps))), [n, h, w, c]);
  return tf.add(tf.mul(normed, scale), shift);
}

/** relu or silu. */
export function activation(x: Tensor, fn: 'relu' | 'silu'): Tensor {
  return fn === 'relu' ? tf.relu(x) : tf.mul(x, tf.sigmoid(x));
}

/** NHWC conv with an HWIO filter, stride, symmetric padding, optional bias. */
export function conv2d(x: Tensor, filterHWIO: Tensor, bias: Tensor | undefined, stride: number, pad: number): Tensor {
  const p = pad === 0 ? 'valid' : ([[0, 0], [pad, pad], [pad, pad], [0, 0]] as [[number, number], [number, number], [number, number], [number, number]]);
  const y = tf.conv2d(x as Tensor4D, filterHWIO as tf.Tensor4D, stride, p);
  return bias ? tf.add(y, bias) : y;
}

/** Dense on [N, I] with a pre-transposed [I, O] weight. */
export function dense(x: Tensor, weightIO: Tensor, bias: Tensor | undefined): Tensor {
  const y = tf.matMul(x as tf.Tensor2D, weightIO as tf.Tensor2D);
  return bias ? tf.add(y, bias) : y;
}

/** Sinusoidal embedding [N] → [N, dim]: [cos(v·f), sin(v·f)], f_k = exp(−ln(maxPeriod)·k/half), v = scale·in. */
export function timestepEmbedding(v: Tensor, dim: number, maxPeriod: number, scale: number): Tensor {
  const half = dim / 2;
  const freqs = new Float32Array(half);
  for (let k = 0; k < half; k++) freqs[k] = Math.exp((-Math.log(maxPeriod) * k) / half);
  const args = tf.mul(tf.reshape(tf.mul(v, scale), [-1, 1]), tf.tensor2d(freqs, [1, half]));
  return tf.concat([tf.cos(args), tf.sin(args)], 1);
}

/** Multi-head self-attention over H·W positions (legacy guided-diffusion qkv order), NHWC in and out. */
export function attention(x: Tensor, heads: number, qkvWT: Tensor, qkvB: Tensor | undefined, projWT: Tensor, projB: Tensor | undefined): Tensor {
  const [n, h, w, c] = x.shape;
  const t = h * w;
  const d = c / heads;
  const flat = tf.reshape(x, [n * t, c]);
  const qkv = dense(flat, qkvWT, qkvB); // [N·T, 3C], channels (head, {q,k,v}, d)
  const split = tf.reshape(tf.transpose(tf.reshape(qkv, [n, t, heads, 3, d]), [3, 0, 2, 1, 4]), [3, n * heads, t, d]);
  const q = tf.reshape(tf.slice(split, [0, 0, 0, 0], [1, n * heads, t, d]), [n * heads, t, d]);
  const k = tf.reshape(tf.slice(split, [1, 0, 0, 0], [1, n * heads, t, d]), [n * heads, t, d]);
  const v = tf.reshape(tf.slice(split, [2, 0, 0, 0], [1, n * heads, t, d]), [n * heads, t, d]);
  const scores = tf.mul(tf.matMul(q as tf.Tensor3D, k as tf.Tensor3D, false, true), 1 / Math.sqrt(d));
  const weights = tf.softmax(scores, -1);
  const a = tf.matMul(weights as tf.Tensor3D, v as tf.Tensor3D); // [N·heads, T, d]
  const merged = tf.reshape(tf.transpose(tf.reshape(a, [n, heads, t, d]), [0, 2, 1, 3]), [n * t, c]);
  return tf.reshape(dense(merged, projWT, projB), [n, h, w, c]);
}
