#!/usr/bin/env node
/**
 * The job queue (issue 23) on this machine: throughput of `diff2s worker` with 1 and with 2 workers, against the
 * single-process CLI batch mode on the same images and config, and the queue's overhead per job.
 *
 *   node bench/queue.js [--images 24] [--size 48] [--trivial 60] [--out reports/queue.md]
 *
 * A private redis-server (Debian's; loopback, a free port, no persistence) is started and stopped by the run. The
 * refine batch: `--images` grey images of `--size`² with a rectangular hole, the patch guide and models/frugal-brick
 * refining with 5 DDIM steps from T_k = 100 (the end-to-end test's config). The trivial batch: `--trivial` 16×16
 * images, the mean guide, no refiner — the pipeline's work is a few ms, so its time per job is mostly the queue's.
 * Figures come from the run: wall clocks of the processes, BullMQ's own timestamps of every job (processedOn,
 * finishedOn) and the time the worker measured inside each job. Writes a markdown report (default reports/queue.md)
 * and prints it. Needs the built packages (pnpm run build) and redis-server.
 */
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, spawnSync } = require('child_process');
const { createServer } = require('net');
const C = require('./lib/common');

const ROOT = C.ROOT;
const BIN = path.join(ROOT, 'packages/cli/dist/bin.js');
const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : def;
};
const N = +opt('images', 24), SIZE = +opt('size', 48), NT = +opt('trivial', 60);
const OUT = path.resolve(ROOT, opt('out', 'reports/queue.md'));
const fromCli = (m) => require(path.join(ROOT, 'packages/cli/node_modules', m));
const { Queue } = fromCli('bullmq');
const { Redis } = fromCli('ioredis');
const { QUEUE_NAME } = require(path.join(ROOT, 'packages/cli/dist/queue/connection.js'));
const sharp = require(require.resolve('sharp', { paths: [path.join(ROOT, 'packages/core')] }));

const log = (m) => process.stderr.write(`[queue-bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => { const p = srv.address().port; srv.close(() => resolve(p)); });
  });
}

function findRedis() {
  const r = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : ['/usr/bin/redis-server', '/usr/sbin/redis-server'].find((f) => fs.existsSync(f));
}

async function startRedis(dir) {
  const bin = findRedis();
  if (!bin) throw new Error('redis-server not found (apt-get install redis-server)');
  const port = await freePort();
  const child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => { out += d; if (/Ready to accept connections/.test(out)) resolve(); });
    child.once('exit', (c) => reject(new Error(`redis-server exited ${c}: ${out}`)));
  });
  const version = (out.match(/v=([\d.]+)/) || out.match(/Redis version=([\d.]+)/) || [])[1];
  return { url: `redis://127.0.0.1:${port}/0`, child, version };
}

/** Start the CLI; resolves with the child and helpers once `ready` (a regexp on stderr) matched. */
function startCli(args) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, CI: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const p = { child, out: '', err: '' };
  child.stdout.on('data', (d) => (p.out += d));
  child.stderr.on('data', (d) => (p.err += d));
  p.exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  p.waitFor = (re) => new Promise((resolve, reject) => {
    const t = setInterval(() => { if (re.test(p.err)) { clearInterval(t); resolve(); } }, 20);
    p.exited.then(() => { clearInterval(t); if (!re.test(p.err)) reject(new Error(`exited before ${re}: ${p.err}`)); else resolve(); });
  });
  return p;
}

async function grey(file, n, k) {
  const buf = Buffer.alloc(n * n);
  for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) buf[y * n + x] = Math.round(128 + 90 * Math.sin((x + 3 * k) / 3) * Math.cos((y - k) / 4));
  await sharp(buf, { raw: { width: n, height: n, channels: 1 } }).toColourspace('b-w').png().toFile(file);
}
async function rect(file, n, x0, y0, x1, y1) {
  const buf = Buffer.alloc(n * n);
  for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) buf[y * n + x] = x >= x0 && x < x1 && y >= y0 && y < y1 ? 255 : 0;
  await sharp(buf, { raw: { width: n, height: n, channels: 1 } }).toColourspace('b-w').png().toFile(file);
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const f1 = (x) => x.toFixed(1), f2 = (x) => x.toFixed(2), f0 = (x) => x.toFixed(0);

