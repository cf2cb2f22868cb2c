#!/usr/bin/env node
/**
 * Forward and refine-step timing of a native UNet on tfjs-wasm vs onnxruntime (OnnxUNet), default the frugal preset at
 * batch 1, 256×256. A refine step is what the Diff-2sIR refiner does per sampling step: encoder + middle on x_t and
 * on the noised guide (one batch of 2N), channel swaps at h₋₁ and h, one decoder pass (RefinerDenoiser when
 * packages/refiner is built). Prints the machine's load and whether a training job runs (timings are then
 * contaminated). Measures only; asserts nothing. Needs the built packages (`npx tsc -b packages/engine packages/refiner`).
 *   node bench/onnx-forward.js [--preset frugal] [--batch 1] [--size 256] [--reps 5] [--threads 2]
 */
const os = require('os');
const path = require('path');
const { execSync } = require('child_process');
const root = path.resolve(__dirname, '..');
const e = require(path.join(root, 'packages/engine/dist'));
const { Tensor4, Rng } = require(path.join(root, 'packages/core/dist'));
let refiner;
try { refiner = require(path.join(root, 'packages/refiner/dist')); } catch { refiner = undefined; }

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, all) => (v.startsWith('--') ? [...a, [v.slice(2), all[i + 1]]] : a), []));
const N = +(args.batch ?? 1), S = +(args.size ?? 256), REPS = +(args.reps ?? 5), THREADS = +(args.threads ?? 2);
const preset = args.preset ?? 'frugal';

function median(xs) { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; }
async function time(fn, reps) {
  await fn(); // warm-up (also creates lazy sessions)
  const ts = [];
  for (let i = 0; i < reps; i++) { const t0 = performance.now(); await fn(); ts.push(performance.now() - t0); }
  return { median: median(ts), min: Math.min(...ts) };
}
const fmt = (r) => `${r.median.toFixed(0).padStart(6)} ms (min ${r.min.toFixed(0)})`;
function load() {
  const [l1, l5] = os.loadavg();
  let training = 'no training job';
  try {
    const ps = execSync('ps -eo pid,pcpu,args', { encoding: 'utf8' }).split('\n').filter((l) => l.includes('bin.js train') && !l.includes('grep'));
    if (ps.length) training = `TRAINING JOB RUNNING (${ps.map((l) => l.trim().split(/\s+/).slice(0, 2).join(' at ') + '% cpu').join(', ')}) — timings contaminated`;
  } catch { /* ps unavailable */ }
  return `load ${l1.toFixed(2)} / ${l5.toFixed(2)} (1/5 min) on ${os.cpus().length} cores; ${training}`;
}

/** Swap the second half of the channels (the refiner's default fraction 0.5), into `a`. */
function swapHalf(a, b) {
  const hw = a.h * a.w, c = a.c, k = c - Math.round(c * 0.5);
  for (let i = 0; i < a.n; i++) a.data.set(b.data.subarray((i * c + k) * hw, (i + 1) * c * hw), (i * c + k) * hw);
  return a;
}

async function refineStep(net, xt, guideT, step, cond) {
  if (refiner) {
    const d = new refiner.RefinerDenoiser(net, guideT, cond.xm, cond.mask, new Rng(1), { swapFraction: 0.5, swapSpaces: 'both', guideNoise: 'fixed', noiseRegion: 'auto' });
    return d.predictWithGuide(xt, guideT, step, cond);
  }
  const pair = await net.encodeMiddlePair(xt, guideT, step, cond, swapHalf);
  try { return await net.decode(swapHalf(pair.mid, pair.midGuide), pair.skips, step, cond); } finally { net.releaseSkips(pair.skips); }
}

(async () => {
  console.log(`start: ${load()}`);
  const info = await e.initEngine({ backend: 'wasm' });
  const native = await e.NativeUNet.create(preset, { seed: 1 });
  const weights = native.net.getWeights();
  console.log(`${preset} UNet, ${e.paramCount(native.def)} parameters; batch ${N}, ${S}×${S}; refine step via ${refiner ? 'RefinerDenoiser' : 'inline swap'}`);
  const r = new Rng(3);
  const rand = (c) => { const t = new Tensor4([N, c, S, S]); r.fillNormal(t.data); return t; };
  const xt = rand(3), guideT = rand(3), xm = rand(3);
  const mask = new Tensor4([N, 1, S, S]); for (let i = 0; i < mask.size; i++) mask.data[i] = r.uniform() < 0.3 ? 1 : 0;
  const cond = { xm, mask };
  const step = { t: 500, alphaBar: 0.3 };

  const rows = [];
  console.log(`tfjs: ${e.describeBackend(info)}`);
  rows.push(['tfjs-wasm', 'forward', await time(() => native.predict(xt, step, cond), REPS)]);
  rows.push(['tfjs-wasm', 'refine step', await time(() => refineStep(native, xt, guideT, step, cond), REPS)]);
  native.dispose();
  for (const threads of [...new Set([THREADS, 1])]) {
    const t0 = performance.now();
    const onnx = await e.OnnxUNet.create(preset, { weights, intraOpNumThreads: threads, eager: true });
    console.log(`onnxruntime, ${threads} intra-op thread(s): export + 4 sessions in ${(performance.now() - t0).toFixed(0)} ms`);
    rows.push([`onnxruntime ${threads}t`, 'forward', await time(() => onnx.predict(xt, step, cond), REPS)]);
    rows.push([`onnxruntime ${threads}t`, 'refine step', await time(() => refineStep(onnx, xt, guideT, step, cond), REPS)]);
    await onnx.dispose();
  }
  for (const [engine, what, res] of rows) console.log(`${engine.padEnd(16)} ${what.padEnd(12)} ${fmt(res)}`);
  console.log(`end: ${load()}`);
})().catch((err) => { console.error(err); process.exit(1); });
