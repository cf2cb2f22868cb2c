/// <reference lib="dom" />
/**
 * The studio in a real browser (Debian's chromium through playwright-core). Fails loudly when chromium is missing.
 */
import { promises as fs } from 'fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { decodeImage, quantizeTensor8 } from '@diff2s/core';
import { launchChromium, openImage, paintStroke, pngImage } from './browser-helpers';
import { Deferred } from './fake-backend';
import { postJob, startFake, testImage, testMask } from './helpers';

type Started = Awaited<ReturnType<typeof startFake>>;

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

async function newPage(url: string, viewport = { width: 1280, height: 800 }): Promise<{ ctx: BrowserContext; page: Page; errors: string[] }> {
  const ctx = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await ctx.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.locator('#server-state.ok').waitFor();
  return { ctx, page, errors };
}

describe('studio in chromium', () => {
  let s: Started;
  beforeAll(async () => { s = await startFake({ defaultTk: 6 }); });
  afterAll(() => s.studio.close());
  afterEach(() => {
    s.backend.beforeRun = undefined;
    s.backend.beforeStep = undefined;
  });

  it('loads the page with the backend description and examples', async () => {
    const { ctx, page, errors } = await newPage(s.studio.url);
    try {
      expect(await page.title()).toBe('diff2s studio');
      expect(await page.locator('#guide option').allTextContents()).toEqual(['mean', 'flat', 'explode']);
      expect(await page.inputValue('#tk')).toBe('6');
      await page.locator('.example').nth(1).waitFor(); // the examples list loads after the backend description
      expect(await page.locator('.example').count()).toBe(2);
      expect(await page.isDisabled('#run')).toBe(true);
      // picking an example loads its image and mask
      await page.click('.example[data-id="gradient"]');
      await page.locator('#canvas-wrap:not([hidden])').waitFor();
      expect(await page.textContent('#image-info')).toContain('96×64');
      expect(Number(await page.getAttribute('#image-info', 'data-hole'))).toBe(36 * 24);
      expect(errors).toEqual([]);
    } finally {
      await ctx.close();
    }
  });

  it('paints a stroke, runs the default pipeline, shows both results and downloads one', async () => {
    const { ctx, page, errors } = await newPage(s.studio.url);
    try {
      const img = await pngImage(160, 120);
      await openImage(page, img.png);
      await page.locator('#canvas-wrap:not([hidden])').waitFor();
      expect(await page.getAttribute('#image-info', 'data-hole')).toBe('0');
      await paintStroke(page);
      const hole = Number(await page.getAttribute('#image-info', 'data-hole'));
      expect(hole).toBeGreaterThan(100);
      // undo / redo / invert / clear act on the mask
      await page.click('#undo');
      expect(await page.getAttribute('#image-info', 'data-hole')).toBe('0');
      await page.click('#redo');
      expect(Number(await page.getAttribute('#image-info', 'data-hole'))).toBe(hole);
      await page.click('#invert');
      expect(Number(await page.getAttribute('#image-info', 'data-hole'))).toBe(160 * 120 - hole);
      await page.click('#undo');

      let previews = 0;
      s.backend.events.on('step', () => previews++);
      await page.click('#run');
      await page.locator('#results:not([hidden])').waitFor();
      await page.waitForFunction(() =>
        ['stage1-img', 'stage2-img'].every((id) => (document.getElementById(id) as HTMLImageElement).naturalWidth === 160));
      expect(await page.isVisible('#stage1-fig')).toBe(true);
      expect(await page.isVisible('#stage2-fig')).toBe(true);
      expect(await page.textContent('#progress-label')).toBe('Done');
      expect(await page.getAttribute('#preview', 'src')).toMatch(/^data:image\/png;base64,/);
      expect(previews).toBe(6);
      // the before/after slider moves
      await page.fill('#compare-slider', '20');
      expect(await page.evaluate(() => (document.getElementById('compare-after-img') as HTMLElement).style.clipPath)).toBe('inset(0px 0px 0px 20%)');

      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-stage2')]);
      expect(download.suggestedFilename()).toBe('diff2s-photo-stage2.png');
      const file = await download.path();
      const stat = await fs.stat(file);
      expect(stat.size).toBeGreaterThan(1000);
      const result = await decodeImage(await fs.readFile(file), 'download');
      expect([result.width, result.height]).toEqual([160, 120]);
      // end to end through canvas, upload, refiner and download: the known pixels are the input's, exactly
      const mask = await page.evaluate(() => {
        const c = document.getElementById('mask-canvas') as HTMLCanvasElement;
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        const out: number[] = [];
        for (let i = 3; i < d.length; i += 4) out.push(d[i] >= 128 ? 1 : 0);
        return out;
      });
      const known = quantizeTensor8(img.tensor.clone());
      const hw = 160 * 120;
      let differing = 0;
      for (let c = 0; c < 3; c++) for (let p = 0; p < hw; p++) if (!mask[p] && result.tensor.data[c * hw + p] !== known.data[c * hw + p]) differing++;
      expect(differing).toBe(0);
      expect(errors).toEqual([]);
    } finally {
      s.backend.events.removeAllListeners('step');
      await ctx.close();
    }
  });

  it('shows the queue position, then cancels a running job from the page', async () => {
    const { ctx, page } = await newPage(s.studio.url);
    try {
      // an API job holds the lane, so the page's job waits
      const hold = new Deferred();
      s.backend.beforeRun = (info) => (info.seed === 999 ? hold.promise : undefined);
      const started = new Promise((r) => s.backend.events.once('start', r));
      const img = await testImage();
      const mask = await testMask();
      const blocker = await postJob(s.base, { image: img.png, mask: mask.png, pipeline: { guide: { type: 'mean' }, seed: 999, samples: 1 } });
      expect(blocker.status).toBe(202);
      await started;

      await page.click('.example[data-id="gradient"]');
      await page.locator('#canvas-wrap:not([hidden])').waitFor();
      const atStep = new Deferred<AbortSignal>();
      s.backend.beforeStep = (info) => {
        if (info.seed !== 999 && info.step === 3) {
          atStep.resolve(info.signal);
          return new Promise<void>((resolve) => info.signal.addEventListener('abort', () => resolve(), { once: true }));
        }
      };
      await page.click('#run');
      await page.locator('#progress-label', { hasText: 'Waiting in the queue: position 1' }).waitFor();
      hold.resolve();
      const signal = await atStep.promise;
      await page.locator('#progress-steps', { hasText: 'step 2 / 6' }).waitFor();
      expect(await page.isVisible('#cancel')).toBe(true);
      await page.click('#cancel');
      await page.locator('#progress-label', { hasText: 'Cancelled' }).waitFor();
      expect(signal.aborted).toBe(true);
      expect(await page.isEnabled('#run')).toBe(true);
      expect(await page.isHidden('#cancel')).toBe(true);
    } finally {
      await ctx.close();
    }
  });

  it('shows backend failures and config errors as readable messages, never a hung spinner', async () => {
    const { ctx, page } = await newPage(s.studio.url);
    try {
      await page.click('.example[data-id="gradient"]');
      await page.locator('#canvas-wrap:not([hidden])').waitFor();
      await page.selectOption('#guide', 'explode');
      await page.click('#run');
      await page.locator('#error:not([hidden])').waitFor();
      expect(await page.textContent('#error-text')).toBe('the fake guide exploded on purpose');
      expect(await page.isEnabled('#run')).toBe(true);
      await page.click('#error-close');

      // a pipeline config file is validated by the backend; its values fill the form
      await page.setInputFiles('#open-config', {
        name: 'pipe.json',
        mimeType: 'application/json',
        buffer: Buffer.from(JSON.stringify({ guide: { type: 'flat', value: 0.25 }, refiner: { enabled: true, tk: 4, sampler: { type: 'fake-ddim' } }, seed: 77, samples: 2 })),
      });
      await page.locator('#config-info', { hasText: 'Loaded pipe.json.' }).waitFor();
      expect(await page.inputValue('#guide')).toBe('flat');
      expect(await page.inputValue('#guide-options input[data-option="value"]')).toBe('0.25');
      expect(await page.inputValue('#tk')).toBe('4');
      expect(await page.inputValue('#sampler')).toBe('fake-ddim');
      expect(await page.inputValue('#seed')).toBe('77');
      expect(await page.inputValue('#samples')).toBe('2');
      await page.click('#run');
      await page.locator('#sample-tabs button').nth(1).waitFor();
      expect(await page.locator('#sample-tabs button').count()).toBe(2);

      await page.setInputFiles('#open-config', { name: 'bad.json', mimeType: 'application/json', buffer: Buffer.from('{"guide":{"type":"mean"},"refiner":{"tk":0}}') });
      await page.locator('#error:not([hidden])').waitFor();
      expect(await page.textContent('#error-text')).toMatch(/^bad\.json: tk must be an integer in \[1, 50\], got 0 \(at refiner\.tk\)$/);
    } finally {
      await ctx.close();
    }
  });

  it('refuses a request for a path outside the allowed folders', async () => {
    const { ctx, page } = await newPage(s.studio.url);
    try {
      for (const p of ['%2e%2e/%2e%2e/package.json', '..%2f..%2fpackage.json', 'api/examples/..%2f..%2fpackage.json/image.png', '%2fetc%2fpasswd']) {
        const res = await page.goto(`${s.studio.url}${p}`);
        expect([403, 404]).toContain(res!.status());
        expect(await page.content()).not.toContain('"name"');
      }
      const r = await page.request.get(`${s.studio.url}..%5c..%5cpackage.json`);
      expect([403, 404]).toContain(r.status());
    } finally {
      await ctx.close();
    }
  });

  it('fits a phone-size window without horizontal scrolling', async () => {
    const { ctx, page } = await newPage(s.studio.url, { width: 390, height: 844 });
    try {
      await openImage(page, (await pngImage(400, 300)).png);
      await page.locator('#canvas-wrap:not([hidden])').waitFor();
      await paintStroke(page);
      await page.click('#run');
      await page.locator('#results:not([hidden])').waitFor();
      const widths = await page.evaluate(() => ({ doc: document.documentElement.scrollWidth, win: window.innerWidth, canvas: document.getElementById('image-canvas')!.getBoundingClientRect().width }));
      expect(widths.doc).toBeLessThanOrEqual(widths.win);
      expect(widths.canvas).toBeLessThanOrEqual(390);
      expect(widths.canvas).toBeGreaterThan(300);
    } finally {
      await ctx.close();
    }
  });
});

