/// <reference lib="dom" />
/**
 * The studio's editor in chromium (issue 21): option forms from the schema, a new image clears old results, zoom and
 * pan, stage 1 shown early and results on the canvas, result history and gallery, the shortcut dialog, run on
 * release, the HD strategy. Screenshots are decoded and checked against the page state (pixels where the page says
 * the result is).
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { decodeImage } from '@diff2s/core';
import { launchChromium, openImage, paintStroke, pngImage } from './browser-helpers';
import { Deferred } from './fake-backend';
import { startFake } from './helpers';

type Started = Awaited<ReturnType<typeof startFake>>;

let browser: Browser;
let s: Started;
beforeAll(async () => {
  browser = await launchChromium();
  s = await startFake({ defaultTk: 4 });
});
afterAll(async () => {
  await s?.studio.close();
  await browser?.close();
});
/** Runs a test holds; released after it, so that a failed test leaves no job blocking the next. */
const holds: Deferred[] = [];
afterEach(() => {
  s.backend.beforeRun = undefined;
  s.backend.beforeStep = undefined;
  for (const h of holds.splice(0)) h.resolve();
});

async function newPage(viewport = { width: 1280, height: 800 }): Promise<{ ctx: BrowserContext; page: Page; errors: string[] }> {
  const ctx = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  const page = await ctx.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(s.studio.url);
  await page.locator('#server-state.ok').waitFor();
  return { ctx, page, errors };
}

/** A screenshot of the viewport, decoded: rgb(x, y) in 0..255. */
async function shot(page: Page) {
  const img = await decodeImage(await page.screenshot(), 'screenshot', { channels: 3 });
  const { width, height, tensor } = img;
  const hw = width * height;
  const rgb = (x: number, y: number) => [0, 1, 2].map((c) => Math.round((tensor.data[c * hw + Math.round(y) * width + Math.round(x)] + 1) * 127.5));
  return { width, height, rgb };
}

/** Open a fresh image and paint one stroke. */
async function imageWithHole(page: Page, w = 160, h = 120): Promise<void> {
  await openImage(page, (await pngImage(w, h)).png);
  await page.locator('#canvas-wrap:not([hidden])').waitFor();
  await paintStroke(page);
  // the stroke is counted and Run is enabled before a test presses it (a busy machine can lag the page)
  await page.waitForFunction(() => Number(document.getElementById('image-info')!.dataset.hole) > 0);
  await page.locator('#run:not([disabled])').waitFor();
}

