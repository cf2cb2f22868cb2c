import { Rng, Tensor4 } from '@diff2s/core';
import {
  diff2sGradientConfigs, initEngine, NativeUNet, registerGradients, resolveUNetConfig,
  tf, TfjsNetwork, TrainBatch,
} from '@diff2s/engine';
import { randMask, randTensor, relErr, tinyClassic, tinyGuided } from './helpers';

const step = { t: 300, alphaBar: 0.42 };

function batchFor(model: NativeUNet, rng: Rng, n: number, size: number): TrainBatch {
  const xt = randTensor(rng, [n, 3, size, size]);
  const xm = randTensor(rng, [n, 3, size, size]);
  const mask = randMask(rng, n, size, size);
  const noise = new Float32Array(n);
  for (let i = 0; i < n; i++) noise[i] = model.config.noise.input === 't' ? 1 + rng.int(1000) : rng.uniform();
  return { input: model.buildInput(xt, { xm, mask }), noise, target: randTensor(rng, [n, 3, size, size]), weight: mask };
}

describe.each([
  ['guided (GN, attention, MLP embedding)', tinyGuided],
  ['classic (tiled embedding)', tinyClassic],
])('tiny %s UNet', (_label, spec) => {
  let model: NativeUNet;
  beforeAll(async () => {
    await initEngine({ backend: 'wasm' });
    model = await NativeUNet.create(spec as never, { seed: 11 });
  });
  afterAll(() => model.dispose());

  test('encoder → middle → decoder equals the whole network', async () => {
    const rng = new Rng('parts');
    const xt = randTensor(rng, [2, 3, 8, 8]);
    const cond = { xm: randTensor(rng, [2, 3, 8, 8]), mask: randMask(rng, 2, 8, 8) };
    const whole = (await model.predict(xt, step, cond)).clone();
    const e = await model.encode(xt, step, cond);
    expect(e.h.c).toBe(model.def.shapes.hEncChannels);
    const m = await model.middle(e.h, step, cond);
    const out = await model.decode(m, e.skips, step, cond);
    model.releaseSkips(e.skips);
    expect(relErr(out.data, whole.data)).toBeLessThan(1e-5);

    // batch-of-2 path with no swap equals the plain network too
    const pair = await model.encodeMiddlePair(xt, xt, step, cond, (a) => a);
    expect(relErr(pair.mid.data, m.data)).toBeLessThan(1e-5);
    expect(relErr(pair.midGuide.data, m.data)).toBeLessThan(1e-5);
    const out2 = await model.decode(pair.mid, pair.skips, step, cond);
    model.releaseSkips(pair.skips);
    expect(relErr(out2.data, whole.data)).toBeLessThan(1e-5);
  });

  test('gradient matches central finite differences on a few parameters', () => {
    const rng = new Rng('fd');
    const batch = batchFor(model, rng, 2, 8);
    const w0 = model.net.getWeights();
    const { grads } = model.net.lossAndGrads(batch);
    const net = new TfjsNetwork(model.def, w0);
    try {
      const lossAt = (name: string, idx: number, delta: number) => {
        const w = new Map(w0);
        const a = new Float32Array(w0.get(name)!);
        a[idx] += delta;
        w.set(name, a);
        net.setWeights(w);
        return net.loss(batch);
      };
      // probe the largest-gradient entries of several kinds of parameters
      const names = model.def.params.map((p) => p.name).filter((n) => /(conv1\.weight|out\.conv\.bias|qkv\.weight|time\.dense1\.weight|norm1\.scale)$/.test(n));
      expect(names.length).toBeGreaterThanOrEqual(3);
      let checked = 0;
      for (const name of names.slice(0, 6)) {
        const g = grads.get(name)!;
        let idx = 0;
        for (let i = 1; i < g.length; i++) if (Math.abs(g[i]) > Math.abs(g[idx])) idx = i;
        if (Math.abs(g[idx]) < 1e-4) continue;
        const h = 2e-2;
        const fd = (lossAt(name, idx, h) - lossAt(name, idx, -h)) / (2 * h);
        expect(Math.abs(fd - g[idx])).toBeLessThanOrEqual(0.03 * Math.abs(g[idx]) + 2e-4);
        checked++;
      }
      expect(checked).toBeGreaterThanOrEqual(3);
    } finally {
      net.dispose();
    }
  });

  test('tensor count stays constant across repeated forward and gradient calls', async () => {
    const rng = new Rng('leak');
    const xt = randTensor(rng, [1, 3, 8, 8]);
    const cond = { xm: randTensor(rng, [1, 3, 8, 8]), mask: randMask(rng, 1, 8, 8) };
    const batch = batchFor(model, rng, 2, 8);
    const run = async () => {
      await model.predict(xt, step, cond);
      const e = await model.encode(xt, step, cond);
      await model.decode(await model.middle(e.h, step, cond), e.skips, step, cond);
      model.releaseSkips(e.skips);
      const p = await model.encodeMiddlePair(xt, xt, step, cond, (a) => a);
      model.releaseSkips(p.skips);
      model.net.lossAndGrads(batch);
    };
    await run();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await run();
    expect(tf.memory().numTensors).toBe(before);
  });

  test('wasm and cpu backends agree on output and gradients', async () => {
    const rng = new Rng('backends');
    const batch = batchFor(model, rng, 2, 8);
    const w = model.net.getWeights();
    const wasm = model.net.lossAndGrads(batch);
    await initEngine({ backend: 'cpu' });
    const net = new TfjsNetwork(model.def, w);
    const cpu = net.lossAndGrads(batch);
    net.dispose();
    await initEngine({ backend: 'wasm' });
    expect(Math.abs(wasm.loss - cpu.loss) / cpu.loss).toBeLessThan(1e-4);
    for (const [name, g] of cpu.grads) expect(relErr(wasm.grads.get(name)!, g)).toBeLessThan(1e-3);
  });
});

