import { spawnSync } from 'child_process';
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createContainer, MemoryLogger, Rng, Tensor4 } from '@diff2s/core';
import {
  buildOnnxModel, buildOnnxRefineModel, decodeOnnxModel, defineUNet, engineModule, exportModelToOnnx, exportNetworkToOnnx, fromNHWC, initEngine, initWeights,
  loadOrtSession, NativeUNet, ONNX_OPSET, OnnxUNet, onnxPartSignature, resolveModelEngine, saveModel, OnnxSkips,
  UNetConfigInput,
} from '@diff2s/engine';
import { plainForward, RefinerDenoiser, swapChannels } from '@diff2s/refiner';
import { randMask, randTensor, tinyGuided } from './helpers';

/** A small palette-like UNet: GroupNorm, SiLU, resnet blocks, middle attention, MLP embedding, 2 levels. */
const smallPalette = tinyGuided;

/** max |a − b| relative to max(1, max |b|): absolute below 1, relative above (the 1e-4 criterion). */
function err(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0, s = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return m / Math.max(1, s);
}

const TOL = 1e-4;

function hasPythonOnnx(): boolean {
  try {
    return spawnSync('/usr/bin/python3', ['-c', 'import onnx'], { stdio: 'ignore', timeout: 20000 }).status === 0;
  } catch {
    return false;
  }
}
const PY_ONNX = hasPythonOnnx();

const cases: [string, UNetConfigInput | 'frugal', [number, number][]][] = [
  ['frugal preset', 'frugal', [[16, 24], [32, 32]]],
  ['small palette-like', smallPalette, [[8, 12], [16, 16]]],
];