describe('option forms and a new image', () => {
  it('builds the guide options from the JSON schema: numbers with limits, enums, booleans, descriptions', async () => {
    const { ctx, page, errors } = await newPage();
    try {
      // the default guide (mean) has no options: no raw `{}`
      expect(await page.inputValue('#guide')).toBe('mean');
      expect(await page.textContent('#guide-options')).toBe('No options.');
      expect(await page.isHidden('#guide-json-wrap')).toBe(true);

      await page.selectOption('#guide', 'flat');
      const value = page.locator('#guide-options input[data-option="value"]');
      expect(await value.getAttribute('type')).toBe('number');
      expect(await value.getAttribute('min')).toBe('-1');
      expect(await value.getAttribute('max')).toBe('1');
      expect(await page.textContent('#guide-options .opt-desc[data-for="value"]')).toBe('grey level of the fill, in [-1, 1] (≥ -1, ≤ 1)');
      const edge = page.locator('#guide-options select[data-option="edge"]');
      expect(await edge.locator('option').allTextContents()).toEqual(['hard', 'soft']);
      expect(await edge.inputValue()).toBe('hard');
      expect(await page.getAttribute('#guide-options input[data-option="dither"]', 'type')).toBe('checkbox');
      expect(await page.getAttribute('#guide-options input[data-option="passes"]', 'step')).toBe('1');
      expect(await page.isVisible('#guide-json-wrap')).toBe(true);
      // beyond the first five, fields fold into "More options"
      expect(await page.textContent('#guide-options .more-options summary')).toBe('More options (2)');
      expect(await page.isHidden('#guide-options input[data-option="offset"]')).toBe(true);
      await page.click('#guide-options .more-options summary');
      const offset = page.locator('#guide-options input[data-option="offset"]');
      expect([await offset.getAttribute('min'), await offset.getAttribute('max'), await offset.getAttribute('step')]).toEqual([null, null, '1']);
      expect(await page.locator('#guide-options .opt-desc[data-for="offset"]').count()).toBe(0);
      expect(await page.textContent('#guide-options .opt-desc[data-for="noise"]')).toBe('(> 0)');

      // edits reach the pipeline (the JSON view), values out of the limits are refused with the limits
      await edge.selectOption('soft');
      await page.check('#guide-options input[data-option="dither"]');
      await value.fill('0.5');
      await value.dispatchEvent('change');
      expect(JSON.parse(await page.inputValue('#guide-json'))).toEqual({ value: 0.5, edge: 'soft', dither: true });
      await value.fill('3');
      await value.dispatchEvent('change');
      expect(await page.textContent('#error-text')).toBe('value must be a number ≥ -1, ≤ 1, got 3');
      expect(JSON.parse(await page.inputValue('#guide-json')).value).toBe(0.5);

      // the sampler's options too
      await page.selectOption('#sampler', 'fake-ddim');
      const eta = page.locator('#sampler-options input[data-option="eta"]');
      expect([await eta.getAttribute('min'), await eta.getAttribute('max'), await eta.inputValue()]).toEqual(['0', '1', '0']);
      expect(await page.textContent('#sampler-options .opt-desc')).toBe('stochasticity (≥ 0, ≤ 1)');
      await page.uncheck('#refiner-on');
      expect(await eta.isDisabled()).toBe(true);
      expect(errors).toEqual([]);
    } finally {
      await ctx.close();
    }
  });

  it('opening a new image clears the previous image\'s results, preview and progress', async () => {
    const { ctx, page, errors } = await newPage();
    try {
      await imageWithHole(page);
      await page.click('#run');
      await page.locator('#results:not([hidden])').waitFor();
      expect(await page.isVisible('#progress')).toBe(true);
      await openImage(page, (await pngImage(120, 90)).png, 'second.png');
      await page.locator('#image-info', { hasText: '120×90' }).waitFor();
      expect(await page.isHidden('#results')).toBe(true);
      expect(await page.isHidden('#progress')).toBe(true);
      expect(await page.getAttribute('#stage2-img', 'src')).toBeNull();
      expect(await page.isHidden('#canvas-result')).toBe(true);

      // a run still going when another image opens: its result goes to the gallery, not onto the new image
      await paintStroke(page);
      const hold = new Deferred();
      holds.push(hold);
      const atStep = new Deferred();
      s.backend.beforeStep = (info) => { if (info.step === 1) { atStep.resolve(); return hold.promise; } };
      await page.keyboard.press('Control+Enter');
      await atStep.promise;
      await openImage(page, (await pngImage(100, 80)).png, 'third.png');
      await page.locator('#image-info', { hasText: '100×80' }).waitFor();
      hold.resolve();
      await page.locator('.gallery-item[data-n="2"]').waitFor();
      await page.locator('#run:not([disabled])').waitFor();
      expect(await page.isHidden('#results')).toBe(true);
      expect(await page.isHidden('#progress')).toBe(true);
      expect(await page.getAttribute('#canvas-wrap', 'data-showing')).toBe('input');
      expect(await page.getAttribute('.gallery-item[data-n="2"]', 'class')).not.toContain('active');
      expect(errors).toEqual([]);
    } finally {
      await ctx.close();
    }
  });
});

/** The hole's bounding box in image pixels (from the mask canvas), or null when the mask is empty. */
async function holeBox(page: Page) {
  return page.evaluate(() => {
    const c = document.getElementById('mask-canvas') as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let x0 = Infinity, y0 = Infinity, x1 = -1, y1 = -1;
    for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) if (d[(y * c.width + x) * 4 + 3] >= 128) {
      x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
    }
    return x1 < 0 ? null : { x0, y0, x1, y1 };
  });
}

