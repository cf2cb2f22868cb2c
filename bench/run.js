#!/usr/bin/env node
/**
 * diff2s side-by-side benchmark: our TypeScript engine vs the PyTorch peer (bench/peer/diff2s_peer.py, a child
 * process walking the SAME NetworkDef with the SAME weights). Writes a markdown report (default reports/bench.md).
 *
 *   node bench/run.js [--quick] [--out FILE] [--model DIR] [--only LIST] [--no-peer] [--no-profile]
 *
 *   (a) refine a 256×256 image, frugal UNet, T_k = 200 (ddpm): ours = @diff2s/refiner refine() with OnnxUNet on
 *       onnxruntime (the default engine; one fused graph per step) and, once, NativeUNet on tfjs-wasm (1 thread); peer = the same 200 steps
 *       (encoder+middle of the x_t and x̄_t passes as one 2N batch, channel swap at h₋₁ and h, decoder), 2 threads.
 *   (b) one training step, frugal, batch 16, 64×64: ours = TfjsNetwork.lossAndGrads + Adam as src/train does it
 *       (in process, 1 thread; and ParallelGradient with 2 workers); peer = forward + backward + torch Adam, 2 threads.
 *   fwd forward pass, batch 16, 64×64 (ours 1 thread, peer 2 threads).
 *   (c) the patch guide on 256×256 with a 25% free-form hole (ours only; target ≤ 10 s).
 *   (d) peak RSS of (a) at 512×512, each side (ours: onnxruntime and tfjs) in its own child process (VmHWM) — target ≤ 1.5 GB.
 *   profile: tf.profile of one in-process training step, time per kernel (the report's notes).
 *   ortprofile: onnxruntime's profiler on the fused refine step, time per op type.
 *   check: bench/peer/check.js's cases (peer vs tfjs numerics), run here so the report prints the measured errors and
 *       the tolerances that were checked (only when the peer runs).
 * --only takes a comma list of a,onnx,ortprofile,b,fwd,c,d,profile,check. --quick: fewer repetitions and a smaller T_k.
 * Every figure the report prints is measured in the run that writes it or is one of this file's settings (threads,
 * sizes, targets); history and comparisons between runs live in reports/bench-notes.md, which is written by hand.
 * Ours and the peer never run at the same time. Medians over the repetitions after one warm-up (refine: no warm-up
 * run beyond model creation). Needs the built packages (pnpm run build); the peer needs /usr/bin/python3 with torch
 * (apt-get install python3-torch) and is skipped, with a note, without it.
 *
 * Internal: `node bench/run.js --child rss --size 512 --tk N --dir D` (the RSS child; prints one JSON line).
 */
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');
const C = require('./lib/common');

/** The aggregate `cpu` line of /proc/stat (undefined off Linux). */
function readCpuStat() {
  try {
    return fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  } catch {
    return undefined;
  }
}
/** Share of CPU time stolen by the hypervisor between two /proc/stat samples (field 8 = steal). */
function stealShare(a, b) {
  if (!a || !b) return undefined;
  const d = b.map((v, i) => v - (a[i] ?? 0));
  const total = d.slice(0, 8).reduce((x, y) => x + y, 0);
  return total > 0 ? d[7] / total : undefined;
}
const stealStart = readCpuStat();

// ---------------------------------------------------------------------------------------------------------------
// Arguments

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined && !argv[i + 1].startsWith('--') ? argv[i + 1] : def;
};

const QUICK = flag('quick');
const FULL_PLAN = { tk: 200, refineReps: 5, tfjsRefineReps: 1, trainReps: 7, fwdReps: 7, patchReps: 3, rssTk: 20, size: 256, rssSize: 512, ortProfileRuns: 10 };
const PLAN = QUICK
  ? { tk: 10, refineReps: 2, tfjsRefineReps: 1, trainReps: 3, fwdReps: 3, patchReps: 1, rssTk: 4, size: 256, rssSize: 512, ortProfileRuns: 3 }
  : { ...FULL_PLAN };
// overrides (indicative runs): --tk N (refine steps of (a)), --refine-reps N (interleaved pairs of (a))
if (opt('tk')) PLAN.tk = Math.max(1, Number(opt('tk')));
if (opt('refine-reps')) PLAN.refineReps = Math.max(1, Number(opt('refine-reps')));
const ALL_PHASES = 'a,onnx,ortprofile,b,fwd,c,d,profile,check';
const ONLY = new Set((opt('only', ALL_PHASES)).split(',').map((s) => s.trim()));
if (flag('no-profile')) { ONLY.delete('profile'); ONLY.delete('ortprofile'); }
const OUT = path.resolve(C.ROOT, opt('out', 'reports/bench.md'));
const BATCH = 16, TRAIN_SIZE = 64;
// the settings the report quotes (every other figure in it is measured)
const ORT_THREADS = 2; // onnxruntime intra-op threads, ours
const PEER_THREADS = 2; // torch.set_num_threads of the peer
const WORKERS = 2; // ParallelGradient workers in (b)
const PATCH_SIZE = 256, PATCH_HOLE = 0.25, PATCH_TARGET_S = 10; // (c)
const RSS_TARGET_MB = 1536; // (d)
const PROFILE_BLOCK = 4; // ortprofile: runs per session per round-robin block
const TRAIN_PROFILE_STEPS = 4; // profile: in-process steps timed by phase (the first is a warm-up)
const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Load samples taken at the start of every phase (1-minute load average and other busy processes). */
const LOADS = [];
function log(msg) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
  if (!flag('child')) LOADS.push({ load1: os.loadavg()[0], busy: C.busyProcesses() });
}

// ---------------------------------------------------------------------------------------------------------------
// The model: a model folder (default models/frugal-brick when complete) or the frugal preset with seeded weights

async function loadSetup(dir) {
  const e = C.pkg('engine');
  const modelDir = opt('model', fs.existsSync(path.join(C.ROOT, 'models/frugal-brick/model.json')) ? path.join(C.ROOT, 'models/frugal-brick') : '');
  let cfg, weights, schedule, source;
  if (modelDir) {
    const m = await e.readModel(path.resolve(modelDir));
    cfg = m.card.config;
    weights = m.weights;
    schedule = m.card.schedule ?? { type: 'linear', T: 1000, betaStart: 1e-4, betaEnd: 0.02 };
    source = `${path.relative(C.ROOT, path.resolve(modelDir)) || modelDir} (${m.card.training?.steps ?? '?'} training steps)`;
  } else {
    cfg = e.resolveUNetConfig('frugal');
    weights = e.initWeights(e.defineUNet(cfg), 0);
    schedule = { type: 'linear', T: 1000, betaStart: 1e-4, betaEnd: 0.02 };
    source = 'frugal preset, seeded init (seed 0)';
  }
  const name = modelDir ? path.basename(path.resolve(modelDir)) : 'frugal preset';
  const def = e.defineUNet(cfg);
  // the peer gets the same definition, config and weights (a snapshot: a training job may rewrite the folder)
  fs.writeFileSync(path.join(dir, 'def.json'), JSON.stringify(def));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
  const weightsPath = C.writeWeights(dir, def, weights);
  return { cfg, def, weights, schedule, source, name, weightsPath, dir };
}

