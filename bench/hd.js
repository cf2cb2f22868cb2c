#!/usr/bin/env node
/**
 * Issue 19: cost vs image size at a fixed hole, and vs hole size at a fixed image size, for the HD strategies
 * (`crop`, the default above 512 px, against `original`), side by side in one run; writes reports/hd-bench.md and a plot
 * of both tables beside it (reports/hd-bench.svg).
 * The pipeline is the default one with the shipped colour prior as the refiner's model (`--no-fit`: a fit is a time
 * budget of its own, 45–120 s, reported in reports/own-image) and the guard off (it doubles the refinement).
 * Each case runs the CLI as a child process (wall time and peak RSS from /proc), on a synthetic photo-like image.
 *
 *   node bench/hd.js [--sizes 256,512,1024,2048,4096] [--holes 32,64,128,256] [--hole 64] [--at 1024] [--out FILE]
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const { runCliMeasured } = require('./lib/common');

const ROOT = path.resolve(__dirname, '..');
const sharp = require(require.resolve('sharp', { paths: [path.join(ROOT, 'packages/core')] }));
const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : def;
};
const list = (s) => s.split(',').map(Number);
const SIZES = list(arg('--sizes', '256,512,1024,2048,4096'));
const HOLES = list(arg('--holes', '32,64,128,256'));
const HOLE = Number(arg('--hole', '64'));
const AT = Number(arg('--at', '1024'));
const OUT = path.resolve(ROOT, arg('--out', 'reports/hd-bench.md'));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'diff2s-hd-bench-'));

async function makeCase(w, hole) {
  const img = path.join(tmp, `img-${w}.png`), msk = path.join(tmp, `mask-${w}-${hole}.png`);
  if (!fs.existsSync(img)) {
    const buf = Buffer.alloc(w * w * 3);
    for (let y = 0; y < w; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) {
      buf[(y * w + x) * 3 + c] = Math.round(128 + 90 * Math.sin(x * 0.031 + c) * Math.cos(y * 0.027) + 30 * Math.sin((x + 2 * y) * 0.4));
    }
    await sharp(buf, { raw: { width: w, height: w, channels: 3 } }).png({ compressionLevel: 1 }).toFile(img);
  }
  const m = Buffer.alloc(w * w);
  const x0 = Math.floor((w - hole) / 2);
  for (let y = x0; y < x0 + hole; y++) m.fill(255, y * w + x0, y * w + x0 + hole);
  await sharp(m, { raw: { width: w, height: w, channels: 1 } }).png().toFile(msk);
  return { img, msk };
}

const run = (args, env) => runCliMeasured(args, env);

/**
 * Two panels (time vs image side, time vs hole side; log₂ x axes), one line per strategy, as an SVG drawn from the
 * measured points (failed runs left out).
 */
