// The guard's reference-free measures next to the true patch SWD, per image of an own-image eval output folder
// (patch vs patch+fit (no guard)): node reports/own-image/guard-analysis.js out/own-image/vistex-strokes
const path = require('path'); const fs = require('fs');
const { readImage, loadMask, swd, boundaryConsistency, ssim, dilateMask, swdRegions } = require('../../packages/core/dist');
const { judgeRefinement } = require('../../packages/refiner/dist');
const dir = process.argv[2];
function gradEnergy(t, region) { // mean |dx|+|dy| over pixels whose both neighbours are in region
  const { h, w } = t; const hw = h * w; let s = 0, n = 0;
  for (let c = 0; c < t.c; c++) for (let y = 0; y < h - 1; y++) for (let x = 0; x < w - 1; x++) {
    const p = y * w + x; if (!region[p] || !region[p + 1] || !region[p + w]) continue;
    const b = c * hw; s += Math.abs(t.data[b + p + 1] - t.data[b + p]) + Math.abs(t.data[b + p + w] - t.data[b + p]); n++;
  }
  return s / n;
}
(async () => {
  const ids = fs.readdirSync(path.join(dir, 'results/patch')).map((f) => f.replace('.png', ''));
  const refDir = path.join(dir, 'reference');
  for (const id of ids) {
    const mask = await loadMask(path.join(dir, 'masks', id + '.png'));
    const s1 = (await readImage(path.join(dir, 'results/patch', id + '.png'), { channels: 3 })).tensor;
    const s2 = (await readImage(path.join(dir, 'results/patch+fit-no-guard', id + '.png'), { channels: 3 })).tensor;
    const refFile = fs.existsSync(refDir) ? path.join(refDir, id + '.png') : path.join(path.resolve(__dirname, '../../../shared/data/textures/vistex'), id.replace(/_m\d+$/, '') + '.png');
    const ref = (await readImage(refFile, { channels: 3 })).tensor;
    const hole = Array.from(mask.data, (v) => v === 1);
    const near = dilateMask(mask, 4); const known = Array.from(near.data, (v) => v === 0);
    const eK = gradEnergy(s1, known), e1 = gradEnergy(s1, hole), e2 = gradEnergy(s2, hole);
    const tSwd1 = swd(s1, ref, mask)[0], tSwd2 = swd(s2, ref, mask)[0];
    const [v] = judgeRefinement(s1, s2, mask);
    console.log(id.padEnd(12), 'trueSWD', (tSwd2 < tSwd1 ? 'better' : 'WORSE ').padEnd(7), (tSwd2 / tSwd1).toFixed(2), '| proxyT', (v.texture[1] / v.texture[0]).toFixed(2), '| energy known', eK.toFixed(3), 's1', (e1 / eK).toFixed(2), 's2', (e2 / eK).toFixed(2));
  }
})();
