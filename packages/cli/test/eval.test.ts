/**
 * `diff2s eval` on a tiny dataset made here: two 32x32 synthetic textures with generated free-form masks, cheap
 * guides (mean, harmonic, patch) and the refiner on a tiny untrained native model (10-step schedule) swept over
 * refiner.tk ∈ {0, 5}. Checks the written files, the summary, the known-pixel invariant, the metric values against
 * core's metric functions, sweep names, the HTML's self-containment, the SVGs' well-formedness, and config errors.
 */
import { promises as fs, existsSync, readFileSync } from 'fs';
import * as path from 'path';
import YAML from 'yaml';
import {
  ConfigError, Rng, Tensor4, boundaryConsistency, exitCodeFor, generateMask, l1, loadMask, psnr, readImage, ssim, swd, writeImage,
} from '@diff2s/core';
import { NativeUNet, saveModel } from '@diff2s/engine';
import { tempDir } from '../../../test/helpers/tmp';
import { cliContainer } from '../src/pipeline';
import { ConfigErrors } from '../src/config/load';
import { evalCommand, type EvalResult } from '../src/commands/eval';
import { resolveDataset, loadSample } from '../src/eval/dataset';
import { parseEvalConfig } from '../src/eval/parse';
import { evalJsonSchema } from '../src/eval/schema';
import { barChart, lineChart } from '../src/eval/svg';

