/**
 * Shared pieces of the benchmark harness and the peer checks: tensor bundles (the diff2s weights manifest format, read
 * by bench/peer/diff2s_peer.py), the PyTorch peer as a child process, statistics, the machine description, the
 * benchmark image and free-form mask. Plain Node; reads the built packages (packages/<name>/dist).
 */
'use strict';
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.resolve(__dirname, '../..');
const PEER = path.join(ROOT, 'bench/peer/diff2s_peer.py');
const PYTHON = process.env.DIFF2S_PEER_PYTHON || '/usr/bin/python3';

function pkg(name) {
  const dist = path.join(ROOT, 'packages', name, 'dist');
  if (!fs.existsSync(path.join(dist, 'index.js'))) {
    throw new Error(`packages/${name}/dist is missing: build first (pnpm run build)`);
  }
  return require(dist);
}

// ---------------------------------------------------------------------------------------------------------------
// Tensor bundles: { format: 'diff2s.weights', file, entries: [{ name, shape, offset, length }] } + float32 LE file

/** Write named tensors ({ shape, data: Float32Array } or a core Tensor4) to `<dir>/<stem>.json` + `<stem>.bin`. */
function writeBundle(manifestPath, tensors) {
  const entries = [];
  const chunks = [];
  let off = 0;
  for (const [name, t] of tensors instanceof Map ? tensors : Object.entries(tensors)) {
    const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data ?? t);
    const shape = t.shape ? [...t.shape] : [data.length];
    entries.push({ name, shape, offset: off, length: data.length });
    chunks.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    off += data.byteLength;
  }
  const stem = path.basename(manifestPath, '.json');
  const file = `${stem}.bin`;
  fs.writeFileSync(path.join(path.dirname(manifestPath), file), Buffer.concat(chunks));
  fs.writeFileSync(manifestPath, JSON.stringify({ format: 'diff2s.weights', version: 1, dtype: 'float32', byteOrder: 'little', file, totalBytes: off, entries }));
  return manifestPath;
}

/** Read a bundle: Map name → { shape, data }. */
function readBundle(manifestPath) {
  const m = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  const bytes = fs.readFileSync(path.join(path.dirname(manifestPath), m.file));
  const out = new Map();
  for (const e of m.entries) {
    const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset + e.offset, bytes.byteOffset + e.offset + 4 * e.length));
    out.set(e.name, { shape: e.shape, data });
  }
  return out;
}

/** Write a network's weights (definition order, the model-folder format) with engine's encodeWeights. */
function writeWeights(dir, def, weights) {
  const e = pkg('engine');
  const { manifest, bytes } = e.encodeWeights(def, weights);
  fs.writeFileSync(path.join(dir, manifest.file), bytes);
  const p = path.join(dir, 'weights.json');
  fs.writeFileSync(p, JSON.stringify(manifest));
  return p;
}

// ---------------------------------------------------------------------------------------------------------------
// The peer

/** torch version of the peer's python, or null (with the reason) when python3-torch is absent. */
function peerAvailable() {
  if (!fs.existsSync(PYTHON)) return { ok: false, reason: `${PYTHON} does not exist` };
  const r = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (r.status !== 0) return { ok: false, reason: `${PYTHON} has no torch (python3-torch is not installed)` };
  return { ok: true, torch: r.stdout.trim() };
}

/**
 * Run the peer as a child process; resolves with the last JSON line of its stdout. Rejects with its stderr on
 * failure. `onSpawn` receives the child (the benchmark samples nothing from it; the peer reports its own peak RSS).
 */
