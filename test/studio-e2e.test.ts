/**
 * End to end: `diff2s serve`'s real backend (registries, patch guide, a model fitted to the image, the refiner) in
 * Debian's chromium — pick the shipped example, paint a stroke, run, see both results, download stage 2.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import type { Browser } from 'playwright-core';
import { decodeImage, readImage } from '@diff2s/core';
import { PipelineStudioBackend, buildProgram } from '@diff2s/cli';
import { startStudio } from '@diff2s/studio';
import { launchChromium, paintStroke, pngImage } from '../packages/studio/test/browser-helpers';
import { ROOT, TEST_CACHE_DIR } from './helpers/cli';

describe('studio with the real pipeline backend', () => {
  let browser: Browser;
  let backend: PipelineStudioBackend;
  let studio: Awaited<ReturnType<typeof startStudio>>;
  beforeAll(async () => {
    // the default model is `fit` (a model fitted to the job's image): a short fit, cached in this test's folder
    process.env.DIFF2S_CACHE_DIR = TEST_CACHE_DIR;
    backend = new PipelineStudioBackend({ modelDirs: [path.join(ROOT, 'models')], examplesDir: path.join(ROOT, 'examples/data'), fit: { seconds: 600, steps: 4, crop: 32 } });
    studio = await startStudio({ backend, port: 0, logger: { info: () => undefined, warn: () => undefined } });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await studio?.close();
    await backend?.dispose();
  });

  it('describes the shipped model and refuses guides that would read files', async () => {
    const d = await backend.describe();
    expect(d.models).toContain('frugal-brick');
    expect(d.models[0]).toBe('fit');
    expect(d.refinerAvailable).toBe(true);
    expect(d.maxTk).toBe(1000);
    expect(d.guides.map((g) => g.name)).not.toContain('file');
    expect(d.guides.map((g) => g.name)).not.toContain('onnx');
    // each guide's options as JSON Schema, for the page's option forms (issue 21)
    const patch = d.guides.find((g) => g.name === 'patch')!;
    expect((patch.schema as any).properties.patchSize.type).toBe('integer');
    expect(d.hdStrategies).toEqual(['auto', 'crop', 'resize', 'original']);
    expect(Object.keys(d.samplerSchemas!)).toEqual(['ddpm', 'ddim', 'repaint']);
    expect((await backend.parsePipeline('hd: { strategy: crop }')).hd?.strategy).toBe('crop');
    // an uploaded pipeline keeps every refiner key, not only those the page's form edits
    const up = await backend.parsePipeline('refiner: { tk: 50, detail: 2, tone: 8, guard: false, crop: false }');
    expect(up.refiner).toMatchObject({ enabled: true, tk: 50, detail: 2, tone: 8, guard: false, crop: false });
    await expect(backend.parsePipeline('refiner: { tone: 1, detail: 2 }')).rejects.toThrow(/refiner\.tone/);
    await expect(backend.parsePipeline('guide: { type: file, path: /etc/passwd }')).rejects.toThrow(/not available in the studio \(at guide\.type\)/);
    const res = await fetch(`${studio.url}api/pipeline`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'guide: { type: onnx, model: ../../x.onnx }' });
    expect(res.status).toBe(400);
  });

  it('runs the shipped example with patch + refiner in the browser and downloads stage 2', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    try {
      await page.goto(studio.url);
      await page.locator('#server-state.ok').waitFor();
      await page.click('.example[data-id="brick"]');
      await page.locator('#canvas-wrap:not([hidden])').waitFor();
      await paintStroke(page, { x: 0.2, y: 0.8 }, { x: 0.4, y: 0.85 });
      await page.fill('#tk', '5');
      // every progress label the page shows, to see the fit's progress go by
      await page.evaluate(() => {
        const w = window as unknown as { labels: string[] };
        w.labels = [];
        const el = document.getElementById('progress-label')!;
        new MutationObserver(() => w.labels.push(el.textContent ?? '')).observe(el, { childList: true, characterData: true, subtree: true });
      });
      await page.click('#run');
      await page.locator('#results:not([hidden])').waitFor({ timeout: 120000 });
      await page.waitForFunction(() => ['stage1-img', 'stage2-img'].every((id) => (document.getElementById(id) as HTMLImageElement).naturalWidth === 128), undefined, { timeout: 120000 });
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-stage2')]);
      const file = await download.path();
      expect((await fs.stat(file)).size).toBeGreaterThan(2000);
      const result = await decodeImage(await fs.readFile(file), 'download');
      expect([result.width, result.height]).toEqual([128, 128]);
      // known pixels (per the page's painted mask) equal the example's exactly
      const mask = await page.evaluate(() => {
        const c = document.getElementById('mask-canvas') as HTMLCanvasElement;
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        const out: number[] = [];
        for (let i = 3; i < d.length; i += 4) out.push(d[i] >= 128 ? 1 : 0);
        return out;
      });
      const brick = await readImage(path.join(ROOT, 'examples/data/brick.png'));
      let holes = 0, differing = 0;
      for (let p = 0; p < 128 * 128; p++) {
        if (mask[p]) holes++;
        else if (result.tensor.data[p] !== brick.tensor.data[p]) differing++;
      }
      expect(holes).toBeGreaterThan(500);
      expect(differing).toBe(0);
      const labels = await page.evaluate(() => (window as unknown as { labels: string[] }).labels);
      expect(labels).toContain('Fitting a model to this image');
      expect(labels).toContain('Stage 2: refiner');
      expect(errors).toEqual([]);
    } finally {
      await ctx.close();
    }
  });
});

describe('studio with ONNX guide models given at start (--onnx-model)', () => {
  const FIXTURES = path.join(ROOT, 'packages/guides/test/fixtures');
  let browser: Browser;
  let backend: PipelineStudioBackend;
  let studio: Awaited<ReturnType<typeof startStudio>>;
  beforeAll(async () => {
    backend = new PipelineStudioBackend({
      modelDirs: [], examplesDir: path.join(ROOT, 'examples/data'), fit: false,
      onnxModels: [path.join(FIXTURES, 'lama.onnx'), path.join(FIXTURES, 'mat.onnx')],
    });
    studio = await startStudio({ backend, port: 0, logger: { info: () => undefined, warn: () => undefined } });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await studio?.close();
    await backend?.dispose();
  });

  it('lists the models by id, refuses any other model string (never a path from a request), refuses a missing file at start', async () => {
    const d = await backend.describe();
    const onnx = d.guides.find((g) => g.name === 'onnx')!;
    expect(onnx.options).toMatchObject({ model: 'lama', profile: 'lama' });
    expect((onnx.schema as any).properties.model.enum).toEqual(['lama', 'mat']);
    expect((await backend.parsePipeline({ guide: { type: 'onnx', model: 'mat', profile: 'mat' } })).guide.model).toBe('mat');
    for (const model of ['../../x.onnx', path.join(FIXTURES, 'lama.onnx'), 'lama.onnx']) {
      await expect(backend.parsePipeline({ guide: { type: 'onnx', model } })).rejects.toThrow(/unknown ONNX model .*: lama, mat \(at guide\.model\)/);
    }
    await expect(backend.parsePipeline('guide: { type: file, path: /etc/passwd }')).rejects.toThrow(/not available in the studio/);
    expect(() => new PipelineStudioBackend({ modelDirs: [], examplesDir: '.', onnxModels: ['/no/such/model.onnx'] })).toThrow(/ONNX model \/no\/such\/model\.onnx does not exist/);
    // diff2s serve --onnx-model is repeatable; the same file name twice gets distinct ids
    const serve = buildProgram().commands.find((c) => c.name() === 'serve')!;
    serve.parseOptions(['--onnx-model', 'a/lama.onnx', '--onnx-model', 'b/lama.onnx']);
    expect(serve.opts().onnxModel).toEqual(['a/lama.onnx', 'b/lama.onnx']);
    const twice = new PipelineStudioBackend({ modelDirs: [], examplesDir: '.', fit: false, onnxModels: [path.join(FIXTURES, 'lama.onnx'), path.join(FIXTURES, 'lama.onnx')] });
    expect(twice.onnxModelIds()).toEqual(['lama', 'lama-2']);
  });

  it('runs the onnx guide from the page: the model chosen by id, stage 1 on the canvas', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    try {
      await page.goto(studio.url);
      await page.locator('#server-state.ok').waitFor();
      await page.selectOption('#guide', 'onnx');
      expect(await page.locator('#guide-options select[data-option="model"] option').allTextContents()).toEqual(['lama', 'mat']);
      expect(await page.inputValue('#guide-options select[data-option="profile"]')).toBe('lama');
      await page.setInputFiles('#open-image', { name: 'p.png', mimeType: 'image/png', buffer: (await pngImage(64, 48)).png });
      await page.locator('#canvas-wrap:not([hidden])').waitFor();
      await paintStroke(page);
      await page.click('#run');
      await page.locator('#canvas-result[data-stage="1"]').waitFor();
      await page.locator('#results:not([hidden])').waitFor();
      // the fixture network fills the hole with 0.25 in [0,1]: the result's hole pixels are all that grey
      const url = await page.getAttribute('#stage1-img', 'src');
      const res = await fetch(new URL(url!, studio.url));
      const out = await decodeImage(Buffer.from(await res.arrayBuffer()), 'stage 1');
      const mask = await page.evaluate(() => {
        const c = document.getElementById('mask-canvas') as HTMLCanvasElement;
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        const o: number[] = [];
        for (let i = 3; i < d.length; i += 4) o.push(d[i] >= 128 ? 1 : 0);
        return o;
      });
      const holeValues = new Set<number>();
      for (let p = 0; p < 64 * 48; p++) if (mask[p]) holeValues.add(Math.round((out.tensor.data[p] + 1) * 127.5));
      expect([...holeValues]).toEqual([64]);
      expect(errors).toEqual([]);
    } finally {
      await ctx.close();
    }
  });
});
