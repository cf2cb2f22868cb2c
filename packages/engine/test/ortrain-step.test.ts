/**
 * Whole training steps on onnxruntime (src/ortrain) against the tfjs engine: loss and gradients of small UNets
 * covering every NetworkDef op, the Adam and SGD updates, the forward pass, and `train` with `engine: onnx`
 * (checkpoints interchangeable with the tfjs engine's). Standard ops and, when the CPU supports them, NCHWc convs.
 */
import * as path from 'path';
import { MemoryLogger, Rng, Tensor4 } from '@diff2s/core';
import {
  Adam, defineUNet, detectNchwc, fromNHWC, initEngine, initWeights, loadModel, NetworkDef, OrtTrainer, OrtTrainerWorker, readModel, shapeSize,
  TfjsNetwork, toNHWC, train, TrainBatch, TrainConfigInput, UNetConfigInput, WeightMap,
} from '@diff2s/engine';
import * as tf from '@tensorflow/tfjs-core';
import { tempDir } from '../../../test/helpers/tmp';
import { randMask, randTensor, relErr, tinyClassic, tinyGuided } from './helpers';

const FIXTURE = path.resolve(__dirname, '../../../test/fixtures/brick48.png');

/** Networks: the frugal layout with block-aligned channels (NCHWc eligible), and configs covering every op. */
const NETS: Record<string, UNetConfigInput> = {
  'frugal (16 channels, relu, avgpool, nearest, tiled embedding)': { preset: 'frugal', baseChannels: 16, channelMults: [1, 1], noise: { dim: 16 } } as UNetConfigInput,
  'tiny classic (silu)': tinyClassic,
  'tiny guided (GroupNorm, SiLU, MLP embedding, scale-shift, attention, resblock up/down)': tinyGuided,
  'guided with addVector, strided-conv down, nearest-conv up': {
    ...tinyGuided, baseChannels: 16, groups: 8, attentionHeadChannels: 16, scaleShiftNorm: false, downsample: 'conv', upsample: 'nearest-conv',
  } as UNetConfigInput,
};

function flatten(def: NetworkDef, w: WeightMap): Float32Array {
  const flat = new Float32Array(def.params.reduce((s, p) => s + shapeSize(p.shape), 0));
  let off = 0;
  for (const p of def.params) { flat.set(w.get(p.name)!, off); off += shapeSize(p.shape); }
  return flat;
}

function views(def: NetworkDef, flat: Float32Array): WeightMap {
  const m: WeightMap = new Map();
  let off = 0;
  for (const p of def.params) { const n = shapeSize(p.shape); m.set(p.name, flat.subarray(off, off + n)); off += n; }
  return m;
}

/** Random weights with nonzero zero-initialised parameters (so every gradient path carries signal). */
function weightsFor(def: NetworkDef, seed: string): WeightMap {
  const w = initWeights(def, new Rng(seed));
  const rng = new Rng(`${seed}-jitter`);
  for (const a of w.values()) for (let i = 0; i < a.length; i++) a[i] += 0.02 * rng.normal();
  return w;
}

function batchFor(def: NetworkDef, rng: Rng, n: number, s: number): TrainBatch {
  return {
    input: randTensor(rng, [n, def.shapes.inputChannels, s, s]),
    noise: Float32Array.from({ length: n }, () => 1 + rng.int(1000)),
    target: randTensor(rng, [n, def.shapes.outputChannels, s, s]),
    weight: randMask(rng, n, s, s),
  };
}

function flatGrads(def: NetworkDef, g: WeightMap): Float32Array {
  return flatten(def, g);
}

const TOL = 1e-5;

/** ‖a − b‖ / ‖b‖ */
function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) { num += (a[i] - b[i]) ** 2; den += b[i] ** 2; }
  return Math.sqrt(num / Math.max(den, 1e-300));
}
let nchwcBlock: number | undefined;
const PATHS: ['standard' | 'nchwc', string][] = [['standard', 'standard ops'], ['nchwc', 'NCHWc convs']];

beforeAll(async () => {
  await initEngine({ backend: 'wasm' }); // the tfjs engine's default backend (cpu is ~40x slower here)
  nchwcBlock = (await detectNchwc())?.block;
});

