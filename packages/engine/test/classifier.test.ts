/**
 * The tfjs image classifier: max pooling's own gradient (exact values), autodiff gradients against central finite
 * differences and wasm against cpu, learning a small synthetic task (well above chance on held-out images),
 * determinism under a seed, save/load bit-exactness and corrupt model files.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { InputError, ModelFileError, Rng, Tensor4 } from '@diff2s/core';
import {
  ImageClassifier, initEngine, loadClassifier, maxPool2, saveClassifier, tf, trainClassifier,
} from '@diff2s/engine';
import { tempDir } from '../../../test/helpers/tmp';
import { relErr } from './helpers';

/**
 * A toy 3-class problem on 8x8 grey images: a bright horizontal bar (class 0), vertical bar (1) or 2x2 block (2) at
 * a random position on a noisy dark background.
 */
function toyData(n: number, seed: number): { images: Tensor4; labels: number[] } {
  const rng = new Rng(seed);
  const images = new Tensor4([n, 1, 8, 8]);
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const y = i % 3;
    labels.push(y);
    const base = i * 64;
    for (let p = 0; p < 64; p++) images.data[base + p] = -0.8 + 0.3 * rng.uniform();
    const r = 1 + rng.int(5), c = 1 + rng.int(5);
    const cells = y === 0 ? [[r, c], [r, c + 1], [r, c + 2]] : y === 1 ? [[r, c], [r + 1, c], [r + 2, c]] : [[r, c], [r + 1, c], [r, c + 1], [r + 1, c + 1]];
    for (const [yy, xx] of cells) images.data[base + yy * 8 + xx] = 0.9;
  }
  return { images, labels };
}

beforeAll(() => initEngine({ backend: 'wasm' }));

