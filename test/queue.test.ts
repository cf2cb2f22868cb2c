/**
 * Batch inpainting on the Redis-backed queue (issue 23), with real parts only: a private redis-server, the built CLI's
 * `batch submit`/`status`/`retry` and `diff2s worker` processes. Faults: a worker SIGKILLed mid-job (its job is taken
 * over after the stalled-job check), SIGTERM (finishes the job in hand), bad inputs (fail at once, the CLI's message),
 * runtime errors (retried with backoff), paths outside the worker's roots (refused), a password in the Redis URL.
 */
import { spawn, type ChildProcess } from 'child_process';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'fs';
import * as path from 'path';
import { BIN, ROOT, TEST_CACHE_DIR, runCli } from './helpers/cli';
import { listFiles, writeGrayPng, writeRectMask, writeRgbPng } from './helpers/images';
import { redisAvailable, startRedis, type RedisServer } from './helpers/redis';
import { tempDir } from './helpers/tmp';
import { parseQueueUrl } from '../packages/cli/src/queue/connection';
import { Roots } from '../packages/cli/src/queue/jobs';

const HAVE_REDIS = redisAvailable('test/queue.test.ts');
const maybe = HAVE_REDIS ? describe : describe.skip;
const MODEL = path.join(ROOT, 'models/frugal-brick');