function peerArgs(setup, extra) {
  return ['--def', path.join(setup.dir, 'def.json'), '--weights', setup.weightsPath, '--config', path.join(setup.dir, 'config.json'), '--threads', String(PEER_THREADS), ...extra];
}

/** The peer's thread counts as torch reported them (filled by peerBench). */
const PEER_THREADS_SEEN = new Set();
/** `diff2s_peer.py bench …`: one JSON result; records the thread count torch reported. */
async function peerBench(args) {
  const r = await C.runPeer(['bench', ...args]);
  if (r.threads !== undefined) PEER_THREADS_SEEN.add(r.threads);
  return r;
}

function scheduleArgs(s) {
  if (s.type !== 'linear') throw new Error(`the peer implements the linear schedule only (model has ${s.type})`);
  return ['--T', String(s.T ?? 1000), '--beta-start', String(s.betaStart ?? 1e-4), '--beta-end', String(s.betaEnd ?? 0.02)];
}

// ---------------------------------------------------------------------------------------------------------------
// (a) refine

async function refineInputs(size) {
  const core = C.pkg('core');
  const guides = C.pkg('guides');
  const { image, source } = await C.benchImage(size);
  const mask = C.freeFormMask(size, 0.25, new core.Rng(1));
  const container = core.createContainer(guides.guidesModule);
  const guide = container.guides.create('mean', {}, { container, baseDir: C.ROOT, logger: core.consoleLogger });
  const raw = await guide.inpaint(image, mask, { rng: new core.Rng(2) });
  const guideImage = core.blendByMask(raw, image, mask, raw.zerosLike());
  return { image, mask, guideImage, source, container };
}

async function timeRefine(network, setup, inputs, tk, reps) {
  const core = C.pkg('core');
  const refiner = C.pkg('refiner');
  const { type, ...sRest } = setup.schedule;
  const schedule = inputs.container.schedules.create(type, sRest, undefined, 'schedule');
  const sampler = inputs.container.samplers.create('ddpm', {}, undefined, 'sampler');
  const times = [];
  let out;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    out = await refiner.refine(inputs.guideImage, inputs.image, inputs.mask, { network, schedule, sampler, rng: new core.Rng(10 + r), options: { tk } });
    times.push((performance.now() - t0) / 1000);
  }
  // sanity: known pixels unchanged
  let known = 0;
  for (let c = 0; c < out.c; c++) {
    const hw = out.h * out.w;
    for (let p = 0; p < hw; p++) if (inputs.mask.data[p] < 0.5) known = Math.max(known, Math.abs(out.data[c * hw + p] - inputs.image.data[c * hw + p]));
  }
  return { times, knownMaxDiff: known };
}

// ---------------------------------------------------------------------------------------------------------------
// (b) training step and the forward pass

/** One training step as src/train/trainer.ts does it, given a gradient function: grads → flat buffer → Adam. */
function trainStepper(setup, lossAndGrads) {
  const e = C.pkg('engine');
  const def = setup.def;
  let total = 0;
  for (const p of def.params) total += e.shapeSize(p.shape);
  const flat = new Float32Array(total);
  const gradFlat = new Float32Array(total);
  const views = new Map(), gviews = new Map();
  let off = 0;
  for (const p of def.params) {
    const n = e.shapeSize(p.shape);
    views.set(p.name, flat.subarray(off, off + n));
    gviews.set(p.name, gradFlat.subarray(off, off + n));
    views.get(p.name).set(setup.weights.get(p.name));
    off += n;
  }
  const adam = new e.Adam(total);
  return async (batch) => {
    const r = await lossAndGrads(views, batch);
    for (const p of def.params) gviews.get(p.name).set(r.grads.get(p.name));
    adam.step(flat, gradFlat, 1e-4);
    return r.loss;
  };
}

async function timeIt(fn, reps, warmup = 1) {
  for (let i = 0; i < warmup; i++) await fn();
  const times = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    times.push((performance.now() - t0) / 1000);
  }
  return times;
}

// ---------------------------------------------------------------------------------------------------------------
// (c) patch guide

async function timePatch(reps) {
  const core = C.pkg('core');
  const guides = C.pkg('guides');
  const { image, source } = await C.benchImage(PATCH_SIZE);
  const mask = C.freeFormMask(PATCH_SIZE, PATCH_HOLE, new core.Rng(1));
  const container = core.createContainer(guides.guidesModule);
  const guide = container.guides.create('patch', {}, { container, baseDir: C.ROOT, logger: core.consoleLogger });
  const times = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await guide.inpaint(image, mask, { rng: new core.Rng(1) });
    times.push((performance.now() - t0) / 1000);
  }
  const hole = mask.data.reduce((a, b) => a + b, 0) / mask.size;
  return { times, source, hole };
}

// ---------------------------------------------------------------------------------------------------------------
// (d) the RSS child: refine at 512×512 in a fresh process

async function rssChild() {
  const dir = opt('dir');
  const size = +opt('size', 512), tk = +opt('tk', 10);
  const e = C.pkg('engine');
  const base = C.peakRssMB();
  await e.initEngine({ backend: 'wasm' });
  const setup = {
    cfg: JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')),
    schedule: JSON.parse(fs.readFileSync(path.join(dir, 'schedule.json'), 'utf8')),
  };
  setup.def = e.defineUNet(setup.cfg);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'weights.json'), 'utf8'));
  setup.weights = e.decodeWeights(setup.def, manifest, fs.readFileSync(path.join(dir, manifest.file)));
  const engine = opt('engine', 'tfjs');
  const model = engine === 'onnx'
    ? await e.OnnxUNet.create(setup.cfg, { weights: setup.weights, intraOpNumThreads: ORT_THREADS })
    : await e.NativeUNet.create(setup.cfg, { weights: setup.weights });
  const inputs = await refineInputs(size);
  const r = await timeRefine(model, setup, inputs, tk, 1);
  const peakRssMB = C.peakRssMB();
  if (engine === 'onnx') {
    process.stdout.write(JSON.stringify({ peakRssMB, baseRssMB: base, seconds: r.times[0], size, tk, engine }) + '\n');
    await model.dispose();
    return;
  }
  // where the memory is: the wasm heap (WebAssembly memory only grows) and tfjs's peak of live tensor bytes in a step
  const heap = e.tf.backend()?.wasm?.HEAPU8?.length;
  const prof = await e.tf.profile(async () => { await timeRefine(model, setup, inputs, 1, 1); return null; });
  process.stdout.write(JSON.stringify({
    peakRssMB, baseRssMB: base, maxRssKB: process.resourceUsage().maxRSS, seconds: r.times[0], size, tk,
    wasmHeapMB: heap ? heap / 2 ** 20 : null, tensorPeakMB: prof.peakBytes / 2 ** 20,
  }) + '\n');
  model.dispose();
}

