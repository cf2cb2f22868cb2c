/// <reference lib="dom" />
/**
 * Not part of the test suite: takes screenshots of the page for a human to look at.
 * Run: npx jest --testMatch '**\/screenshots.manual.ts' packages/studio  (writes to $SHOTS_DIR or /tmp/studio-shots)
 */
import { mkdirSync } from 'fs';
import * as path from 'path';
import { launchChromium, openImage, paintStroke, pngImage } from './browser-helpers';
import { startFake } from './helpers';
import { Deferred } from './fake-backend';

const DIR = process.env.SHOTS_DIR || '/tmp/studio-shots';

it('takes screenshots', async () => {
  mkdirSync(DIR, { recursive: true });
  const s = await startFake({ models: [], defaultTk: 12 });
  const browser = await launchChromium();
  try {
    for (const [name, viewport] of [['laptop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]] as const) {
      const ctx = await browser.newContext({ viewport, deviceScaleFactor: 1 });
      const page = await ctx.newPage();
      page.on('console', (m) => console.log(`[${name}] ${m.type()}: ${m.text()}`));
      page.on('pageerror', (e) => console.log(`[${name}] pageerror: ${e.message}`));
      await page.goto(s.studio.url);
      await page.locator('#server-state.ok').waitFor();
      await page.locator('.example').first().waitFor();
      await page.screenshot({ path: path.join(DIR, `${name}-1-empty.png`), fullPage: true });
      const img = await pngImage(320, 240);
      await openImage(page, img.png);
      await paintStroke(page);
      await paintStroke(page, { x: 0.2, y: 0.7 }, { x: 0.5, y: 0.75 });
      await page.screenshot({ path: path.join(DIR, `${name}-2-painted.png`), fullPage: true });
      // hold the run at step 6 to capture progress
      const gate = new Deferred();
      const reached = new Deferred();
      s.backend.beforeStep = async (info) => {
        if (info.step === 6) {
          reached.resolve();
          await gate.promise;
        }
      };
      await page.click('#run');
      await reached.promise;
      await page.locator('#preview-fig:not([hidden])').waitFor();
      await page.waitForTimeout(200);
      await page.screenshot({ path: path.join(DIR, `${name}-3-progress.png`), fullPage: true });
      gate.resolve();
      s.backend.beforeStep = undefined;
      await page.locator('#results:not([hidden])').waitFor();
      await page.waitForFunction(() => (document.getElementById('stage2-img') as HTMLImageElement).naturalWidth > 0);
      await page.waitForTimeout(600);
      await page.screenshot({ path: path.join(DIR, `${name}-4-results.png`), fullPage: true });
      // the editor (issue 21): zoomed in, the input held with Tab, the shortcut dialog
      await page.evaluate(() => window.scrollTo(0, 0));
      const c = (await page.locator('#mask-canvas').boundingBox())!;
      await page.mouse.move(c.x + c.width / 2, c.y + c.height / 2);
      await page.mouse.wheel(0, -400);
      await page.waitForTimeout(200);
      await page.screenshot({ path: path.join(DIR, `${name}-6-zoomed-result.png`) });
      await page.keyboard.down('Tab');
      await page.screenshot({ path: path.join(DIR, `${name}-7-tab-input.png`) });
      await page.keyboard.up('Tab');
      await page.keyboard.press('Escape');
      await page.keyboard.press('h');
      await page.screenshot({ path: path.join(DIR, `${name}-8-shortcuts.png`) });
      await page.keyboard.press('Escape');
      // error display
      await page.selectOption('#guide', 'explode');
      await page.click('#run');
      await page.locator('#error:not([hidden])').waitFor();
      await page.screenshot({ path: path.join(DIR, `${name}-5-error.png`) });
      await ctx.close();
    }
  } finally {
    await browser.close();
    await s.studio.close();
  }
});