describe('zoom and pan', () => {
  it('wheel zooms about the cursor, painting lands where the zoomed view shows, Space+drag pans, Esc resets', async () => {
    const { ctx, page, errors } = await newPage();
    try {
      await openImage(page, (await pngImage(200, 100)).png);
      await page.locator('#canvas-wrap:not([hidden])').waitFor();
      const before = (await page.locator('#mask-canvas').boundingBox())!;
      const unpainted = await shot(page);
      // the image pixel (50, 50) under the cursor; wheel up zooms in there and the page does not scroll
      const px = (x: number, y: number, b: typeof before) => ({ x: b.x + (x / 200) * b.width, y: b.y + (y / 100) * b.height });
      const at = px(50, 50, before);
      await page.mouse.move(at.x, at.y);
      await page.mouse.wheel(0, -600);
      await page.waitForFunction(() => Number(document.getElementById('canvas-wrap')!.dataset.zoom) > 2);
      const zoom = Number(await page.getAttribute('#canvas-wrap', 'data-zoom'));
      expect(await page.evaluate(() => window.scrollY)).toBe(0);
      expect(await page.textContent('#zoom-level')).toBe(`${Math.round(zoom * 100)}%`);
      const after = (await page.locator('#mask-canvas').boundingBox())!;
      expect(after.width / before.width).toBeCloseTo(zoom, 3);
      const still = px(50, 50, after);
      expect(Math.abs(still.x - at.x)).toBeLessThan(2); // the mouse event has whole-pixel coordinates
      expect(Math.abs(still.y - at.y)).toBeLessThan(2);

      // a dot painted at the cursor lands on image pixel (50, 50), with the brush in screen pixels (finer when zoomed)
      await page.mouse.down();
      await page.mouse.up();
      const box = (await holeBox(page))!;
      expect(Math.abs((box.x0 + box.x1) / 2 - 50)).toBeLessThanOrEqual(1.5);
      expect(Math.abs((box.y0 + box.y1) / 2 - 50)).toBeLessThanOrEqual(1.5);
      const brushImagePx = 36 * (200 / after.width);
      expect(box.x1 - box.x0 + 1).toBeLessThanOrEqual(Math.ceil(brushImagePx) + 1);

      // Space+drag pans by the drag and paints nothing
      const holes = await page.getAttribute('#image-info', 'data-hole');
      await page.keyboard.down('Space');
      expect(await page.getAttribute('#stage', 'class')).toContain('can-pan');
      await page.mouse.move(at.x, at.y);
      await page.mouse.down();
      await page.mouse.move(at.x + 60, at.y + 25, { steps: 5 });
      await page.mouse.up();
      await page.keyboard.up('Space');
      const panned = (await page.locator('#mask-canvas').boundingBox())!;
      expect(panned.x - after.x).toBeCloseTo(60, 0);
      expect(panned.y - after.y).toBeCloseTo(25, 0);
      expect(await page.getAttribute('#image-info', 'data-hole')).toBe(holes);
      expect(await page.evaluate(() => window.scrollY)).toBe(0);

      // buttons zoom about the centre; Esc (and Fit) reset to the fitted view
      await page.click('#zoom-in');
      expect(Number(await page.getAttribute('#canvas-wrap', 'data-zoom'))).toBeCloseTo(zoom * 1.25, 5);
      await page.keyboard.press('Escape');
      expect(await page.getAttribute('#canvas-wrap', 'data-zoom')).toBe('1');
      const reset = (await page.locator('#mask-canvas').boundingBox())!;
      expect(reset).toEqual(before);
      expect(await page.textContent('#zoom-level')).toBe('100%');

      // a screenshot agrees: the spot the page maps to (50, 50) turned towards the hole colour, a spot away did not
      const sh = await shot(page);
      const toHole = (c: number[]) => Math.hypot(c[0] - 255, c[1] - 92, c[2] - 122);
      const dot = px(50, 50, reset), away = px(150, 50, reset);
      expect(toHole(unpainted.rgb(dot.x, dot.y)) - toHole(sh.rgb(dot.x, dot.y))).toBeGreaterThan(30);
      expect(sh.rgb(away.x, away.y)).toEqual(unpainted.rgb(away.x, away.y));
      expect(errors).toEqual([]);
    } finally {
      await ctx.close();
    }
  });
});

