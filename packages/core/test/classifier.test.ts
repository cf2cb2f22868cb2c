/**
 * The plain-JS image classifier: hand-written gradients against central finite differences, determinism, learning a
 * small synthetic task (well above chance on held-out images), save/load bit-exactness and corrupt model files.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import {
  ImageClassifier, ModelFileError, InputError, Rng, Tensor4, loadClassifier, saveClassifier, trainClassifier,
} from '@diff2s/core';
import { tempDir } from '../../../test/helpers/tmp';

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

describe('ImageClassifier', () => {
  it('its gradient matches central finite differences for every parameter', () => {
    const arch = { width: 6, height: 5, channels: 2, classes: 3, conv: [3, 2], hidden: 4 };
    const model = new ImageClassifier(arch, 3);
    const rng = new Rng(9);
    for (let i = 0; i < model.size; i++) model.params[i] += 0.05 * rng.normal(); // biases off zero: no ReLU ties
    const count = 2;
    const x = new Float64Array(count * model.inputSize);
    for (let i = 0; i < x.length; i++) x[i] = rng.range(-1, 1);
    const labels = [2, 0];
    const grad = new Float64Array(model.size);
    const base = model.lossAndGradient(x, labels, count, grad).loss;
    expect(Number.isFinite(base)).toBe(true);
    const h = 1e-6;
    let worst = 0;
    for (let i = 0; i < model.size; i++) {
      const keep = model.params[i];
      model.params[i] = keep + h;
      const up = model.lossAndGradient(x, labels, count).loss;
      model.params[i] = keep - h;
      const down = model.lossAndGradient(x, labels, count).loss;
      model.params[i] = keep;
      const fd = (up - down) / (2 * h);
      const err = Math.abs(fd - grad[i]) / Math.max(1e-3, Math.abs(fd) + Math.abs(grad[i]));
      worst = Math.max(worst, err);
    }
    expect(worst).toBeLessThan(1e-5);
    // every parameter group gets some gradient (nothing disconnected)
    for (const p of model.paramList) {
      let s = 0;
      for (let k = p.offset; k < p.offset + p.size; k++) s += Math.abs(grad[k]);
      expect(s).toBeGreaterThan(0);
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
    const a = trainClassifier(arch, train.images, train.labels, opts, (e) => epochs.push(e.loss));
    expect(epochs).toHaveLength(6);
    expect(epochs[5]).toBeLessThan(epochs[0]);
    expect(a.model.accuracy(test.images, test.labels)).toBeGreaterThanOrEqual(0.9);
    for (const v of a.model.params) expect(Math.fround(v)).toBe(v);
    const b = trainClassifier(arch, train.images, train.labels, opts);
    expect(Array.from(b.model.params)).toEqual(Array.from(a.model.params));
    const c = trainClassifier(arch, train.images, train.labels, { ...opts, seed: 6 });
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
      for (let i = 0; i < 10; i++) {
        expect(Array.from(loaded.model.logits(test.images.data, i * 64))).toEqual(Array.from(a.model.logits(test.images.data, i * 64)));
      }
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

  it('refuses labels outside the classes and a label count that does not match', () => {
    const d = toyData(6, 1);
    expect(() => trainClassifier({ width: 8, height: 8, classes: 3, conv: [2] }, d.images, [0, 1, 2, 3, 0, 1])).toThrow(InputError);
    expect(() => trainClassifier({ width: 8, height: 8, classes: 3, conv: [2] }, d.images, [0, 1])).toThrow(/2 labels for 6 training images/);
  });
});