function runPeer(args, { timeoutMs = 0 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [PEER, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? '2' } });
    let out = '', err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = timeoutMs ? setTimeout(() => child.kill('SIGKILL'), timeoutMs) : undefined;
    child.on('error', reject);
    child.on('close', (code, sig) => {
      if (timer) clearTimeout(timer);
      if (code !== 0) return reject(new Error(`peer ${args[0]} failed (${sig ?? `exit ${code}`}): ${err.trim().split('\n').slice(-8).join('\n')}`));
      const lines = out.trim().split('\n').filter(Boolean);
      try {
        resolve(JSON.parse(lines[lines.length - 1]));
      } catch {
        reject(new Error(`peer ${args[0]}: no JSON result in its output: ${out.slice(-500)}`));
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Statistics, machine

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (!n) return NaN;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

function cpuModel() {
  try {
    const m = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m);
    if (m) return m[1].trim();
  } catch { /* not linux */ }
  return os.cpus()[0]?.model ?? 'unknown';
}

function cpuFlags() {
  try {
    const m = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:\s*(.*)$/m);
    if (m) {
      const f = new Set(m[1].split(/\s+/));
      return ['avx2', 'avx512f', 'fma', 'sse4_2'].filter((x) => f.has(x));
    }
  } catch { /* not linux */ }
  return [];
}

function onnxruntimeVersion() {
  try {
    const p = require.resolve('onnxruntime-node/package.json', { paths: [path.join(ROOT, 'packages/engine')] });
    return JSON.parse(fs.readFileSync(p, 'utf8')).version;
  } catch {
    return null;
  }
}

/** The %CPU (ps's pcpu) from which another process counts as busy. */
const BUSY_CPU_PERCENT = 20;

/** Other processes using CPU now (≥ BUSY_CPU_PERCENT, top by %CPU, excluding this process tree), from ps. */
function busyProcesses() {
  const r = spawnSync('ps', ['-eo', 'pid,ppid,pcpu,etime,args', '--sort=-pcpu'], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  const mine = new Set([process.pid, process.ppid]);
  return r.stdout.trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/)).map((f) => ({
    pid: +f[0], ppid: +f[1], cpu: +f[2], etime: f[3], cmd: f.slice(4).join(' '),
  })).filter((p) => p.cpu >= BUSY_CPU_PERCENT && !mine.has(p.pid) && !mine.has(p.ppid) && !/\bps\b/.test(p.cmd.split(' ')[0])
    && !/<defunct>/.test(p.cmd)); // a zombie uses no CPU (ps's pcpu is its lifetime average)
}

/** The checked-out commit and the files under packages/ that differ from it (git), or undefined without git. */
function codeState() {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  if (head.status !== 0) return undefined;
  const st = spawnSync('git', ['status', '--porcelain', '--', 'packages'], { cwd: ROOT, encoding: 'utf8' });
  const dirty = st.status === 0 ? st.stdout.split('\n').filter(Boolean).map((l) => l.slice(3)) : [];
  return { commit: head.stdout.trim(), dirty };
}

/** Peak RSS of this process in MB: VmHWM from /proc/self/status, else process.resourceUsage().maxRSS. */
function peakRssMB() {
  try {
    const m = fs.readFileSync('/proc/self/status', 'utf8').match(/^VmHWM:\s*(\d+)\s*kB/m);
    if (m) return +m[1] / 1024;
  } catch { /* not linux */ }
  return process.resourceUsage().maxRSS / 1024;
}

// ---------------------------------------------------------------------------------------------------------------
// Benchmark image and mask (as bench/patch-guide.js)

function synthetic(core, n) {
  const t = new core.Tensor4([1, 3, n, n]);
  const hw = n * n;
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      const stripes = Math.sin((2 * Math.PI * (x + 0.5 * y)) / 12);
      const checker = ((x >> 4) + (y >> 4)) % 2 ? 0.25 : -0.25;
      t.data[y * n + x] = Math.max(-1, Math.min(1, 0.5 * stripes + checker));
      t.data[hw + y * n + x] = Math.max(-1, Math.min(1, (x / n) * 1.6 - 0.8 + 0.2 * stripes));
      t.data[2 * hw + y * n + x] = Math.max(-1, Math.min(1, (y / n) * 1.6 - 0.8 + checker));
    }
  }
  return core.quantizeTensor8(t);
}

/** The benchmark image: /work/shared/data/photos/<photo>.png resized to n×n if present, else synthetic. */
async function benchImage(n, photo = 'astronaut') {
  const core = pkg('core');
  const photoPath = path.join('/work/shared/data/photos', `${photo}.png`);
  if (fs.existsSync(photoPath)) {
    const guides = pkg('guides');
    const t = (await core.readImage(photoPath, { channels: 3 })).tensor;
    const data = guides.resizePlanes(t.data, 3, t.h, t.w, n, n);
    return { image: core.quantizeTensor8(new core.Tensor4([1, 3, n, n], data)), source: `${photo}.png resized to ${n}×${n}` };
  }
  return { image: synthetic(core, n), source: `synthetic ${n}×${n} (gradient + stripes + checker)` };
}

