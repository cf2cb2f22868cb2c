#!/usr/bin/env node
/**
 * Contact sheet like seed 001's figure 3 (original | masked | filled) from finished `diff2s eval` runs:
 *
 *   node reports/mnist/contact-sheet.js <out.png> <rows> <run name> <eval dir> [<eval dir> ...]
 *
 * For each of the first <rows> images, and for each eval folder (e.g. one per mask type) side by side: the original
 * digit, the masked digit (hole drawn mid grey) and the named run's result. Reads <eval dir>/per-image.json,
 * masks/<id>.png and the run's result PNGs; needs `pnpm build`. The sheet is derived from MNIST: keep it under out/
 * (see reports/mnist/README.md on the data's terms).
 */
const path = require('path');
const { readFileSync } = require('fs');
const root = path.resolve(__dirname, '../..');
const { loadMask, readImage, writeImage } = require(path.join(root, 'packages/core/dist'));
const { composeGrid } = require(path.join(root, 'packages/cli/dist'));

async function main(argv) {
  const [out, rowsArg, run, ...dirs] = argv;
  const rows = Number(rowsArg);
  if (!out || !Number.isInteger(rows) || rows < 1 || !run || dirs.length === 0) {
    process.stderr.write('usage: contact-sheet.js <out.png> <rows> <run name> <eval dir>...\n');
    return 2;
  }
  const grid = Array.from({ length: rows }, () => []);
  for (const dir of dirs) {
    const perImage = JSON.parse(readFileSync(path.join(dir, 'per-image.json'), 'utf8')).filter((r) => r.run === run && r.status === 'ok');
    if (perImage.length < rows) throw new Error(`${dir}: run "${run}" has ${perImage.length} results, fewer than ${rows}`);
    for (let i = 0; i < rows; i++) {
      const r = perImage[i];
      const original = (await readImage(r.file)).tensor;
      const mask = await loadMask(path.join(dir, 'masks', `${r.image}.png`));
      const masked = original.clone();
      for (let p = 0; p < mask.size; p++) if (mask.data[p] >= 0.5) masked.data[p] = 0;
      const filled = (await readImage(path.join(dir, r.result))).tensor;
      grid[i].push(original, masked, filled);
    }
  }
  await writeImage(out, composeGrid(grid, 2));
  process.stdout.write(`${out}: ${rows} rows x ${dirs.length} x (original | masked | ${run})\n`);
  return 0;
}

main(process.argv.slice(2)).then((c) => process.exit(c), (e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