/** A small well-formedness check for XML (balanced tags, quoted attributes, escaped text, one root). */
function checkXml(xml: string): void {
  let s = xml.replace(/^\s*<\?xml[^?]*\?>/, '').replace(/<!--[\s\S]*?-->/g, '');
  const stack: string[] = [];
  let roots = 0;
  const entity = /&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;
  const checkText = (t: string) => {
    if (t.replace(entity, '').includes('&')) throw new Error(`unescaped & in "${t.slice(0, 40)}"`);
    if (t.includes('>')) throw new Error(`stray > in "${t.slice(0, 40)}"`);
  };
  while (s.length) {
    const lt = s.indexOf('<');
    const text = lt < 0 ? s : s.slice(0, lt);
    if (text.trim() && stack.length === 0) throw new Error('text outside the root element');
    checkText(text);
    if (lt < 0) break;
    s = s.slice(lt);
    const close = /^<\/([A-Za-z_][\w:.-]*)\s*>/.exec(s);
    if (close) {
      if (stack.pop() !== close[1]) throw new Error(`mismatched </${close[1]}>`);
      s = s.slice(close[0].length);
      continue;
    }
    const open = /^<([A-Za-z_][\w:.-]*)((?:\s+[A-Za-z_][\w:.-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>/.exec(s);
    if (!open) throw new Error(`malformed tag at "${s.slice(0, 60)}"`);
    const names = [...open[2].matchAll(/([A-Za-z_][\w:.-]*)\s*=\s*("[^"]*"|'[^']*')/g)];
    const seen = new Set<string>();
    for (const [, n, v] of names) {
      if (seen.has(n)) throw new Error(`duplicate attribute ${n}`);
      seen.add(n);
      checkText(v.slice(1, -1));
    }
    if (stack.length === 0) roots++;
    if (!open[3]) stack.push(open[1]);
    s = s.slice(open[0].length);
  }
  if (stack.length) throw new Error(`unclosed <${stack[stack.length - 1]}>`);
  if (roots !== 1) throw new Error(`expected one root element, found ${roots}`);
}

/** A 32x32 RGB texture in 8-bit values: stripes or a checker with seeded noise. */
function texture(kind: 'stripes' | 'checker', seed: number): Tensor4 {
  const t = new Tensor4([1, 3, 32, 32]);
  const rng = new Rng(seed);
  for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) {
    const base = kind === 'stripes' ? ((x + y) % 8 < 4 ? 0.6 : -0.4) : ((x >> 2) + (y >> 2)) % 2 ? 0.5 : -0.5;
    for (let c = 0; c < 3; c++) {
      const v = Math.max(-1, Math.min(1, base + 0.2 * (c - 1) + 0.15 * rng.normal()));
      t.data[t.index(0, c, y, x)] = Math.round((v + 1) * 127.5) / 127.5 - 1;
    }
  }
  return t;
}

const RUNS = ['mean', 'harmonic', 'patch', 'mean+refiner tk=0', 'mean+refiner tk=5'];
const METRIC_KEYS = ['psnr_hole', 'ssim_hole', 'ssim_image', 'l1_hole', 'swd_hole', 'boundary'];

let tmp: ReturnType<typeof tempDir>;
let result: EvalResult;
let out: string;
const container = cliContainer();

async function writeConfig(name: string, cfg: unknown): Promise<string> {
  const f = path.join(tmp.dir, name);
  await fs.writeFile(f, YAML.stringify(cfg));
  return f;
}

beforeAll(async () => {
  tmp = tempDir('diff2s-eval-');
  await writeImage(path.join(tmp.dir, 'images', 'a.png'), texture('stripes', 1));
  await writeImage(path.join(tmp.dir, 'images', 'b.png'), texture('checker', 2));
  const net = await NativeUNet.create({ preset: 'frugal', baseChannels: 4, channelMults: [1, 1] }, { seed: 1 });
  await saveModel(path.join(tmp.dir, 'tiny-model'), net, { preset: 'frugal', schedule: { type: 'linear', T: 10, betaStart: 1e-3, betaEnd: 0.2 } });
  net.dispose();
  const cfg = await writeConfig('eval.yaml', {
    title: 'tiny eval',
    seed: 7,
    dataset: { images: 'images', masks: { type: 'freeform', seed: 3 } },
    methods: [
      { name: 'mean', pipeline: { guide: { type: 'mean' } } },
      { name: 'harmonic', pipeline: { guide: { type: 'harmonic', iterations: 200 } } },
      { name: 'patch', pipeline: { guide: { type: 'patch', emIterations: 3, pmIterations: 4 } } },
      {
        name: 'mean+refiner',
        pipeline: { guide: { type: 'mean' }, model: { path: 'tiny-model' }, refiner: { tk: 5, guard: false } },
        sweep: { 'refiner.tk': [0, 5] },
      },
    ],
    metrics: ['psnr', { name: 'ssim', region: 'both' }, 'l1', { name: 'swd', projections: 16 }, 'boundary'],
    output: 'out',
    grid: { maxImages: 2 },
  });
  result = await evalCommand({ config: cfg, quiet: true }, container);
  out = path.join(tmp.dir, 'out');
}, 120000);
afterAll(() => tmp.cleanup());

describe('diff2s eval on a tiny dataset', () => {
  it('writes the tables, report, grid, plots, masks and results', () => {
    expect(result.outputDir).toBe(out);
    for (const f of ['report.html', 'summary.md', 'summary.csv', 'summary.json', 'per-image.csv', 'per-image.json', 'grid.png']) {
      expect(existsSync(path.join(out, f))).toBe(true);
      expect(result.files[f]).toBe(path.join(out, f));
    }
    for (const id of ['a', 'b']) {
      expect(existsSync(path.join(out, 'masks', `${id}.png`))).toBe(true);
      for (const slug of ['mean', 'harmonic', 'patch', 'mean+refiner-tk=0', 'mean+refiner-tk=5']) {
        expect(existsSync(path.join(out, 'results', slug, `${id}.png`))).toBe(true);
      }
    }
    const plots = result.plots.map((p) => path.basename(p));
    for (const k of METRIC_KEYS) {
      expect(plots).toContain(`bar_${k}.svg`);
      expect(plots).toContain(`sweep_refiner-tk_${k}.svg`);
    }
    expect(plots).toContain('bar_time.svg');
  });

  it('expands the sweep into named runs, and every run has every metric for every image', () => {
    expect(result.runs.map((r) => r.run)).toEqual(RUNS);
    expect(result.runs[4].params).toEqual({ 'refiner.tk': 5 });
    expect(result.rows).toHaveLength(RUNS.length * 2);
    const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
    expect(summary.runs.map((r: { run: string }) => r.run)).toEqual(RUNS);
    expect(summary.metrics.map((m: { key: string }) => m.key)).toEqual(METRIC_KEYS);
    for (const r of summary.runs) {
      expect(r.ok).toBe(2);
      for (const k of METRIC_KEYS) {
        expect(r.metrics[k].n).toBe(2);
        expect(r.metrics[k].mean).not.toBeNull();
      }
    }
    const csvHeader = readFileSync(path.join(out, 'summary.csv'), 'utf8').split('\n')[0].split(',');
    for (const k of METRIC_KEYS) expect(csvHeader).toEqual(expect.arrayContaining([`${k}_mean`, `${k}_std`]));
    expect(readFileSync(path.join(out, 'summary.csv'), 'utf8').trim().split('\n')).toHaveLength(1 + RUNS.length);
    const md = readFileSync(path.join(out, 'summary.md'), 'utf8');
    for (const r of RUNS) expect(md).toContain(`| ${r} |`);
    for (const label of ['PSNR hole (dB) ↑', 'SSIM image ↑', 'boundary consistency ↓']) expect(md).toContain(label);
    const perImage = readFileSync(path.join(out, 'per-image.csv'), 'utf8').trim().split('\n');
    expect(perImage).toHaveLength(1 + RUNS.length * 2);
    expect(perImage[0].split(',')).toEqual(expect.arrayContaining(['run', 'image', 'refiner.tk', ...METRIC_KEYS, 'knownPixelViolations']));
  });

  it('keeps every known pixel: 0 violations, 0 failures, exit code 0', () => {
    expect(result.knownPixelViolations).toBe(0);
    expect(result.failed).toBe(0);
    expect(result.exitCode).toBe(0);
    for (const row of result.rows) expect(row.knownPixelViolations).toBe(0);
    const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
    expect(summary.knownPixelViolations).toBe(0);
  });

  it('measures what core\'s metric functions measure on the saved result (cross-check, image a, patch and tk=5)', async () => {
    const ref = (await readImage(path.join(tmp.dir, 'images', 'a.png'))).tensor;
    const mask = await loadMask(path.join(out, 'masks', 'a.png'));
    // the mask is the generator's mask number 0 of the mask seed
    expect(Array.from(mask.data)).toEqual(Array.from(generateMask('freeform', 32, new Rng(3).derive(0)).data));
    const rows = JSON.parse(readFileSync(path.join(out, 'per-image.json'), 'utf8'));
    for (const run of ['patch', 'mean+refiner tk=5']) {
      const row = rows.find((r: { run: string; image: string }) => r.run === run && r.image === 'a');
      const res = (await readImage(path.join(out, row.result))).tensor;
      const expected: Record<string, number> = {
        psnr_hole: psnr(res, ref, mask)[0],
        ssim_hole: ssim(res, ref, mask)[0],
        ssim_image: ssim(res, ref)[0],
        l1_hole: l1(res, ref, mask)[0],
        swd_hole: swd(res, ref, mask, { projections: 16 })[0],
        boundary: boundaryConsistency(res, ref, mask)[0],
      };
      for (const k of METRIC_KEYS) expect(row.metrics[k]).toBeCloseTo(expected[k], 10);
    }
  });

  it('T_k = 0 returns the guide (same values as the mean run); T_k = 5 runs 5 refiner steps', () => {
    const byRun = (r: string) => result.rows.filter((x) => x.run === r);
    const mean = byRun('mean'), tk0 = byRun('mean+refiner tk=0'), tk5 = byRun('mean+refiner tk=5');
    for (let i = 0; i < 2; i++) {
      expect(tk0[i].metrics).toEqual(mean[i].metrics);
      expect(tk0[i].steps).toBe(0);
      expect(tk5[i].steps).toBe(5);
      expect(tk5[i].metrics.l1_hole).not.toBe(mean[i].metrics.l1_hole);
    }
  });

  it('writes one self-contained HTML report (summary, plots and grid inline, no external references)', () => {
    const html = readFileSync(path.join(out, 'report.html'), 'utf8');
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/\b(src|href)\s*=\s*"(?!data:)/);
    expect(html).not.toMatch(/<link\b|<script\b|@import|url\(/);
    expect(html).toContain('data:image/png;base64,');
    expect((html.match(/<svg\b/g) ?? []).length).toBe(result.plots.length);
    for (const r of RUNS) expect(html).toContain(r);
    expect(html).toContain('0 violations in 10 outputs');
    expect(html).toContain('2 images from images');
  });

  it('writes well-formed SVG plots', () => {
    for (const f of result.plots) {
      const svg = readFileSync(f, 'utf8');
      expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
      expect(() => checkXml(svg)).not.toThrow();
    }
    // text with markup characters is escaped; the checker itself rejects broken XML
    const tricky = barChart({ title: 'a < b & "c"', bars: [{ label: '<x>', value: 1, error: 0.5 }, { label: 'n', value: NaN }] });
    expect(() => checkXml(tricky)).not.toThrow();
    expect(() => checkXml(lineChart({ title: 't', series: [{ name: 's&p', points: [{ x: 0, y: 1 }, { x: 5, y: 2, error: 1 }] }] }))).not.toThrow();
    expect(() => checkXml('<svg><g></svg>')).toThrow();
    expect(() => checkXml('<svg><text>a & b</text></svg>')).toThrow();
  });
});

describe('diff2s eval: failures and config errors', () => {
  it('records an image that fails and continues with the rest', async () => {
    await fs.writeFile(path.join(tmp.dir, 'broken.png'), 'not a png');
    const cfg = await writeConfig('fail.yaml', {
      dataset: { images: ['images/a.png', 'broken.png', 'images/b.png'], masks: { type: 'thick' } },
      methods: [{ name: 'mean', pipeline: { guide: { type: 'mean' } } }],
      metrics: ['psnr'],
      output: 'out-fail',
    });
    const r = await evalCommand({ config: cfg, quiet: true }, container);
    expect(r.rows.map((x) => [x.image, x.status])).toEqual([['a', 'ok'], ['broken', 'failed'], ['b', 'ok']]);
    expect(r.rows[1].error).toMatch(/broken\.png/);
    expect(r.runs[0]).toMatchObject({ ok: 2, failed: 1, knownPixelViolations: 0 });
    expect(r.exitCode).toBe(2);
    expect(readFileSync(path.join(tmp.dir, 'out-fail', 'report.html'), 'utf8')).toContain('Failures');
  });

  it('evaluates a crop with mask files matched by stem (full-size or crop-size, known-white)', async () => {
    const full = Tensor4.full([1, 1, 32, 32], 1); // known-white: white = known
    for (let y = 10; y < 14; y++) for (let x = 12; x < 20; x++) full.data[y * 32 + x] = -1; // hole, inside the crop
    const small = Tensor4.full([1, 1, 16, 16], 1);
    for (let y = 0; y < 5; y++) for (let x = 0; x < 5; x++) small.data[y * 16 + x] = -1;
    await writeImage(path.join(tmp.dir, 'cropmasks', 'a_mask.png'), full);
    await writeImage(path.join(tmp.dir, 'cropmasks', 'b.png'), small);
    const cfg = await writeConfig('crop.yaml', {
      dataset: { images: 'images', masks: { dir: 'cropmasks' }, maskConvention: 'known-white', crop: { x: 8, y: 8, width: 16, height: 16 } },
      methods: [{ name: 'harmonic', pipeline: { guide: { type: 'harmonic' } } }],
      metrics: [{ name: 'psnr', region: 'both' }],
      output: 'out-crop',
      saveResults: false,
    });
    const r = await evalCommand({ config: cfg, quiet: true }, container);
    expect(r.rows.map((x) => [x.image, x.status, x.holeFraction])).toEqual([['a', 'ok', 32 / 256], ['b', 'ok', 25 / 256]]);
    expect(r.exitCode).toBe(0);
    const mask = await loadMask(path.join(tmp.dir, 'out-crop', 'masks', 'a.png'));
    expect(mask.w).toBe(16);
    expect(mask.data[(10 - 8) * 16 + (12 - 8)]).toBe(1);
    const ref = await readImage(path.join(tmp.dir, 'out-crop', 'reference', 'a.png'));
    const orig = (await readImage(path.join(tmp.dir, 'images', 'a.png'))).tensor;
    expect(ref.width).toBe(16);
    expect(ref.tensor.data[ref.tensor.index(0, 1, 3, 5)]).toBe(orig.data[orig.index(0, 1, 11, 13)]);
    expect(r.rows[0].metrics.psnr_image).toBeGreaterThan(r.rows[0].metrics.psnr_hole);
    expect(existsSync(path.join(tmp.dir, 'out-crop', 'results'))).toBe(false);
  });

  it('substitutes {stem} per image: one fill file and one model per image; a missing one is named before any work', async () => {
    const fillA = Tensor4.full([1, 3, 32, 32], 0.2);
    const fillB = Tensor4.full([1, 3, 32, 32], -0.6);
    await writeImage(path.join(tmp.dir, 'fills', 'a-fill.png'), fillA);
    await writeImage(path.join(tmp.dir, 'fills', 'b-fill.png'), fillB);
    for (const stem of ['a', 'b']) await fs.cp(path.join(tmp.dir, 'tiny-model'), path.join(tmp.dir, 'models', stem), { recursive: true });
    const cfg = await writeConfig('stem.yaml', {
      dataset: { images: 'images', masks: { type: 'freeform', seed: 3 } },
      methods: [
        { name: 'file', pipeline: { guide: { type: 'file', path: 'fills/{stem}-fill.png' } } },
        { name: 'file+refiner', pipeline: { guide: { type: 'file', path: 'fills/{stem}-fill.png' }, model: { path: 'models/{stem}' }, refiner: { tk: 3 } } },
      ],
      metrics: ['l1'],
      output: 'out-stem',
      grid: { maxImages: 0 },
    });
    const r = await evalCommand({ config: cfg, quiet: true }, container);
    expect(r.rows.map((x) => [x.run, x.image, x.status])).toEqual([
      ['file', 'a', 'ok'], ['file', 'b', 'ok'], ['file+refiner', 'a', 'ok'], ['file+refiner', 'b', 'ok'],
    ]);
    expect(r.exitCode).toBe(0);
    // the file guide's hole pixels are each image's own fill
    for (const [stem, fill] of [['a', 0.2], ['b', -0.6]] as const) {
      const res = (await readImage(path.join(tmp.dir, 'out-stem', 'results', 'file', `${stem}.png`))).tensor;
      const mask = await loadMask(path.join(tmp.dir, 'out-stem', 'masks', `${stem}.png`));
      let holes = 0;
      for (let p = 0; p < 32 * 32; p++) {
        if (mask.data[p] < 0.5) continue;
        holes++;
        expect(res.data[p]).toBeCloseTo(Math.round((fill + 1) * 127.5) / 127.5 - 1, 6);
      }
      expect(holes).toBeGreaterThan(0);
    }
    expect(r.runs[1].pipeline).toContain('models/{stem}');
    // a model missing for one image stops the eval at validation, naming the image
    await fs.rm(path.join(tmp.dir, 'models', 'b'), { recursive: true });
    let err: unknown;
    try {
      await evalCommand({ config: cfg, quiet: true }, container);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigErrors);
    const errors = (err as ConfigErrors).errors;
    expect(errors).toHaveLength(1);
    expect(errors[0].message).toMatch(/models\/b.*\(for b\.png\)/);
    expect(errors[0].path).toBe('methods[1].pipeline.model.path');
  });

  const base = {
    dataset: { images: 'images', masks: { type: 'freeform' } },
    methods: [{ name: 'm', pipeline: { guide: { type: 'mean' } }, sweep: { 'refiner.tk': [1, 2] } }],
  };

  function oneLineError(raw: unknown): ConfigError {
    let err: unknown;
    try {
      parseEvalConfig(raw);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigErrors);
    const errors = (err as ConfigErrors).errors;
    expect(errors).toHaveLength(1);
    expect(errors[0].message).not.toContain('\n');
    expect(exitCodeFor(err)).toBe(2);
    return errors[0];
  }

  it.each([
    ['an unknown metric', { ...base, metrics: ['psnr', 'fid'] }, 'metrics[1].name', /unknown metric "fid"; known: psnr, ssim/],
    ['an unknown sweep key', { ...base, methods: [{ ...base.methods[0], sweep: { 'refiner.tkk': [1] } }] }, 'methods[0].sweep["refiner.tkk"]', /unknown key "tkk"/],
    ['a sweep value of the wrong type', { ...base, methods: [{ ...base.methods[0], sweep: { 'refiner.tk': [5, 'x'] } }] }, 'methods[0].sweep["refiner.tk"]', /"x"/],
    ['a sweep over an eval-level key', { ...base, methods: [{ ...base.methods[0], sweep: { 'input.image': ['a.png'] } }] }, 'methods[0].sweep["input.image"]', /cannot sweep/],
    ['an unknown top-level key', { ...base, metric: ['psnr'] }, '', /unknown key "metric"/],
    ['a bad mask source key', { ...base, dataset: { images: 'x', masks: { type: 'freeform', sede: 1 } } }, 'dataset.masks', /unknown key "sede"/],
    ['a duplicate run name', { ...base, methods: [{ name: 'm', pipeline: {} }, { name: 'm', pipeline: {} }] }, 'methods[1].name', /duplicate run name/],
  ])('rejects %s with one line naming the key path', (_what, raw, keyPath, msg) => {
    const e = oneLineError(raw);
    expect(e.path).toBe(keyPath);
    if (keyPath) expect(e.message).toContain(`(at ${keyPath})`);
    expect(e.message).toMatch(msg);
  });

  it('expands a two-key sweep into the cartesian product with short names', () => {
    const p = parseEvalConfig({ ...base, methods: [{ name: 'r', pipeline: {}, sweep: { 'refiner.tk': [1, 2], 'refiner.swapFraction': [0, 0.5] } }] });
    expect(p.runs.map((r) => r.name)).toEqual(['r tk=1 swapFraction=0', 'r tk=1 swapFraction=0.5', 'r tk=2 swapFraction=0', 'r tk=2 swapFraction=0.5']);
    expect(p.runs[3].pipeline.refiner).toMatchObject({ tk: 2, swapFraction: 0.5 });
    expect(p.runs[0].pipeline.seed).toBe(0);
  });

  it('stops before any work on a method the composition root rejects (key path under methods[i])', async () => {
    const cfg = await writeConfig('bad-method.yaml', {
      dataset: { images: 'images', masks: { type: 'freeform' } },
      methods: [
        { name: 'ok', pipeline: { guide: { type: 'mean' } } },
        { name: 'no-model', pipeline: { guide: { type: 'mean' }, model: { fit: { init: 'no-such-model' } }, refiner: { tk: 3 } } },
        { name: 'bad-guide', pipeline: { guide: { type: 'patch', emIterationz: 2 } } },
      ],
      output: 'out-bad',
    });
    const err = await evalCommand({ config: cfg, quiet: true }, container).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigErrors);
    const paths = (err as ConfigErrors).errors.map((e) => e.path);
    expect(paths).toEqual(['methods[1].pipeline.model.fit.init', expect.stringMatching(/^methods\[2\]\.pipeline\.guide/)]);
    expect(existsSync(path.join(tmp.dir, 'out-bad'))).toBe(false);
  });

  it('generates several masks per image with count (ids <stem>_m<j>, mask k = derive(k))', async () => {
    const { config } = parseEvalConfig({ ...base, dataset: { images: 'images', masks: { type: 'thin', seed: 5, count: 2 }, limit: 1 } });
    const ds = await resolveDataset(config.dataset, tmp.dir);
    expect(ds.items.map((i) => [i.id, i.maskIndex])).toEqual([['a_m0', 0], ['a_m1', 1]]);
    const s = await loadSample(ds.items[1], config.dataset, 5);
    expect(Array.from(s.mask.data)).toEqual(Array.from(generateMask('thin', 32, new Rng(5).derive(1)).data));
  });

  it('accepts every examples/eval-*.yaml', async () => {
    const dir = path.resolve(__dirname, '../../../examples');
    const files = (await fs.readdir(dir)).filter((f) => /^eval-.*\.ya?ml$/.test(f));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const p = parseEvalConfig(YAML.parse(readFileSync(path.join(dir, f), 'utf8')));
      expect(p.runs.length).toBeGreaterThan(0);
    }
  });

  it('exports a JSON Schema of eval configs with the guides spelled out', () => {
    const js = evalJsonSchema(container) as { properties: Record<string, unknown> };
    expect(Object.keys(js.properties)).toEqual(expect.arrayContaining(['dataset', 'methods', 'metrics', 'seed', 'output', 'grid']));
    expect(JSON.stringify(js)).toContain('emIterations');
  });
});