/** Free-form strokes (Yu et al.: 4–12 vertices, width 12–40 at 256 px) until `target` of the image is hole. */
function freeFormMask(n, target, rng) {
  const core = pkg('core');
  const m = new core.Tensor4([1, 1, n, n]);
  const scale = n / 256;
  const stamp = (cx, cy, r) => {
    for (let y = Math.max(0, Math.floor(cy - r)); y <= Math.min(n - 1, Math.ceil(cy + r)); y++) {
      for (let x = Math.max(0, Math.floor(cx - r)); x <= Math.min(n - 1, Math.ceil(cx + r)); x++) {
        if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) m.data[y * n + x] = 1;
      }
    }
  };
  const frac = () => m.data.reduce((a, b) => a + b, 0) / (n * n);
  while (frac() < target) {
    let x = rng.range(0, n), y = rng.range(0, n);
    const width = rng.range(12, 40) * scale;
    const vertices = 4 + rng.int(9);
    let angle = rng.range(0, 2 * Math.PI);
    for (let v = 0; v < vertices && frac() < target; v++) {
      angle += rng.range(-0.8, 0.8);
      const len = rng.range(10, 40) * scale;
      const nx = Math.max(0, Math.min(n - 1, x + len * Math.cos(angle)));
      const ny = Math.max(0, Math.min(n - 1, y + len * Math.sin(angle)));
      const steps = Math.ceil(Math.hypot(nx - x, ny - y));
      for (let s = 0; s <= steps; s++) stamp(x + ((nx - x) * s) / Math.max(1, steps), y + ((ny - y) * s) / Math.max(1, steps), width / 2);
      x = nx; y = ny;
    }
  }
  return m;
}

/** max |a − b| / max(1e-12, max |b|) */
function relErr(a, b) {
  let m = 0, s = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return m / Math.max(1e-12, s);
}

/**
 * A random training batch for the benchmarks (x_t, x_m ~ N(0,1), a 30% random hole, t ~ U{1..1000}, a random target);
 * `buildInput(xt, { xm, mask })` lays out the network input (a model's buildInput, or the engine's buildUNetInput).
 */
function randomBatch(core, buildInput, n, size, seed = 3) {
  const r = new core.Rng(seed);
  const xt = new core.Tensor4([n, 3, size, size]); r.fillNormal(xt.data);
  const xm = new core.Tensor4([n, 3, size, size]); r.fillNormal(xm.data);
  const mask = new core.Tensor4([n, 1, size, size]);
  for (let i = 0; i < mask.size; i++) mask.data[i] = r.uniform() < 0.3 ? 1 : 0;
  const noise = new Float32Array(n);
  for (let i = 0; i < n; i++) noise[i] = 1 + r.int(1000);
  const target = new core.Tensor4([n, 3, size, size]); r.fillNormal(target.data);
  return { input: buildInput(xt, { xm, mask }), noise, target, weight: mask };
}

function tmpDir(prefix = 'diff2s-bench-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Run the built CLI (`packages/cli/dist/bin.js`) as a child process: wall seconds, peak RSS in MiB (VmHWM polled from
 * /proc every 100 ms), the exit status and the last stderr line.
 */
function runCliMeasured(args, env = {}) {
  const bin = path.join(ROOT, 'packages/cli/dist/bin.js');
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CI: 'true', ...env } });
    let err = '', peak = 0;
    child.stderr.on('data', (d) => (err += d));
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peak = Math.max(peak, Number(m[1]) / 1024);
      } catch { /* exited */ }
    }, 100);
    child.on('exit', (code) => {
      clearInterval(poll);
      resolve({ seconds: (performance.now() - t0) / 1000, rss: peak, code, err: err.trim().split('\n').pop() || '' });
    });
  });
}

module.exports = {
  runCliMeasured,
  ROOT, PEER, PYTHON, pkg, writeBundle, readBundle, writeWeights, peerAvailable, runPeer, median, cpuModel, cpuFlags,
  onnxruntimeVersion, codeState, BUSY_CPU_PERCENT, busyProcesses, peakRssMB, benchImage, synthetic, freeFormMask, randomBatch, relErr, tmpDir,
};
