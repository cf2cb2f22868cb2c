#!/usr/bin/env node
/**
 * Training step on onnxruntime (packages/engine/src/ortrain) vs the PyTorch peer (bench/peer/diff2s_peer.py), side
 * by side: the frugal UNet (models/frugal-brick's config when present, else the frugal preset), batch 16, 64×64,
 * forward + masked loss + backward + Adam, 2 threads on both sides.
 *
 *   node bench/ort-train.js [--reps 7] [--rounds 1] [--batch 16] [--size 64] [--threads 2] [--model DIR] [--out FILE]
 *                           [--no-peer] [--only standard,nchwc,tfjs]
 *
 * Every variant runs in its own child process (one at a time, never beside the peer), which reports its median step
 * time after one warm-up and its peak RSS (VmHWM; the process as a whole: Node, onnxruntime, the graph, the batch).
 * Variants: `nchwc` (onnxruntime's internal NCHWc convs, when this CPU supports them), `standard` (standard ONNX ops
 * only), `tfjs` (the tfjs engine in process, 1 thread, for reference). `--rounds N` runs every variant and the peer N
 * times, interleaved, and reports the median of the rounds' medians (each round's median is listed): robust to load
 * that comes and goes on a shared machine. Writes a markdown report (default
 * reports/ort-train.md) and prints it. Needs the built packages (pnpm run build); the peer needs /usr/bin/python3
 * with torch. Other processes using the CPU (sampled at the start and at the end) and the load average are in the
 * report: timings taken beside them are contaminated. Every figure in the report is measured by the run that writes
 * it, or is one of its settings (reps, rounds, batch, size, threads).
 *
 * Internal: `node bench/ort-train.js --child VARIANT --dir D --reps N --batch B --size S --threads T`.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const C = require('./lib/common');

const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined && !argv[i + 1].startsWith('--') ? argv[i + 1] : def;
};
const flag = (name) => argv.includes(`--${name}`);
const REPS = +opt('reps', 7), ROUNDS = +opt('rounds', 1), BATCH = +opt('batch', 16), SIZE = +opt('size', 64), THREADS = +opt('threads', 2);

function log(msg) {
  process.stderr.write(`[ort-train ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

async function child(variant, dir) {
  const e = C.pkg('engine');
  const core = C.pkg('core');
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  const def = e.defineUNet(cfg);
  const wm = e.initWeights(def, new core.Rng(0));
  const total = def.params.reduce((s, p) => s + e.shapeSize(p.shape), 0);
  const flat = new Float32Array(total);
  let off = 0;
  for (const p of def.params) { flat.set(wm.get(p.name), off); off += e.shapeSize(p.shape); }
  const ucfg = e.resolveUNetConfig(cfg);
  const batch = C.randomBatch(core, (xt, cond) => e.buildUNetInput(ucfg, xt, cond), BATCH, SIZE);
  const times = [];
  const res = { variant, params: total };
  if (variant === 'tfjs') {
    res.engine = `tfjs ${e.describeBackend(await e.initEngine({ backend: 'auto' }))}`;
    const net = new e.TfjsNetwork(def, wm);
    const adam = new e.Adam(total);
    const grad = new Float32Array(total);
    const step = () => {
      const r = net.lossAndGrads(batch);
      let o = 0;
      for (const p of def.params) { grad.set(r.grads.get(p.name), o); o += e.shapeSize(p.shape); }
      adam.step(flat, grad, 1e-4);
      net.setWeights(new Map(def.params.map((p, i) => [p.name, flat.subarray(offsets[i], offsets[i] + e.shapeSize(p.shape))])));
      return r.loss;
    };
    const offsets = [];
    let o = 0;
    for (const p of def.params) { offsets.push(o); o += e.shapeSize(p.shape); }
    step();
    for (let i = 0; i < REPS; i++) { const t0 = performance.now(); step(); times.push((performance.now() - t0) / 1000); }
  } else {
    const tr = await e.OrtTrainer.create(def, { fastConv: variant === 'nchwc' ? 'nchwc' : 'standard', threads: THREADS });
    res.engine = tr.describe();
    let state = { params: flat, m: new Float32Array(total), v: new Float32Array(total), t: 0 };
    const t0c = performance.now();
    const step = async () => {
      const r = await tr.step(state, batch, 1e-4);
      state = { params: r.params, m: r.m, v: r.v, t: state.t + 1 };
      return r.loss;
    };
    res.firstLoss = await step(); // warm-up (includes building the graph and creating the session)
    res.firstStepS = (performance.now() - t0c) / 1000;
    for (let i = 0; i < REPS; i++) { const t0 = performance.now(); await step(); times.push((performance.now() - t0) / 1000); }
    res.graph = await tr.graphStats('adam', BATCH, SIZE, SIZE);
    await tr.dispose();
  }
  res.seconds = times;
  res.median = C.median(times);
  res.peakRssMB = C.peakRssMB();
  process.stdout.write(JSON.stringify(res) + '\n');
}

function runChild(variant, dir) {
  return new Promise((resolve, reject) => {
    const args = [__filename, '--child', variant, '--dir', dir, '--reps', String(REPS), '--batch', String(BATCH), '--size', String(SIZE), '--threads', String(THREADS)];
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DIFF2S_WASM_THREADS: '1' } });
    let out = '', err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${variant} child failed (exit ${code}): ${err.trim().split('\n').slice(-6).join('\n')}`));
      const lines = out.trim().split('\n');
      resolve(JSON.parse(lines[lines.length - 1]));
    });
  });
}

async function main() {
  const childVariant = opt('child');
  if (childVariant) return child(childVariant, opt('dir'));
  const started = Date.now();
  const loadStart = require('os').loadavg();
  const e = C.pkg('engine');
  const dir = C.tmpDir('diff2s-ort-train-');
  const modelDir = opt('model', fs.existsSync(path.join(C.ROOT, 'models/frugal-brick/model.json')) ? path.join(C.ROOT, 'models/frugal-brick') : '');
  const cfg = modelDir ? JSON.parse(fs.readFileSync(path.join(modelDir, 'model.json'), 'utf8')).config : e.resolveUNetConfig('frugal');
  const def = e.defineUNet(cfg);
  fs.writeFileSync(path.join(dir, 'def.json'), JSON.stringify(def));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
  const core = C.pkg('core');
  const weightsPath = C.writeWeights(dir, def, e.initWeights(def, new core.Rng(0)));
  const busyBefore = C.busyProcesses();
  const only = new Set(opt('only', 'nchwc,standard,tfjs').split(','));
  const results = {};
  const pa = C.peerAvailable();
  const withPeer = !flag('no-peer') && pa.ok;
  const rounds = { peer: [] };
  let peer;
  for (let round = 1; round <= ROUNDS; round++) {
    for (const v of ['nchwc', 'standard', 'tfjs']) {
      if (!only.has(v) || results[v]?.error) continue;
      log(`round ${round}/${ROUNDS}: ours, ${v}, ${REPS} reps`);
      try {
        const r = await runChild(v, dir);
        (rounds[v] ??= []).push(r.median);
        if (!results[v] || r.peakRssMB > results[v].peakRssMB) results[v] = r;
      } catch (err) {
        results[v] = { error: err.message };
      }
    }
    if (withPeer) {
      log(`round ${round}/${ROUNDS}: peer, PyTorch ${pa.torch}, ${REPS} reps`);
      const p = await C.runPeer(['bench', '--def', path.join(dir, 'def.json'), '--weights', weightsPath, '--config', path.join(dir, 'config.json'),
        '--threads', String(THREADS), '--task', 'train', '--batch', String(BATCH), '--size', String(SIZE), '--reps', String(REPS)]);
      rounds.peer.push(p.median);
      if (!peer || p.peakRssMB > peer.peakRssMB) peer = p;
    }
  }
  for (const [v, r] of Object.entries(results)) if (!r.error) r.median = C.median(rounds[v]);
  if (peer) peer.median = C.median(rounds.peer);
  const busyAfter = C.busyProcesses();
  const loadEnd = require('os').loadavg();
  const minutes = (Date.now() - started) / 60000;
  const fmt = (s) => (s === undefined || Number.isNaN(s) ? '—' : `${(s * 1000).toFixed(0)} ms`);
  const code = C.codeState();
  const tfjsEngine = results.tfjs && !results.tfjs.error ? results.tfjs.engine : undefined;
  const lines = [
    `# Training step on onnxruntime vs PyTorch`, '',
    `Generated by \`node bench/ort-train.js${argv.length ? ` ${argv.join(' ')}` : ''}\` on ${new Date().toISOString().replace('T', ' ').slice(0, 16)} UTC (${minutes.toFixed(1)} min). Every figure below was measured in this run, except its settings (repetitions, rounds, batch, size, threads).`, '',
    `${C.cpuModel()} (${C.cpuFlags().join(', ')}), ${require('os').cpus().length} cores · onnxruntime-node ${C.onnxruntimeVersion()} · torch ${peer?.torch ?? '—'}${code ? ` · commit ${code.commit}${code.dirty.length ? ` (${code.dirty.length} files under packages/ differed from it; packages/*/dist is what ran)` : ''}` : ''}`, '',
    `UNet (${modelDir ? path.relative(C.ROOT, modelDir) + ' config' : 'frugal preset'}, seeded weights, ${e.paramCount(def)} parameters), batch ${BATCH}, ${SIZE}×${SIZE}: forward + masked loss + backward + Adam. onnxruntime: ${THREADS} intra-op threads${tfjsEngine ? `; ${tfjsEngine}, in process` : ''}; PyTorch: ${peer ? `${peer.threads} threads` : 'not run'}. Median of ${REPS} after one warm-up${ROUNDS > 1 ? `, median over ${ROUNDS} interleaved rounds (per-round medians in the last column)` : ''}; peak RSS: the largest over the rounds.`, '',
    '| engine | step | vs PyTorch | peak RSS | vs PyTorch | note | rounds |', '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  const pm = peer?.median, pr = peer?.peakRssMB;
  for (const [v, r] of Object.entries(results)) {
    if (r.error) { lines.push(`| ${v} | failed | | | | ${r.error.split('\n')[0]} | |`); continue; }
    const note = r.graph ? `${r.engine}; ${r.graph.nodes} nodes, ${r.graph.nchwcConvs} NCHWc + ${r.graph.standardConvs} standard convs; first step (graph + session) ${r.firstStepS.toFixed(2)} s` : `${r.engine ?? 'tfjs engine'}, in process`;
    lines.push(`| ${v} | ${fmt(r.median)} | ${pm ? (r.median / pm).toFixed(2) + '×' : '—'} | ${r.peakRssMB.toFixed(0)} MB | ${pr ? (r.peakRssMB / pr).toFixed(2) + '×' : '—'} | ${note} | ${rounds[v].map(fmt).join(', ')} |`);
  }
  lines.push(`| PyTorch peer | ${fmt(pm)} | 1.00× | ${pr ? pr.toFixed(0) + ' MB' : '—'} | 1.00× | ${peer ? `torch ${peer.torch}, ${peer.threads} threads` : pa.ok ? 'skipped' : pa.reason} | ${rounds.peer.map(fmt).join(', ')} |`, '');
  const busy = [...busyBefore, ...busyAfter].filter((p, i, a) => a.findIndex((q) => q.pid === p.pid) === i);
  const loadLine = (l) => l.map((x) => x.toFixed(2)).join(' / ');
  lines.push(`Load average (1/5/15 min): ${loadLine(loadStart)} at the start, ${loadLine(loadEnd)} at the end.`, '');
  lines.push(busy.length
    ? `**Timings contaminated:** other processes used the CPU (≥ ${C.BUSY_CPU_PERCENT}% in ps, sampled at the start and at the end): ${busy.map((p) => `pid ${p.pid} ${p.cpu}% \`${p.cmd.slice(0, 80)}\``).join('; ')}.`
    : `No other process used ≥ ${C.BUSY_CPU_PERCENT}% CPU (ps) at the start or at the end of the run.`, '');
  const text = lines.join('\n');
  const out = path.resolve(C.ROOT, opt('out', 'reports/ort-train.md'));
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, text);
  process.stdout.write(text + '\n');
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((err) => { console.error(err); process.exit(1); });