/** One queue run: `workers` worker processes, then a submit --wait; BullMQ's timestamps of every job. */
async function queueRun(redisUrl, workers, cfg, imgs, masks, out, roots) {
  const ws = [];
  for (let i = 0; i < workers; i++) {
    const w = startCli(['worker', '--queue', redisUrl, ...roots.flatMap((r) => ['--root', r])]);
    ws.push(w);
  }
  await Promise.all(ws.map((w) => w.waitFor(/diff2s worker .* on redis:/)));
  const t0 = performance.now();
  const sub = startCli(['batch', 'submit', '--config', cfg, '--image', imgs, '--mask', masks, '-o', out, '--queue', redisUrl, '--wait', '-q']);
  const r = await sub.exited;
  const wall = (performance.now() - t0) / 1000;
  if (r.code !== 0) throw new Error(`submit failed (${r.code}): ${sub.err}`);
  const id = sub.out.split('\n')[0].trim();
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const q = new Queue(QUEUE_NAME, { connection: redis });
  const rec = JSON.parse(await redis.get(`diff2s:batch:${id}`));
  const jobs = [];
  for (let i = 0; i < rec.total; i++) {
    const j = await q.getJob(`${id}-${i}`);
    jobs.push({ added: j.timestamp, processedOn: j.processedOn, finishedOn: j.finishedOn, seconds: j.returnvalue.seconds, worker: j.returnvalue.worker });
  }
  await q.close();
  redis.disconnect();
  for (const w of ws) w.child.kill('SIGTERM');
  const exits = await Promise.all(ws.map((w) => w.exited));
  if (exits.some((e) => e.code !== 0)) throw new Error(`a worker did not exit 0 on SIGTERM: ${JSON.stringify(exits)}`);
  return { wall, jobs, id };
}

/** Figures of a queue run: steady-state throughput (first job start → last job end) and the queue's time per job. */
function figures(run, workers) {
  const j = run.jobs;
  const first = Math.min(...j.map((x) => x.processedOn)), last = Math.max(...j.map((x) => x.finishedOn));
  const span = (last - first) / 1000;
  const work = sum(j.map((x) => x.seconds));
  // per worker: its first job includes building the pipeline (model load); the rest are steady state
  const byWorker = new Map();
  for (const x of j) { if (!byWorker.has(x.worker)) byWorker.set(x.worker, []); byWorker.get(x.worker).push(x); }
  const steady = [];
  for (const list of byWorker.values()) {
    list.sort((a, b) => a.processedOn - b.processedOn);
    for (let k = 1; k < list.length; k++) {
      // from the end of the previous job to the end of this one, minus the pipeline's work inside it
      steady.push({ cycle: (list[k].finishedOn - list[k - 1].finishedOn) / 1000, work: list[k].seconds });
    }
  }
  // steady throughput: per worker, its jobs after the first (which builds the pipeline) over their time, summed
  let steadyRate = 0;
  for (const list of byWorker.values()) {
    if (list.length < 2) continue;
    steadyRate += (list.length - 1) / ((list[list.length - 1].finishedOn - list[0].finishedOn) / 1000);
  }
  const overhead = steady.length ? C.median(steady.map((s) => s.cycle - s.work)) : NaN;
  const cycle = steady.length ? C.median(steady.map((s) => s.cycle)) : NaN;
  return {
    workers, jobs: j.length, wall: run.wall, span, work, perMin: steadyRate * 60, spanPerMin: (j.length / span) * 60, wallPerMin: (j.length / run.wall) * 60,
    workerCount: byWorker.size, perWorker: [...byWorker.values()].map((l) => l.length), overhead, cycle,
    medianWork: C.median(steady.length ? steady.map((x) => x.work) : j.map((x) => x.seconds)),
  };
}

function sameBytes(a, b) {
  const names = fs.readdirSync(a).filter((n) => /_stage[12]\.png$/.test(n)).sort();
  const other = fs.readdirSync(b).filter((n) => /_stage[12]\.png$/.test(n)).sort();
  if (names.join() !== other.join()) return false;
  return names.every((n) => fs.readFileSync(path.join(a, n)).equals(fs.readFileSync(path.join(b, n))));
}