describe('gradients', () => {
  /**
   * Every gradient diff2s registers, against central finite differences of L = Σ r·f(x) (r random), on wasm and cpu.
   * (tfjs-core's own gradient functions cannot be loaded here to compare with: its CommonJS build has none, and the
   * union package that has them comes only with the optional tfjs-node.) Each case names the kernel it must reach;
   * the registered gradient of that kernel is wrapped to prove it ran.
   */
  test('every diff2s gradient matches finite differences (wasm and cpu)', async () => {
    type F = (...x: tf.Tensor[]) => tf.Tensor;
    const c = (name: string, shapes: number[][], f: F, opts: { positive?: boolean } = {}) => ({ name, shapes, f, ...opts });
    const conv = (stride: number, pad: 'same' | 'valid' | number) => (x: tf.Tensor, w: tf.Tensor) =>
      tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, typeof pad === 'number' ? [[0, 0], [pad, pad], [pad, pad], [0, 0]] : pad);
    const cases = [
      c('Add', [[2, 3], [3]], (a, b) => tf.add(a, b)),
      c('Sub', [[3], [2, 3]], (a, b) => tf.sub(a, b)),
      c('Multiply', [[2, 3], [2, 1]], (a, b) => tf.mul(a, b)),
      c('RealDiv', [[2, 3], [3]], (a, b) => tf.div(a, b), { positive: true }),
      c('SquaredDifference', [[2, 3], [3]], (a, b) => tf.squaredDifference(a, b)),
      c('AddN', [[2, 2], [2, 2]], (a, b) => tf.addN([a, b, a])),
      c('Square', [[5]], (x) => tf.square(x)),
      c('Sqrt', [[5]], (x) => tf.sqrt(x), { positive: true }),
      c('Rsqrt', [[5]], (x) => tf.rsqrt(x), { positive: true }),
      c('Neg', [[5]], (x) => tf.neg(x)),
      c('Abs', [[5]], (x) => tf.abs(x)),
      c('Relu', [[5]], (x) => tf.relu(x)),
      c('Sigmoid', [[5]], (x) => tf.sigmoid(x)),
      c('Exp', [[5]], (x) => tf.exp(x)),
      c('Sum', [[2, 3, 2]], (x) => tf.sum(x, [0, 2], true)),
      c('Mean', [[2, 3, 2]], (x) => tf.mean(x, 1)),
      c('Reshape', [[2, 6]], (x) => tf.reshape(x, [3, 4])),
      c('Transpose', [[2, 3, 2]], (x) => tf.transpose(x, [2, 0, 1])),
      c('Concat', [[2, 2], [2, 3]], (a, b) => tf.concat([a, b], 1)),
      c('Slice', [[3, 4]], (x) => tf.slice(x, [1, 1], [2, 2])),
      c('PadV2', [[2, 3]], (x) => tf.pad(x, [[1, 0], [0, 2]], 0.5)),
      c('BatchMatMul', [[2, 3], [3, 4]], (a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D)),
      c('BatchMatMul', [[2, 3], [4, 3]], (a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, false, true)),
      c('BatchMatMul', [[3, 2], [3, 4]], (a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, true, false)),
      c('BatchMatMul', [[3, 2], [4, 3]], (a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, true, true)),
      c('Softmax', [[2, 4]], (x) => tf.softmax(x)),
      c('Cast', [[4]], (x) => tf.mul(tf.cast(x, 'float32'), x)),
      c('Identity', [[4]], (x) => tf.mul(tf.clone(x), x)),
      c('Conv2D', [[2, 5, 5, 2], [3, 3, 2, 3]], conv(1, 'same')),
      c('Conv2D', [[1, 6, 6, 2], [3, 3, 2, 2]], conv(2, 1)),
      c('Conv2D', [[1, 5, 4, 1], [2, 2, 1, 2]], conv(1, 'valid')),
    ];
    // every gradient diff2s provides is covered
    expect(new Set(cases.map((k) => k.name))).toEqual(new Set(diff2sGradientConfigs.map((g) => g.kernelName)));
    const hits = new Set<string>();
    for (const g of diff2sGradientConfigs) {
      tf.registerGradient({ ...g, gradFunc: (dy, saved, attrs) => (hits.add(g.kernelName), g.gradFunc(dy, saved, attrs)) });
    }
    try {
      for (const backend of ['wasm', 'cpu'] as const) {
        await initEngine({ backend });
        const rng = new Rng(`fd-${backend}`);
        for (const k of cases) {
          const values = k.shapes.map((sh) => Float32Array.from({ length: sh.reduce((a, b) => a * b, 1) }, () => {
            const v = rng.range(-1, 1);
            // away from the kinks of abs/relu, and from 0 where the op needs a positive input
            return k.positive ? 0.5 + Math.abs(v) : Math.sign(v) * (0.2 + Math.abs(v));
          }));
          const inputs = (vs: Float32Array[]) => vs.map((v, i) => tf.tensor(v, k.shapes[i]));
          const outShape = tf.tidy(() => k.f(...inputs(values)).shape);
          const r = tf.tensor(Float32Array.from({ length: outShape.reduce((a, b) => a * b, 1) }, () => rng.range(-1, 1)), outShape);
          const loss = (...x: tf.Tensor[]) => tf.sum(tf.mul(k.f(...x), r)) as tf.Scalar;
          const L = (vs: Float32Array[]) => tf.tidy(() => loss(...inputs(vs)).dataSync()[0]);
          hits.clear();
          const grads = tf.tidy(() => tf.grads(loss)(inputs(values)).map((g) => g.dataSync()));
          expect([backend, k.name, hits.has(k.name)]).toEqual([backend, k.name, true]);
          const h = 1e-2;
          values.forEach((v, a) => {
            for (let i = 0; i < v.length; i++) {
              const keep = v[i];
              v[i] = keep + h;
              const up = L(values);
              v[i] = keep - h;
              const down = L(values);
              v[i] = keep;
              const fd = (up - down) / (2 * h), g = grads[a][i];
              if (!(Math.abs(fd - g) <= 2e-3 + 1e-2 * Math.abs(g))) throw new Error(`${backend} ${k.name} input ${a}[${i}]: gradient ${g}, finite difference ${fd}`);
            }
          });
          r.dispose();
        }
      }
    } finally {
      registerGradients({ override: true });
      await initEngine({ backend: 'wasm' });
    }
  });

  test('nearest upsampling and average pooling have correct gradients on wasm and cpu', async () => {
    const { upsampleNearest2, avgPool2 } = await import('@diff2s/engine');
    for (const backend of ['wasm', 'cpu'] as const) {
      await initEngine({ backend });
      const x = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
      const gy = tf.tensor4d(Array.from({ length: 16 }, (_, i) => i), [1, 4, 4, 1]);
      const gUp = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(upsampleNearest2(a), gy)))(x);
      expect(Array.from(gUp.dataSync())).toEqual([0 + 1 + 4 + 5, 2 + 3 + 6 + 7, 8 + 9 + 12 + 13, 10 + 11 + 14 + 15]);
      expect(Array.from(upsampleNearest2(x).dataSync())).toEqual([1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
      const gPool = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(avgPool2(a), x)))(gy);
      expect(Array.from(gPool.dataSync())).toEqual([1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4].map((v) => v / 4));
      tf.dispose([x, gy, gUp, gPool]);
    }
    await initEngine({ backend: 'wasm' });
  });
});

