/**
 * Every example config in examples/ runs through the built CLI (with a few overrides so each run takes seconds),
 * writes its outputs, and keeps the known pixels of the input exactly.
 */
import { existsSync, readdirSync, readFileSync } from 'fs';
import * as path from 'path';
import { loadMask, readImage } from '@diff2s/core';
import { ROOT, runCli } from './helpers/cli';
import { tempDir } from './helpers/tmp';

const EXAMPLES = path.join(ROOT, 'examples');
const MODEL = path.join(ROOT, 'models/frugal-brick/model.json');

/** Overrides that make each example fast; every pipeline example must be listed here. */
const FAST: Record<string, string[]> = {
  'default.yaml': ['--tk', '4', '--set', 'model.fit.steps=3', '--set', 'model.fit.crop=32'],
  'patch.yaml': ['--set', 'guide.pmIterations=3', '--set', 'guide.emIterations=2'],
  'mean-refiner-ddim.yaml': ['--tk', '6', '--set', 'refiner.sampler.steps=3'],
  'harmonic-refiner-repaint.yaml': ['--tk', '6', '--set', 'refiner.sampler.jumpLength=2'],
  'nearest-refiner-fixed-noise.yaml': ['--tk', '4'],
  'diffusion-ddim-refiner.yaml': ['--tk', '3', '--set', 'guide.sampler.steps=3'],
  'diffusion-sdedit.yaml': ['--set', 'guide.sampler.t0=3'],
  'onnx-lama.yaml': ['--tk', '3'],
  'file-refiner.yaml': ['--tk', '3'],
};

const pipelineExamples = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml') && !f.startsWith('train-') && !f.startsWith('eval-'));

describe('examples/*.yaml through the CLI', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeAll(() => (tmp = tempDir('diff2s-examples-')));
  afterAll(() => tmp.cleanup());

  it('the shipped model exists (the embedded default needs it)', () => {
    expect(existsSync(MODEL)).toBe(true);
  });

  it('every pipeline example has a fast-run entry in this test', () => {
    expect(pipelineExamples.sort()).toEqual(Object.keys(FAST).sort());
  });

  it.each(pipelineExamples)('%s runs and keeps the known pixels', async (name) => {
    const out = path.join(tmp.dir, name.replace('.yaml', ''));
    const r = runCli(['inpaint', '--config', path.join(EXAMPLES, name), '--out', out, ...FAST[name]]);
    if (r.status !== 0) throw new Error(`exit ${r.status}\n${r.stderr}`);
    const written = r.stdout.trim().split('\n');
    expect(written.length).toBeGreaterThan(0);
    const image = await readImage(path.join(EXAMPLES, 'data/brick.png'));
    const mask = await loadMask(path.join(EXAMPLES, 'data/brick-mask.png'));
    for (const f of written.filter((w) => /_stage[12]\.png$/.test(w))) {
      const o = await readImage(f); // channel 0 of a gray or RGB output
      expect(o.width).toBe(128);
      let bad = 0;
      for (let p = 0; p < mask.size; p++) if (mask.data[p] === 0 && Math.abs(o.tensor.data[p] - image.tensor.data[p]) > 1e-6) bad++;
      expect(bad).toBe(0);
    }
    if (/concat: true/.test(readFileSync(path.join(EXAMPLES, name), 'utf8'))) {
      expect(written.some((w) => w.endsWith('_sheet.png'))).toBe(true);
    }
  });
});