describe('pinch', () => {
  it('two touches pinch-zoom about their midpoint; the first finger\'s dot is taken back', async () => {
    const { ctx, page, errors } = await newPage();
    try {
      await openImage(page, (await pngImage(200, 100)).png);
      await page.locator('#canvas-wrap:not([hidden])').waitFor();
      const b = (await page.locator('#mask-canvas').boundingBox())!;
      const cx = b.x + b.width / 2, cy = b.y + b.height / 2;
      // touch pointer events as a touch screen sends them, on the mask canvas
      await page.evaluate(([x, y]) => {
        const c = document.getElementById('mask-canvas')!;
        const ev = (type: string, id: number, px: number) => c.dispatchEvent(new PointerEvent(type, { pointerId: id, pointerType: 'touch', clientX: px, clientY: y, bubbles: true, cancelable: true, isPrimary: id === 1 }));
        ev('pointerdown', 1, x - 20);
        ev('pointerdown', 2, x + 20);
        for (let k = 1; k <= 10; k++) { ev('pointermove', 1, x - 20 - 4 * k); ev('pointermove', 2, x + 20 + 4 * k); }
        ev('pointerup', 1, x - 60);
        ev('pointerup', 2, x + 60);
      }, [cx, cy]);
      const zoom = Number(await page.getAttribute('#canvas-wrap', 'data-zoom'));
      expect(zoom).toBeCloseTo(120 / 40, 1); // the fingers went from 40 to 120 px apart
      expect(await page.getAttribute('#image-info', 'data-hole')).toBe('0');
      const z = (await page.locator('#mask-canvas').boundingBox())!;
      // the midpoint stayed put: the image's centre is still under it
      expect(Math.abs(z.x + z.width / 2 - cx)).toBeLessThan(2);
      expect(Math.abs(z.y + z.height / 2 - cy)).toBeLessThan(2);
      expect(errors).toEqual([]);
    } finally {
      await ctx.close();
    }
  });
});

