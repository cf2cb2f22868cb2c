// Tuning experiment for the defaults (not the evaluation): patch vs patch + fitted refiner at several T_k on a tuning
// set; usage: DIFF2S_CACHE_DIR=/tmp/c node reports/own-image/tune.js images=a.png,b.jpg masks=freeform tk=25,50,100 'fit={"seconds":45}' [band=6] [save=DIR]
const path = require('path');
const { readImage, loadMask, generateMask, Rng, Tensor4, swd, ssim, psnr, boundaryConsistency, holeChromaError, quantizeTensor8, writeImage } = require('../../packages/core/dist');
const { createPipeline, cliContainer } = require('../../packages/cli/dist');
const args = Object.fromEntries(process.argv.slice(2).map((a) => a.split('=')));
const files = (args.images || '').split(',');
const tks = (args.tk || '50,100,200').split(',').map(Number);
const fit = JSON.parse(args.fit || '{}');
const size = Number(args.size || 128);
const sampler = JSON.parse(args.sampler || '{"type":"ddpm"}');
(async () => {
  const container = cliContainer();
  const rows = [];
  for (const f of files) {
    let img = (await readImage(f, { channels: 3 })).tensor;
    // centre crop to size
    const x0 = Math.floor((img.w - size) / 2), y0 = Math.floor((img.h - size) / 2);
    const c = new Tensor4([1, 3, size, size]);
    for (let ch = 0; ch < 3; ch++) for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) c.data[c.index(0, ch, y, x)] = img.data[img.index(0, ch, y0 + y, x0 + x)];
    img = c;
    for (const mtype of (args.masks || 'freeform,square').split(',')) {
      let mask;
      if (mtype === 'square') { mask = new Tensor4([1, 1, size, size]); const a = size / 4; for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) if (x >= 1.5 * a && x < 2.5 * a && y >= 1.5 * a && y < 2.5 * a) mask.data[y * size + x] = 1; }
      else mask = generateMask(mtype, size, new Rng(7));
      const measure = (out) => { const q = quantizeTensor8(out.clone()); const b = boundaryConsistency(q, img, mask)[0]; return { swd: swd(q, img, mask, { patch: 7 })[0], bnd: b, ssim: ssim(q, img, mask)[0], psnr: psnr(q, img, mask)[0], chroma: holeChromaError(q, img, mask)[0] }; };
      for (const tk of tks) {
        const p = await createPipeline({ seed: 0, guide: { type: 'patch' }, model: { fit: { tMax: 300, ...fit } }, refiner: { tk, guard: true, sampler, band: Number(args.band || 0) } }, { container });
        const t0 = performance.now();
        const r = await p.run({ image: img, mask });
        const ms = performance.now() - t0;
        await p.dispose();
        const s1 = measure(r.stage1), s2 = measure(r.stage2);
        const stem = path.basename(f).replace(/\.\w+$/, '');
        if (tk === tks[0]) rows.push({ img: stem, mask: mtype, method: 'patch', ...s1 });
        rows.push({ img: stem, mask: mtype, method: `fit tk=${tk}`, ...s2, guard: r.guard[0].accept ? 'refined' : 'kept', gT: r.guard[0].texture.map((v) => v.toFixed(4)).join('>'), gS: r.guard[0].seam.map((v) => v.toFixed(4)).join('>'), fitS: r.model.fit.seconds.toFixed(1), steps: r.model.fit.steps, cached: r.model.fit.cached, ms: ms.toFixed(0) });
        if (args.save) await writeImage(path.join(args.save, `${stem}_${mtype}_tk${tk}.png`), r.stage2);
        if (args.save && tk === tks[0]) { await writeImage(path.join(args.save, `${stem}_${mtype}_s1.png`), r.stage1); }
        console.log(JSON.stringify(rows[rows.length - 1]));
      }
    }
  }
  // summary: per method, share of images where swd and bnd better than patch and ssim not lower
  const byKey = {};
  for (const r of rows) (byKey[r.method] ??= []).push(r);
  const base = byKey.patch;
  for (const [m, rs] of Object.entries(byKey)) {
    const mean = (k) => (rs.reduce((a, r) => a + r[k], 0) / rs.length).toFixed(4);
    let wins = 0;
    rs.forEach((r, i) => { const b = base[i]; if (r.swd < b.swd && r.bnd < b.bnd && r.ssim >= b.ssim) wins++; });
    console.log(`${m.padEnd(14)} swd ${mean('swd')} bnd ${mean('bnd')} ssim ${mean('ssim')} psnr ${mean('psnr')} chroma ${mean('chroma')} wins ${wins}/${rs.length}`);
  }
})().catch((e) => { console.error(e); process.exit(1); });