describe('onnxruntime training graphs equal the tfjs engine', () => {
  for (const [name, cfg] of Object.entries(NETS)) {
    for (const [fast, label] of PATHS) {
      test(`${name}, ${label}: loss and every gradient`, async () => {
        if (fast === 'nchwc' && !nchwcBlock) return console.warn('no NCHWc on this CPU: standard ops only');
        const def = defineUNet(cfg);
        const w = weightsFor(def, name);
        const batch = batchFor(def, new Rng(`batch-${name}`), 2, 8 * def.shapes.sizeMultiple / 2);
        const net = new TfjsNetwork(def, w);
        const ref = net.lossAndGrads(batch);
        net.dispose();
        const tr = await OrtTrainer.create(def, { fastConv: fast, threads: 1 });
        try {
          if (fast === 'nchwc' && name.startsWith('frugal')) {
            expect((await tr.graphStats('grads', 2, batch.input.h, batch.input.w)).nchwcConvs).toBeGreaterThan(0);
          }
          const r = await tr.lossAndGrads(flatten(def, w), batch);
          expect(Math.abs(r.loss - ref.loss) / ref.loss).toBeLessThan(TOL);
          const rg = views(def, r.grads);
          for (const p of def.params) {
            const e = relErr(rg.get(p.name)!, ref.grads.get(p.name)!);
            if (e >= TOL) throw new Error(`gradient of ${p.name}: relative error ${e}`);
          }
        } finally {
          await tr.dispose();
        }
      });
    }
  }

  for (const [fast, label] of PATHS) {
    test(`one full Adam step (and two more) of a small UNet equals tfjs gradients + Adam, ${label}`, async () => {
      if (fast === 'nchwc' && !nchwcBlock) return;
      const def = defineUNet(NETS['frugal (16 channels, relu, avgpool, nearest, tiled embedding)']);
      const w0 = weightsFor(def, 'adam');
      const tr = await OrtTrainer.create(def, { fastConv: fast, threads: 1, beta1: 0.8, beta2: 0.99, eps: 1e-7 });
      const net = new TfjsNetwork(def, w0);
      try {
        const ref = { params: flatten(def, w0) };
        const size = ref.params.length;
        const adam = new Adam(size, 0.8, 0.99, 1e-7);
        const rng = new Rng('adam-batches');
        for (let k = 0; k < 3; k++) {
          // the same state and batch on both engines at every step
          const before = { params: new Float32Array(ref.params), m: new Float32Array(adam.m), v: new Float32Array(adam.v), t: adam.t };
          const batch = batchFor(def, rng, 4, 16);
          const lr = 1e-3 * (k + 1);
          net.setWeights(views(def, ref.params));
          const g = net.lossAndGrads(batch);
          adam.step(ref.params, flatGrads(def, g.grads), lr);
          const r = await tr.step(before, batch, lr);
          expect(Math.abs(r.loss - g.loss) / g.loss).toBeLessThan(TOL);
          // relative L2 (max-abs metrics are dominated by Adam's ill-conditioned m/√v where g ≈ 0: there any 1e-7
          // gradient difference, between any two engines, changes the update)
          expect(relL2(r.params, ref.params)).toBeLessThan(TOL);
          expect(relL2(r.m!, adam.m)).toBeLessThan(TOL);
          expect(relL2(r.v!, adam.v)).toBeLessThan(TOL);
          // the update itself (w' − w), not only the weights
          const upd = relL2(r.params.map((x, i) => x - before.params[i]), ref.params.map((x, i) => x - before.params[i]));
          expect(upd).toBeLessThan(1e-3);
        }
      } finally {
        net.dispose();
        await tr.dispose();
      }
    });
  }

  test('SGD step: w − lr·g', async () => {
    const def = defineUNet(tinyClassic);
    const w = weightsFor(def, 'sgd');
    const batch = batchFor(def, new Rng('sgd'), 2, 8);
    const tr = await OrtTrainer.create(def, { optimizer: 'sgd', fastConv: 'standard', threads: 1 });
    try {
      const flat = flatten(def, w);
      const g = await tr.lossAndGrads(flat, batch);
      const r = await tr.step({ params: flat, t: 0 }, batch, 0.5);
      expect(relErr(r.params, flat.map((x, i) => x - 0.5 * g.grads[i]))).toBeLessThan(1e-6);
      expect(r.loss).toBeCloseTo(g.loss, 6);
    } finally {
      await tr.dispose();
    }
  });

  test('forward graph equals the tfjs forward pass; sessions are cached per shape', async () => {
    const def = defineUNet(tinyGuided);
    const w = weightsFor(def, 'fwd');
    const rng = new Rng('fwd');
    const x = randTensor(rng, [3, def.shapes.inputChannels, 8, 8]);
    const noise = Float32Array.of(0.1, 0.5, 0.9);
    const net = new TfjsNetwork(def, w);
    const xt = toNHWC(x), nt = tf.tensor1d(noise);
    const yt = net.forward(xt, nt);
    const ref = fromNHWC(yt);
    tf.dispose([xt, nt, yt]);
    net.dispose();
    const tr = await OrtTrainer.create(def, { threads: 1 });
    try {
      const y = await tr.forward(flatten(def, w), x, noise);
      expect(y.shape).toEqual(ref.shape);
      expect(relErr(y.data, ref.data)).toBeLessThan(TOL);
      const s1 = await tr.graphStats('forward', 3, 8, 8);
      expect(await tr.graphStats('forward', 3, 8, 8)).toBe(s1);
    } finally {
      await tr.dispose();
    }
  });

  test('bad inputs are clear errors', async () => {
    const def = defineUNet(tinyClassic);
    const tr = await OrtTrainer.create(def, { fastConv: 'standard' });
    try {
      const batch = batchFor(def, new Rng('bad'), 2, 8);
      await expect(tr.lossAndGrads(new Float32Array(3), batch)).rejects.toThrow(/parameters/);
      await expect(tr.step({ params: flatten(def, weightsFor(def, 'x')), t: 0 }, batch, 1e-3)).rejects.toThrow(/moments/);
      const wrong = { ...batch, weight: new Tensor4([2, 3, 8, 8]) };
      await expect(tr.lossAndGrads(flatten(def, weightsFor(def, 'x')), wrong)).rejects.toThrow(/\[2, 1, 8, 8\]/);
    } finally {
      await tr.dispose();
    }
  });
});

