import { Rng } from '@diff2s/core';
import { initEngine, tf } from '@diff2s/engine';
import { relErr } from './helpers';

function randn(rng: Rng, shape: number[]): Float32Array {
  return rng.fillNormal(new Float32Array(shape.reduce((a, b) => a * b, 1)));
}

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

/** dx, dW of sum(conv(x, W) * g) on the current backend. */
function convGrads(x: Float32Array, xs: number[], w: Float32Array, ws: number[], g: Float32Array | null, stride: number, pad: Pad) {
  return tf.tidy(() => {
    const xt = tf.tensor4d(x, xs as [number, number, number, number]);
    const wt = tf.tensor4d(w, ws as [number, number, number, number]);
    const f = (a: tf.Tensor, b: tf.Tensor) => {
      const y = tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad as never);
      return g ? tf.sum(tf.mul(y, tf.tensor(g, y.shape))) : y;
    };
    if (!g) return { y: f(xt, wt).dataSync() as Float32Array };
    const [dx, dw] = tf.grads(f)([xt, wt]);
    return { dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
  });
}

describe('wasm gradient kernels vs cpu', () => {
  afterAll(async () => { await initEngine({ backend: 'wasm' }); });

  const cases: { n: number; h: number; w: number; ci: number; co: number; k: number; stride: number; pad: Pad }[] = [];
  const rng = new Rng('kernel-cases');
  const pads: Pad[] = ['same', 'valid', [[0, 0], [1, 1], [1, 1], [0, 0]], [[0, 0], [0, 2], [1, 0], [0, 0]]];
  for (const stride of [1, 2]) {
    for (const pad of pads) {
      for (let rep = 0; rep < 2; rep++) {
        cases.push({
          n: 1 + rng.int(3), h: 5 + rng.int(8), w: 5 + rng.int(8), ci: 1 + rng.int(5), co: 1 + rng.int(5),
          k: [1, 2, 3, 4][rng.int(4)], stride, pad,
        });
      }
    }
  }

  test.each(cases.map((c, i) => [i, c] as const))('case %i', async (_i, c) => {
    const r = new Rng(`conv-${_i}`);
    const xs: [number, number, number, number] = [c.n, c.h, c.w, c.ci], ws: [number, number, number, number] = [c.k, c.k, c.ci, c.co];
    const x = randn(r, xs), w = randn(r, ws);
    await initEngine({ backend: 'cpu' });
    const yShape = tf.tidy(() => tf.conv2d(tf.zeros(xs) as tf.Tensor4D, tf.zeros(ws) as tf.Tensor4D, c.stride, c.pad as never).shape);
    const g = randn(r, yShape);
    const ref = convGrads(x, xs, w, ws, g, c.stride, c.pad);
    await initEngine({ backend: 'wasm' });
    const got = convGrads(x, xs, w, ws, g, c.stride, c.pad);
    expect(relErr(got.dw!, ref.dw!)).toBeLessThanOrEqual(1e-4);
    expect(relErr(got.dx!, ref.dx!)).toBeLessThanOrEqual(1e-4);
  });
});
