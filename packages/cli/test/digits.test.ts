/**
 * The MNIST path on synthetic data made here (no ../shared needed): `diff2s idx` (IDX → PNGs + labels.csv),
 * `diff2s classifier train|eval` on tiny "digits", and the eval's `classify` metric (1 when the classifier
 * recognises a result as its true label), cross-checked against the classifier itself; config errors with key paths.
 */
import { promises as fs, readFileSync } from 'fs';
import * as path from 'path';
import { gzipSync } from 'zlib';
import YAML from 'yaml';
import { ConfigError, InputError, Rng, encodeIdx, readImage, readLabelsCsv } from '@diff2s/core';
import { loadClassifier } from '@diff2s/engine';
import { tempDir } from '../../../test/helpers/tmp';
import { runCli } from '../../../test/helpers/cli';
import { cliContainer } from '../src/pipeline';
import { ConfigErrors } from '../src/config/load';
import { classifierEvalCommand, classifierTrainCommand, loadLabelledImages } from '../src/commands/classifier';
import { evalCommand } from '../src/commands/eval';
import { idxCommand } from '../src/commands/idx';
import { metricColumns, parseEvalConfig } from '../src/eval/parse';

/**
 * `n` 12x12 "digits" of 3 classes: a bright 6-pixel horizontal (0), vertical (1) or diagonal (2) line at a random
 * position on a dark noisy background, as IDX bytes (images, labels).
 */
function digits(n: number, seed: number): { images: Buffer; labels: Buffer } {
  const rng = new Rng(seed);
  const px = new Uint8Array(n * 144);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const y = rng.int(3);
    labels[i] = y;
    for (let p = 0; p < 144; p++) px[i * 144 + p] = rng.int(40);
    const r = 1 + rng.int(5), c = 1 + rng.int(5);
    const cells: [number, number][] = [];
    for (let k = 0; k < 6; k++) cells.push(y === 0 ? [r + 2, c + k] : y === 1 ? [r + k, c + 2] : [r + k, c + k]);
    for (const [yy, xx] of cells) px[i * 144 + yy * 12 + xx] = 230 + rng.int(26);
  }
  return { images: encodeIdx([n, 12, 12], px), labels: encodeIdx([n], labels) };
}

let tmp: ReturnType<typeof tempDir>;
let imagesGz: string, labelsGz: string;
const N = 420;

beforeAll(async () => {
  tmp = tempDir('diff2s-digits-');
  const d = digits(N, 1);
  imagesGz = path.join(tmp.dir, 'images-idx3-ubyte.gz');
  labelsGz = path.join(tmp.dir, 'labels-idx1-ubyte.gz');
  await fs.writeFile(imagesGz, gzipSync(d.images));
  await fs.writeFile(labelsGz, gzipSync(d.labels));
});
afterAll(() => tmp.cleanup());

