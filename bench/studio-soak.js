#!/usr/bin/env node
/**
 * Soak of the studio (issue 20): concurrent jobs, one that froze the studio before jobs ran in processes of their own,
 * cancel, a 2048² upload, and the memory afterwards — for the backend `diff2s serve` runs (a process per job) and,
 * side by side in the same run, for the jobs on the studio's own event loop (the earlier behaviour).
 *
 *   node bench/studio-soak.js [--out reports/studio-soak.md] [--iterations 20000] [--only process]
 *
 * Per backend, a fresh studio (bench/lib/studio-server.js, the real pipeline backend, shipped models, no fitting):
 *  1. the freeze job: the harmonic guide with `--iterations` sweeps on a 512² photo-like image with a 20% hole;
 *  2. at the same time, in another lane, patch + refiner (models/frugal-colour, DDIM 10 from T_k 100) on 128²;
 *  3. queued behind the freeze job, patch on 256²;
 *  4. 3 s after the freeze job was submitted, it is cancelled;
 *  5. then a flat 2048² PNG with a 64² hole, patch guide, HD crop (auto);
 * while /api/info is asked every 100 ms (its slowest answer is the event loop's stall) and the RSS of the studio's
 * process and its children is sampled every 100 ms. Cancel latency: from the cancel request to the job's `cancelled`
 * event, and to the moment the job's computation stopped (its process gone; in-process: the event loop free again).
 * The RSS after: 3 s after the last job. (The freeze job sets tolerance 1e-30 so that it runs all its sweeps.) Figures are this run's; the report says the machine's load.
 */
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');
const { spawn } = require('child_process');