describe('OrtTrainerWorker', () => {
  test('the same step as in process, and the event loop keeps running during it', async () => {
    const def = defineUNet(NETS['frugal (16 channels, relu, avgpool, nearest, tiled embedding)']);
    const w = flatten(def, weightsFor(def, 'worker'));
    const batch = batchFor(def, new Rng('worker'), 4, 16);
    const state = { params: w, m: new Float32Array(w.length), v: new Float32Array(w.length).fill(1e-6), t: 4 };
    const local = await OrtTrainer.create(def, { threads: 1 });
    const worker = await OrtTrainerWorker.create(def, { threads: 1 });
    try {
      expect(worker.describe()).toMatch(/worker thread/);
      const a = await local.step(state, batch, 1e-3);
      let ticks = 0, done = false;
      const spin = () => { if (!done) { ticks++; setImmediate(spin); } };
      setImmediate(spin);
      const b = await worker.step(state, batch, 1e-3);
      done = true;
      expect(ticks).toBeGreaterThan(3);
      expect(b.loss).toBe(a.loss);
      expect(relErr(b.params, a.params)).toBe(0);
      expect(relErr(b.v!, a.v!)).toBe(0);
      expect(state.params).toBe(w); // inputs untouched
      const g1 = await local.lossAndGrads(w, batch), g2 = await worker.lossAndGrads(w, batch);
      expect(relErr(g2.grads, g1.grads)).toBe(0);
      await expect(worker.lossAndGrads(new Float32Array(2), batch)).rejects.toThrow(/parameters/);
    } finally {
      await local.dispose();
      await worker.dispose();
    }
  });
});

describe('train with engine: onnx', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir('diff2s-ortrain-')));
  afterEach(() => tmp.cleanup());

  const cfg = (output: string, engine: 'tfjs' | 'onnx', steps: number): TrainConfigInput => ({
    seed: 5,
    data: { images: FIXTURE, crop: 16 },
    model: { preset: 'frugal', baseChannels: 8, channelMults: [1, 1] },
    schedule: { type: 'linear', T: 50, betaStart: 1e-3, betaEnd: 0.2 },
    train: { steps, batch: 4, lr: 3e-3, workers: 1, checkpointEvery: 3, logEvery: 1, engine },
    output,
  });

  test('the same run as the tfjs engine; checkpoints and model folders are interchangeable', async () => {
    const a = path.join(tmp.dir, 'tfjs');
    const b = path.join(tmp.dir, 'onnx');
    const la: number[] = [], lb: number[] = [];
    const logger = new MemoryLogger();
    await train(cfg(a, 'tfjs', 3), { onProgress: (p) => la.push(p.loss), logger });
    const rb = await train(cfg(b, 'onnx', 3), { onProgress: (p) => lb.push(p.loss), logger });
    expect(rb.backend).toMatch(/onnxruntime/);
    for (let i = 0; i < 3; i++) expect(Math.abs(la[i] - lb[i]) / la[i]).toBeLessThan(1e-4);
    const ma = await readModel(a), mb = await readModel(b);
    for (const p of ma.def.params) expect(relErr(mb.weights.get(p.name)!, ma.weights.get(p.name)!)).toBeLessThan(1e-4);
    // a model trained on onnx runs on the tfjs engine
    const model = await loadModel(b, { engine: 'tfjs' });
    expect(model.engine).toBe('tfjs');
    expect(model.card.training?.backend).toMatch(/onnxruntime/);
    model.dispose();
    // resume the tfjs run's checkpoint on onnx (and the other way round): same config hash, same weight layout
    const more: number[] = [];
    const r = await train(cfg(a, 'onnx', 5), { resume: true, onProgress: (p) => more.push(p.step), logger });
    expect(more).toEqual([4, 5]);
    expect(r.steps).toBe(5);
    const back: number[] = [];
    await train(cfg(b, 'tfjs', 4), { resume: true, onProgress: (p) => back.push(p.step), logger });
    expect(back).toEqual([4]);
  });
});