describe('studio in chromium: upload limits', () => {
  it('an image over the pixel limit shows its error', async () => {
    const s = await startFake({}, { maxPixels: 100 * 100 });
    const { ctx, page } = await newPage(s.studio.url);
    try {
      await openImage(page, (await pngImage(160, 120)).png, 'big.png');
      await page.locator('#error:not([hidden])').waitFor();
      expect(await page.textContent('#error-text')).toBe("The image is 160×120 = 19200 pixels, over the studio's limit of 10000 pixels. Use a smaller image.");
      expect(await page.isHidden('#canvas-wrap')).toBe(true);
    } finally {
      await ctx.close();
      await s.studio.close();
    }
  });

  it('an upload over the byte limit shows the server\'s message', async () => {
    const s = await startFake({}, { maxUploadBytes: 3000 });
    const { ctx, page } = await newPage(s.studio.url);
    try {
      await openImage(page, (await pngImage(100, 80, true)).png, 'noise.png');
      await page.locator('#canvas-wrap:not([hidden])').waitFor();
      await paintStroke(page);
      await page.click('#run');
      await page.locator('#error:not([hidden])').waitFor();
      expect(await page.textContent('#error-text')).toMatch(/^the upload is [\d.]+ KiB, which is over the studio's limit of 2\.9 KiB per request/);
      expect(await page.isEnabled('#run')).toBe(true);
      expect(s.backend.runs).toBe(0);
    } finally {
      await ctx.close();
      await s.studio.close();
    }
  });
});