/** Run a Node script (default: this one) in a child process; resolves with the JSON of its last stdout line. */
function runNodeChild(args, script = __filename) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`child ${args.join(' ')} exited with ${code}`));
      const lines = out.trim().split('\n');
      resolve(JSON.parse(lines[lines.length - 1]));
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// profile

/**
 * onnxruntime's profiler on the fused refine step (the graph OnnxUNet.predictSwapped runs) at `size`²: time per op
 * type, averaged over the warm-up and `runs` runs, for three settings of the two knobs this bench can still turn
 * (each its own session, run round robin in blocks of PROFILE_BLOCK): symbolic N×H×W and sleeping intra-op threads,
 * the shape fixed (onnxruntime can then fold the per-part Adds and ReLUs into its blocked convolutions), and fixed +
 * spinning threads (what OnnxUNet runs). The earlier rewrites (per-part convolutions instead of concats) are part of
 * the exporter and cannot be switched off from here; reports/bench-notes.md tells their history.
 */
async function profileOrtRefine(setup, size, runs) {
  const e = C.pkg('engine');
  const swap = { fraction: 0.5, atHm1: true, atH: true };
  const cin = setup.def.shapes.inputChannels;
  const rng = new (C.pkg('core').Rng)('ortprofile');
  const x = rng.fillNormal(new Float32Array(cin * size * size)), g = rng.fillNormal(new Float32Array(cin * size * size));
  const variants = [
    { label: 'symbolic shape, threads sleep', fixed: false, spin: false },
    { label: 'fixed shape, threads sleep', fixed: true, spin: false },
    { label: 'fixed shape, threads spin (OnnxUNet)', fixed: true, spin: true },
  ];
  // all three sessions up front, then round robin in blocks (the machine's speed drifts within minutes)
  const sessions = [];
  for (const v of variants) {
    const bytes = e.encodeOnnxModel(e.buildOnnxRefineModel(setup.def, setup.weights, swap, { name: 'bench', ...(v.fixed ? { fixedShape: { n: 1, h: size, w: size } } : {}) }));
    const prefix = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'diff2s-ortprof-')), 'refine');
    const s = await e.loadOrtSession(bytes, { intraOpNumThreads: ORT_THREADS, allowSpinning: v.spin, profileFilePrefix: prefix, name: 'refine.onnx' });
    const feeds = { x: { dims: [1, cin, size, size], data: x }, x_guide: { dims: [1, cin, size, size], data: g } };
    if (s.inputs.some((i) => i.name === 'noise')) feeds.noise = { dims: [1], data: new Float32Array([setup.def.family === 'frugal' ? 200 : 0.5]) };
    await s.run(feeds, ['output']); // warm-up
    sessions.push({ s, feeds, wall: [] });
  }
  const cycles = Math.max(1, Math.ceil(runs / PROFILE_BLOCK));
  for (let c = 0; c < cycles; c++) {
    for (const v of sessions) {
      await new Promise((r) => setTimeout(r, 50)); // let the previous block's spinning threads go idle
      for (let r = 0; r < PROFILE_BLOCK; r++) {
        const t0 = performance.now();
        await v.s.run(v.feeds, ['output']);
        v.wall.push(performance.now() - t0);
      }
    }
  }
  const total = cycles * PROFILE_BLOCK;
  const out = [];
  for (let k = 0; k < variants.length; k++) {
    const { s, wall } = sessions[k];
    const file = s.endProfiling();
    await s.release();
    const events = JSON.parse(fs.readFileSync(file, 'utf8'));
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
    const by = new Map();
    for (const ev of events) {
      if (ev.cat !== 'Node' || !String(ev.name).endsWith('_kernel_time')) continue;
      const op = ev.args?.op_name ?? '?';
      const cur = by.get(op) ?? { name: op, us: 0, count: 0 };
      cur.us += ev.dur;
      cur.count++;
      by.set(op, cur);
    }
    const sum = [...by.values()].reduce((a, r) => a + r.us, 0);
    const rows = [...by.values()].sort((a, b) => b.us - a.us).map((r) => ({ name: r.name, ms: r.us / 1000 / (total + 1), share: r.us / sum, calls: r.count / (total + 1) }));
    out.push({ ...variants[k], wallMs: C.median(wall), kernelMs: sum / 1000 / (total + 1), rows });
  }
  runs = total;
  return { size, runs, variants: out };
}

async function profileTrainStep(setup, batch) {
  const e = C.pkg('engine');
  const tf = e.tf;
  // phases of the in-process step as src/train runs it: weights into tfjs, loss + gradients, gradient copy + Adam
  const net = new e.TfjsNetwork(setup.def, setup.weights);
  const adam = new e.Adam(e.paramCount(setup.def));
  const flat = new Float32Array(e.paramCount(setup.def));
  const gflat = new Float32Array(flat.length);
  const phases = { setWeights: [], lossAndGrads: [], adam: [] };
  let info, wall;
  try {
    for (let r = 0; r < TRAIN_PROFILE_STEPS; r++) {
      let t0 = performance.now();
      net.setWeights(setup.weights);
      const t1 = performance.now();
      const g = net.lossAndGrads(batch);
      const t2 = performance.now();
      let off = 0;
      for (const p of setup.def.params) { const v = g.grads.get(p.name); gflat.set(v, off); off += v.length; }
      adam.step(flat, gflat, 1e-4);
      const t3 = performance.now();
      if (r > 0) { phases.setWeights.push(t1 - t0); phases.lossAndGrads.push(t2 - t1); phases.adam.push(t3 - t2); }
      t0 = t3;
    }
    const t0 = performance.now();
    info = await tf.profile(() => { net.lossAndGrads(batch); });
    wall = performance.now() - t0;
  } finally {
    net.dispose();
  }
  const by = new Map();
  for (const k of info.kernels) {
    const cur = by.get(k.name) ?? { name: k.name, ms: 0, count: 0 };
    cur.ms += k.kernelTimeMs;
    cur.count++;
    by.set(k.name, cur);
  }
  const rows = [...by.values()].sort((a, b) => b.ms - a.ms);
  const kernelMs = rows.reduce((a, r) => a + r.ms, 0);
  const top = [...info.kernels].sort((a, b) => b.kernelTimeMs - a.kernelTimeMs).slice(0, 6)
    .map((k) => ({ name: k.name, ms: k.kernelTimeMs, inputs: k.inputShapes }));
  const med = Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, C.median(v)]));
  med.n = phases.lossAndGrads.length;
  return { rows, kernelMs, wallMs: wall, kernels: info.kernels.length, top, phases: med };
}

// ---------------------------------------------------------------------------------------------------------------
// Report