test('frugal preset runs on 16×16 images and builds the layout input', async () => {
  await initEngine({ backend: 'wasm' });
  const model = await NativeUNet.create('frugal', { seed: 1 });
  const rng = new Rng('frugal');
  const xt = randTensor(rng, [1, 3, 16, 16]);
  const xm = randTensor(rng, [1, 3, 16, 16]);
  const mask = randMask(rng, 1, 16, 16);
  const input = model.buildInput(xt, { xm, mask });
  expect(input.shape).toEqual([1, 7, 16, 16]);
  // holeFill zero: masked channels are 0 in the hole, x_m outside
  for (let p = 0; p < 256; p++) {
    expect(input.data[3 * 256 + p]).toBe(mask.data[p] >= 0.5 ? 0 : xm.data[p]);
    expect(input.data[6 * 256 + p]).toBe(mask.data[p]);
    expect(input.data[p]).toBe(xt.data[p]);
  }
  const out = await model.predict(xt, { t: 10, alphaBar: 0.99 }, { xm, mask });
  expect(out.shape).toEqual([1, 3, 16, 16]);
  expect(out.data.every(Number.isFinite)).toBe(true);
  expect(model.predictionType).toBe('x0');
  expect(model.conditional).toBe(true);
  expect(resolveUNetConfig('frugal').noise.input).toBe('t');
  await expect(model.predict(randTensor(rng, [1, 3, 12, 12]), step, { xm: randTensor(rng, [1, 3, 12, 12]), mask: randMask(rng, 1, 12, 12) })).rejects.toThrow(/multiple of 8/);
  model.dispose();
  void Tensor4;
});
