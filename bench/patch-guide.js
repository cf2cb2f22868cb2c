#!/usr/bin/env node
/**
 * Benchmark of the `patch` guide (Newson et al. non-local patch inpainting) on a 256x256 image with a ~25% free-form
 * hole (Yu et al.-style strokes). Run after building: `npx tsc -b packages/guides && node bench/patch-guide.js`.
 *
 * Image: /work/shared/data/photos/<name>.png resized to 256x256 when that folder exists (default `astronaut`),
 * otherwise a synthetic image (a smooth gradient + stripes + a checker), and it says which.
 * Prints the wall time of the patch guide and the hole PSNR of patch / harmonic / mean fills against the original.
 *
 * Options: --photo NAME   --seed N   --size N   --out DIR (writes input, mask and results as PNG)   --no-features (patch guide without texture features)
 */
const path = require('path');
const fs = require('fs');
const core = require('../packages/core/dist');
const guides = require('../packages/guides/dist');
const { freeFormMask, synthetic } = require('./lib/common');

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = process.argv[i + 1];
  return v === undefined || v.startsWith('--') ? true : v;
}

const size = Number(arg('size', 256));
const seed = Number(arg('seed', 1));
const photo = arg('photo', 'astronaut');
const outDir = arg('out', '');
const features = !arg('no-features', false);

function psnrHole(a, ref, mask) {
  const hw = a.h * a.w;
  let s = 0, k = 0;
  for (let c = 0; c < a.c; c++) for (let p = 0; p < hw; p++) if (mask.data[p] >= 0.5) { s += ((a.data[c * hw + p] - ref.data[c * hw + p]) / 2) ** 2; k++; }
  return 10 * Math.log10(1 / (s / k));
}

async function main() {
  let image, source;
  const photoPath = path.join('/work/shared/data/photos', `${photo}.png`);
  if (fs.existsSync(photoPath)) {
    const loaded = await core.readImage(photoPath, { channels: 3 });
    const t = loaded.tensor;
    const data = guides.resizePlanes(t.data, 3, t.h, t.w, size, size);
    image = core.quantizeTensor8(new core.Tensor4([1, 3, size, size], data));
    source = `real photo ${photoPath} (${t.w}x${t.h}, resized to ${size}x${size})`;
  } else {
    image = synthetic(core, size);
    source = `synthetic image (${photoPath} not found): gradient + stripes + checker, ${size}x${size}`;
  }
  const mask = freeFormMask(size, 0.25, new core.Rng(seed));
  const frac = mask.data.reduce((a, b) => a + b, 0) / (size * size);
  const container = core.createContainer(guides.guidesModule);
  const context = { container, baseDir: process.cwd(), logger: core.consoleLogger };
  console.log(`image: ${source}`);
  console.log(`hole: ${(100 * frac).toFixed(1)}% free-form (seed ${seed}); erosion depth ${guides.erosionDepth(Uint8Array.from(mask.data), size, size)} px`);
  console.log(`node ${process.version}, ${require('os').cpus().length} CPU(s): ${require('os').cpus()[0].model}`);
  const results = {};
  for (const [name, config] of [['patch', features ? {} : { textureFeatures: false }], ['harmonic', {}], ['mean', {}]]) {
    const guide = container.guides.create(name, config, context);
    const t0 = process.hrtime.bigint();
    const out = await guide.inpaint(image, mask, { rng: new core.Rng(seed) });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    results[name] = out;
    console.log(`${name.padEnd(9)} ${(ms / 1000).toFixed(2).padStart(6)} s   hole PSNR ${psnrHole(out, image, mask).toFixed(2)} dB`);
  }
  if (outDir) {
    fs.mkdirSync(outDir, { recursive: true });
    await core.writeImage(path.join(outDir, 'input.png'), core.applyMask(image, mask, 0));
    await core.writeImage(path.join(outDir, 'mask.png'), new core.Tensor4(mask.shape, mask.data.map((v) => 2 * v - 1)));
    for (const [name, out] of Object.entries(results)) await core.writeImage(path.join(outDir, `${name}.png`), out);
    console.log(`images written to ${outDir}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