const ROOT = path.resolve(__dirname, '..');
const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : def;
};
const OUT = path.resolve(ROOT, opt('out', 'reports/studio-soak.md'));
const ITER = +opt('iterations', 20000);
const ONLY = opt('only', '');
const core = require(path.join(ROOT, 'packages/core/dist'));
const log = (m) => process.stderr.write(`[studio-soak ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function rssKb(pid) {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? +m[1] : 0;
  } catch {
    return 0;
  }
}
function descendants(pid) {
  const out = [];
  const walk = (p) => {
    let kids = [];
    try {
      for (const t of fs.readdirSync(`/proc/${p}/task`)) kids.push(...fs.readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
    } catch { /* gone */ }
    for (const k of kids) { out.push(k); walk(k); }
  };
  walk(pid);
  return out;
}
const treeRss = (pid) => ({ server: rssKb(pid), children: descendants(pid).reduce((s, p) => s + rssKb(p), 0) });
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };

async function image(w, h, kind) {
  const t = new core.Tensor4([1, 3, h, w]);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) {
    t.data[t.index(0, c, y, x)] = kind === 'flat' ? 0.2 * (c - 1) : Math.max(-1, Math.min(1, 0.6 * Math.sin(x / (7 + c) + Math.cos(y / 11)) + 0.3 * Math.sin((x * y) / 900 + c)));
  }
  return core.encodeImage(t, 'png');
}
async function mask(w, h, box) {
  const m = core.Tensor4.full([1, 3, h, w], -1);
  for (let y = box.y0; y < box.y1; y++) for (let x = box.x0; x < box.x1; x++) for (let c = 0; c < 3; c++) m.data[m.index(0, c, y, x)] = 1;
  return core.encodeImage(m, 'png');
}

async function postJob(base, image, maskPng, pipeline, model) {
  const form = new FormData();
  form.append('image', new Blob([image], { type: 'image/png' }), 'image.png');
  form.append('mask', new Blob([maskPng], { type: 'image/png' }), 'mask.png');
  form.append('pipeline', JSON.stringify(pipeline));
  if (model) form.append('model', model);
  const res = await fetch(`${base}api/jobs`, { method: 'POST', body: form });
  const body = await res.json();
  if (res.status !== 202 && res.status !== 200) throw new Error(`job refused: ${res.status} ${JSON.stringify(body)}`);
  return body.id;
}

/** Follow a job's events: resolves with { event, at } at the terminal event; `started` when it left the queue. */
function follow(base, id) {
  let onStart;
  const started = new Promise((r) => (onStart = r));
  const done = new Promise((resolve, reject) => {
    http.get(`${base}api/jobs/${id}/events`, (res) => {
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (chunk) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = /^event: (.*)$/m.exec(frame)?.[1];
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (ev === 'progress') onStart(Date.now());
          if (ev === 'done' || ev === 'error' || ev === 'cancelled') resolve({ event: ev, at: Date.now(), data: data ? JSON.parse(data) : {} });
        }
      });
      res.on('error', reject);
    }).on('error', reject);
  });
  return { started, done };
}

async function soak(kind) {
  log(`${kind}: starting a studio`);
  const server = spawn(process.execPath, [path.join(ROOT, 'bench/lib/studio-server.js'), kind], { stdio: ['pipe', 'pipe', 'inherit'] });
  const base = await new Promise((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (d) => { out += d; const m = /url (\S+)/.exec(out); if (m) resolve(m[1]); });
    server.once('exit', (c) => reject(new Error(`studio exited ${c}`)));
  });
  await (await fetch(`${base}api/info`)).json();
  await sleep(1500); // the spare job process has loaded
  const rssStart = treeRss(server.pid);
  let peak = { server: rssStart.server, total: rssStart.server + rssStart.children };
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const r = treeRss(server.pid);
      peak = { server: Math.max(peak.server, r.server), total: Math.max(peak.total, r.server + r.children) };
      await sleep(100);
    }
  })();
  const lat = [];
  let probing = true;
  const prober = (async () => {
    while (probing) {
      const t0 = Date.now();
      try { await (await fetch(`${base}api/info`)).json(); } catch { /* counted as the time it took */ }
      lat.push(Date.now() - t0);
      await sleep(100);
    }
  })();

  const big = await image(512, 512, 'photo');
  const bigMask = await mask(512, 512, { x0: 142, y0: 142, x1: 371, y1: 371 });
  const small = await image(128, 128, 'photo');
  const smallMask = await mask(128, 128, { x0: 40, y0: 44, x1: 88, y1: 84 });
  const mid = await image(256, 256, 'photo');
  const midMask = await mask(256, 256, { x0: 96, y0: 96, x1: 160, y1: 160 });
  const t0 = Date.now();
  const freezeId = await postJob(base, big, bigMask, { guide: { type: 'harmonic', iterations: ITER, tolerance: 1e-30 }, refiner: { enabled: false }, seed: 0, samples: 1 });
  const freeze = follow(base, freezeId);
  // the other jobs are submitted while the freeze job runs, and the cancel is sent 3 s after it was submitted, each
  // without waiting for the others (in-process, every request waits for the loop)
  const others = (async () => {
    const refineId = await postJob(base, small, smallMask, { guide: { type: 'patch' }, refiner: { enabled: true, tk: 100, sampler: { type: 'ddim', steps: 10, spacing: 'start' } }, seed: 0, samples: 1 }, 'frugal-colour');
    const refine = follow(base, refineId);
    const queuedId = await postJob(base, mid, midMask, { guide: { type: 'patch' }, refiner: { enabled: false }, seed: 0, samples: 1 });
    const queued = follow(base, queuedId);
    return { refine, queued };
  })();
  await sleep(Math.max(0, t0 + 3000 - Date.now()));
  const pidsBefore = descendants(server.pid);
  const tCancel = Date.now();
  let cancelAnswered = 0;
  const cancelReq = fetch(`${base}api/jobs/${freezeId}/cancel`, { method: 'POST' }).then(() => { cancelAnswered = Date.now(); });
  const cancelled = await freeze.done;
  await cancelReq;
  // the computation stopped: in-process, the event loop answers again; with processes, the job's process is gone
  let stopped = 0;
  if (kind === 'process') {
    const gone = pidsBefore.filter((p) => p !== undefined);
    while (!stopped) {
      const now = new Set(descendants(server.pid));
      const jobPids = gone.filter((p) => now.has(p) && alive(p));
      if (jobPids.length < gone.length) stopped = Date.now();
      else if (Date.now() - tCancel > 600000) break;
      else await sleep(10);
    }
  } else {
    stopped = Math.max(cancelAnswered, cancelled.at);
  }
  const { refine, queued } = await others;
  const r1 = await refine.done;
  const r2 = await queued.done;
  const flat = await image(2048, 2048, 'flat');
  const flatMask = await mask(2048, 2048, { x0: 992, y0: 992, x1: 1056, y1: 1056 });
  const flatId = await postJob(base, flat, flatMask, { guide: { type: 'patch' }, refiner: { enabled: false }, seed: 0, samples: 1, hd: { strategy: 'auto' } });
  const r3 = await follow(base, flatId).done;
  const tEnd = Date.now();
  probing = false;
  await prober;
  await sleep(3000);
  sampling = false;
  await sampler;
  const rssEnd = treeRss(server.pid);
  server.stdin.end();
  await new Promise((r) => server.once('exit', r));
  const sorted = [...lat].sort((a, b) => a - b);
  return {
    kind,
    states: { freeze: cancelled.event, refine: r1.event, queued: r2.event, flat: r3.event },
    errors: [r1, r2, r3].filter((r) => r.event === 'error').map((r) => r.data.message),
    cancelEventMs: cancelled.at - tCancel, // negative: the job ended (done) before the cancel was read
    cancelAnswerMs: cancelAnswered - tCancel,
    stopMs: stopped ? stopped - tCancel : NaN,
    refineDoneS: (r1.at - t0) / 1000,
    queuedDoneS: (r2.at - t0) / 1000,
    totalS: (tEnd - t0) / 1000,
    infoMedianMs: sorted[Math.floor(sorted.length / 2)],
    infoMaxMs: sorted[sorted.length - 1],
    infoCount: sorted.length,
    rssStart, rssEnd, peak,
  };
}

async function main() {
  const kinds = ONLY ? [ONLY] : ['process', 'inprocess'];
  const load0 = os.loadavg()[0];
  const rows = [];
  for (const k of kinds) rows.push(await soak(k));
  const load1 = os.loadavg()[0];
  const mb = (kb) => (kb / 1024).toFixed(0);
  const lines = [
    '# Studio soak (issue 20)',
    '',
    `Generated by \`node bench/studio-soak.js${argv.length ? ` ${argv.join(' ')}` : ''}\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ` +
      `${os.cpus().length} cores, load ${load0.toFixed(1)} before and ${load1.toFixed(1)} after. What each row runs: see the script's header.`,
    '',
    '`process` is what `diff2s serve` runs (each job in a process of its own); `inprocess` runs the jobs on the studio\'s event loop (the earlier behaviour), side by side in this run.',
    '',
    '| backend | job states (freeze, refine, queued, 2048² flat) | cancel → `cancelled` event | cancel → answered | cancel → computation stopped | slowest /api/info (median), n | refine job done | queued job done | RSS start (studio + job processes) | peak | RSS 3 s after the last job |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.kind} | ${Object.values(r.states).join(', ')} | ${r.cancelEventMs} ms | ${r.cancelAnswerMs} ms | ${Number.isFinite(r.stopMs) ? `${r.stopMs} ms` : 'not seen'} | ${r.infoMaxMs} ms (${r.infoMedianMs} ms), ${r.infoCount} | ${r.refineDoneS.toFixed(1)} s | ${r.queuedDoneS.toFixed(1)} s | ${mb(r.rssStart.server)} + ${mb(r.rssStart.children)} MiB | ${mb(r.peak.total)} MiB (studio alone ${mb(r.peak.server)}) | ${mb(r.rssEnd.server)} + ${mb(r.rssEnd.children)} MiB |`),
    '',
    ...rows.flatMap((r) => (r.errors.length ? [`Errors (${r.kind}): ${r.errors.join('; ')}`, ''] : [])),
    `The freeze job: harmonic guide, ${ITER} sweeps, 512² with a 229² hole, cancelled 3 s after it was submitted. In-process, the cancel request is read only when the loop ends.`,
    '',
  ];
  const text = lines.join('\n');
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, text);
  process.stdout.write(text);
}
main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