describe.each(cases)('ONNX export of the %s UNet', (_label, spec, sizes) => {
  let native: NativeUNet;
  let onnx: OnnxUNet;
  const noiseFor = (n: number, rng: Rng): Float32Array => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = native.config.noise.input === 't' ? 1 + rng.int(1000) : rng.uniform();
    return a;
  };

  beforeAll(async () => {
    await initEngine({ backend: 'wasm' });
    native = await NativeUNet.create(spec as never, { seed: 5 });
    onnx = await OnnxUNet.create(spec as never, { weights: native.net.getWeights(), eager: true });
  });
  afterAll(async () => {
    native.dispose();
    await onnx.dispose();
  });

  test.each(sizes.flatMap(([h, w]) => [1, 2].map((n) => [n, h, w] as const)))(
    'every part matches tfjs (batch %d, %d×%d)', async (n, h, w) => {
      const rng = new Rng(`parts-${n}-${h}-${w}`);
      const input = randTensor(rng, [n, native.def.shapes.inputChannels, h, w]);
      const noise = noiseFor(n, rng);
      // full graph
      const refFull = native.forwardInput(input, noise);
      expect(err((await onnx.forwardInput(input, noise)).data, refFull.data)).toBeLessThan(TOL);
      // encoder: h₋₁ and every skip
      const eRef = native.encodeInput(input, noise);
      const eOnnx = await onnx.encodeInput(input, noise);
      expect(eOnnx.h.shape).toEqual(eRef.h.shape);
      expect(err(eOnnx.h.data, eRef.h.data)).toBeLessThan(TOL);
      expect(eOnnx.skips.values.length).toBe(eRef.skips.tensors.length);
      eRef.skips.tensors.forEach((t, i) => {
        const ref = fromNHWC(t);
        expect(eOnnx.skips.values[i].dims).toEqual([...ref.shape]);
        expect(err(eOnnx.skips.values[i].data, ref.data)).toBeLessThan(TOL);
      });
      // middle on the same h₋₁ (random, not the encoder's: the part alone)
      const hm1 = randTensor(rng, [...eRef.h.shape]);
      const mRef = native.middleAt(hm1, noise);
      const mOnnx = await onnx.middleAt(hm1, noise);
      expect(err(mOnnx.data, mRef.data)).toBeLessThan(TOL);
      // decoder on the tfjs skips and a random h
      const hMid = randTensor(rng, [...mRef.shape]);
      const dRef = native.decodeAt(hMid, eRef.skips, noise);
      const sameSkips = new OnnxSkips(eRef.skips.tensors.map((t) => { const r = fromNHWC(t); return { data: r.data, dims: [...r.shape] }; }), n, []);
      const dOnnx = await onnx.decodeAt(hMid, sameSkips, noise);
      expect(err(dOnnx.data, dRef.data)).toBeLessThan(TOL);
      eRef.skips.dispose();
      onnx.releaseSkips(eOnnx.skips);
    });

  test('encoder → middle → decoder equals the full graph; predict equals tfjs predict', async () => {
    const rng = new Rng('compose');
    const [h, w] = sizes[1];
    const xt = randTensor(rng, [2, 3, h, w]);
    const cond = { xm: randTensor(rng, [2, 3, h, w]), mask: randMask(rng, 2, h, w) };
    const step = { t: 417, alphaBar: 0.37 };
    const whole = (await onnx.predict(xt, step, cond)).clone();
    expect(err(whole.data, (await native.predict(xt, step, cond)).data)).toBeLessThan(TOL);
    const composed = await plainForward(onnx, xt, step, cond);
    expect(err(composed.data, whole.data)).toBeLessThan(1e-5);
    // the reused output buffer: a second predict on other data changes it in place
    const again = await onnx.predict(randTensor(rng, [2, 3, h, w]), step, cond);
    expect(err(again.data, whole.data)).toBeGreaterThan(1e-6);
  });

  test('encodeMiddlePair (one 2N batch) equals two separate passes, with a channel swap', async () => {
    const rng = new Rng('pair');
    const [h, w] = sizes[0];
    const xt = randTensor(rng, [2, 3, h, w]);
    const guideT = randTensor(rng, [2, 3, h, w]);
    const cond = { xm: randTensor(rng, [2, 3, h, w]), mask: randMask(rng, 2, h, w) };
    const step = { t: 120, alphaBar: 0.8 };
    const e1 = await onnx.encode(xt, step, cond);
    const e2 = await onnx.encode(guideT, step, cond);
    const mid = await onnx.middle(swapChannels(e1.h, e2.h, 0.5), step, cond);
    const midGuide = await onnx.middle(e2.h, step, cond);
    const out = await onnx.decode(mid, e1.skips, step, cond);
    for (let round = 0; round < 2; round++) {
      const pair = await onnx.encodeMiddlePair(xt, guideT, step, cond, (a, b) => swapChannels(a, b, 0.5, a));
      expect(err(pair.mid.data, mid.data)).toBeLessThan(1e-5);
      expect(err(pair.midGuide.data, midGuide.data)).toBeLessThan(1e-5);
      const out2 = await onnx.decode(pair.mid, pair.skips, step, cond);
      expect(err(out2.data, out.data)).toBeLessThan(1e-5);
      onnx.releaseSkips(pair.skips);
      onnx.releaseSkips(pair.skips); // idempotent
      await expect(onnx.decode(pair.mid, pair.skips, step, cond)).rejects.toThrow(/released/);
    }
    // a swap returning a new tensor works too
    const pair = await onnx.encodeMiddlePair(xt, guideT, step, cond, (a, b) => swapChannels(a, b, 0.5));
    expect(err(pair.mid.data, mid.data)).toBeLessThan(1e-5);
    onnx.releaseSkips(pair.skips);
    onnx.releaseSkips(e1.skips);
    onnx.releaseSkips(e2.skips);
  });

  test('predictSwapped (the fused refine-step graph) equals the three-part path for every swap, and tfjs', async () => {
    const rng = new Rng('fused');
    const step = { t: 333, alphaBar: 0.45 };
    const inputs = ([[1, sizes[0]], [2, sizes[1]]] as const).map(([n, [h, w]]) => ({
      xt: randTensor(rng, [n, 3, h, w]),
      guideT: randTensor(rng, [n, 3, h, w]),
      cond: { xm: randTensor(rng, [n, 3, h, w]), mask: randMask(rng, n, h, w) },
    }));
    const swaps: [number, boolean, boolean][] = [[0.5, true, true], [0.25, true, false], [1, false, true], [0, true, true]];
    for (const [fraction, atHm1, atH] of swaps) {
      for (const { xt, guideT, cond } of inputs) {
        const fused = (await onnx.predictSwapped(xt, guideT, step, cond, { fraction, atHm1, atH })).clone();
        const pair = await onnx.encodeMiddlePair(xt, guideT, step, cond, (a, b) => (atHm1 ? swapChannels(a, b, fraction, a) : a));
        const hh = atH ? swapChannels(pair.mid, pair.midGuide, fraction, pair.mid) : pair.mid;
        const parts = await onnx.decode(hh, pair.skips, step, cond);
        onnx.releaseSkips(pair.skips);
        expect(err(fused.data, parts.data)).toBeLessThan(1e-5);
        if (fraction === 0.5) {
          // the same step on the tfjs engine (its three-part path)
          const opts = { swapFraction: fraction, swapSpaces: 'both' as const, guideNoise: 'fresh' as const, noiseRegion: 'auto' as const };
          const tf = await new RefinerDenoiser(native, guideT, cond.xm, cond.mask, new Rng(0), opts).predictWithGuide(xt, guideT, step, cond);
          expect(err(fused.data, tf.data)).toBeLessThan(TOL);
        }
        if (fraction === 0) {
          // fraction 0 swaps nothing: the plain network
          expect(err(fused.data, (await plainForward(onnx, xt, step, cond)).data)).toBeLessThan(1e-5);
        }
      }
    }
  });

  test('predictions are bit-identical across calls and instances (2 threads)', async () => {
    const rng = new Rng('determinism');
    const input = randTensor(rng, [2, native.def.shapes.inputChannels, 32, 32]);
    const noise = noiseFor(2, rng);
    const a = (await onnx.forwardInput(input, noise)).data;
    const b = (await onnx.forwardInput(input, noise)).data;
    const other = await OnnxUNet.create(spec as never, { weights: native.net.getWeights(), intraOpNumThreads: 2 });
    const c = (await other.forwardInput(input, noise)).data;
    await other.dispose();
    expect(err(b, a)).toBe(0);
    expect(err(c, a)).toBe(0);
  });

  test('concurrent refine steps on one instance give the sequential results (runs are serialised)', async () => {
    const rng = new Rng('concurrent');
    const [h, w] = sizes[0];
    const cond = { xm: randTensor(rng, [1, 3, h, w]), mask: randMask(rng, 1, h, w) };
    const step = { t: 60, alphaBar: 0.9 };
    const flow = async (xt: Tensor4, g: Tensor4) => {
      const pair = await onnx.encodeMiddlePair(xt, g, step, cond, (a, b) => swapChannels(a, b, 0.5, a));
      try {
        return await onnx.decode(swapChannels(pair.mid, pair.midGuide, 0.5, pair.mid), pair.skips, step, cond);
      } finally {
        onnx.releaseSkips(pair.skips);
      }
    };
    const inputs = [0, 1, 2].map(() => [randTensor(rng, [1, 3, h, w]), randTensor(rng, [1, 3, h, w])] as const);
    const seq: Tensor4[] = [];
    for (const [x, g] of inputs) seq.push(await flow(x, g));
    const par = await Promise.all(inputs.map(([x, g]) => flow(x, g)));
    par.forEach((p, i) => expect(err(p.data, seq[i].data)).toBe(0));
  });

  test('refiner invariant on OnnxUNet: predictWithGuide(x_t, x_t) equals the plain network', async () => {
    const rng = new Rng('invariant');
    const [h, w] = sizes[0];
    const xt = randTensor(rng, [1, 3, h, w]);
    const image = randTensor(rng, [1, 3, h, w]);
    const mask = randMask(rng, 1, h, w);
    const cond = { xm: image, mask };
    const step = { t: 250, alphaBar: 0.55 };
    const refiner = new RefinerDenoiser(onnx, randTensor(rng, [1, 3, h, w]), image, mask, new Rng(1), {
      swapFraction: 0.5, swapSpaces: 'both', guideNoise: 'fresh', noiseRegion: 'auto',
    });
    const swapped = (await refiner.predictWithGuide(xt, xt, step, cond)).clone();
    const plain = await plainForward(onnx, xt, step, cond);
    expect(err(swapped.data, plain.data)).toBeLessThan(1e-6);
    // and a real guide changes the prediction (the swap is not a no-op)
    const other = await refiner.predictWithGuide(xt, randTensor(rng, [1, 3, h, w]), step, cond);
    expect(err(other.data, plain.data)).toBeGreaterThan(1e-4);
  });
});

