#!/usr/bin/env node
/**
 * CPU time of the patch guide per image (one core: the guide is single-threaded JavaScript), independent of the
 * machine's load, on the inputs an eval of this folder wrote: `node reports/patch-guide/cputime.js [set] [config-json]`
 * (default vistex-strokes and the default guide). Reads out/patch-guide/<set>/masks/<stem>.png and the image named
 * by the eval's per-image.json; prints mean and max CPU and wall seconds.
 */
const path = require('path');
const fs = require('fs');
const { readImage, loadMask, Rng } = require('../../packages/core');
const { PatchGuide, patchGuideConfig } = require('../../packages/guides');

(async () => {
  const set = process.argv[2] ?? 'vistex-strokes';
  const cfg = JSON.parse(process.argv[3] ?? '{}');
  const dir = path.resolve(__dirname, '../../out/patch-guide', set);
  const rows = JSON.parse(fs.readFileSync(path.join(dir, 'per-image.json'), 'utf8')).filter((r) => r.run === 'patch');
  const guide = new PatchGuide(patchGuideConfig.parse(cfg));
  const cpu = [], wall = [];
  for (const r of rows) {
    const mask = await loadMask(path.join(dir, 'masks', `${r.image}.png`));
    let image = (await readImage(r.file)).tensor;
    if (image.h !== mask.h || image.w !== mask.w) throw new Error(`${r.image}: crop not supported here (image ${image.w}x${image.h}, mask ${mask.w}x${mask.h})`);
    const c0 = process.cpuUsage(), t0 = process.hrtime.bigint();
    await guide.inpaint(image, mask, { rng: new Rng(0) });
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e6);
    wall.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const mean = (a) => a.reduce((s, x) => s + x, 0) / a.length;
  console.log(`${set}: ${rows.length} images, CPU s per image mean ${mean(cpu).toFixed(2)}, max ${Math.max(...cpu).toFixed(2)}; wall mean ${mean(wall).toFixed(2)}, max ${Math.max(...wall).toFixed(2)}`);
})();