describe('diff2s idx', () => {
  it('writes padded PNGs and labels.csv for a range of indices', async () => {
    const out = path.join(tmp.dir, 'range');
    const r = await idxCommand({ images: imagesGz, labels: labelsGz, out, start: 5, count: 3, pad: 2, prefix: 'd' });
    expect(r.files.map((f) => path.basename(f))).toEqual(['d005.png', 'd006.png', 'd007.png']);
    expect([r.width, r.height]).toEqual([16, 16]);
    const labels = await readLabelsCsv(r.labelsFile!);
    const d = digits(N, 1);
    expect([...labels]).toEqual([['d005', d.labels[8 + 5]], ['d006', d.labels[8 + 6]], ['d007', d.labels[8 + 7]]]);
    const img = (await readImage(r.files[1])).tensor;
    expect(img.shape).toEqual([1, 1, 16, 16]);
    expect(img.data[0]).toBe(-1); // the black border
    // pixel (y=3, x=4) of image 6 lands at (5, 6): the 8-bit value is exact
    expect(Math.round((img.data[5 * 16 + 6] + 1) * 127.5)).toBe(d.images[16 + 6 * 144 + 3 * 12 + 4]);
    expect((await fs.readdir(out)).sort()).toEqual(['d005.png', 'd006.png', 'd007.png', 'labels.csv']);
  });

  it('refuses mismatched label files and bad ranges', async () => {
    const other = path.join(tmp.dir, 'other-labels');
    await fs.writeFile(other, encodeIdx([3], Uint8Array.from([1, 2, 3])));
    const err = await idxCommand({ images: imagesGz, labels: other, out: path.join(tmp.dir, 'x') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/has 3 labels but .* has 420 images/);
    await expect(idxCommand({ images: imagesGz, out: path.join(tmp.dir, 'x'), start: N })).rejects.toThrow(/past the last image/);
    await expect(idxCommand({ images: imagesGz, out: path.join(tmp.dir, 'x'), pad: -1 })).rejects.toThrow(ConfigError);
  });

  it('runs through the built CLI', () => {
    const out = path.join(tmp.dir, 'cli-idx');
    const r = runCli(['idx', '--images', imagesGz, '--labels', labelsGz, '--count', '4', '--pad', '2', '-o', out, '-q']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('4 images (16x16) written to');
    expect(readFileSync(path.join(out, 'labels.csv'), 'utf8').split('\n')[1]).toMatch(/^000,\d$/);
    const bad = runCli(['idx', '--images', labelsGz, '-o', out]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/declares 1 dimension\(s\); expected 3/);
  });
});

describe('classifier + classify metric', () => {
  let train: string, test: string, model: string;
  beforeAll(async () => {
    train = path.join(tmp.dir, 'train');
    test = path.join(tmp.dir, 'test');
    model = path.join(tmp.dir, 'clf');
    await idxCommand({ images: imagesGz, labels: labelsGz, out: train, count: 360 });
    await idxCommand({ images: imagesGz, labels: labelsGz, out: test, start: 360 });
  });

  it('trains, reports held-out accuracy, saves a card, and evaluates', async () => {
    const epochs: number[] = [];
    const r = await classifierTrainCommand({
      images: train, labels: path.join(train, 'labels.csv'), out: model, testImages: test, testLabels: path.join(test, 'labels.csv'),
      epochs: 5, batch: 16, conv: [4], hidden: 16, lr: 0.01, shift: 1, onEpoch: (e) => epochs.push(e.loss),
    });
    expect(epochs).toHaveLength(5);
    expect(r.trainImages).toBe(360);
    expect(r.testImages).toBe(60);
    expect(r.testAccuracy!).toBeGreaterThanOrEqual(0.9);
    const { card } = await loadClassifier(model);
    expect(card.arch).toMatchObject({ width: 12, height: 12, channels: 1, classes: 10, conv: [4], hidden: 16 });
    expect(card.training).toMatchObject({ count: 360, testCount: 60, testAccuracy: r.testAccuracy });
    const ev = await classifierEvalCommand({ model, images: test, labels: path.join(test, 'labels.csv') });
    expect(ev.images).toBe(60);
    expect(ev.accuracy).toBeCloseTo(r.testAccuracy!, 12);
    expect(ev.perClass.reduce((a, c) => a + c.count, 0)).toBe(60);
  });

  it('names a missing label and bad flags', async () => {
    const labels = path.join(tmp.dir, 'partial.csv');
    await fs.writeFile(labels, 'stem,label\n360,1\n');
    await expect(loadLabelledImages(test, labels)).rejects.toThrow(/partial\.csv has no label for image 361/);
    const err = await classifierTrainCommand({ images: train, labels: path.join(train, 'labels.csv'), out: path.join(tmp.dir, 'bad'), epochs: 0, limit: 10 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigErrors).errors[0].path).toBe('--epochs');
    const nested = await classifierTrainCommand({ images: train, labels: path.join(train, 'labels.csv'), out: path.join(tmp.dir, 'bad'), conv: [0], limit: 10 }).catch((e: unknown) => e);
    expect((nested as ConfigErrors).errors[0].path).toBe('--conv[0]');
    // a value taken from the data (the class count from the labels) is blamed on the labels file, not on a flag
    const huge = path.join(tmp.dir, 'huge.csv');
    const rows = (await fs.readFile(path.join(train, 'labels.csv'), 'utf8')).trim().split('\n');
    await fs.writeFile(huge, [rows[0], ...rows.slice(1).map((r) => `${r.split(',')[0]},20000`)].join('\n') + '\n');
    const data = await classifierTrainCommand({ images: train, labels: huge, out: path.join(tmp.dir, 'bad'), limit: 10 }).catch((e: unknown) => e);
    expect(data).toBeInstanceOf(InputError);
    expect((data as Error).message).toMatch(/huge\.csv: classes .*10000/);
  });

  it('scores each result 1/0 by the classifier: unfilled vs mean fill on small holes, mean = recognised share', async () => {
    const cfg = path.join(tmp.dir, 'eval-classify.yaml');
    await fs.writeFile(cfg, YAML.stringify({
      seed: 1,
      dataset: { images: 'test', masks: { type: 'ev2li' }, limit: 12 },
      methods: [
        { name: 'unfilled', pipeline: { guide: { type: 'constant', value: -1 } } },
        { name: 'mean', pipeline: { guide: { type: 'mean' } } },
      ],
      metrics: [{ name: 'classify', model: 'clf', labels: 'test/labels.csv' }, 'psnr'],
      output: 'eval-out',
      grid: { maxImages: 0 },
    }));
    const r = await evalCommand({ config: cfg, quiet: true }, cliContainer());
    expect(r.exitCode).toBe(0);
    expect(r.rows).toHaveLength(24);
    const { model: clf } = await loadClassifier(model);
    const labels = await readLabelsCsv(path.join(test, 'labels.csv'));
    for (const row of r.rows) {
      const res = (await readImage(path.join(r.outputDir, row.result!))).tensor;
      const expected = clf.predict(res)[0] === labels.get(row.image) ? 1 : 0;
      expect(row.metrics.classify).toBe(expected);
    }
    for (const run of r.runs) {
      const values = r.rows.filter((x) => x.run === run.run).map((x) => x.metrics.classify);
      expect(run.metrics.classify.mean).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 12);
    }
    const md = readFileSync(path.join(r.outputDir, 'summary.md'), 'utf8');
    expect(md).toContain('recognised (classifier) ↑');
  });

  it('reports classify config problems with key paths before any work', async () => {
    const base = { dataset: { images: 'test', masks: { type: 'ev2li' } }, methods: [{ name: 'm', pipeline: { guide: { type: 'mean' } } }] };
    const paths = (raw: unknown): string[] => {
      try {
        parseEvalConfig(raw);
        return [];
      } catch (e) {
        return (e as ConfigErrors).errors.map((x) => x.path);
      }
    };
    expect(paths({ ...base, metrics: ['classify'] })).toEqual(['metrics[0].model', 'metrics[0].labels']);
    expect(paths({ ...base, metrics: [{ name: 'psnr', model: 'clf' }] })).toEqual(['metrics[0].model']);
    const cfg = path.join(tmp.dir, 'eval-bad.yaml');
    await fs.writeFile(cfg, YAML.stringify({ ...base, metrics: ['psnr', { name: 'classify', model: 'no-such-model', labels: 'nope.csv' }], output: 'bad-out' }));
    const err = await evalCommand({ config: cfg, quiet: true }, cliContainer()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigErrors);
    expect((err as ConfigErrors).errors.map((e) => e.path)).toEqual(['metrics[1].model', 'metrics[1].labels']);
    expect((err as Error).message).toMatch(/cannot read classifier card .*no-such-model/);
    // a second classifier (other labels) is its own column; labels missing an image's stem are found before any work
    const partial = path.join(tmp.dir, 'test-partial.csv');
    await fs.writeFile(partial, 'stem,label\n360,1\n');
    const two = [{ name: 'classify', model: 'clf', labels: 'test/labels.csv' }, 'psnr', { name: 'classify', model: 'clf', labels: 'test-partial.csv' }];
    expect(metricColumns(parseEvalConfig({ ...base, metrics: two }).config.metrics).map((c) => c.key))
      .toEqual(['classify', 'psnr_hole', 'classify_2']);
    expect(metricColumns(parseEvalConfig({ ...base, metrics: [two[0], two[0]] }).config.metrics).map((c) => c.key)).toEqual(['classify']);
    await fs.writeFile(cfg, YAML.stringify({ ...base, metrics: two, output: 'bad-out' }));
    const missing = await evalCommand({ config: cfg, quiet: true }, cliContainer()).catch((e: unknown) => e);
    expect((missing as ConfigErrors).errors.map((e) => e.path)).toEqual(['metrics[2].labels']);
    expect((missing as Error).message).toMatch(/test-partial\.csv has no label for image 361, 362, 363, … \(59 in all\)/);
    await expect(fs.stat(path.join(tmp.dir, 'bad-out'))).rejects.toThrow();
  });
});
