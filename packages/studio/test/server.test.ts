import { decodeImage, quantizeTensor8 } from '@diff2s/core';
import { readableError, redactPaths } from '../src/jobs';
import { startStudio } from '../src/server';
import { resolveStaticPath, PUBLIC_DIR } from '../src/static';
import { Deferred, FakeBackend, meanFill } from './fake-backend';
import { EventStream, postJob, rawRequest, startFake, testImage, testMask } from './helpers';

type Started = Awaited<ReturnType<typeof startFake>>;

describe('studio server: page, info, examples', () => {
  let s: Started;
  beforeAll(async () => { s = await startFake(); });
  afterAll(() => s.studio.close());

  it('binds 127.0.0.1 on a random port and logs its URL', () => {
    expect(s.studio.url).toBe(`http://127.0.0.1:${s.studio.port}/`);
    expect(s.studio.port).toBeGreaterThan(0);
    expect(s.logs.info.join('\n')).toContain(s.studio.url);
    expect(s.logs.warn).toEqual([]);
  });

  it('serves the page and its assets with safe headers', async () => {
    const page = await fetch(`${s.base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await page.text();
    expect(html).toContain('diff2s');
    expect(html).not.toMatch(/https?:\/\//); // works offline: no CDN, no external fonts
    for (const [file, type] of [['app.js', 'javascript'], ['style.css', 'text/css'], ['favicon.svg', 'svg']]) {
      const r = await fetch(`${s.base}/${file}`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toContain(type);
      expect(await r.text()).not.toMatch(/(src|href|url\()\s*=?\s*["']?https?:\/\//);
    }
    const head = await fetch(`${s.base}/style.css`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(100);
  });

  it('describes the backend with the limits', async () => {
    const info = (await (await fetch(`${s.base}/api/info`)).json()) as Record<string, any>;
    expect(info.guides.map((g: any) => g.name)).toContain('mean');
    expect(info.samplers).toContain('fake-ddpm');
    expect(info.defaultPipeline.guide.type).toBe('mean');
    expect(info.limits.maxPixels).toBeGreaterThan(0);
    expect(info.limits.maxUploadBytes).toBeGreaterThan(0);
  });

  it('lists examples and serves them by id only', async () => {
    const list = (await (await fetch(`${s.base}/api/examples`)).json()) as any[];
    expect(list.map((x) => x.id)).toEqual(['gradient', 'rings']);
    expect(list[0].mask).toBe('/api/examples/gradient/mask.png');
    expect(list[1].mask).toBeUndefined();
    const img = await fetch(`${s.base}${list[0].image}`);
    expect(img.headers.get('content-type')).toBe('image/png');
    const decoded = await decodeImage(new Uint8Array(await img.arrayBuffer()), 'example');
    expect([decoded.width, decoded.height]).toEqual([96, 64]);
    expect((await fetch(`${s.base}/api/examples/rings/mask.png`)).status).toBe(404);
    expect((await fetch(`${s.base}/api/examples/nope/image.png`)).status).toBe(404);
  });

  it('validates config text through the backend, with the key path', async () => {
    const ok = await fetch(`${s.base}/api/pipeline`, {
      method: 'POST',
      body: JSON.stringify({ guide: { type: 'flat', value: 0.5 }, refiner: { enabled: true, tk: 5 }, seed: 9, samples: 2 }),
    });
    expect(ok.status).toBe(200);
    const { pipeline } = (await ok.json()) as any;
    expect(pipeline).toEqual({ guide: { type: 'flat', value: 0.5 }, refiner: { enabled: true, tk: 5, sampler: { type: 'fake-ddpm' } }, seed: 9, samples: 2 });
    const bad = await fetch(`${s.base}/api/pipeline`, { method: 'POST', body: '{"guide":{"type":"mean"},"refiner":{"tk":999}}' });
    expect(bad.status).toBe(400);
    const err = (await bad.json()) as any;
    expect(err.path).toBe('refiner.tk');
    expect(err.error).toMatch(/tk must be an integer in \[1, 50\].*refiner\.tk/);
    const junk = await fetch(`${s.base}/api/pipeline`, { method: 'POST', body: 'guide: [' });
    expect(junk.status).toBe(400);
    expect(((await junk.json()) as any).error).toMatch(/not valid JSON/);
  });

  it('answers unknown routes and wrong methods with readable JSON', async () => {
    const r = await fetch(`${s.base}/api/nothing`);
    expect(r.status).toBe(404);
    expect(((await r.json()) as any).error).toMatch(/no such API route/);
    const m = await fetch(`${s.base}/api/info`, { method: 'POST' });
    expect(m.status).toBe(405);
    expect((await fetch(`${s.base}/api/jobs/00000000-0000-0000-0000-000000000000`)).status).toBe(404);
  });
});

describe('studio server: refuses paths outside its folders', () => {
  let s: Started;
  beforeAll(async () => { s = await startFake(); });
  afterAll(() => s.studio.close());

  const attempts = [
    '/../package.json',
    '/../../package.json',
    '/%2e%2e/package.json',
    '/%2E%2E/%2E%2E/package.json',
    '/..%2fpackage.json',
    '/%2e%2e%2f%2e%2e%2fpackage.json',
    '/static/..%2f..%2fpackage.json',
    '/..%5cpackage.json',
    '/%5c..%5cpackage.json',
    '//etc/passwd',
    '/%2fetc%2fpasswd',
    '/etc/passwd',
    '/%252e%252e/package.json',
    '/index.html%00.png',
    '/./index.html',
    '/.hidden',
    '/%c0%ae%c0%ae/package.json',
    '/%',
    '/api/examples/..%2f..%2fpackage.json/image.png',
    '/api/examples/%2e%2e/image.png',
    '/api/jobs/..%2f..%2fetc/results/stage1/0.png',
  ];

  it.each(attempts)('refuses %s with 400/403/404', async (p) => {
    const r = await rawRequest(s.base, p);
    expect([400, 403, 404]).toContain(r.status);
    expect(r.body).not.toContain('"name"'); // no package.json content
    expect(r.body).not.toContain('root:');
  });

  it('still serves real files', async () => {
    expect((await rawRequest(s.base, '/index.html')).status).toBe(200);
    expect((await rawRequest(s.base, '/app.js?v=1')).status).toBe(200);
  });

  it('maps paths with pure arithmetic that never leaves the folder', () => {
    expect(resolveStaticPath('/')).toMatchObject({ ok: true, file: `${PUBLIC_DIR}/index.html` });
    expect(resolveStaticPath('/%2e%2e/x.js')).toMatchObject({ ok: false, status: 403 });
    expect(resolveStaticPath('/a/../../x.js')).toMatchObject({ ok: false, status: 403 });
    expect(resolveStaticPath('/x.exe')).toMatchObject({ ok: false, status: 404 });
  });

  it('refuses a foreign Host (DNS rebinding) and cross-origin POSTs', async () => {
    const r = await rawRequest(s.base, '/api/info', { headers: { Host: 'evil.example:80' } });
    expect(r.status).toBe(403);
    const p = await rawRequest(s.base, '/api/pipeline', {
      method: 'POST',
      headers: { Origin: 'http://evil.example', 'Content-Type': 'text/plain' },
      body: Buffer.from('{}'),
    });
    expect(p.status).toBe(403);
    expect(p.body).toMatch(/cross-origin/);
  });

  it('runs only registered models (by id)', async () => {
    const img = await testImage();
    const mask = await testMask();
    const r = await postJob(s.base, { image: img.png, mask: mask.png, model: '../../etc/passwd' });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatch(/unknown model "\.\.\/\.\.\/etc\/passwd"; available: \(none\)/);
  });
});

describe('studio server: jobs', () => {
  let s: Started;
  beforeEach(async () => { s = await startFake({ models: ['small', 'large'] }); });
  afterEach(() => s.studio.close());

  it('runs the default pipeline with progress, previews and both stages; known pixels are kept', async () => {
    const img = await testImage();
    const mask = await testMask();
    const created = await postJob(s.base, { image: img.png, mask: mask.png });
    expect(created.status).toBe(202);
    expect(created.body.id).toMatch(/^[0-9a-f-]{36}$/);
    const es = new EventStream(`${s.base}${created.body.events}`);
    const done = await es.finished;
    expect(done.event).toBe('done');
    const steps = es.events.filter((e) => e.event === 'progress' && e.data.stage === 'refiner');
    expect(steps.map((e) => e.data.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(steps.every((e) => e.data.total === 8)).toBe(true);
    const previews = es.events.filter((e) => e.data.preview);
    expect(previews.length).toBeGreaterThan(1);
    expect(previews[0].data.preview).toMatch(/^data:image\/png;base64,/);
    expect(done.data.stage1).toHaveLength(1);
    expect(done.data.stage2).toHaveLength(1);

    const stage1 = await decodeImage(new Uint8Array(await (await fetch(`${s.base}${done.data.stage1[0]}`)).arrayBuffer()), 's1');
    const res2 = await fetch(`${s.base}${done.data.stage2[0]}?download=1`);
    expect(res2.headers.get('content-disposition')).toMatch(/^attachment; filename="diff2s-stage2-[0-9a-f]{8}-1\.png"$/);
    const named = await fetch(`${s.base}${done.data.stage2[0]}?download=${encodeURIComponent('../../my "cat".png')}`);
    expect(named.headers.get('content-disposition')).toBe('attachment; filename="my_cat_.png"');
    const stage2 = await decodeImage(new Uint8Array(await res2.arrayBuffer()), 's2');
    expect([stage2.width, stage2.height]).toEqual([48, 32]);
    // stage 1 is the mean fill; stage 2 differs in the hole but keeps every known pixel exactly
    const expected1 = meanFill(img.tensor, mask.tensor);
    let maxErr = 0, holeDiff = 0;
    for (let i = 0; i < expected1.size; i++) maxErr = Math.max(maxErr, Math.abs(stage1.tensor.data[i] - expected1.data[i]));
    expect(maxErr).toBeLessThanOrEqual(1 / 127.5 + 1e-6);
    const hw = 48 * 32;
    const known = quantizeTensor8(img.tensor.clone()); // what the PNG upload holds
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < hw; p++) {
        const a = stage2.tensor.data[c * hw + p], b = known.data[c * hw + p];
        if (mask.tensor.data[p] === 0) expect(a).toBe(b);
        else holeDiff += Math.abs(a - stage1.tensor.data[c * hw + p]);
      }
    }
    expect(holeDiff).toBeGreaterThan(0);
    const status = (await (await fetch(`${s.base}/api/jobs/${created.body.id}`)).json()) as any;
    expect(status.state).toBe('done');
  });

  it('returns N samples and skips stage 2 when the refiner is off', async () => {
    const img = await testImage();
    const mask = await testMask();
    const r = await postJob(s.base, { image: img.png, mask: mask.png, pipeline: { guide: { type: 'mean' }, refiner: { enabled: false }, seed: 3, samples: 3 } });
    expect(r.status).toBe(202);
    const done = await new EventStream(`${s.base}${r.body.events}`).finished;
    expect(done.data.stage1).toHaveLength(3);
    expect(done.data.stage2).toBeUndefined();
    expect((await fetch(`${s.base}${done.data.stage1[2]}`)).status).toBe(200);
    expect((await fetch(`${s.base}/api/jobs/${r.body.id}/results/stage1/3.png`)).status).toBe(404);
    expect((await fetch(`${s.base}/api/jobs/${r.body.id}/results/stage2/0.png`)).status).toBe(404);
  });

  it('replays the terminal event to a late listener', async () => {
    const img = await testImage();
    const mask = await testMask();
    const r = await postJob(s.base, { image: img.png, mask: mask.png });
    await new EventStream(`${s.base}${r.body.events}`).finished;
    const late = new EventStream(`${s.base}${r.body.events}`);
    expect((await late.finished).event).toBe('done');
    expect(late.events).toHaveLength(1);
  });

  it('a listener that connects during stage 2 gets stage 1 first (its preview), then the latest progress', async () => {
    const img = await testImage();
    const mask = await testMask();
    const hold = new Deferred();
    s.backend.beforeStep = (info) => (info.step === 3 ? hold.promise : undefined);
    const r = await postJob(s.base, { image: img.png, mask: mask.png });
    const first = new EventStream(`${s.base}${r.body.events}`);
    await first.next((e) => e.event === 'progress' && e.data.stage === 'refiner' && e.data.step === 2);
    const late = new EventStream(`${s.base}${r.body.events}`);
    const latest = await late.next((e) => e.event === 'progress' && e.data.stage === 'refiner');
    expect(latest.data.step).toBe(2);
    const progress = late.events.filter((e) => e.event === 'progress');
    expect(progress[0].data.stage).toBe('guide');
    expect(progress[0].data.preview).toMatch(/^data:image\/png;base64,/);
    hold.resolve();
    expect((await late.finished).event).toBe('done');
    expect((await first.finished).event).toBe('done');
  });

  it('queues jobs per model, shows positions, and cancelling a queued job moves the others up', async () => {
    const img = await testImage();
    const mask = await testMask();
    const gate = new Deferred();
    const started: number[] = [];
    s.backend.beforeRun = async (info) => {
      started.push(info.seed);
      if (info.seed === 1) await gate.promise;
    };
    const pipe = (seed: number) => ({ guide: { type: 'mean' }, refiner: { enabled: true, tk: 2 }, seed, samples: 1 });
    const j1 = await postJob(s.base, { image: img.png, mask: mask.png, model: 'small', pipeline: pipe(1) });
    const e1 = new EventStream(`${s.base}${j1.body.events}`);
    await e1.next((e) => e.event === 'progress');
    const j2 = await postJob(s.base, { image: img.png, mask: mask.png, model: 'small', pipeline: pipe(2) });
    const j3 = await postJob(s.base, { image: img.png, mask: mask.png, model: 'small', pipeline: pipe(3) });
    expect([j2.body.state, j2.body.position]).toEqual(['queued', 1]);
    expect([j3.body.state, j3.body.position]).toEqual(['queued', 2]);
    const e2 = new EventStream(`${s.base}${j2.body.events}`);
    const e3 = new EventStream(`${s.base}${j3.body.events}`);
    expect((await e3.next((e) => e.event === 'queued')).data.position).toBe(2);
    // another model runs meanwhile
    const other = await postJob(s.base, { image: img.png, mask: mask.png, model: 'large', pipeline: pipe(4) });
    expect(other.body.state).toBe('running');
    expect((await new EventStream(`${s.base}${other.body.events}`).finished).event).toBe('done');
    // cancel the queued j2: j3 becomes first
    const c = (await (await fetch(`${s.base}/api/jobs/${j2.body.id}/cancel`, { method: 'POST' })).json()) as any;
    expect(c).toMatchObject({ cancelled: true, state: 'cancelled' });
    expect((await e2.finished).event).toBe('cancelled');
    expect((await e3.next((e) => e.event === 'queued' && e.data.position === 1)).data.position).toBe(1);
    gate.resolve();
    expect((await e1.finished).event).toBe('done');
    expect((await e3.finished).event).toBe('done');
    expect(started).toEqual([1, 4, 3]);
    expect(s.backend.maxConcurrentPerModel).toBe(1);
    expect(s.backend.maxConcurrent).toBe(2);
    const again = (await (await fetch(`${s.base}/api/jobs/${j2.body.id}/cancel`, { method: 'POST' })).json()) as any;
    expect(again.cancelled).toBe(false);
  });

  it('cancelling a running job aborts its signal and frees the model for the next job', async () => {
    const img = await testImage();
    const mask = await testMask();
    const reachedStep = new Deferred<AbortSignal>();
    s.backend.beforeStep = (info) => {
      if (info.seed === 10 && info.step === 2) {
        reachedStep.resolve(info.signal);
        return new Promise<void>((resolve) => info.signal.addEventListener('abort', () => resolve(), { once: true }));
      }
    };
    const pipe = (seed: number) => ({ guide: { type: 'mean' }, refiner: { enabled: true, tk: 5 }, seed, samples: 1 });
    const j1 = await postJob(s.base, { image: img.png, mask: mask.png, pipeline: pipe(10) });
    const e1 = new EventStream(`${s.base}${j1.body.events}`);
    const signal = await reachedStep.promise;
    const j2 = await postJob(s.base, { image: img.png, mask: mask.png, pipeline: pipe(11) });
    expect(j2.body.state).toBe('queued');
    const e2 = new EventStream(`${s.base}${j2.body.events}`);
    await fetch(`${s.base}/api/jobs/${j1.body.id}/cancel`, { method: 'POST' });
    expect(signal.aborted).toBe(true);
    expect((await e1.finished).event).toBe('cancelled');
    expect((await e2.finished).event).toBe('done');
    expect(s.backend.completed).toBe(1);
    expect((await fetch(`${s.base}/api/jobs/${j1.body.id}/results/stage1/0.png`)).status).toBe(404);
  });

  it('cancels a job whose page went away', async () => {
    await s.studio.close();
    s = await startFake({}, { cancelAbandonedAfterMs: 0 });
    const img = await testImage();
    const mask = await testMask();
    const aborted = new Deferred();
    s.backend.beforeRun = (info) => new Promise<void>((resolve) => {
      info.signal.addEventListener('abort', () => { aborted.resolve(); resolve(); }, { once: true });
    });
    const started = new Promise((r) => s.backend.events.once('start', r));
    const j = await postJob(s.base, { image: img.png, mask: mask.png });
    const es = new EventStream(`${s.base}${j.body.events}`);
    await started;
    await es.status;
    es.close();
    await aborted.promise;
    const status = (await (await fetch(`${s.base}/api/jobs/${j.body.id}`)).json()) as any;
    expect(status.state).toBe('cancelled');
  });

  it("error texts for the page keep a path's last name only (the server's folders stay on the server)", () => {
    expect(redactPaths('cannot read /home/me/models/x/weights.bin: ENOENT')).toBe('cannot read …/weights.bin: ENOENT');
    expect(redactPaths('the model "/srv/diff2s/models/frugal-colour" is grey')).toBe('the model "…/frugal-colour" is grey');
    expect(redactPaths('C:\\Users\\me\\w.bin is missing')).toBe('…\\w.bin is missing');
    // what is not an absolute path stays
    for (const m of ['a 3/4 hole, width/height 10', 'redis://host:6379/0 is down', 'unknown model "../../etc/passwd"', 'expected [1, 1, 10, 10]']) {
      expect(redactPaths(m)).toBe(m);
    }
    expect(readableError(new Error('no such file /var/lib/x/y.png'))).toBe('no such file …/y.png');
  });

  it('reports backend failures as readable error events', async () => {
    const img = await testImage();
    const mask = await testMask();
    const r = await postJob(s.base, { image: img.png, mask: mask.png, pipeline: { guide: { type: 'explode' }, seed: 1, samples: 1 } });
    expect(r.status).toBe(202);
    const ev = await new EventStream(`${s.base}${r.body.events}`).finished;
    expect(ev).toEqual({ event: 'error', data: { id: r.body.id, message: 'the fake guide exploded on purpose' } });
    expect(s.logs.warn.join('\n')).toContain('exploded');
    // the lane is free again
    const ok = await postJob(s.base, { image: img.png, mask: mask.png });
    expect((await new EventStream(`${s.base}${ok.body.events}`).finished).event).toBe('done');
  });

  it('refuses bad uploads with clear messages before queueing', async () => {
    const img = await testImage();
    const mask = await testMask();
    const otherSize = await testMask(20, 20, { x0: 1, y0: 1, x1: 5, y1: 5 });
    const empty = await testMask(48, 32, { x0: 0, y0: 0, x1: 0, y1: 0 });
    const cases: [Parameters<typeof postJob>[1], number, RegExp][] = [
      [{ mask: mask.png }, 400, /no image/],
      [{ image: img.png }, 400, /no mask/],
      [{ image: Buffer.from('not a png at all'), mask: mask.png }, 400, /not a readable image/],
      [{ image: img.png, mask: otherSize.png }, 400, /mask .* is 20x20 but the image is 48x32/],
      [{ image: img.png, mask: empty.png }, 400, /mask has no hole/],
      [{ image: img.png, mask: mask.png, pipeline: '{oops' }, 400, /pipeline field is not valid JSON/],
      [{ image: img.png, mask: mask.png, pipeline: { guide: { type: 'nope' } } }, 400, /invalid pipeline: unknown guide "nope".*guide\.type/],
      [{ image: img.png, mask: mask.png, model: 'huge' }, 400, /unknown model "huge"; available: small, large/],
    ];
    for (const [parts, status, msg] of cases) {
      const r = await postJob(s.base, parts);
      expect([r.status, r.body.error]).toEqual([status, expect.stringMatching(msg)]);
    }
    const notMultipart = await fetch(`${s.base}/api/jobs`, { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' } });
    expect(notMultipart.status).toBe(415);
    expect(s.backend.runs).toBe(0);
  });
});

describe('studio server: upload limits', () => {
  let s: Started;
  beforeAll(async () => { s = await startFake({}, { maxUploadBytes: 20000, maxPixels: 40 * 40 }); });
  afterAll(() => s.studio.close());

  it('refuses an image over the pixel limit, naming both numbers', async () => {
    const img = await testImage(64, 48);
    const mask = await testMask(64, 48);
    const r = await postJob(s.base, { image: img.png, mask: mask.png });
    expect(r.status).toBe(413);
    expect(r.body.error).toBe("the image is 64×48 = 3072 pixels, over the studio's limit of 1600 pixels");
  });

  it('refuses a body over the byte limit from its Content-Length without reading it', async () => {
    const big = Buffer.alloc(30000, 7);
    const r = await rawRequest(s.base, '/api/jobs', {
      method: 'POST',
      headers: { 'Content-Type': 'multipart/form-data; boundary=x', 'Content-Length': big.length },
      body: big,
    });
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body).error).toMatch(/the upload is 29\.3 KiB, which is over the studio's limit of 19\.5 KiB per request/);
  });

  it('refuses a streamed (chunked) body once it passes the limit', async () => {
    const chunks = Array.from({ length: 10 }, () => Buffer.alloc(4000, 1));
    const r = await rawRequest(s.base, '/api/jobs', {
      method: 'POST',
      headers: { 'Content-Type': 'multipart/form-data; boundary=x', 'Transfer-Encoding': 'chunked' },
      body: chunks,
    });
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body).error).toMatch(/over the studio's limit of 19\.5 KiB/);
    // the connection stays usable for the next request
    expect((await fetch(`${s.base}/api/info`)).status).toBe(200);
  });

  it('limits config text too', async () => {
    const r = await fetch(`${s.base}/api/pipeline`, { method: 'POST', body: 'x'.repeat(1024 * 1024 + 1) });
    expect(r.status).toBe(413);
  });
});

describe('startStudio options', () => {
  it('warns when bound beyond loopback', async () => {
    const warn: string[] = [];
    const studio = await startStudio({ backend: new FakeBackend(), host: '0.0.0.0', port: 0, logger: { info: () => undefined, warn: (m) => warn.push(m) } });
    try {
      expect(warn.join('\n')).toMatch(/listens on 0\.0\.0\.0.*anyone who can reach port/);
      expect(studio.url).toBe(`http://127.0.0.1:${studio.port}/`);
    } finally {
      await studio.close();
    }
  });

  it('reports a port in use as a ConfigError', async () => {
    const a = await startStudio({ backend: new FakeBackend(), port: 0, logger: { info: () => undefined, warn: () => undefined } });
    try {
      await expect(startStudio({ backend: new FakeBackend(), port: a.port, logger: { info: () => undefined, warn: () => undefined } }))
        .rejects.toThrow(/port \d+ on 127\.0\.0\.1 is already in use/);
    } finally {
      await a.close();
    }
  });

  it('rejects bad options', async () => {
    await expect(startStudio({ backend: new FakeBackend(), port: -1 })).rejects.toThrow(/port must be an integer/);
    await expect(startStudio({ backend: new FakeBackend(), maxPixels: 0 })).rejects.toThrow(/maxPixels must be positive/);
  });

  it('close() cancels running jobs and ends their streams', async () => {
    const s = await startFake();
    const img = await testImage();
    const mask = await testMask();
    s.backend.beforeRun = (info) => new Promise<void>((resolve) => info.signal.addEventListener('abort', () => resolve(), { once: true }));
    const started = new Promise((r) => s.backend.events.once('start', r));
    const j = await postJob(s.base, { image: img.png, mask: mask.png });
    const es = new EventStream(`${s.base}${j.body.events}`);
    await started;
    await s.studio.close();
    expect((await es.finished).event).toBe('cancelled');
    expect(s.backend.completed).toBe(0);
  });
});