describe('ImageClassifier', () => {
  it('max pooling passes the gradient to each window’s maximum, odd rows and columns dropped (wasm and cpu)', async () => {
    for (const backend of ['wasm', 'cpu'] as const) {
      await initEngine({ backend });
      // 3x5, one channel: windows (rows 0-1) × (cols 0-1, 2-3); row 2 and col 4 dropped
      const x = tf.tensor4d([1, 5, 2, 0, 9, 3, 4, 8, 7, 9, 9, 9, 9, 9, 9], [1, 3, 5, 1]);
      expect(Array.from(maxPool2(x).dataSync())).toEqual([5, 8]);
      const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(maxPool2(a), tf.tensor4d([10, 20], [1, 1, 2, 1]))))(x);
      expect(Array.from(g.dataSync())).toEqual([0, 10, 0, 0, 0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0]);
      tf.dispose([x, g]);
    }
    await initEngine({ backend: 'wasm' });
  });

  it('its gradient matches central finite differences (cpu) and the wasm backend’s', async () => {
    const arch = { width: 6, height: 5, channels: 2, classes: 3, conv: [3, 2], hidden: 4 };
    const model = new ImageClassifier(arch, 3);
    const rng = new Rng(9);
    for (let i = 0; i < model.size; i++) model.params[i] += 0.05 * rng.normal(); // biases off zero: no ReLU ties
    const x = new Tensor4([2, 2, 5, 6]);
    rng.fillUniform(x.data, -1, 1);
    const labels = [2, 0];
    const wasm = new Float32Array(model.size);
    model.lossAndGradient(x, labels, wasm);
    await initEngine({ backend: 'cpu' });
    try {
      const grad = new Float32Array(model.size);
      const base = model.lossAndGradient(x, labels, grad).loss;
      expect(Number.isFinite(base)).toBe(true);
      expect(relErr(wasm, grad)).toBeLessThan(1e-4);
      // the largest entry of every parameter tensor (each gets some gradient: nothing disconnected)
      for (const p of model.paramList) {
        let i = p.offset;
        for (let k = p.offset; k < p.offset + p.size; k++) if (Math.abs(grad[k]) > Math.abs(grad[i])) i = k;
        expect(Math.abs(grad[i])).toBeGreaterThan(0);
        const keep = model.params[i], h = 3e-3; // 1e-2 crosses a ReLU/max kink of conv0 here
        model.params[i] = keep + h;
        const up = model.lossAndGradient(x, labels).loss;
        model.params[i] = keep - h;
        const down = model.lossAndGradient(x, labels).loss;
        model.params[i] = keep;
        expect(Math.abs((up - down) / (2 * h) - grad[i])).toBeLessThan(0.01 * Math.abs(grad[i]) + 1e-4);
      }
    } finally {
      await initEngine({ backend: 'wasm' });
    }
  });

  it('lays out parameters as conv, dense and output layers', () => {
    const m = new ImageClassifier({ width: 32, height: 32 });
    expect(m.paramList.map((p) => `${p.name}:${p.shape.join('x')}`)).toEqual([
      'conv0.weight:8x1x3x3', 'conv0.bias:8', 'conv1.weight:16x8x3x3', 'conv1.bias:16',
      'fc0.weight:64x1024', 'fc0.bias:64', 'out.weight:10x64', 'out.bias:10',
    ]);
    expect(m.size).toBe(72 + 8 + 1152 + 16 + 65536 + 64 + 640 + 10);
    expect(() => m.predict(new Tensor4([1, 1, 28, 28]))).toThrow(/28x28; the classifier takes 32x32/);
  });

  it('learns a toy task, deterministically, and saves/loads bit-exactly', async () => {
    const train = toyData(300, 1);
    const test = toyData(90, 2);
    const arch = { width: 8, height: 8, classes: 3, conv: [4], hidden: 16 };
    const opts = { epochs: 6, batch: 16, lr: 0.01, shift: 1, seed: 5 };
    const epochs: number[] = [];
    const a = await trainClassifier(arch, train.images, train.labels, opts, (e) => epochs.push(e.loss));
    expect(epochs).toHaveLength(6);
    expect(epochs[5]).toBeLessThan(epochs[0]);
    expect(a.model.accuracy(test.images, test.labels)).toBeGreaterThanOrEqual(0.9); // chance: 1/3
    const b = await trainClassifier(arch, train.images, train.labels, opts);
    expect(Array.from(b.model.params)).toEqual(Array.from(a.model.params));
    const c = await trainClassifier(arch, train.images, train.labels, { ...opts, seed: 6 });
    expect(Array.from(c.model.params)).not.toEqual(Array.from(a.model.params));

    const tmp = tempDir('diff2s-classifier-');
    try {
      const dir = path.join(tmp.dir, 'clf');
      const card = await saveClassifier(dir, a.model, { training: { epochs: 6 }, description: 'toy' });
      expect(card.format).toBe('diff2s.classifier');
      expect((await fs.stat(path.join(dir, 'weights.bin'))).size).toBe(a.model.size * 4);
      const loaded = await loadClassifier(dir);
      expect(loaded.card.training).toEqual({ epochs: 6 });
      expect(Array.from(loaded.model.params)).toEqual(Array.from(a.model.params));
      expect(Array.from(loaded.model.logits(test.images))).toEqual(Array.from(a.model.logits(test.images)));
      expect(loaded.model.predict(test.images)).toEqual(a.model.predict(test.images));
      expect((await fs.readdir(dir)).sort()).toEqual(['model.json', 'weights.bin']); // no temp files left

      // corrupt files: named in a ModelFileError
      await fs.writeFile(path.join(dir, 'weights.bin'), Buffer.alloc(12));
      await expect(loadClassifier(dir)).rejects.toThrow(/weights\.bin has 12 bytes/);
      await fs.writeFile(path.join(dir, 'model.json'), '{"format": "diff2s.model"}');
      const err = await loadClassifier(dir).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ModelFileError);
      expect((err as ModelFileError).file).toBe(path.join(dir, 'model.json'));
      await expect(loadClassifier(path.join(tmp.dir, 'none'))).rejects.toThrow(/cannot read classifier card .*ENOENT/);
    } finally {
      tmp.cleanup();
    }
  });

  it('refuses labels outside the classes and a label count that does not match', async () => {
    const d = toyData(6, 1);
    await expect(trainClassifier({ width: 8, height: 8, classes: 3, conv: [2] }, d.images, [0, 1, 2, 3, 0, 1])).rejects.toThrow(InputError);
    await expect(trainClassifier({ width: 8, height: 8, classes: 3, conv: [2] }, d.images, [0, 1])).rejects.toThrow(/2 labels for 6 training images/);
  });

  it('leaves no tensors behind', async () => {
    const d = toyData(6, 1);
    const before = tf.memory().numTensors;
    const r = await trainClassifier({ width: 8, height: 8, classes: 3, conv: [2] }, d.images, d.labels, { epochs: 1, batch: 4 });
    r.model.predict(d.images);
    expect(tf.memory().numTensors).toBe(before);
  });
});