describe('ONNX files', () => {
  let dir: string;
  beforeAll(async () => {
    await initEngine({ backend: 'wasm' });
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'diff2s-onnx-'));
    const def = defineUNet(smallPalette as never);
    await saveModel(path.join(dir, 'model'), { config: (await NativeUNet.create(smallPalette as never, { seed: 1 })).config, weights: initWeights(def, 1) }, {
      schedule: { type: 'linear', T: 100 },
    });
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('exportModelToOnnx writes encoder/middle/decoder/full with named inputs and outputs that onnxruntime loads', async () => {
    const out = path.join(dir, 'onnx');
    const res = await exportModelToOnnx(path.join(dir, 'model'), out);
    expect(Object.keys(res.files).sort()).toEqual(['decoder', 'encoder', 'full', 'middle']);
    const info = JSON.parse(await fs.readFile(path.join(out, 'onnx.json'), 'utf8'));
    expect(info.opset).toBe(ONNX_OPSET);
    const def = defineUNet(smallPalette as never);
    const skipNames = def.io.skips.map((_, i) => `skip${i}`);
    const expected: Record<string, [string[], string[]]> = {
      encoder: [['x', 'noise'], ['h_enc', ...skipNames]],
      middle: [['h_enc', 'noise'], ['h_mid']],
      decoder: [['h_mid', ...skipNames, 'noise'], ['output']],
      full: [['x', 'noise'], ['output']],
    };
    for (const [part, file] of Object.entries(res.files)) {
      const s = await loadOrtSession(file!, { intraOpNumThreads: 1 });
      try {
        expect(s.inputs.map((v) => v.name)).toEqual(expected[part][0]);
        expect(s.outputs.map((v) => v.name)).toEqual(expected[part][1]);
        expect(s.inputs[0].dims[0]).toBe('N'); // dynamic batch
        expect(typeof s.inputs[0].dims[2]).toBe('string'); // dynamic spatial dims
        expect(s.inputs.every((v) => v.type === 'float32')).toBe(true);
      } finally {
        await s.release();
      }
      const model = decodeOnnxModel(await fs.readFile(file!));
      expect(model.opset_import?.[0].version).toBe(ONNX_OPSET);
      expect(model.graph?.node?.every((n) => !n.domain)).toBe(true);
    }
  });

  test('the frugal middle block and decoder take no noise input (its embedding is tiled into the input)', () => {
    const def = defineUNet('frugal');
    expect(onnxPartSignature(def, 'encoder').inputs.map((s) => s.name)).toEqual(['x', 'noise']);
    expect(onnxPartSignature(def, 'middle').inputs.map((s) => s.name)).toEqual(['h_enc']);
    expect(onnxPartSignature(def, 'decoder').inputs.map((s) => s.name)).toEqual(['h_mid', 'skip0', 'skip1', 'skip2']);
    const graph = decodeOnnxModel(exportNetworkToOnnx(def, initWeights(def, 0), 'full')).graph!;
    const ops = new Set(graph.node!.map((n) => n.op_type));
    expect([...ops].sort()).toEqual(['Add', 'AveragePool', 'Concat', 'Conv', 'Cos', 'Expand', 'Identity', 'Mul', 'Relu', 'Resize', 'Shape', 'Sin', 'Unsqueeze']);
    // the first convolution over Cat[x, tile(embedding)] is split into a convolution of the image channels (7) and one
    // of the 16 embedding channels, summed — no convolution reads all 23 channels
    const dims = new Map(graph.initializer!.map((t) => [t.name!, (t.dims ?? []).map(Number)]));
    const convIn = graph.node!.filter((n) => n.op_type === 'Conv').map((n) => dims.get(n.input![1])![1]);
    expect(convIn).toContain(7);
    expect(convIn).toContain(16);
    expect(convIn).not.toContain(23);
  });

  test('a fixed-shape refine graph: concrete dims, the embedding convolution shared by both passes; sizes checked', () => {
    const def = defineUNet('frugal');
    const weights = initWeights(def, 0);
    const swap = { fraction: 0.5, atHm1: true, atH: true };
    const fixed = buildOnnxRefineModel(def, weights, swap, { fixedShape: { n: 2, h: 24, w: 40 } }).graph!;
    const dimsOf = (v: { type?: { tensor_type?: { shape?: { dim?: { dim_value?: unknown; dim_param?: string }[] } } } }) =>
      v.type!.tensor_type!.shape!.dim!.map((d) => (d.dim_param ? d.dim_param : Number(d.dim_value)));
    expect(fixed.input!.map(dimsOf)).toEqual([[2, 7, 24, 40], [2, 7, 24, 40], [2]]);
    expect(fixed.output!.map(dimsOf)).toEqual([[2, 3, 24, 40]]);
    const open = buildOnnxRefineModel(def, weights, swap).graph!;
    expect(open.input!.map(dimsOf)[0]).toEqual(['N', 7, 'H', 'W']);
    // per pass: one convolution of the 7 image channels; the 16 tiled embedding channels: one convolution in all
    const dims = new Map(fixed.initializer!.map((t) => [t.name!, (t.dims ?? []).map(Number)]));
    const convIn = fixed.node!.filter((n) => n.op_type === 'Conv').map((n) => dims.get(n.input![1])![1]);
    expect(convIn.filter((c) => c === 7)).toHaveLength(2);
    expect(convIn.filter((c) => c === 16)).toHaveLength(1);
    expect(convIn).not.toContain(23);
    // part graphs: H_8 = H / 8 must be whole
    expect(() => buildOnnxModel(def, weights, 'encoder', { fixedShape: { n: 1, h: 12, w: 16 } })).toThrow(/12 is not a multiple of 8/);
    expect(() => buildOnnxModel(def, weights, 'full', { fixedShape: { n: 0, h: 16, w: 16 } })).toThrow(/fixedShape\.n must be a positive integer/);
    expect(buildOnnxModel(def, weights, 'encoder', { fixedShape: { n: 1, h: 16, w: 24 } }).graph!.output!.map(dimsOf)[0]).toEqual([1, 32, 2, 3]);
  });

  (PY_ONNX ? test : test.skip)(
    `python3-onnx's checker accepts the files${PY_ONNX ? '' : ' (skipped: /usr/bin/python3 with python3-onnx is not installed)'}`,
    async () => {
      const out = path.join(dir, 'onnx-py');
      const res = await exportModelToOnnx(path.join(dir, 'model'), out);
      const files = Object.values(res.files) as string[];
      const script = 'import sys, onnx\nfor f in sys.argv[1:]:\n    onnx.checker.check_model(onnx.load(f), full_check=True)\nprint("ok")';
      const r = spawnSync('/usr/bin/python3', ['-c', script, ...files], { encoding: 'utf8', timeout: 60000 });
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toBe('ok');
    },
  );

  test('the native loader picks the engine: onnx by default when onnxruntime loads, tfjs on request', async () => {
    const c = createContainer(engineModule);
    const ctx = { container: c, baseDir: dir, logger: new MemoryLogger() };
    expect((await resolveModelEngine({ engine: 'auto' })).engine).toBe('onnx');
    expect((await resolveModelEngine({ engine: 'auto', backend: 'wasm' })).engine).toBe('tfjs');
    const a = (await c.modelLoaders.create('native', { path: 'model' }, ctx, 'model')) as OnnxUNet & { card: { family: string } };
    expect(a).toBeInstanceOf(OnnxUNet);
    expect(a.card.family).toBe('unet');
    const b = (await c.modelLoaders.create('native', { path: 'model', engine: 'tfjs' }, ctx, 'model')) as NativeUNet;
    expect(b).toBeInstanceOf(NativeUNet);
    const legacy = (await c.modelLoaders.create('native', { path: 'model', backend: 'wasm' }, ctx, 'model')) as NativeUNet;
    expect(legacy).toBeInstanceOf(NativeUNet);
    const d = (await c.modelLoaders.create('native', { path: 'model', engine: 'onnx', threads: 1 }, ctx, 'model')) as OnnxUNet;
    expect(d).toBeInstanceOf(OnnxUNet);
    // both engines agree on a prediction
    const rng = new Rng('loader');
    const xt = randTensor(rng, [1, 3, 8, 8]);
    const cond = { xm: randTensor(rng, [1, 3, 8, 8]), mask: randMask(rng, 1, 8, 8) };
    const step = { t: 10, alphaBar: 0.6 };
    expect(err((await a.predict(xt, step, cond)).data, (await b.predict(xt, step, cond)).data)).toBeLessThan(TOL);
    await a.dispose();
    await d.dispose();
    b.dispose();
    legacy.dispose();
    expect(() => c.modelLoaders.create('native', { path: 'model', engine: 'gpu' }, ctx, 'model')).toThrow();
  });
});