async function main() {
  if (!fs.existsSync(BIN)) throw new Error('build first: pnpm run build');
  const started = Date.now();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'diff2s-queue-bench-'));
  const busyStart = C.busyProcesses();
  const load0 = os.loadavg();
  const redis = await startRedis(tmp);
  try {
    const imgs = path.join(tmp, 'images'), masks = path.join(tmp, 'masks');
    fs.mkdirSync(imgs); fs.mkdirSync(masks);
    for (let k = 0; k < N; k++) {
      await grey(path.join(imgs, `im${String(k).padStart(3, '0')}.png`), SIZE, k);
      await rect(path.join(masks, `im${String(k).padStart(3, '0')}.png`), SIZE, Math.round(SIZE * 0.3) + (k % 5), Math.round(SIZE * 0.25), Math.round(SIZE * 0.6) + (k % 5), Math.round(SIZE * 0.58));
    }
    const timgs = path.join(tmp, 'trivial');
    fs.mkdirSync(timgs);
    for (let k = 0; k < NT; k++) await grey(path.join(timgs, `t${String(k).padStart(3, '0')}.png`), 16, k);
    const tmask = path.join(tmp, 'trivial-mask.png');
    await rect(tmask, 16, 4, 4, 10, 10);
    const cfg = path.join(tmp, 'refine.yaml');
    fs.writeFileSync(cfg, `guide: { type: patch }\nmodel: { path: ${path.join(ROOT, 'models/frugal-brick')} }\nrefiner: { tk: 100, sampler: { type: ddim, steps: 5, eta: 0 } }\n`);
    const tcfg = path.join(tmp, 'trivial.yaml');
    fs.writeFileSync(tcfg, 'guide: { type: mean }\n');
    const roots = [tmp, path.join(ROOT, 'models')];

    log(`single-process CLI batch: ${N} images`);
    const t0 = performance.now();
    const cli = spawnSync(process.execPath, [BIN, 'inpaint', '--config', cfg, '--image', imgs, '--mask', masks, '-o', path.join(tmp, 'out-cli'), '-q'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CI: 'true' } });
    const cliWall = (performance.now() - t0) / 1000;
    if (cli.status !== 0) throw new Error(`CLI batch failed: ${cli.stderr}`);
    const cliSummary = JSON.parse(fs.readFileSync(path.join(tmp, 'out-cli', 'summary.json'), 'utf8'));
    const cliSecs = cliSummary.records.map((r) => r.seconds);
    const cliSteady = sum(cliSecs.slice(1)) / (cliSecs.length - 1); // the first image builds nothing here (the model loads before it), kept out anyway

    const runs = [];
    for (const w of [1, 2]) {
      log(`queue: ${w} worker(s), ${N} images`);
      const out = path.join(tmp, `out-q${w}`);
      const r = await queueRun(redis.url, w, cfg, imgs, masks, out, roots);
      runs.push({ ...figures(r, w), identical: sameBytes(out, path.join(tmp, 'out-cli')) });
    }
    log(`queue: 1 worker, ${NT} trivial jobs`);
    const triv = figures(await queueRun(redis.url, 1, tcfg, timgs, tmask, path.join(tmp, 'out-t'), roots), 1);
    const t1 = performance.now();
    const tcli = spawnSync(process.execPath, [BIN, 'inpaint', '--config', tcfg, '--image', timgs, '--mask', tmask, '-o', path.join(tmp, 'out-tcli'), '-q'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CI: 'true' } });
    const tcliWall = (performance.now() - t1) / 1000;
    if (tcli.status !== 0) throw new Error(`CLI trivial batch failed: ${tcli.stderr}`);
    const tcliSecs = JSON.parse(fs.readFileSync(path.join(tmp, 'out-tcli', 'summary.json'), 'utf8')).records.map((r) => r.seconds);

    const busyEnd = C.busyProcesses();
    const code = C.codeState();
    const minutes = ((Date.now() - started) / 60000).toFixed(1);
    const one = runs[0], two = runs[1];
    const lines = [];
    lines.push('# The job queue: throughput and overhead (`bench/queue.js`)');
    lines.push('');
    lines.push(`Generated by \`node bench/queue.js${argv.length ? ` ${argv.join(' ')}` : ''}\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC in ${minutes} min` +
      `${code ? ` (commit ${code.commit}${code.dirty.length ? `, ${code.dirty.length} changed file(s) under packages/` : ''})` : ''}. Every figure below is measured by that run.`);
    lines.push('');
    lines.push(`Machine: ${C.cpuModel()}, ${os.cpus().length} logical CPU(s), Node ${process.version}, redis-server ${redis.version ?? '?'} on loopback; load average at the start ${load0.map((x) => x.toFixed(2)).join(' ')}` +
      `${busyStart.length || busyEnd.length ? `; other busy processes (≥ ${C.BUSY_CPU_PERCENT}% CPU) at the start: ${busyStart.length}, at the end: ${busyEnd.length} — figures taken beside them are contaminated` : '; no other busy process at the start or the end'}.`);
    lines.push('');
    lines.push(`Refine batch: ${N} grey ${SIZE}×${SIZE} images with a rectangular hole, patch guide → models/frugal-brick, DDIM 5 steps from T_k = 100 (the end-to-end test's config). ` +
      'Workers and Redis run on this one machine; 2 workers share its CPUs.');
    lines.push('');
    lines.push('| run | jobs | wall | images/min (wall) | span: first job start → last job end | images/min (span) | images/min (steady) | s/image inside the job (median) | jobs per worker | outputs byte-identical to the CLI |');
    lines.push('|---|---|---|---|---|---|---|---|---|---|');
    lines.push(`| CLI batch mode, one process | ${N} | ${f1(cliWall)} s | ${f0((N / cliWall) * 60)} | ${f1(sum(cliSecs))} s (Σ per-image times) | ${f0((N / sum(cliSecs)) * 60)} | ${f0(60 / cliSteady)} | ${f2(C.median(cliSecs))} | – | (reference) |`);
    for (const r of runs) {
      lines.push(`| queue, ${r.workers} worker${r.workers > 1 ? 's' : ''} | ${r.jobs} | ${f1(r.wall)} s | ${f0(r.wallPerMin)} | ${f1(r.span)} s | ${f0(r.spanPerMin)} | ${f0(r.perMin)} | ${f2(r.medianWork)} | ${r.perWorker.join(' + ')} | ${r.identical ? 'yes' : '**no**'} |`);
    }
    lines.push('');
    lines.push(`Speed-up of 2 workers over 1: ×${f2(two.spanPerMin / one.spanPerMin)} (span), ×${f2(two.perMin / one.perMin)} (steady). ` +
      'Wall: the CLI process from start to exit; for the queue, `batch submit --wait` from start to exit (Node\'s start, the config check, which loads the model once, enqueueing, polling), with the workers already started and idle. ' +
      'Span: BullMQ\'s processedOn of the first job to finishedOn of the last, so it includes each worker\'s first job, which builds its pipeline (the model load, once per worker). ' +
      'Steady: per worker, its jobs after the first over their time (finishedOn to finishedOn), summed over the workers; for the CLI, the images after the first over their summed times.');
    lines.push('');
    lines.push('## Queue overhead per job');
    lines.push('');
    lines.push('Per worker, the cycle of a job is the time from the end of its previous job to its own end (BullMQ\'s finishedOn): fetching the job, taking its lock, ' +
      'the job itself, storing the result and the state. The job\'s own time is what the worker measures inside it (validating the config, the roots check, reading, guide, refiner, writes); ' +
      'BullMQ\'s share is the cycle minus that; the whole overhead of the queue is the cycle minus the CLI\'s time per image on the same images. Medians over the jobs after each worker\'s first (the CLI: over all images).');
    lines.push('');
    lines.push('| batch | workers | jobs | median cycle | median job time (worker) | BullMQ per job (cycle − job) | CLI, one process: s/image | queue overhead per job (cycle − CLI) |');
    lines.push('|---|---|---|---|---|---|---|---|');
    const ms = (x, d = 0) => `${(x * 1000).toFixed(d)} ms`;
    for (const r of runs) lines.push(`| refine (${SIZE}²) | ${r.workers} | ${r.jobs} | ${ms(r.cycle)} | ${ms(r.medianWork)} | ${ms(r.overhead, 1)} | ${ms(C.median(cliSecs))} | ${r.workers === 1 ? ms(r.cycle - C.median(cliSecs)) : '– (the workers share the CPUs)'} |`);
    lines.push(`| trivial (16², mean guide, no refiner) | 1 | ${triv.jobs} | ${ms(triv.cycle, 1)} | ${ms(triv.medianWork, 1)} | ${ms(triv.overhead, 1)} | ${ms(C.median(tcliSecs), 1)} | ${ms(triv.cycle - C.median(tcliSecs), 1)} |`);
    lines.push('');
    lines.push(`Trivial batch: ${f0(triv.perMin)} jobs/min through the queue (steady) against ${f0((NT / sum(tcliSecs)) * 60)} images/min in one CLI process (Σ per-image times; ` +
      `${f1(tcliWall)} s wall with Node's start) — the ceiling the queue puts on very small jobs on this machine. Time per image inside the job (worker, refine batch, 1 worker) vs the CLI: ` +
      `${ms(one.medianWork)} vs ${ms(cliSteady)} (the CLI: mean after the first image).`);
    lines.push('');
    lines.push('Reproduce: `pnpm build && node bench/queue.js` (needs Debian\'s `redis-server`).');
    const md = `${lines.join('\n')}\n`;
    fs.mkdirSync(path.dirname(OUT), { recursive: true });
    fs.writeFileSync(OUT, md);
    process.stdout.write(md);
  } finally {
    redis.child.kill('SIGTERM');
    await new Promise((r) => redis.child.once('exit', r));
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