/** A child CLI process with its stderr collected and awaitable lines. */
interface Proc {
  child: ChildProcess;
  stderr: () => string;
  stdout: () => string;
  waitFor: (re: RegExp, timeoutMs?: number) => Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, CI: 'true', DIFF2S_CACHE_DIR: TEST_CACHE_DIR, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  const waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  const poke = () => {
    for (const w of [...waiters]) {
      const m = err.match(w.re);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  child.stderr!.on('data', (d) => { err += d; poke(); });
  child.stdout!.on('data', (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  return {
    child,
    stderr: () => err,
    stdout: () => out,
    exited,
    waitFor: (re, timeoutMs = 60000) => new Promise((resolve, reject) => {
      const m = err.match(re);
      if (m) return resolve(m);
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${re} in:\n${err}`)), timeoutMs);
      waiters.push({ re, resolve: (x) => { clearTimeout(t); resolve(x); } });
      void exited.then(() => setTimeout(() => reject(new Error(`process exited before ${re}:\n${err}`)), 50));
    }),
  };
}

/** Worker flags for fast takeover: a 3 s lock, a stalled-job check every second. */
const FAST = { DIFF2S_QUEUE_LOCK_MS: '3000', DIFF2S_QUEUE_STALLED_MS: '1000' };

async function stop(p: Proc): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) {
    p.child.kill('SIGKILL');
    await p.exited;
  }
}

/** Grey test images (the grey model frugal-brick refines them) with a rectangular hole each. */
async function writeInputs(imgs: string, masks: string, n: number, size = 48): Promise<void> {
  mkdirSync(imgs, { recursive: true });
  mkdirSync(masks, { recursive: true });
  for (let k = 0; k < n; k++) {
    await writeGrayPng(path.join(imgs, `im${k}.png`), size, size, (x, y) => Math.round(128 + 90 * Math.sin((x + 3 * k) / 3) * Math.cos((y - k) / 4)));
    await writeRectMask(path.join(masks, `im${k}.png`), size, size, 14 + k, 12, 30 + k, 28);
  }
}

maybe('diff2s batch / worker on a Redis queue', () => {
  let redis: RedisServer;
  let tmp: ReturnType<typeof tempDir>;
  const procs: Proc[] = [];
  beforeAll(async () => {
    redis = await startRedis();
    tmp = tempDir('diff2s-queue-');
  });
  afterAll(async () => {
    for (const p of procs) await stop(p);
    await redis?.stop();
    tmp?.cleanup();
  });

  it('two workers, one SIGKILLed mid-job: every output once, complete, byte-identical to the single-process CLI', async () => {
    const dir = path.join(tmp.dir, 'e2e');
    const imgs = path.join(dir, 'images'), masks = path.join(dir, 'masks'), ref = path.join(dir, 'ref'), out = path.join(dir, 'out');
    await writeInputs(imgs, masks, 6);
    const cfg = path.join(dir, 'p.yaml');
    writeFileSync(cfg, `guide: { type: patch }\nmodel: { path: ${MODEL} }\nrefiner: { tk: 100, sampler: { type: ddim, steps: 5, eta: 0 } }\n`);
    const single = runCli(['inpaint', '--config', cfg, '--image', imgs, '--mask', masks, '--out', ref]);
    expect(single.status).toBe(0);
    const roots = ['--root', dir, '--root', path.join(ROOT, 'models')];
    const a = start(['worker', '--queue', redis.url, ...roots], FAST);
    procs.push(a);
    await a.waitFor(/diff2s worker .* on redis:/);
    const b = start(['worker', '--queue', redis.url, ...roots, '--concurrency', '2'], FAST); // two jobs at once on one loaded model
    procs.push(b);
    await b.waitFor(/diff2s worker .* on redis:/);
    const submit = start(['batch', 'submit', '--config', cfg, '--image', imgs, '--mask', masks, '-o', out, '--queue', redis.url, '--wait']);
    procs.push(submit);
    // kill A as soon as it starts a job (its first job also builds the pipeline: well inside the job)
    const [, killedJob] = await a.waitFor(/job (\S+) \(im\d\): started/);
    a.child.kill('SIGKILL');
    expect((await a.exited).signal).toBe('SIGKILL');
    const r = await submit.exited;
    expect(submit.stderr()).toMatch(/done: 6 written, 0 failed, 0 skipped \(no mask\)/);
    expect(submit.stderr()).toMatch(/batch: \d+\/600 \d\/6 done, \d running, \d waiting, ETA (\d+s|\d+m\d\ds|--)/);
    expect(r.code).toBe(0);
    const id = submit.stdout().split('\n')[0];
    // B took the killed job over (after the lock expired) and finished it
    expect(b.stderr()).toContain(`job ${killedJob} stalled`); // found by B's stalled-job check
    expect(b.stderr()).toMatch(new RegExp(`job ${killedJob} \\(im\\d\\): done in`));
    // every output exactly once (no temp file, no extra name), each byte-identical to the single-process run
    const names = [0, 1, 2, 3, 4, 5].flatMap((k) => [`im${k}_stage1.png`, `im${k}_stage2.png`]);
    expect(await listFiles(ref)).toEqual([...names, 'summary.csv', 'summary.json']);
    expect(await listFiles(out)).toEqual([...names, 'summary.csv', 'summary.json']);
    for (const n of names) expect(readFileSync(path.join(out, n)).equals(readFileSync(path.join(ref, n)))).toBe(true);
    // the same summary rows as the CLI's (but for the output folder and the times)
    type Summary = { images: number; ok: number; failed: number; records: { input: string; mask?: string; outputs: string[]; status: string }[] };
    const rows = (f: string) => {
      const j = JSON.parse(readFileSync(f, 'utf8')) as Summary;
      return { ...j, seconds: 0, records: j.records.map((r) => ({ input: r.input, mask: r.mask, status: r.status, outputs: r.outputs.map((o) => path.basename(o)) })) };
    };
    expect(rows(path.join(out, 'summary.json'))).toEqual(rows(path.join(ref, 'summary.json')));
    expect(rows(path.join(out, 'summary.json')).ok).toBe(6);
    const st = runCli(['batch', 'status', id, '--queue', redis.url]);
    expect(st.status).toBe(0);
    expect(st.stdout).toMatch(new RegExp(`batch ${id}: 6 job\\(s\\): 6 done, 0 failed, 0 running, 0 waiting`));
    await stop(b);
  }, 180000);

  it('SIGTERM finishes the job in hand, then the worker exits 0; the rest stays queued', async () => {
    const dir = path.join(tmp.dir, 'term');
    const imgs = path.join(dir, 'images'), masks = path.join(dir, 'masks'), out = path.join(dir, 'out');
    await writeInputs(imgs, masks, 3);
    const cfg = path.join(dir, 'p.yaml');
    writeFileSync(cfg, `guide: { type: patch }\nmodel: { path: ${MODEL} }\nrefiner: { tk: 100, sampler: { type: ddim, steps: 5, eta: 0 } }\n`);
    const sub = runCli(['batch', 'submit', '--config', cfg, '--image', imgs, '--mask', masks, '-o', out, '--queue', redis.url]);
    expect(sub.status).toBe(0);
    const id = sub.stdout.trim();
    const w = start(['worker', '--queue', redis.url, '--root', dir, '--root', path.join(ROOT, 'models')], FAST);
    procs.push(w);
    const [, job, stem] = await w.waitFor(/job (\S+) \((im\d)\): started/);
    w.child.kill('SIGTERM');
    const e = await w.exited;
    expect(e.code).toBe(0);
    const log = w.stderr();
    expect(log.indexOf('SIGTERM: finishing the current job')).toBeLessThan(log.indexOf(`job ${job} (${stem}): done in`));
    expect(log).toMatch(/stopped after 1 job\(s\)/);
    expect(await listFiles(out)).toEqual([`${stem}_stage1.png`, `${stem}_stage2.png`]);
    const st = runCli(['batch', 'status', id, '--queue', redis.url]);
    expect(st.stdout).toMatch(/3 job\(s\): 1 done, 0 failed, 0 running, 2 waiting/);
  }, 120000);
});

maybe('queue faults: bad inputs, runtime retries, roots, a password', () => {
  let redis: RedisServer;
  let tmp: ReturnType<typeof tempDir>;
  let outside: ReturnType<typeof tempDir>;
  let worker: Proc;
  beforeAll(async () => {
    redis = await startRedis({ password: 's3cret/pw' });
    tmp = tempDir('diff2s-queue-faults-');
    outside = tempDir('diff2s-queue-outside-');
    worker = start(['worker', '--queue', redis.url, '--root', tmp.dir], FAST);
    await worker.waitFor(/diff2s worker .* on redis:/);
  });
  afterAll(async () => {
    await stop(worker);
    await redis?.stop();
    tmp?.cleanup();
    outside?.cleanup();
  });

  it('a bad input fails its job at once with the CLI\'s message; a runtime error is retried; retry re-runs the failed jobs', async () => {
    const imgs = path.join(tmp.dir, 'images'), masks = path.join(tmp.dir, 'masks'), out = path.join(tmp.dir, 'out');
    mkdirSync(imgs);
    mkdirSync(masks);
    await writeRgbPng(path.join(imgs, 'a.png'), 24, 20, 1);
    await writeRgbPng(path.join(imgs, 'b.png'), 24, 20, 2);
    writeFileSync(path.join(imgs, 'c.png'), 'corrupt');
    for (const n of ['a', 'b', 'c']) await writeRectMask(path.join(masks, `${n}.png`), 24, 20, 5, 5, 12, 12);
    const cfg = path.join(tmp.dir, 'h.yaml');
    writeFileSync(cfg, 'guide: { type: harmonic }\n');
    // the CLI's own message for the corrupt image
    const cli = runCli(['inpaint', '--config', cfg, '--image', imgs, '--mask', masks, '--out', path.join(tmp.dir, 'cli-out')]);
    const cliMsg = cli.stderr.match(/^ERROR: (.*c\.png is not a readable image.*) \(skipped\)$/m)?.[1];
    expect(cliMsg).toBeDefined();
    // b's output name is taken by a folder: renaming onto it fails at run time (not a bad input)
    mkdirSync(path.join(out, 'b_stage1.png', 'x'), { recursive: true });
    // what a writer killed between write and rename leaves: the next run of a's job removes it
    writeFileSync(path.join(out, '.a_stage1.png.4242.deadbeef.tmp'), 'half');
    const sub = runCli(['batch', 'submit', '--config', cfg, '--image', imgs, '--mask', masks, '-o', out, '--queue', redis.url, '--wait', '--attempts', '2', '--backoff', '200']);
    expect(sub.stderr).toContain(`ERROR: ${cliMsg} (skipped)`);
    expect(sub.stderr).toMatch(/done: 1 written, 2 failed, 0 skipped/);
    expect(sub.status).toBe(1); // a runtime failure among them, as the CLI's batch mode
    const id = sub.stdout.split('\n')[0];
    const st = runCli(['batch', 'status', id, '--queue', redis.url]);
    expect(st.stdout).toMatch(/3 job\(s\): 1 done, 2 failed, 0 running, 0 waiting/);
    expect(st.stdout).toContain(`failed ${path.join(imgs, 'c.png')}: ${cliMsg} (bad input: not retried)`);
    expect(st.stdout).toMatch(new RegExp(`failed ${path.join(imgs, 'b.png').replace(/[.]/g, '\\.')}: .* \\(after 2 attempts\\)`));
    await worker.waitFor(/\(b\): ERROR: .*\(attempt 2 of 2\)/); // the worker's log (read while runCli blocked) caught up
    const log = worker.stderr();
    expect(log.match(/\(c\): started/g)).toHaveLength(1);
    expect(log.match(/\(b\): started/g)).toHaveLength(2);
    // fix both, retry the failed jobs only
    rmSync(path.join(out, 'b_stage1.png'), { recursive: true });
    await writeRgbPng(path.join(imgs, 'c.png'), 24, 20, 3);
    const re = runCli(['batch', 'retry', id, '--queue', redis.url, '--wait']);
    expect(re.stdout.trim()).toBe('2');
    expect(re.stderr).toMatch(/done: 3 written, 0 failed, 0 skipped/);
    expect(re.status).toBe(0);
    expect(await listFiles(out)).toEqual(['a_stage1.png', 'b_stage1.png', 'c_stage1.png', 'summary.csv', 'summary.json']);
    expect((worker.stderr().match(/\(a\): started/g) ?? []).length).toBe(1); // a was not run again
  }, 120000);

  it('refuses a job whose paths lie outside the worker\'s roots (also through a symlink)', async () => {
    const imgs = path.join(tmp.dir, 'images-r'), mask = path.join(tmp.dir, 'mask-r.png');
    mkdirSync(imgs);
    await writeRgbPng(path.join(outside.dir, 'secret.png'), 16, 16, 5);
    symlinkSync(path.join(outside.dir, 'secret.png'), path.join(imgs, 'link.png'));
    await writeRgbPng(path.join(imgs, 'ok.png'), 16, 16, 6);
    await writeRectMask(mask, 16, 16, 4, 4, 10, 10);
    const cfg = path.join(tmp.dir, 'm.yaml');
    writeFileSync(cfg, 'guide: { type: mean }\n');
    const sub = runCli(['batch', 'submit', '--config', cfg, '--image', imgs, '--mask', mask, '-o', path.join(tmp.dir, 'out-r'), '--queue', redis.url, '--wait']);
    expect(sub.status).toBe(2);
    expect(sub.stderr).toMatch(new RegExp(`ERROR: image .*link\\.png is outside the worker's roots \\(.*\\): refusing it`));
    expect(await listFiles(path.join(tmp.dir, 'out-r'))).toEqual(['ok_stage1.png', 'summary.csv', 'summary.json']);
    // an output folder outside the roots: every job refused, no image written there (the submit's summary only)
    // (the inpaint flags work as in the CLI: the embedded default config, its guide and refiner replaced by flags)
    const sub2 = runCli(['batch', 'submit', '--guide', 'mean', '--no-refine', '--image', path.join(imgs, 'ok.png'), '--mask', mask, '-o', path.join(outside.dir, 'out'), '--queue', redis.url, '--wait']);
    expect(sub2.status).toBe(2);
    expect(sub2.stderr).toMatch(/ERROR: output folder .*out is outside the worker's roots/);
    expect(await listFiles(path.join(outside.dir, 'out'))).toEqual(['summary.csv', 'summary.json']);
    expect(readFileSync(path.join(outside.dir, 'out', 'summary.csv'), 'utf8')).toMatch(/ok\.png,.*,,failed,.*outside the worker's roots/);
    // an eval whose dataset lies outside the roots: every job refused before the dataset is listed, recorded as failed rows
    const ecfg = path.join(tmp.dir, 'e-out.yaml');
    writeFileSync(ecfg, `dataset: { images: ${outside.dir}, masks: { file: ${mask} } }\nmethods: [{ name: mean, pipeline: { guide: { type: mean } } }]\nmetrics: [l1]\n`);
    const sub3 = runCli(['batch', 'submit', '--eval', ecfg, '-o', path.join(tmp.dir, 'out-e'), '--queue', redis.url, '--wait']);
    expect(sub3.status).toBe(2);
    expect(sub3.stderr).toMatch(/ERROR: dataset\.images .* is outside the worker's roots/);
    const erows = JSON.parse(readFileSync(path.join(tmp.dir, 'out-e', 'per-image.json'), 'utf8')) as { status: string; error: string }[];
    expect(erows.length).toBeGreaterThan(0);
    for (const r of erows) expect(r).toMatchObject({ status: 'failed', error: expect.stringMatching(/outside the worker's roots/) });
  }, 60000);

  it('an eval config as jobs (run × image): the same rows, results, masks and grid as `diff2s eval`, failures recorded', async () => {
    const dir = path.join(tmp.dir, 'eval');
    const imgs = path.join(dir, 'images'), masks = path.join(dir, 'masks');
    mkdirSync(imgs, { recursive: true });
    mkdirSync(masks, { recursive: true });
    for (const [k, n] of ['p', 'q', 'r'].entries()) {
      await writeRgbPng(path.join(imgs, `${n}.png`), 24, 20, k + 1);
      await writeRectMask(path.join(masks, `${n}.png`), 24, 20, 4 + k, 5, 14 + k, 13);
    }
    writeFileSync(path.join(imgs, 'x.png'), 'corrupt');
    await writeRectMask(path.join(masks, 'x.png'), 24, 20, 4, 5, 14, 13);
    const cfg = path.join(dir, 'e.yaml');
    writeFileSync(cfg, [
      'seed: 0',
      'dataset: { images: images, masks: { dir: masks } }',
      'methods:',
      '  - { name: mean, pipeline: { guide: { type: mean } } }',
      '  - { name: patch, pipeline: { guide: { type: patch } }, sweep: { guide.patchSize: [3, 5] } }',
      'metrics: [psnr, ssim, l1]',
      'output: out-cli',
      'grid: { maxImages: 3 }',
      '',
    ].join('\n'));
    const cli = runCli(['eval', '--config', cfg, '-q']);
    expect(cli.status).toBe(2); // x.png is recorded as failed in every run
    const out = path.join(dir, 'out-q');
    const sub = runCli(['batch', 'submit', '--eval', cfg, '-o', out, '--queue', redis.url, '--wait']);
    expect(sub.stderr).toMatch(/3 run\(s\) × 4 input\(s\) = 12 job\(s\)/);
    expect(sub.stderr).toMatch(/eval: 9\/12 image runs ok, 3 failed, 0 known-pixel violations/);
    expect(sub.status).toBe(2);
    const ref = path.join(dir, 'out-cli');
    type Row = Record<string, unknown>;
    const rows = (d: string) => (JSON.parse(readFileSync(path.join(d, 'per-image.json'), 'utf8')) as Row[])
      .map(({ guideMs: _g, fitMs: _f, refinerMs: _r, totalMs: _t, metricsMs: _m, ...rest }) => rest);
    expect(rows(out)).toEqual(rows(ref));
    expect(rows(out).filter((r) => r.status === 'failed').map((r) => r.error)).toEqual(Array(3).fill(expect.stringMatching(/x\.png is not a readable image/)));
    const files = (d: string, sub: string) => listFiles(path.join(d, sub));
    for (const sub of ['masks', 'results/mean', 'results/patch-patchsize=3', 'results/patch-patchsize=5']) {
      const names = await files(ref, sub);
      expect(names.length).toBeGreaterThan(0);
      expect(await files(out, sub)).toEqual(names);
      for (const n of names) expect(readFileSync(path.join(out, sub, n)).equals(readFileSync(path.join(ref, sub, n)))).toBe(true);
    }
    expect(readFileSync(path.join(out, 'grid.png')).equals(readFileSync(path.join(ref, 'grid.png')))).toBe(true);
    expect(readFileSync(path.join(out, 'report.html'), 'utf8')).toContain('patch patchSize=5');
    const means = (d: string) => (JSON.parse(readFileSync(path.join(d, 'summary.json'), 'utf8')) as { runs: { run: string; metrics: unknown }[] }).runs.map((r) => [r.run, r.metrics]);
    expect(means(out)).toEqual(means(ref));
  }, 120000);

  it('a wrong password or an unreachable Redis fails the submit with one line, never printing the password', () => {
    const bad = redis.url.replace(encodeURIComponent('s3cret/pw'), 'wrong');
    const imgs = path.join(tmp.dir, 'images');
    const cfg = path.join(tmp.dir, 'h.yaml');
    const r = runCli(['batch', 'submit', '--config', cfg, '--image', imgs, '--mask', path.join(tmp.dir, 'masks'), '-o', path.join(tmp.dir, 'o2'), '--queue', bad]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^ERROR: cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0: .*(WRONGPASS|invalid)/m);
    expect(r.stderr).not.toContain('wrong');
    const r2 = runCli(['batch', 'status', 'x', '--queue', 'http://127.0.0.1:1']);
    expect(r2.status).toBe(2);
    expect(r2.stderr).toMatch(/ERROR: expected a redis:\/\/ or rediss:\/\/ URL/);
  });
});

describe('worker roots and queue URLs', () => {
  it('a path is inside a root only after symlinks are resolved; relative paths never are', () => {
    const t = tempDir('diff2s-roots-');
    const o = tempDir('diff2s-roots-out-');
    try {
      mkdirSync(path.join(t.dir, 'in'));
      symlinkSync(o.dir, path.join(t.dir, 'in', 'escape'));
      const roots = new Roots([path.join(t.dir, 'in')]);
      expect(roots.contains(path.join(t.dir, 'in', 'a.png'))).toBe(true);
      expect(roots.contains(path.join(t.dir, 'in', 'new', 'deeper', 'b.png'))).toBe(true);
      expect(roots.contains(path.join(t.dir, 'in', '..', 'x.png'))).toBe(false);
      expect(roots.contains(path.join(t.dir, 'in-other', 'x.png'))).toBe(false);
      expect(roots.contains(path.join(t.dir, 'in', 'escape', 'x.png'))).toBe(false);
      expect(roots.contains('in/a.png')).toBe(false);
      expect(() => roots.check(path.join(o.dir, 'f.png'), 'image')).toThrow(/is outside the worker's roots/);
    } finally {
      t.cleanup();
      o.cleanup();
    }
  });

  it('queue URLs: redis:// or rediss://, a numeric db', () => {
    expect(parseQueueUrl('redis://:pw@host:6380/2').port).toBe('6380');
    expect(() => parseQueueUrl('http://host')).toThrow(/redis:\/\/ or rediss:\/\//);
    expect(() => parseQueueUrl('redis://host/abc')).toThrow(/must be a number/);
    expect(() => parseQueueUrl('nonsense')).toThrow(/expected a Redis URL/);
  });
});