describe('results on the canvas', () => {
  it('shows stage 1 on the canvas while the refiner runs, then stage 2; Tab held shows the input', async () => {
    const { ctx, page, errors } = await newPage();
    try {
      await page.selectOption('#guide', 'flat');
      await page.fill('#guide-options input[data-option="value"]', '0.5');
      await page.dispatchEvent('#guide-options input[data-option="value"]', 'change');
      await page.evaluate(() => { (document.activeElement as HTMLElement | null)?.blur(); window.scrollTo(0, 0); });
      await imageWithHole(page);
      const c = (await page.locator('#mask-canvas').boundingBox())!;
      const mid = { x: c.x + c.width / 2, y: c.y + c.height / 2 }; // in the painted stroke
      const corner = { x: c.x + c.width - 4, y: c.y + c.height - 4 }; // known (the badge sits top left)
      const input = await shot(page);

      const hold = new Deferred();
      holds.push(hold);
      s.backend.beforeStep = (info) => (info.step === 2 ? hold.promise : undefined);
      await page.keyboard.press('Control+Enter'); // runs, without scrolling to the Run button
      expect(await page.evaluate(() => window.scrollY)).toBe(0);
      // stage 1 (flat grey 0.5 → 191) is on the canvas before the refiner ends (an error shown instead fails here, with its text)
      await page.locator('#canvas-result[data-stage="1"]:not([hidden]), #error:not([hidden])').first().waitFor();
      expect((await page.isHidden('#error')) ? '' : await page.textContent('#error-text')).toBe('');
      await page.locator('#canvas-result[data-stage="1"]:not([hidden])').waitFor();
      await page.waitForFunction(() => (document.getElementById('canvas-result') as HTMLImageElement).complete);
      expect(await page.textContent('#progress-label')).toMatch(/^Stage (1 ready|2: refiner)$/);
      expect(await page.textContent('#canvas-badge-text')).toBe('Stage 1 · refining');
      expect(await page.isHidden('#results')).toBe(true);
      let sh = await shot(page);
      for (const v of sh.rgb(mid.x, mid.y)) expect(Math.abs(v - 191)).toBeLessThanOrEqual(3);
      expect(sh.rgb(corner.x, corner.y)).toEqual(input.rgb(corner.x, corner.y));
      hold.resolve();

      // then stage 2, on the canvas and in the results
      await page.locator('#canvas-result[data-stage="2"]').waitFor();
      await page.locator('#results:not([hidden])').waitFor();
      await page.waitForFunction(() => (document.getElementById('canvas-result') as HTMLImageElement).complete);
      expect(await page.textContent('#canvas-badge-text')).toBe('Stage 2 · refined');
      expect(await page.getAttribute('#canvas-result', 'src')).toBe(await page.getAttribute('#stage2-img', 'src'));
      expect(await page.evaluate(() => window.scrollY)).toBe(0); // no jump below the fold
      const result = await shot(page);

      // hold Tab: the input with its mask, exactly as before the run; release: the result again
      await page.keyboard.down('Tab');
      expect(await page.getAttribute('#canvas-wrap', 'data-showing')).toBe('input');
      sh = await shot(page);
      expect(sh.rgb(mid.x, mid.y)).toEqual(input.rgb(mid.x, mid.y));
      await page.keyboard.up('Tab');
      expect(await page.getAttribute('#canvas-wrap', 'data-showing')).toBe('result');
      sh = await shot(page);
      expect(sh.rgb(mid.x, mid.y)).toEqual(result.rgb(mid.x, mid.y));
      expect(sh.rgb(mid.x, mid.y)).not.toEqual(input.rgb(mid.x, mid.y));

      // the Hold button does the same with a pointer
      const hb = (await page.locator('#hold-compare').boundingBox())!;
      await page.mouse.move(hb.x + hb.width / 2, hb.y + hb.height / 2);
      await page.mouse.down();
      expect(await page.getAttribute('#canvas-wrap', 'data-showing')).toBe('input');
      await page.mouse.up();
      expect(await page.getAttribute('#canvas-wrap', 'data-showing')).toBe('result');

      // painting goes back to the input and its mask
      await paintStroke(page, { x: 0.1, y: 0.1 }, { x: 0.2, y: 0.15 });
      expect(await page.getAttribute('#canvas-wrap', 'data-showing')).toBe('input');
      expect(await page.isHidden('#canvas-badge')).toBe(true);
      expect(errors).toEqual([]);
    } finally {
      await ctx.close();
    }
  });
});

/** A hash of the image canvas's pixels. */
function imageHash(page: Page) {
  return page.evaluate(() => {
    const c = document.getElementById('image-canvas') as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let h = 2166136261;
    for (let i = 0; i < d.length; i++) h = Math.imul(h ^ d[i], 16777619) >>> 0;
    return h;
  });
}

