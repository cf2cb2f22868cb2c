#!/usr/bin/env node
/**
 * Forward / gradient timing of the frugal UNet (default batch 16, 64×64) on the wasm backend:
 * one thread in-process, and data-parallel over N worker_threads (ParallelGradient).
 * Needs the built packages: `npx tsc -b packages/engine`. Usage:
 *   node bench/engine-bench.js [--batch 16] [--size 64] [--reps 5] [--workers 2] [--preset frugal]
 */
const path = require('path');
const root = path.resolve(__dirname, '..');
const e = require(path.join(root, 'packages/engine/dist'));
const { Tensor4, Rng } = require(path.join(root, 'packages/core/dist'));
const tf = e.tf;

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, all) => (v.startsWith('--') ? [...a, [v.slice(2), all[i + 1]]] : a), []));
const N = +(args.batch ?? 16), S = +(args.size ?? 64), REPS = +(args.reps ?? 5), WORKERS = +(args.workers ?? 2);
const preset = args.preset ?? 'frugal';

function median(xs) { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; }
async function time(fn, reps) {
  await fn(); // warm-up
  const ts = [];
  for (let i = 0; i < reps; i++) { const t0 = performance.now(); await fn(); ts.push(performance.now() - t0); }
  return { median: median(ts), min: Math.min(...ts) };
}
const fmt = (r) => `${r.median.toFixed(0)} ms (min ${r.min.toFixed(0)})`;

(async () => {
  const info = await e.initEngine({ backend: 'wasm' });
  const model = await e.NativeUNet.create(preset, { seed: 1 });
  console.log(`backend: ${e.describeBackend(info)}; ${preset} UNet, ${e.paramCount(model.def)} parameters; batch ${N}, ${S}×${S}`);
  const r = new Rng(3);
  const xt = new Tensor4([N, 3, S, S]); r.fillNormal(xt.data);
  const xm = new Tensor4([N, 3, S, S]); r.fillNormal(xm.data);
  const mask = new Tensor4([N, 1, S, S]); for (let i = 0; i < mask.size; i++) mask.data[i] = r.uniform() < 0.3 ? 1 : 0;
  const step = { t: 500, alphaBar: 0.3 };
  const batch = { input: model.buildInput(xt, { xm, mask }), noise: new Float32Array(N).fill(500), target: xm };

  console.log(`forward (predict, 1 thread):        ${fmt(await time(() => model.predict(xt, step, { xm, mask }), REPS))}`);
  console.log(`loss + gradient (1 thread):          ${fmt(await time(() => model.net.lossAndGrads(batch), REPS))}`);
  const pg = await e.ParallelGradient.create(model.def, { workers: WORKERS });
  const w = model.net.getWeights();
  console.log(`loss + gradient (${WORKERS} workers):          ${fmt(await time(() => pg.lossAndGrads(w, batch), REPS))}`);
  await pg.dispose();

  // the replaced Conv2DBackpropInput vs tfjs-wasm's own, on the largest conv of the net
  const dy = tf.randomNormal([N, S, S, 32]), filt = tf.randomNormal([3, 3, 64, 32]);
  const bpi = () => tf.tidy(() => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: filt }, { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', inputShape: [N, S, S, 64] }).dataSync());
  const bpf = () => tf.tidy(() => tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.zeros([N, S, S, 64]), dy }, { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 64, 32] }).dataSync());
  const fwd = () => tf.tidy(() => tf.conv2d(tf.zeros([N, S, S, 64]), filt, 1, 'same').dataSync());
  console.log(`conv 64→32 3×3 forward:               ${fmt(await time(fwd, 3))}`);
  console.log(`  Conv2DBackpropFilter (diff2s):      ${fmt(await time(bpf, 3))}`);
  console.log(`  Conv2DBackpropInput (diff2s):       ${fmt(await time(bpi, 3))}`);
  e.unregisterWasmGradientKernels();
  e.registerWasmGradientKernels({ fastBackpropInput: false, fastTransposeA: false });
  console.log(`  Conv2DBackpropInput (tfjs-wasm):    ${fmt(await time(bpi, 3))}`);
  model.dispose();
})().catch((err) => { console.error(err); process.exit(1); });