function plotSvg(panels) {
  const W = 360, H = 240, L = 48, B = 36, T = 28, R = 12, colours = { crop: '#1f77b4', original: '#d62728' };
  const parts = [];
  panels.forEach((pn, i) => {
    const ox = i * (W + 20);
    const xs = pn.points.map((p) => Math.log2(p.x));
    const ys = pn.points.flatMap((p) => [p.crop, p.original].filter((v) => v !== undefined));
    const x0 = Math.min(...xs), x1 = Math.max(...xs), y1 = Math.max(1, ...ys) * 1.1;
    const px = (x) => ox + L + ((Math.log2(x) - x0) / Math.max(1e-9, x1 - x0)) * (W - L - R);
    const py = (y) => T + (1 - y / y1) * (H - T - B);
    parts.push(`<text x="${ox + L}" y="16" font-size="13">${pn.title}</text>`);
    parts.push(`<line x1="${ox + L}" y1="${py(0)}" x2="${ox + W - R}" y2="${py(0)}" stroke="#000"/><line x1="${ox + L}" y1="${T}" x2="${ox + L}" y2="${py(0)}" stroke="#000"/>`);
    for (const p of pn.points) parts.push(`<text x="${px(p.x)}" y="${H - B + 16}" font-size="10" text-anchor="middle">${p.x}²</text>`);
    const step = y1 > 10 ? 5 : y1 > 4 ? 1 : 0.5;
    for (let v = 0; v <= y1; v += step) {
      parts.push(`<text x="${ox + L - 4}" y="${py(v) + 3}" font-size="10" text-anchor="end">${v}</text><line x1="${ox + L}" y1="${py(v)}" x2="${ox + W - R}" y2="${py(v)}" stroke="#ddd"/>`);
    }
    parts.push(`<text x="${ox + 12}" y="${T + (H - T - B) / 2}" font-size="10" transform="rotate(-90 ${ox + 12} ${T + (H - T - B) / 2})" text-anchor="middle">seconds</text>`);
    parts.push(`<text x="${ox + L + (W - L - R) / 2}" y="${H - 4}" font-size="10" text-anchor="middle">${pn.xLabel}</text>`);
    for (const [k, col] of Object.entries(colours)) {
      const pts = pn.points.filter((p) => p[k] !== undefined).map((p) => `${px(p.x).toFixed(1)},${py(p[k]).toFixed(1)}`);
      parts.push(`<polyline fill="none" stroke="${col}" stroke-width="2" points="${pts.join(' ')}"/>`);
      pts.forEach((q) => parts.push(`<circle cx="${q.split(',')[0]}" cy="${q.split(',')[1]}" r="3" fill="${col}"/>`));
    }
    Object.entries(colours).forEach(([k, col], j) => parts.push(`<text x="${ox + L + 10}" y="${T + 14 + 14 * j}" font-size="11" fill="${col}">${k}</text>`));
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W + 20}" height="${H}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="#fff"/>\n${parts.join('\n')}\n</svg>\n`;
}

async function main() {
  const started = new Date().toISOString();
  const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const common = ['--no-fit', '--set', 'refiner.guard=false', '--quiet'];
  const cell = (r) => (r.code === 0 ? `${r.seconds.toFixed(1)} s, ${Math.round(r.rss)} MiB` : `exit ${r.code}: ${r.err.replace(/\|/g, '/').slice(0, 90)}`);
  const lines = [
    '# HD strategies: cost vs image size and vs hole size (issue 19)',
    '',
    `Generated by \`node bench/hd.js\` (started ${started}, load average at the start ${load}, ${os.cpus().length} cores). The default`,
    'pipeline (patch guide → refiner, its default sampler and T_k) with the shipped colour prior as the model (`--no-fit`) and the',
    'guard off, through the CLI (wall time including reading and writing the PNGs; peak RSS). `crop` is the default above 512 px;',
    'in both the refiner runs on a crop around the hole (`refiner.crop`), so `original` differs in the guide\'s work and the memory.',
    '',
    `## Time vs image size (a centred ${HOLE}² hole)`,
    '',
    '| image | crop | original |',
    '|---|---|---|',
  ];
  const secs = (r) => (r.code === 0 ? r.seconds : undefined);
  const bySize = [], byHole = [];
  for (const w of SIZES) {
    const { img, msk } = await makeCase(w, HOLE);
    const out = path.join(tmp, 'out');
    const a = await run(['inpaint', '--image', img, '--mask', msk, '--out', out, ...common, '--set', 'hd.strategy=crop']);
    const b = await run(['inpaint', '--image', img, '--mask', msk, '--out', out, ...common, '--set', 'hd.strategy=original']);
    bySize.push({ x: w, crop: secs(a), original: secs(b) });
    lines.push(`| ${w}² | ${cell(a)} | ${cell(b)} |`);
    console.log(lines[lines.length - 1]);
  }
  lines.push('', `## Time vs hole size (a ${AT}² image)`, '', '| hole | crop | original |', '|---|---|---|');
  for (const hole of HOLES) {
    const { img, msk } = await makeCase(AT, hole);
    const out = path.join(tmp, 'out');
    const a = await run(['inpaint', '--image', img, '--mask', msk, '--out', out, ...common, '--set', 'hd.strategy=crop']);
    const b = await run(['inpaint', '--image', img, '--mask', msk, '--out', out, ...common, '--set', 'hd.strategy=original']);
    byHole.push({ x: hole, crop: secs(a), original: secs(b) });
    lines.push(`| ${hole}² | ${cell(a)} | ${cell(b)} |`);
    console.log(lines[lines.length - 1]);
  }
  const svg = OUT.replace(/\.md$/, '') + '.svg';
  fs.writeFileSync(svg, plotSvg([
    { title: `time vs image size (a ${HOLE}² hole)`, xLabel: 'image', points: bySize },
    { title: `time vs hole size (a ${AT}² image)`, xLabel: 'hole', points: byHole },
  ]));
  lines.push('', `Plot of both tables: [${path.basename(svg)}](${path.basename(svg)}).`, '');
  fs.writeFileSync(OUT, lines.join('\n'));
  fs.rmSync(tmp, { recursive: true, force: true });
  console.log(OUT);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