describe('result history and gallery', () => {
  it('keeps every result with its config in a gallery; Use as input can be undone and redone with the mask edits', async () => {
    const { ctx, page, errors } = await newPage();
    try {
      await imageWithHole(page);
      const original = await imageHash(page);
      const hole = await page.getAttribute('#image-info', 'data-hole');
      await page.uncheck('#refiner-on');
      await page.selectOption('#guide', 'flat');
      await page.click('#run');
      await page.locator('.gallery-item[data-n="1"]').waitFor();
      await page.selectOption('#guide', 'mean');
      await page.click('#run');
      await page.locator('.gallery-item[data-n="2"]').waitFor();
      expect(await page.locator('.gallery-item span').allTextContents()).toEqual(['#2 mean', '#1 flat']);
      expect(await page.getAttribute('.gallery-item[data-n="2"]', 'class')).toContain('active');
      expect(JSON.parse((await page.textContent('#gallery-config'))!.split('\n').slice(1).join('\n')).guide.type).toBe('mean');

      // an earlier result: on the canvas and in the results again, its config shown and loadable into the form
      await page.click('.gallery-item[data-n="1"]');
      expect(await page.getAttribute('#gallery-config', 'data-n')).toBe('1');
      expect(await page.textContent('#gallery-config')).toContain('"type": "flat"');
      await page.waitForFunction(() => (document.getElementById('stage1-img') as HTMLImageElement).src.startsWith('blob:'));
      expect(await page.getAttribute('#canvas-result', 'src')).toBe(await page.getAttribute('#stage1-img', 'src'));
      await page.selectOption('#guide', 'explode');
      await page.click('#gallery-apply');
      expect(await page.inputValue('#guide')).toBe('flat');

      // use it as input: the image changes, the mask clears; Ctrl+Z brings back the image and its mask; Ctrl+Shift+Z redoes
      await page.click('#use-result');
      await page.locator('#image-info', { hasText: 'photo-edited' }).waitFor();
      const edited = await imageHash(page);
      expect(edited).not.toBe(original);
      expect(await page.getAttribute('#image-info', 'data-hole')).toBe('0');
      expect(await page.isHidden('#canvas-badge')).toBe(true);
      await paintStroke(page, { x: 0.1, y: 0.1 }, { x: 0.2, y: 0.2 });
      await page.keyboard.press('Control+z'); // the stroke
      expect(await page.getAttribute('#image-info', 'data-hole')).toBe('0');
      await page.keyboard.press('Control+z'); // the result used as input
      expect(await imageHash(page)).toBe(original);
      expect(await page.getAttribute('#image-info', 'data-hole')).toBe(hole);
      expect(await page.textContent('#image-info')).toMatch(/^photo · /);
      await page.keyboard.press('Control+Shift+z');
      expect(await imageHash(page)).toBe(edited);
      expect(await page.getAttribute('#image-info', 'data-hole')).toBe('0');
      await page.click('#redo');
      expect(Number(await page.getAttribute('#image-info', 'data-hole'))).toBeGreaterThan(0);
      // the gallery outlives the image
      expect(await page.locator('.gallery-item').count()).toBe(2);
      expect(errors).toEqual([]);
    } finally {
      await ctx.close();
    }
  });
});

describe('shortcut dialog', () => {
  it('H opens the list of shortcuts, Esc or H closes it (and Esc then does not reset the zoom)', async () => {
    const { ctx, page, errors } = await newPage();
    try {
      await openImage(page, (await pngImage(160, 120)).png);
      await page.locator('#canvas-wrap:not([hidden])').waitFor();
      await page.click('#zoom-in');
      await page.keyboard.press('h');
      expect(await page.evaluate(() => (document.getElementById('help') as HTMLDialogElement).open)).toBe(true);
      const keys = await page.locator('#help td:first-child').allTextContents();
      for (const k of ['B / E', 'Space + drag', 'Esc', 'hold Tab', 'H']) expect(keys).toContain(k);
      // the screenshot shows the dialog over a dimmed page: its centre is the dialog's colour, a corner is darkened
      const box = (await page.locator('#help').boundingBox())!;
      expect(box.width).toBeGreaterThan(250);
      expect(box.x + box.width).toBeLessThanOrEqual(1280);
      const sh = await shot(page);
      expect(sh.rgb(box.x + 6, box.y + box.height - 6)).toEqual([0x17, 0x1c, 0x25]);
      const corner = sh.rgb(2, 798);
      expect(Math.max(...corner)).toBeLessThan(0x10);
      // keys do not reach the editor while it is open
      await page.keyboard.press('e');
      expect(await page.getAttribute('#tool-brush', 'aria-pressed')).toBe('true');
      await page.keyboard.press('Escape');
      expect(await page.evaluate(() => (document.getElementById('help') as HTMLDialogElement).open)).toBe(false);
      expect(await page.getAttribute('#canvas-wrap', 'data-zoom')).toBe('1.25');
      await page.click('#help-open');
      expect(await page.isVisible('#help')).toBe(true);
      await page.keyboard.press('h');
      expect(await page.isVisible('#help')).toBe(false);
      // with a check box focused, H still opens the dialog, and Space toggles the box (it is not the pan key there)
      await page.focus('#mask-known-white');
      await page.keyboard.press('Space');
      expect(await page.isChecked('#mask-known-white')).toBe(true);
      expect(await page.getAttribute('#stage', 'class')).not.toContain('can-pan');
      await page.keyboard.press('h');
      expect(await page.isVisible('#help')).toBe(true);
      expect(errors).toEqual([]);
    } finally {
      await ctx.close();
    }
  });
});

