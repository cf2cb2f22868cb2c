/**
 * `diff2s serve`'s backend runs every job in a process of its own (ProcessStudioBackend, issue 20): the studio answers
 * while a job computes, a cancel stops the computation (the job's process goes), a crashed job is an error naming
 * what happened, errors keep their class, and results keep the known pixels exactly.
 */
import * as path from 'path';
import { decodeImage } from '@diff2s/core';
import { ProcessStudioBackend } from '@diff2s/cli';
import { startStudio } from '@diff2s/studio';
import { EventStream, postJob, testImage, testMask } from '../packages/studio/test/helpers';
import { ROOT, TEST_CACHE_DIR } from './helpers/cli';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until(pred: () => boolean, what: string, ms = 60000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('studio jobs in processes of their own', () => {
  let backend: ProcessStudioBackend;
  let studio: Awaited<ReturnType<typeof startStudio>>;
  let base: string;
  const warnings: string[] = [];
  beforeAll(async () => {
    process.env.DIFF2S_CACHE_DIR = TEST_CACHE_DIR;
    backend = new ProcessStudioBackend({ modelDirs: [path.join(ROOT, 'models')], examplesDir: path.join(ROOT, 'examples/data'), fit: false });
    studio = await startStudio({ backend, port: 0, logger: { info: () => undefined, warn: (m) => warnings.push(m) } });
    base = studio.url.replace(/\/$/, '');
  });
  afterAll(async () => {
    await studio?.close();
    await backend?.dispose();
  });

  /** The harmonic guide with its largest sweep count on 384² (minutes of one uninterrupted loop), once it runs. */
  async function startSlowJob() {
    const img = await testImage(384, 384);
    const mask = await testMask(384, 384, { x0: 100, y0: 100, x1: 300, y1: 300 });
    const { body } = await postJob(base, { image: img.png, mask: mask.png, pipeline: { guide: { type: 'harmonic', iterations: 20000, tolerance: 1e-30 }, refiner: { enabled: false }, seed: 0, samples: 1 } });
    const ev = new EventStream(`${base}/api/jobs/${body.id}/events`);
    await ev.next((e) => e.event === 'progress');
    return { body, ev, pid: backend.runningPids()[0] };
  }

  it('runs a job in another process; known pixels of the result equal the upload exactly', async () => {
    const img = await testImage(64, 48);
    const mask = await testMask(64, 48, { x0: 20, y0: 12, x1: 40, y1: 30 });
    const { status, body } = await postJob(base, { image: img.png, mask: mask.png, pipeline: { guide: { type: 'patch' }, refiner: { enabled: false }, seed: 0, samples: 2 } });
    expect(status).toBe(202);
    const ev = new EventStream(`${base}/api/jobs/${body.id}/events`);
    let pid: number | undefined;
    await ev.next((e) => e.event === 'progress').then(() => { pid = backend.runningPids()[0]; });
    const end = await ev.finished;
    expect(end.event).toBe('done');
    expect(pid).toBeGreaterThan(0);
    expect(pid).not.toBe(process.pid);
    expect(end.data.stage1).toHaveLength(2);
    const input = (await decodeImage(img.png, 'in')).tensor;
    for (const url of end.data.stage1 as string[]) {
      const out = (await decodeImage(new Uint8Array(await (await fetch(`${base}${url}`)).arrayBuffer()), 'out')).tensor;
      expect(out.shape).toEqual(input.shape);
      let changed = 0;
      for (let c = 0; c < 3; c++) for (let y = 0; y < 48; y++) for (let x = 0; x < 64; x++) {
        if (mask.tensor.data[y * 64 + x] === 0 && out.data[out.index(0, c, y, x)] !== input.data[input.index(0, c, y, x)]) changed++;
      }
      expect(changed).toBe(0);
    }
    await until(() => !alive(pid!), 'the job process to exit');
  });

  it('answers while a job that would hold the event loop for minutes computes, and a cancel stops it', async () => {
    const { body, ev, pid } = await startSlowJob();
    expect(pid).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 500)); // well inside the loop
    // the studio answers (in-process, this request would wait for the loop to end)
    const info = await fetch(`${base}/api/info`);
    expect(info.status).toBe(200);
    const status = await (await fetch(`${base}/api/jobs/${body.id}`)).json();
    expect(status.state).toBe('running');
    const cancel = await fetch(`${base}/api/jobs/${body.id}/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(200);
    expect((await ev.finished).event).toBe('cancelled');
    // the computation is stopped: the job's process is gone (killed after its grace time)
    await until(() => !alive(pid), 'the cancelled job process to go');
    expect(backend.runningPids()).not.toContain(pid);
  });

  it('reports a job process that dies (e.g. killed for memory) as the job\'s error, and keeps serving', async () => {
    const { ev, pid } = await startSlowJob();
    process.kill(pid, 'SIGKILL');
    const end = await ev.finished;
    expect(end.event).toBe('error');
    expect(end.data.message).toMatch(/the job's process ended before its result \(signal SIGKILL: out of memory\?\)/);
    // the next job runs
    const small = await testImage(32, 32);
    const smallMask = await testMask(32, 32, { x0: 8, y0: 8, x1: 20, y1: 20 });
    const next = await postJob(base, { image: small.png, mask: smallMask.png, pipeline: { guide: { type: 'mean' }, refiner: { enabled: false }, seed: 0, samples: 1 } });
    expect((await new EventStream(`${base}/api/jobs/${next.body.id}/events`).finished).event).toBe('done');
  });

  it('keeps an error\'s class across the process boundary: a bad input is the job\'s message, not a crash report', async () => {
    const img = await testImage(64, 48);
    const mask = await testMask(64, 48, { x0: 20, y0: 12, x1: 40, y1: 30 });
    const before = warnings.length;
    // the grey brick model on a colour image: refused with one line naming both (a ConfigError/InputError)
    const { body } = await postJob(base, { image: img.png, mask: mask.png, model: 'frugal-brick', pipeline: { guide: { type: 'patch' }, refiner: { enabled: true, tk: 20 }, seed: 0, samples: 1 } });
    const end = await new EventStream(`${base}/api/jobs/${body.id}/events`).finished;
    expect(end.event).toBe('error');
    expect(end.data.message).toMatch(/trained on grey images only, and this image is in colour/);
    // diff2s errors are the user's to fix: no stack trace in the studio's log
    expect(warnings.slice(before).join('\n')).not.toMatch(/at .*\.js:\d+/);
  });

  it('runs jobs of different models at the same time, each in its own process', async () => {
    const img = await testImage(384, 384);
    const mask = await testMask(384, 384, { x0: 100, y0: 100, x1: 300, y1: 300 });
    const slow = { guide: { type: 'harmonic', iterations: 20000, tolerance: 1e-30 }, refiner: { enabled: false }, seed: 0, samples: 1 };
    const a = await postJob(base, { image: img.png, mask: mask.png, pipeline: slow });
    const b = await postJob(base, { image: img.png, mask: mask.png, pipeline: slow, model: 'frugal-colour' });
    const ea = new EventStream(`${base}/api/jobs/${a.body.id}/events`);
    const eb = new EventStream(`${base}/api/jobs/${b.body.id}/events`);
    await Promise.all([ea.next((e) => e.event === 'progress'), eb.next((e) => e.event === 'progress')]);
    await until(() => backend.runningPids().length === 2, 'two job processes');
    const pids = backend.runningPids();
    expect(new Set(pids).size).toBe(2);
    await studio.close(); // cancels every job
    expect((await ea.finished).event).toBe('cancelled');
    expect((await eb.finished).event).toBe('cancelled');
    await backend.dispose();
    await until(() => pids.every((p) => !alive(p)), 'the job processes to go');
  });
});