const fmtS = (s) => (s === undefined || s === null || Number.isNaN(s) ? '—' : s >= 100 ? `${s.toFixed(0)} s` : s >= 10 ? `${s.toFixed(1)} s` : s >= 1 ? `${s.toFixed(2)} s` : `${(s * 1000).toFixed(0)} ms`);
const fmtMB = (m) => (m === undefined || m === null ? '—' : m >= 1024 ? `${(m / 1024).toFixed(2)} GB` : `${m.toFixed(0)} MB`);
const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}×` : '—');
const spread = (ts) => (ts && ts.length > 1 ? ` (${fmtS(Math.min(...ts))}–${fmtS(Math.max(...ts))}, n=${ts.length})` : ts && ts.length === 1 ? ' (n=1)' : '');

function machine() {
  const e = C.pkg('engine');
  let tfjs = 'unknown';
  try { tfjs = require(require.resolve('@tensorflow/tfjs-core/package.json', { paths: [path.join(C.ROOT, 'packages/engine')] })).version; } catch { /* */ }
  return {
    cpu: C.cpuModel(),
    flags: C.cpuFlags(),
    cores: os.cpus().length,
    memGB: os.totalmem() / 2 ** 30,
    node: process.version,
    tfjs,
    ort: C.onnxruntimeVersion(),
    kernel: `${os.type()} ${os.release()}`,
    engineVersion: e.engineVersion(),
    code: C.codeState(),
  };
}

function loadLine(l) {
  return l.map((x) => x.toFixed(2)).join(' / ');
}

/** "N thread(s)" of the tfjs backend the run initialised (describeBackend's count; wasm runs one). */
function tfjsThreads(R) {
  return R.backendInfo ? `${R.backendInfo.backend}${R.backendInfo.backend === 'wasm' ? `, ${plural(R.backendInfo.threads, 'thread')}` : ''}` : 'wasm';
}

/** The peer's thread count as torch reported it (torch.get_num_threads() after set_num_threads). */
function peerThreads(R) {
  const seen = [...R.peerThreads];
  if (!seen.length) return `${plural(PEER_THREADS, 'thread')} requested`;
  return seen.length === 1 ? plural(seen[0], 'thread') : `${seen.join('/')} threads`;
}

function writeReport(R) {
  const m = R.machine;
  const lines = [];
  lines.push('# diff2s benchmark: TypeScript engine vs the PyTorch peer', '');
  lines.push(`Generated by \`node bench/run.js${argv.length ? ` ${argv.join(' ')}` : ''}\` on ${R.date} (${R.minutes.toFixed(1)} min). Every figure below was measured in this run, except the settings (threads, sizes, repetitions, targets) that bench/run.js sets and what it reads from the model card; comparisons with earlier runs and the history of the engine's changes are in reports/bench-notes.md.`, '');
  if (R.underLoad) {
    lines.push(`> **Measured under load.** ${R.underLoad} These numbers are contaminated; re-run \`node bench/run.js\` on an idle machine.`, '');
  }
  const reduced = Object.keys(FULL_PLAN).filter((k) => PLAN[k] !== FULL_PLAN[k]);
  if (reduced.length) {
    lines.push(`> **Reduced run${QUICK ? ' (--quick)' : ''}**: ${reduced.map((k) => `${k} ${PLAN[k]} (full run: ${FULL_PLAN[k]})`).join(', ')} — indicative only.`, '');
  }
  const skipped = ALL_PHASES.split(',').filter((ph) => !ONLY.has(ph));
  if (skipped.length) lines.push(`> Phases not run: ${skipped.join(', ')}.`, '');
  lines.push('## Machine', '');
  lines.push(`- CPU: ${m.cpu} — ${m.cores} cores${m.flags.length ? ` (${m.flags.join(', ')})` : ''}, ${m.memGB.toFixed(0)} GB RAM, ${m.kernel}`);
  if (m.code) lines.push(`- Code: commit ${m.code.commit}${m.code.dirty.length ? `; ${plural(m.code.dirty.length, 'file')} under packages/ differed from it when the run started (${m.code.dirty.slice(0, 6).join(', ')}${m.code.dirty.length > 6 ? ', …' : ''}) — packages/*/dist is what ran` : '; packages/ clean'}`);
  lines.push(`- Node ${m.node}; @tensorflow/tfjs-core ${m.tfjs} on the wasm backend (${R.backend ?? 'wasm'}); onnxruntime-node ${m.ort ?? 'not installed'}; @diff2s/engine ${m.engineVersion}`);
  const pi = R.peer.info;
  lines.push(`- PyTorch peer: ${R.peer.ok ? `torch ${R.peer.torch} (Debian python3-torch, CPU${pi ? `; ${pi.mkldnn ? 'MKL-DNN convolutions' : 'no MKL-DNN'}, BLAS ${pi.blas}, ${pi.capability}, Python ${pi.python}` : ''}), \`torch.set_num_threads(${PEER_THREADS})\`${R.peerThreads.size ? `, torch reported ${peerThreads(R)}` : ''}` : `not run — ${R.peer.reason}`}`);
  lines.push(`- Load average (1/5/15 min): ${loadLine(R.loadStart)} at start, ${loadLine(R.loadEnd)} at the end; 1-min load at the start of each phase: ${LOADS.length ? `${Math.min(...LOADS.map((l) => l.load1)).toFixed(2)}–${Math.max(...LOADS.map((l) => l.load1)).toFixed(2)}` : '—'}`);
  const seen = [...new Set(LOADS.flatMap((l) => l.busy.map((b) => b.cmd.slice(0, 70))))];
  if (seen.length) lines.push(`- Other processes seen busy (≥ ${C.BUSY_CPU_PERCENT}% CPU) at the start of a phase: ${seen.map((c) => `\`${c}\``).join('; ')}`);
  if (R.busy.length) lines.push(`- Other busy processes at start: ${R.busy.map((p) => `pid ${p.pid} ${p.cpu}% \`${p.cmd.slice(0, 80)}\``).join('; ')}`);
  lines.push(`- Model: ${R.modelSource}, ${R.params} parameters; schedule ${JSON.stringify(R.schedule)}`);
  if (R.imageSource) lines.push(`- Images: ${R.imageSource}${R.hole !== undefined ? `; mask: free-form strokes, ${(100 * R.hole).toFixed(1)}% hole` : ''}${R.refineRan ? '; guide for (a): the `mean` fill' : ''}`);
  lines.push('');

  lines.push('## Results', '');
  lines.push(`Medians (min–max, n = repetitions). Ours: the engine and thread count named in the row. PyTorch: ${R.peer.ok ? peerThreads(R) : 'not run'}. Ratio = ours / PyTorch (lower is better for us).`, '');
  lines.push('| Benchmark | Ours | PyTorch peer | Ours / PyTorch |');
  lines.push('|---|---|---|---|');
  for (const row of R.rows) lines.push(`| ${row.label} | ${row.ours} | ${row.peer} | ${row.ratio} |`);
  lines.push('');
  if (R.refinePairs) lines.push(`(a) was run interleaved (peer repetition, then ours, ${R.refinePairs.length} times); the per-pair ratios ours / PyTorch were ${R.refinePairs.map((x) => x.toFixed(2)).join(', ')} (median ${C.median(R.refinePairs).toFixed(2)}).`, '');
  if (R.steal !== undefined) lines.push(`Hypervisor steal time during the run: ${(100 * R.steal).toFixed(1)}% of CPU time (from /proc/stat; on a virtual machine the cores can be shared with other guests, so absolute times drift).`, '');
  if (R.refineCheck) lines.push(`Known pixels after refinement: max |out − input| = ${R.refineCheck}${R.refineCheckTfjs !== undefined ? `, ${R.refineCheckTfjs} (ours, tfjs)` : ''} (invariant: 0).`, '');

  lines.push('## Notes', '');
  for (const n of R.notes) lines.push(`- ${n}`);
  lines.push('');
  if (R.peerCheck) {
    const pc = R.peerCheck;
    lines.push('### Peer numerics (bench/peer/check.js, run in this run)', '');
    lines.push(`The PyTorch peer vs tfjs (${tfjsThreads(R)}) on the same NetworkDef and the same seeded, perturbed weights, for each of check.js's cases. Relative error = max |peer − ours| / max |ours| per quantity; a row passes when every quantity is within the tolerance check.js applied to it.`, '');
    lines.push('| Case | Parameters | Worst relative error: forward, h₋₁, h, embeddings, refiner prediction, loss | Tolerance checked | Worst relative error: gradients (parameter) | Tolerance checked | Result |');
    lines.push('|---|---|---|---|---|---|---|');
    for (const c of pc) {
      if (c.error) { lines.push(`| ${c.name} | | not run: ${c.error} | | | | — |`); continue; }
      const grad = c.rows.filter((r) => r.quantity.startsWith('gradients'));
      const rest = c.rows.filter((r) => !r.quantity.startsWith('gradients'));
      const worst = (rs) => rs.reduce((a, r) => (Number.isNaN(r.relErr) || r.relErr > a.relErr ? r : a), { relErr: -1, quantity: '—' });
      const fmtE = (x) => (Number.isNaN(x) ? 'missing' : x.toExponential(2));
      const tols = (rs) => [...new Set(rs.map((r) => r.tol))].map((t) => t.toExponential(0)).join(', ');
      const wr = worst(rest), wg = worst(grad);
      const failed = c.rows.filter((r) => !r.ok).length;
      lines.push(`| ${c.name} | ${c.params} | ${fmtE(wr.relErr)} (${wr.quantity}) | ${tols(rest)} | ${fmtE(wg.relErr)} (${wg.quantity.replace(/^gradients, all \d+ parameters \(worst: (.*)\)$/, '$1')}) | ${tols(grad)} | ${failed ? `${failed} FAILED` : 'pass'} |`);
    }
    lines.push('');
  }
  if (R.profile) {
    const p = R.profile;
    lines.push(`### Profile of our training step (${R.family}, batch ${BATCH}, ${TRAIN_SIZE}×${TRAIN_SIZE}, tfjs ${tfjsThreads(R)}, tf.profile)`, '');
    lines.push(`${p.kernels} kernel invocations; summed kernel time ${fmtS(p.kernelMs / 1000)}; the profiled call took ${fmtS(p.wallMs / 1000)} wall (tf.profile reads every kernel's output back, which adds to the wall time).`, '');
    lines.push('| Kernel | Time | Share | Calls |');
    lines.push('|---|---|---|---|');
    for (const r of p.rows.slice(0, 12)) lines.push(`| ${r.name} | ${fmtS(r.ms / 1000)} | ${((100 * r.ms) / p.kernelMs).toFixed(1)}% | ${r.count} |`);
    const rest = p.rows.slice(12).reduce((a, r) => a + r.ms, 0);
    if (rest > 0) lines.push(`| (${p.rows.length - 12} other kernels) | ${fmtS(rest / 1000)} | ${((100 * rest) / p.kernelMs).toFixed(1)}% | |`);
    lines.push('');
    lines.push('Most expensive single invocations: ' + p.top.map((k) => `${k.name} ${JSON.stringify(k.inputs)} ${fmtS(k.ms / 1000)}`).join('; ') + '.', '');
    if (R.profileFindings) for (const f of R.profileFindings) lines.push(`- ${f}`);
    lines.push('');
  }
  if (R.ortProfile) {
    const p = R.ortProfile;
    const main = p.variants[p.variants.length - 1];
    lines.push(`### Profile of our refine step on onnxruntime (the fused graph, ${p.size}×${p.size}, ${plural(ORT_THREADS, 'thread')}, onnxruntime's profiler)`, '');
    lines.push(`${p.variants.length} sessions, run round robin in blocks of ${PROFILE_BLOCK} (${p.runs} runs each after a warm-up; profiling on; the kernel columns average over the runs and the warm-up):`, '');
    lines.push('| Graph / session | Median wall / run | Summed kernel time / run | Add + Relu kernels / run |');
    lines.push('|---|---|---|---|');
    for (const v of p.variants) {
      const ar = v.rows.filter((r) => r.name === 'Add' || r.name === 'Relu');
      lines.push(`| ${v.label} | ${fmtS(v.wallMs / 1000)} | ${fmtS(v.kernelMs / 1000)} | ${ar.reduce((a, r) => a + r.calls, 0).toFixed(0)} (${fmtS(ar.reduce((a, r) => a + r.ms, 0) / 1000)}) |`);
    }
    lines.push('', `Per op type, ${main.label}:`, '');
    lines.push('| Op | Time / run | Share | Calls / run |');
    lines.push('|---|---|---|---|');
    for (const r of main.rows.slice(0, 12)) lines.push(`| ${r.name} | ${fmtS(r.ms / 1000)} | ${(100 * r.share).toFixed(1)}% | ${r.calls.toFixed(0)} |`);
    lines.push('');
    lines.push('What these three sessions isolate (a fixed shape lets onnxruntime fold the Adds and ReLUs into its blocked convolutions; spinning threads skip a wake-up per operator) and how the exporter got here: reports/bench-notes.md.', '');
  }
  lines.push('## How to run', '');
  lines.push('```');
  lines.push('pnpm run build                      # the harness reads packages/*/dist');
  lines.push('node bench/run.js                   # full run, writes reports/bench.md (its duration is in the report\'s first line)');
  lines.push('node bench/run.js --quick           # fewer repetitions and a smaller T_k, indicative');
  lines.push('node bench/peer/check.js            # numerics: peer vs tfjs on the same NetworkDef and weights');
  lines.push('```');
  lines.push('The PyTorch peer needs `/usr/bin/python3` with torch (`apt-get install python3-torch`); without it the peer columns are empty.');
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, lines.join('\n') + '\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Main

async function main() {
  const started = Date.now();
  const loadStart = os.loadavg();
  const busy = C.busyProcesses();
  const e = C.pkg('engine');
  const core = C.pkg('core');
  const peer = flag('no-peer') ? { ok: false, reason: '--no-peer' } : C.peerAvailable();
  const dir = C.tmpDir();
  const R = {
    date: new Date().toISOString().replace('T', ' ').slice(0, 16) + ' UTC', machine: machine(), loadStart, busy, peer, rows: [], notes: [],
    peerThreads: PEER_THREADS_SEEN,
  };
  if (peer.ok) {
    try { peer.info = await C.runPeer(['info']); } catch (err) { peer.info = undefined; }
  }
  log(`plan: ${JSON.stringify(PLAN)}; peer: ${peer.ok ? `torch ${peer.torch}` : peer.reason}; load ${loadLine(loadStart)}`);
  if (busy.length) log(`busy processes: ${busy.map((p) => `${p.pid} ${p.cpu}% ${p.cmd.slice(0, 60)}`).join('; ')}`);
  try {
    const info = await e.initEngine({ backend: 'wasm' });
    R.backend = e.describeBackend(info);
    R.backendInfo = info;
    const tfjsLabel = `tfjs-${tfjsThreads(R)}`;
    const setup = await loadSetup(dir);
    fs.writeFileSync(path.join(dir, 'schedule.json'), JSON.stringify(setup.schedule));
    R.modelSource = setup.source;
    R.params = e.paramCount(setup.def);
    R.schedule = setup.schedule;
    R.family = setup.name;
    const model = await e.NativeUNet.create(setup.cfg, { weights: setup.weights });
    const tk = PLAN.tk;

    // (a) refine 256²
    if (ONLY.has('a') || ONLY.has('onnx') || ONLY.has('ortprofile')) {
      const inputs = await refineInputs(PLAN.size);
      R.imageSource = inputs.source;
      R.hole = inputs.mask.data.reduce((a, b) => a + b, 0) / inputs.mask.size;
      R.refineRan = ONLY.has('a') || ONLY.has('onnx');
      let peerRes;
      const peerRefine = async (reps) => {
        C.writeBundle(path.join(dir, 'images256.json'), { guide: inputs.guideImage, image: inputs.image, mask: inputs.mask });
        return peerBench([...peerArgs(setup, ['--task', 'refine', '--tk', String(tk), '--reps', String(reps), '--images', path.join(dir, 'images256.json'), ...scheduleArgs(setup.schedule)])]);
      };
      if (peer.ok && ONLY.has('a') && !ONLY.has('onnx')) {
        log(`(a) peer: refine ${PLAN.size}², T_k=${tk}, ${PLAN.refineReps} reps`);
        peerRes = await peerRefine(PLAN.refineReps);
      }
      if (ONLY.has('onnx')) {
        if (typeof e.OnnxUNet === 'function') {
          try {
            log(`(a) ours (OnnxUNet, onnxruntime, ${ORT_THREADS} threads) and the peer, interleaved rep by rep, ${PLAN.refineReps} reps each`);
            const om2 = await e.OnnxUNet.create(setup.cfg, { weights: setup.weights, intraOpNumThreads: ORT_THREADS });
            try {
              // one warm-up step creates the fused session outside the timings
              await timeRefine(om2, setup, inputs, 1, 1);
              // interleaved: this machine's speed drifts (hypervisor steal time), so each of our repetitions runs
              // right after one of the peer's and both sides see the same conditions
              const r2 = { times: [], knownMaxDiff: 0 };
              const peerTimes = [];
              for (let r = 0; r < PLAN.refineReps; r++) {
                if (peer.ok) {
                  const one = await peerRefine(1);
                  peerTimes.push(...one.seconds);
                  peerRes = { ...one, seconds: peerTimes, median: C.median(peerTimes) };
                }
                const mine = await timeRefine(om2, setup, inputs, tk, 1);
                r2.times.push(...mine.times);
                r2.knownMaxDiff = Math.max(r2.knownMaxDiff, mine.knownMaxDiff);
              }
              if (peerRes) R.refinePairs = r2.times.map((t, i) => t / peerTimes[i]);
              const m2 = C.median(r2.times), pm = peerRes?.median;
              R.refineCheck = `${r2.knownMaxDiff} (ours), ${peerRes ? peerRes.knownMaxDiff : '—'} (peer)`;
              R.rows.push({
                label: `(a) refine ${PLAN.size}×${PLAN.size}, ${R.family}, T_k = ${tk} (ddpm, 2 encoder+middle passes + swap per step) — OnnxUNet (the default engine), onnxruntime-node ${R.machine.ort ?? ''} ${plural(ORT_THREADS, 'thread')}, one fused graph per step`,
                ours: `${fmtS(m2)}${spread(r2.times)}; ${fmtS(m2 / tk)}/step`,
                peer: peerRes ? `${fmtS(pm)}${spread(peerRes.seconds)}; ${fmtS(pm / tk)}/step` : '—',
                ratio: ratio(m2, pm),
              });
              R.refineOurs = m2; R.refinePeer = pm;
            } finally {
              await om2.dispose?.();
            }
          } catch (err) {
            R.notes.push(`OnnxUNet row not measured: ${err.message.split('\n')[0]}`);
          }
        } else {
          R.notes.push('OnnxUNet row not measured: @diff2s/engine (dist) does not export OnnxUNet yet.');
        }
      }
      if (ONLY.has('a')) {
        log(`(a) ours: refine ${PLAN.size}² with NativeUNet (tfjs-wasm), T_k=${tk}, ${PLAN.tfjsRefineReps} rep(s)`);
        const ours = await timeRefine(model, setup, inputs, tk, PLAN.tfjsRefineReps);
        R.refineCheckTfjs = ours.knownMaxDiff;
        const om = C.median(ours.times), pm = peerRes?.median;
        R.rows.push({
          label: `(a, tfjs) the same with NativeUNet, ${tfjsLabel} (the engine without onnxruntime; three parts per step)`,
          ours: `${fmtS(om)}${spread(ours.times)}; ${fmtS(om / tk)}/step`,
          peer: peerRes ? `${fmtS(pm)} (as above)` : '—',
          ratio: ratio(om, pm),
        });
      }
      if (ONLY.has('ortprofile') && typeof e.buildOnnxRefineModel === 'function') {
        log('ortprofile: onnxruntime profiler on the fused refine step');
        try {
          R.ortProfile = await profileOrtRefine(setup, PLAN.size, PLAN.ortProfileRuns);
        } catch (err) {
          R.notes.push(`onnxruntime profile not taken: ${err.message.split('\n')[0]}`);
        }
      }
    }

    // fwd + (b)
    if (ONLY.has('fwd') || ONLY.has('b') || ONLY.has('profile')) {
      const batch = C.randomBatch(core, (xt, cond) => model.buildInput(xt, cond), BATCH, TRAIN_SIZE);
      if (ONLY.has('fwd')) {
        log(`forward: ours, batch ${BATCH}, ${TRAIN_SIZE}², ${PLAN.fwdReps} reps`);
        const ours = await timeIt(() => model.forwardInput(batch.input, batch.noise), PLAN.fwdReps);
        let p;
        if (peer.ok) {
          log('forward: peer');
          p = await peerBench([...peerArgs(setup, ['--task', 'forward', '--batch', String(BATCH), '--size', String(TRAIN_SIZE), '--reps', String(PLAN.fwdReps)])]);
        }
        R.rows.push({ label: `forward, ${R.family}, batch ${BATCH}, ${TRAIN_SIZE}×${TRAIN_SIZE} — ${tfjsLabel}`, ours: `${fmtS(C.median(ours))}${spread(ours)}`, peer: p ? `${fmtS(p.median)}${spread(p.seconds)}` : '—', ratio: ratio(C.median(ours), p?.median) });
      }
      if (ONLY.has('b')) {
        let p;
        if (peer.ok) {
          log(`(b) peer: training step, ${PLAN.trainReps} reps`);
          p = await peerBench([...peerArgs(setup, ['--task', 'train', '--batch', String(BATCH), '--size', String(TRAIN_SIZE), '--reps', String(PLAN.trainReps)])]);
        }
        log(`(b) ours: training step in process (${tfjsLabel}), ${PLAN.trainReps} reps`);
        const local = new e.TfjsNetwork(setup.def, setup.weights);
        const step1 = trainStepper(setup, async (views, b) => { local.setWeights(views); return local.lossAndGrads(b); });
        const t1 = await timeIt(() => step1(batch), PLAN.trainReps);
        local.dispose();
        log(`(b) ours: training step, ${WORKERS} workers, ${PLAN.trainReps} reps`);
        const pg = await e.ParallelGradient.create(setup.def, { workers: WORKERS, backend: 'wasm' });
        let t2;
        try {
          const step2 = trainStepper(setup, (views, b) => pg.lossAndGrads(views, b));
          t2 = await timeIt(() => step2(batch), PLAN.trainReps);
        } finally {
          await pg.dispose();
        }
        // the onnxruntime training engine (train: { engine: onnx }), in its own process (bench/ort-train.js's child)
        let ot;
        try {
          log(`(b) ours: training step on onnxruntime (train.engine: onnx), ${ORT_THREADS} threads, ${PLAN.trainReps} reps`);
          const odir = fs.mkdtempSync(path.join(os.tmpdir(), 'diff2s-ortrain-'));
          fs.writeFileSync(path.join(odir, 'config.json'), JSON.stringify(setup.cfg));
          ot = await runNodeChild(['--child', 'nchwc', '--dir', odir, '--reps', String(PLAN.trainReps), '--batch', String(BATCH), '--size', String(TRAIN_SIZE), '--threads', String(ORT_THREADS)], path.join(__dirname, 'ort-train.js'));
          fs.rmSync(odir, { recursive: true, force: true });
        } catch (err) {
          R.notes.push(`(b) onnxruntime training row not measured: ${err.message.split('\n')[0]}`);
        }
        const pm = p?.median;
        if (ot) R.rows.push({ label: `(b) training step on the onnxruntime training engine (\`train: { engine: onnx }\`: the generated forward + backward + Adam graph, ${ot.engine ?? 'onnxruntime'}), ${plural(ORT_THREADS, 'thread')}, own process`, ours: `${fmtS(ot.median)}${spread(ot.seconds)}`, peer: p ? `${fmtS(pm)} (as below)` : '—', ratio: ratio(ot.median, pm) });
        R.rows.push({ label: `(b) training step (loss + gradient + Adam), ${R.family}, batch ${BATCH}, ${TRAIN_SIZE}×${TRAIN_SIZE} — in process, ${tfjsLabel}`, ours: `${fmtS(C.median(t1))}${spread(t1)}`, peer: p ? `${fmtS(pm)}${spread(p.seconds)}` : '—', ratio: ratio(C.median(t1), pm) });
        R.rows.push({ label: `(b) the same — ParallelGradient, ${WORKERS} worker threads (tfjs-wasm each)`, ours: `${fmtS(C.median(t2))}${spread(t2)}`, peer: p ? `${fmtS(pm)} (as above)` : '—', ratio: ratio(C.median(t2), pm) });
        R.train1 = C.median(t1);
        // makeBatch is outside the timed step on both sides; its cost, for reference
        const brick = path.join(C.ROOT, 'examples/data/brick-512.png');
        if (fs.existsSync(brick)) {
          const data = await e.TrainingData.load({ images: brick, crop: TRAIN_SIZE, flips: true, masks: { type: 'freeform' } }, C.ROOT, 3);
          const { type, ...sRest } = setup.schedule;
          const schedule = core.createContainer().schedules.create(type, sRest, undefined, 'schedule');
          const rng = new core.Rng(5);
          const mb = await timeIt(() => e.makeBatch(data, setup.cfg, schedule, 'diffusion', BATCH, 'hole', rng), 3);
          R.notes.push(`(b) excludes batch creation on both sides; our makeBatch (crops, free-form masks, noising, input layout) took ${fmtS(C.median(mb))} per batch of ${BATCH} (median of ${mb.length}).`);
        }
      }
      if (ONLY.has('profile')) {
        log(`profile: tf.profile of one training step (${tfjsLabel})`);
        R.profile = await profileTrainStep(setup, batch);
        R.profileFindings = profileFindings(R.profile);
      }
    }

    // (c) patch guide
    if (ONLY.has('c')) {
      log(`(c) patch guide ${PATCH_SIZE}², ${PLAN.patchReps} reps`);
      const p = await timePatch(PLAN.patchReps);
      const m = C.median(p.times);
      R.rows.push({ label: `(c) patch guide, ${PATCH_SIZE}×${PATCH_SIZE}, ${(100 * p.hole).toFixed(1)}% free-form hole (target ≤ ${fmtS(PATCH_TARGET_S)})`, ours: `${fmtS(m)}${spread(p.times)} ${m <= PATCH_TARGET_S ? '✓' : '✗ over target'}`, peer: 'n/a', ratio: '—' });
      R.imageSource ??= p.source;
      R.hole ??= p.hole;
    }

    // (d) peak RSS at 512²
    if (ONLY.has('d')) {
      log(`(d) ours: peak RSS of refine ${PLAN.rssSize}², T_k=${PLAN.rssTk}, in a child process (onnxruntime, then tfjs)`);
      let oursOnnx;
      try {
        oursOnnx = await runNodeChild(['--child', 'rss', '--engine', 'onnx', '--size', String(PLAN.rssSize), '--tk', String(PLAN.rssTk), '--dir', dir]);
      } catch (err) {
        R.notes.push(`(d) onnxruntime row not measured: ${err.message.split('\n')[0]}`);
      }
      const ours = await runNodeChild(['--child', 'rss', '--size', String(PLAN.rssSize), '--tk', String(PLAN.rssTk), '--dir', dir]);
      let p;
      if (peer.ok) {
        log(`(d) peer: peak RSS of refine ${PLAN.rssSize}²`);
        p = await peerBench([...peerArgs(setup, ['--task', 'refine', '--size', String(PLAN.rssSize), '--tk', String(PLAN.rssTk), '--reps', '1', ...scheduleArgs(setup.schedule)])]);
      }
      if (oursOnnx) {
        R.rows.push({
          label: `(d) peak RSS, refine ${PLAN.rssSize}×${PLAN.rssSize} (T_k = ${PLAN.rssTk}), own process (VmHWM), OnnxUNet (default engine) — target ≤ ${fmtMB(RSS_TARGET_MB)}`,
          ours: `${fmtMB(oursOnnx.peakRssMB)} ${oursOnnx.peakRssMB <= RSS_TARGET_MB ? '✓' : '✗ over target'}`,
          peer: p ? fmtMB(p.peakRssMB) : '—',
          ratio: ratio(oursOnnx.peakRssMB, p?.peakRssMB),
        });
      }
      R.rows.push({
        label: `(d, tfjs) the same with NativeUNet on tfjs-wasm`,
        ours: `${fmtMB(ours.peakRssMB)} ${ours.peakRssMB <= RSS_TARGET_MB ? '✓' : '✗ over target'}`,
        peer: p ? fmtMB(p.peakRssMB) : '—',
        ratio: ratio(ours.peakRssMB, p?.peakRssMB),
      });
      R.notes.push(`(d) our ${fmtMB(ours.peakRssMB)}: the process starts at ${fmtMB(ours.baseRssMB)} (Node + the packages), the tfjs-wasm heap (WebAssembly memory, which never shrinks) has grown to ${ours.wasmHeapMB ? fmtMB(ours.wasmHeapMB) : '?'}, and tfjs's peak of live tensor bytes during one refinement step is ${fmtMB(ours.tensorPeakMB)} (the intermediates of a section are kept until the section ends). ${PLAN.rssSize}² speed in these runs: ours ${oursOnnx ? `${fmtS(oursOnnx.seconds / PLAN.rssTk)}/step (onnxruntime), ` : ''}${fmtS(ours.seconds / PLAN.rssTk)}/step (tfjs)${p ? `, PyTorch ${fmtS(p.median / PLAN.rssTk)}/step` : ''}.`);
    }
    model.dispose();

    // check: the peer numerics (bench/peer/check.js's cases), after the timings so they see no extra work
    if (ONLY.has('check') && peer.ok) {
      log('check: peer vs tfjs numerics (bench/peer/check.js cases)');
      const { checkNetwork, CASES } = require('./peer/check.js');
      const pk = { e, core, refiner: C.pkg('refiner') };
      R.peerCheck = [];
      for (const c of CASES) {
        const cdir = C.tmpDir('diff2s-peer-check-');
        try {
          const { params, rows } = await checkNetwork(c.spec, { n: c.n, size: c.size, dir: cdir, gradTol: c.gradTol }, pk);
          R.peerCheck.push({ name: c.name, params, rows });
        } catch (err) {
          R.peerCheck.push({ name: c.name, error: err.message.split('\n')[0] });
        } finally {
          fs.rmSync(cdir, { recursive: true, force: true });
        }
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  R.notes.push(`The peer is not a second UNet: bench/peer/diff2s_peer.py walks the NetworkDef the engine's defineUNet produced, on the same weights.${R.peerCheck ? ' How closely the two agree, measured in this run: "Peer numerics" below.' : ''}`);
  R.notes.push(`Threads: tfjs ${tfjsThreads(R)}, in process${ONLY.has('b') ? ` (the ${WORKERS}-worker row of (b) is the data-parallel path)` : ''}; onnxruntime with ${plural(ORT_THREADS, 'intra-op thread')}, PyTorch with ${R.peer.ok ? peerThreads(R) : 'nothing (not run)'}; this machine has ${R.machine.cores} cores.`);
  R.loadEnd = os.loadavg();
  R.minutes = (Date.now() - started) / 60000;
  const busyDuring = LOADS.filter((l) => l.busy.length).length;
  const loaded = R.loadStart[0] > 0.7 || R.busy.length > 0 || busyDuring > 0;
  if (loaded) {
    R.underLoad = `Load average ${R.loadStart[0].toFixed(2)} on ${R.machine.cores} cores at start` + (R.busy.length ? `; busy: ${R.busy.map((p) => `\`${p.cmd.slice(0, 70)}\` (${p.cpu}% CPU)`).join(', ')}` : '') +
      (busyDuring ? `; other processes were busy at the start of ${busyDuring} of ${LOADS.length} phases` : '') + '.';
  }
  R.steal = stealShare(stealStart, readCpuStat());
  writeReport(R);
  log(`wrote ${path.relative(process.cwd(), OUT)} in ${R.minutes.toFixed(1)} min`);
  for (const r of R.rows) console.log(`${r.label}\n    ours ${r.ours} | peer ${r.peer} | ${r.ratio}`);
}

function profileFindings(p) {
  const out = [];
  const get = (n) => p.rows.find((r) => r.name === n);
  const share = (names) => p.rows.filter((r) => names.includes(r.name)).reduce((a, r) => a + r.ms, 0) / p.kernelMs;
  const conv = share(['Conv2D', 'FusedConv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput']);
  const ph = p.phases;
  const stepMs = ph.setWeights + ph.lossAndGrads + ph.adam;
  const lgShare = ph.lossAndGrads / stepMs;
  out.push(`Phases of the in-process step (median of ${ph.n}): loss + gradients ${fmtS(ph.lossAndGrads / 1000)} (${(100 * lgShare).toFixed(0)}%), weights into tfjs ${fmtS(ph.setWeights / 1000)}, gradient copy + Adam ${fmtS(ph.adam / 1000)}${lgShare > 0.95 ? ' — the JavaScript around the kernels is negligible; the step is kernel-bound' : ''}.`);
  out.push(`Convolutions take ${(100 * conv).toFixed(0)}% of the kernel time: forward Conv2D ${fmtS((get('Conv2D')?.ms ?? 0) / 1000)}, Conv2DBackpropFilter ${fmtS((get('Conv2DBackpropFilter')?.ms ?? 0) / 1000)}, Conv2DBackpropInput ${fmtS((get('Conv2DBackpropInput')?.ms ?? 0) / 1000)}.`);
  const bpf = get('Conv2DBackpropFilter'), fwd = get('Conv2D'), bpi = get('Conv2DBackpropInput');
  if (bpf && fwd) {
    out.push(`${p.rows[0] === bpf ? 'The filter gradient is the single biggest cost: ' : ''}diff2s's composed Conv2DBackpropFilter (a Conv2D over the batch axis on transposed x and dy, plus those transposes) runs at ${(bpf.ms / fwd.ms).toFixed(1)}× the forward convolutions' time for the same FLOPs; the input gradient (flipped-filter Conv2D) at ${bpi ? (bpi.ms / fwd.ms).toFixed(1) : '?'}×.${p.rows[0] === bpf ? ' A faster weight-gradient kernel (e.g. an im2col + one GEMM per layer) is where a training speed-up would come from.' : ''}`);
  }
  const others = p.rows.filter((r) => !['Conv2D', 'FusedConv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput'].includes(r.name)).slice(0, 4);
  out.push(`Next after the convolutions: ${others.map((r) => `${r.name} ${fmtS(r.ms / 1000)} (${r.count} calls)`).join(', ')}. SplitV is the gradient of the skip-connection concats and Sum mostly the bias gradients (sums over N·H·W).`);
  return out;
}

if (flag('child')) {
  if (opt('child') !== 'rss') { console.error('unknown child'); process.exit(2); }
  rssChild().catch((err) => { console.error(err); process.exit(1); });
} else {
  main().catch((err) => { console.error(err); process.exit(1); });
}