describe('run on release', () => {
  it('manual mode waits for Run; release mode runs when a stroke ends, and once more for a stroke made during a run', async () => {
    const { ctx, page, errors } = await newPage();
    try {
      const runs0 = s.backend.runs;
      await imageWithHole(page);
      await page.waitForTimeout(200);
      expect(s.backend.runs).toBe(runs0); // manual (the default)
      expect(await page.inputValue('#run-mode')).toBe('manual');

      await page.selectOption('#run-mode', 'release');
      const hold = new Deferred();
      holds.push(hold);
      const started = new Deferred();
      s.backend.beforeStep = (info) => { if (info.step === 1 && info.run === runs0 + 1) { started.resolve(); return hold.promise; } };
      await paintStroke(page, { x: 0.1, y: 0.2 }, { x: 0.2, y: 0.3 });
      await started.promise;
      expect(s.backend.runs).toBe(runs0 + 1);
      expect(await page.textContent('#run')).toBe('Running…');
      // a stroke while it runs: one more run after it, with the new mask
      await paintStroke(page, { x: 0.8, y: 0.2 }, { x: 0.9, y: 0.3 });
      await paintStroke(page, { x: 0.8, y: 0.7 }, { x: 0.9, y: 0.8 });
      hold.resolve();
      await page.locator('.gallery-item[data-n="2"]').waitFor();
      await page.locator('#run:not([disabled])').waitFor();
      await page.waitForTimeout(200);
      expect(s.backend.runs).toBe(runs0 + 2);
      expect(await page.locator('.gallery-item').count()).toBe(2);
      expect(await page.getAttribute('#canvas-wrap', 'data-showing')).toBe('result');
      // the choice is remembered
      await page.reload();
      await page.locator('#server-state.ok').waitFor();
      expect(await page.inputValue('#run-mode')).toBe('release');
      expect(errors).toEqual([]);
    } finally {
      await ctx.close();
    }
  });
});

describe('HD strategy and progress', () => {
  it('offers the backend\'s HD strategies, sends the one chosen, reads it from a config, and shows progress with an ETA', async () => {
    const { ctx, page, errors } = await newPage();
    try {
      expect(await page.locator('#hd-strategy option').allTextContents()).toEqual(['auto', 'crop', 'resize', 'original']);
      expect(await page.inputValue('#hd-strategy')).toBe('auto');
      await page.selectOption('#hd-strategy', 'crop');
      expect(await page.textContent('#hd-desc')).toBe('run on a crop around each hole, pasted back');
      await imageWithHole(page);
      let eta = '';
      s.backend.beforeStep = async (info) => {
        await new Promise((r) => setTimeout(r, 250));
        if (info.step === 3) eta = await page.textContent('#progress-eta') ?? '';
      };
      await page.click('#run');
      await page.locator('#results:not([hidden])').waitFor();
      expect(s.backend.lastPipeline!.hd).toEqual({ strategy: 'crop' });
      expect(eta).toMatch(/^\d+ % · about \d+ s left$/);
      expect(await page.textContent('#progress-eta')).toBe('');

      await page.setInputFiles('#open-config', { name: 'hd.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify({ guide: { type: 'mean' }, hd: { strategy: 'resize' } })) });
      await page.locator('#config-info', { hasText: 'Loaded hd.json.' }).waitFor();
      expect(await page.inputValue('#hd-strategy')).toBe('resize');
      expect(errors).toEqual([]);
    } finally {
      await ctx.close();
    }
  });
});
