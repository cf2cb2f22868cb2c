import { existsSync } from 'fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Tensor4, encodeImage } from '@diff2s/core';

/** Debian's chromium (apt-get install chromium); CHROMIUM_PATH overrides. */
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** Launch headless chromium, or fail loudly (never skip) when it is not installed. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM}: the studio's browser tests need a real browser. ` +
        'Install it with `apt-get update && apt-get install -y chromium` (or set CHROMIUM_PATH to a chromium binary).',
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** A w×h PNG with smooth colours (noisy = true: random pixels, which compress badly). */
export async function pngImage(w: number, h: number, noisy = false): Promise<{ png: Buffer; tensor: Tensor4 }> {
  const t = new Tensor4([1, 3, h, w]);
  let seed = 12345;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        let v: number;
        if (noisy) {
          seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
          v = (seed / 2 ** 32) * 2 - 1;
        } else {
          v = c === 0 ? Math.sin(x / 9) * 0.8 : c === 1 ? Math.cos(y / 7) * 0.8 : ((x + y) / (w + h)) * 1.6 - 0.8;
        }
        t.data[t.index(0, c, y, x)] = v;
      }
    }
  }
  return { png: await encodeImage(t, 'png'), tensor: t };
}

/** Drag the brush across the middle of the mask canvas. */
export async function paintStroke(page: Page, from = { x: 0.3, y: 0.4 }, to = { x: 0.7, y: 0.6 }): Promise<void> {
  const box = await page.locator('#mask-canvas').boundingBox();
  if (!box) throw new Error('the mask canvas is not visible');
  await page.mouse.move(box.x + box.width * from.x, box.y + box.height * from.y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * to.x, box.y + box.height * to.y, { steps: 12 });
  await page.mouse.up();
}

/** Open an image through the page's file input. */
export async function openImage(page: Page, png: Buffer, name = 'photo.png'): Promise<void> {
  await page.setInputFiles('#open-image', { name, mimeType: 'image/png', buffer: png });
}
