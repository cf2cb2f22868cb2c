/**
 * The one pipeline runner: the engine a config names is the engine that runs; the CLI, the library runner and the
 * studio backend give the same bytes for the same config; fitting a model to the image (cached by content, kept on
 * request); grey/colour model checks.
 */
import { existsSync, promises as fs, readFileSync } from 'fs';
import * as path from 'path';
import YAML from 'yaml';
import { z } from 'zod';
import { InputError, Tensor4, knownPixelViolations, loadMask, readImage, writeImage } from '@diff2s/core';
import { NativeUNet, saveModel } from '@diff2s/engine';
import { transferDetail, validationHole } from '@diff2s/refiner';
import { PipelineStudioBackend, cliContainer, createPipeline } from '../src';
import { runCli } from '../../../test/helpers/cli';
import { writeRectMask, writeRgbPng } from '../../../test/helpers/images';
import { tempDir } from '../../../test/helpers/tmp';

const SCHEDULE = { type: 'linear', T: 20, betaStart: 1e-3, betaEnd: 0.2 };
let tmp: ReturnType<typeof tempDir>;
let modelDir: string;
let greyModelDir: string;
let image: Tensor4;
let mask: Tensor4;
const container = cliContainer();

beforeAll(async () => {
  tmp = tempDir('diff2s-pipeline-');
  process.env.DIFF2S_CACHE_DIR = path.join(tmp.dir, 'cache');
  const net = await NativeUNet.create({ preset: 'frugal', baseChannels: 4, channelMults: [1, 1] }, { seed: 2 });
  modelDir = path.join(tmp.dir, 'models', 'tiny');
  await saveModel(modelDir, net, { preset: 'frugal', schedule: SCHEDULE, training: { content: 'colour' } });
  greyModelDir = path.join(tmp.dir, 'models', 'tiny-grey');
  await saveModel(greyModelDir, net, { preset: 'frugal', schedule: SCHEDULE, training: { content: 'grey' } });
  net.dispose();
  await writeRgbPng(path.join(tmp.dir, 'img.png'), 32, 32, 3);
  await writeRectMask(path.join(tmp.dir, 'mask.png'), 32, 32, 10, 8, 22, 20);
  image = (await readImage(path.join(tmp.dir, 'img.png'))).tensor;
  mask = await loadMask(path.join(tmp.dir, 'mask.png'));
});
afterAll(() => {
  delete process.env.DIFF2S_CACHE_DIR;
  tmp.cleanup();
});

const refined = (engine: string, extra: object = {}) => ({
  seed: 4,
  guide: { type: 'mean' },
  model: { path: modelDir, engine },
  refiner: { tk: 6, guard: false },
  ...extra,
});

describe('createPipeline', () => {
  it.each(['tfjs', 'onnx'])('model: { engine: %s } runs on that engine', async (engine) => {
    const p = await createPipeline(refined(engine), { container });
    try {
      expect(p.model?.engine).toBe(engine);
      expect(p.refinerSteps).toBe(5); // the default DDIM 5 from T_k 6
      const r = await p.run({ image, mask });
      expect(r.model?.engine).toBe(engine);
      expect(r.stage2).toBeDefined();
      expect(knownPixelViolations(r.final, image, mask)).toBe(0);
    } finally {
      await p.dispose();
    }
  });

  it('tfjs and onnx agree on the refinement (same weights, same draws)', async () => {
    const out: Tensor4[] = [];
    for (const engine of ['tfjs', 'onnx']) {
      const p = await createPipeline(refined(engine), { container });
      out.push((await p.run({ image, mask })).final);
      await p.dispose();
    }
    let max = 0;
    for (let k = 0; k < out[0].size; k++) max = Math.max(max, Math.abs(out[0].data[k] - out[1].data[k]));
    expect(max).toBeLessThan(1e-3);
  });

  it('the CLI, the library runner and the studio backend write the same bytes for one config', async () => {
    const cfg = refined('onnx');
    // library
    const p = await createPipeline(cfg, { container });
    const lib = (await p.run({ image, mask })).final;
    await p.dispose();
    await writeImage(path.join(tmp.dir, 'lib.png'), lib);
    // CLI
    const cfgFile = path.join(tmp.dir, 'p.yaml');
    await fs.writeFile(cfgFile, YAML.stringify({ ...cfg, input: { image: 'img.png', mask: 'mask.png' } }));
    const r = runCli(['inpaint', '--config', cfgFile, '--out', path.join(tmp.dir, 'cli.png'), '--quiet']);
    expect(r.status).toBe(0);
    // studio backend (the model by id; the same runner underneath)
    const studio = new PipelineStudioBackend({ modelDirs: [path.join(tmp.dir, 'models')], examplesDir: tmp.dir, fit: false });
    const ac = new AbortController();
    const events: { stage: string; label?: string; preview?: unknown }[] = [];
    const s = await studio.run(
      { image, mask, model: 'tiny', pipeline: { guide: { type: 'mean' }, refiner: { enabled: true, tk: 6, sampler: { type: 'ddpm' } }, seed: 4, samples: 1 } },
      { onProgress: (e) => events.push(e), signal: ac.signal },
    );
    await studio.dispose();
    // stage 1 reaches the page (as a preview) before any refiner step
    const firstPreview = events.findIndex((e) => e.preview);
    expect(events[firstPreview]).toMatchObject({ stage: 'guide', label: 'stage 1 ready' });
    expect(events.findIndex((e) => e.stage === 'refiner')).toBeGreaterThan(firstPreview);
    // the studio's pipeline has the guard on (its default): compare with the library's guarded result too
    const pg = await createPipeline({ ...cfg, refiner: { tk: 6 } }, { container });
    const libGuarded = (await pg.run({ image, mask })).final;
    await pg.dispose();
    await writeImage(path.join(tmp.dir, 'lib-guarded.png'), libGuarded);
    await writeImage(path.join(tmp.dir, 'studio.png'), s.stage2!);
    expect(readFileSync(path.join(tmp.dir, 'cli.png')).equals(readFileSync(path.join(tmp.dir, 'lib.png')))).toBe(true);
    expect(readFileSync(path.join(tmp.dir, 'studio.png')).equals(readFileSync(path.join(tmp.dir, 'lib-guarded.png')))).toBe(true);
  });

  it('a grey image runs on a colour model and comes back grey, known pixels exact', async () => {
    const grey = new Tensor4([1, 1, 32, 32]);
    for (let k = 0; k < grey.size; k++) grey.data[k] = Math.round(((k * 37) % 255)) / 127.5 - 1;
    const p = await createPipeline(refined('onnx'), { container });
    const r = await p.run({ image: grey, mask });
    await p.dispose();
    expect(r.final.c).toBe(1);
    expect(knownPixelViolations(r.final, grey, mask)).toBe(0);
    // the guide filled the grey image as grey: stage 1 is the same as without the colour refiner
    const q = await createPipeline({ seed: 4, guide: { type: 'patch', patchSize: 5 } }, { container });
    const alone = (await q.run({ image: grey, mask })).stage1;
    await q.dispose();
    const p2 = await createPipeline({ ...refined('onnx'), guide: { type: 'patch', patchSize: 5 } }, { container });
    const withRefiner = (await p2.run({ image: grey, mask })).stage1;
    await p2.dispose();
    expect(Buffer.from(withRefiner.data.buffer).equals(Buffer.from(alone.data.buffer))).toBe(true);
  });

  it('a model trained on grey images refuses a colour image, naming both', async () => {
    const p = await createPipeline({ ...refined('onnx'), model: { path: greyModelDir } }, { container });
    const err = await p.run({ image, mask }).catch((e) => e);
    await p.dispose();
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/tiny-grey was trained on grey images only, and this image is in colour/);
  });

  it('fits a model to the image, caches it by content, and keeps it on request', async () => {
    const keep = path.join(tmp.dir, 'kept');
    const cfg = {
      seed: 1,
      guide: { type: 'mean' },
      model: { fit: { init: 'none', steps: 3, seconds: 600, crop: 16, batch: 2, keep } },
      refiner: { tk: 4, guard: false },
    };
    const fits: number[] = [];
    const p = await createPipeline(cfg, { container });
    expect(p.fits).toBe(true);
    const a = await p.run({ image, mask, onProgress: (e) => { if (e.stage === 'fit') fits.push(e.fit.step); } });
    expect(fits).toEqual([1, 2, 3]);
    expect(a.model?.fit?.cached).toBe(false);
    expect(a.model?.fit?.steps).toBe(3);
    expect(a.model?.fit?.dir.startsWith(path.join(tmp.dir, 'cache'))).toBe(true);
    expect(existsSync(path.join(keep, 'model.json'))).toBe(true);
    const card = JSON.parse(readFileSync(path.join(keep, 'model.json'), 'utf8'));
    expect(card.training.tMax).toBe(54); // T_k 4 + the 50-step margin
    // the same image with other values in its hole: the same fit (the hole is never read), from the cache
    const other = image.clone();
    for (let k = 0; k < mask.size; k++) if (mask.data[k] === 1) for (let c = 0; c < 3; c++) other.data[c * mask.size + k] = -1;
    const b = await p.run({ image: other, mask });
    expect(b.model?.fit?.cached).toBe(true);
    expect(b.model?.fit?.dir).toBe(a.model?.fit?.dir);
    expect(Buffer.from(b.final.data.buffer).equals(Buffer.from(a.final.data.buffer))).toBe(true);
    await p.dispose();
  }, 120000);

  it("the validation hole's stage 1 from the guide worker gives the same bytes and verdict as one filled in this thread", async () => {
    const cfg = { seed: 3, guide: { type: 'patch' }, model: { path: modelDir, engine: 'onnx' }, refiner: { tk: 6 } }; // guard: validate
    const out = [];
    const events: string[][] = [];
    for (const parallelGuide of [true, false]) {
      const p = await createPipeline(cfg, { container, parallelGuide });
      const seen: string[] = [];
      events.push(seen);
      try {
        out.push(await p.run({ image, mask, onProgress: (e) => seen.push(e.stage === 'refiner' ? 'refiner' : `${e.stage}${'label' in e && e.label?.startsWith('refining') ? ' refine' : ''}`) }));
      } finally {
        await p.dispose();
      }
    }
    const [a, b] = out;
    // with the worker, the user's hole is refined while the validation hole is still being filled: its first step comes
    // before the validation hole's refinement starts; without it, after the verdict
    expect(events[0].indexOf('refiner')).toBeLessThan(events[0].indexOf('validate refine'));
    expect(events[1].indexOf('refiner')).toBeGreaterThan(events[1].lastIndexOf('validate refine'));
    expect(a.guard![0].method).toBe('validate');
    expect(a.guard![0].reason).toBe(b.guard![0].reason);
    expect(Buffer.from(a.stage2!.data.buffer).equals(Buffer.from(b.stage2!.data.buffer))).toBe(true);
    expect(Buffer.from(a.final.data.buffer).equals(Buffer.from(b.final.data.buffer))).toBe(true);
  });

  it('the validating guard judges on a held-out hole of known pixels, which the fit never sees', async () => {
    const cfg = {
      seed: 1,
      guide: { type: 'mean' },
      model: { fit: { init: 'none', steps: 2, seconds: 600, crop: 16, batch: 2 } },
      refiner: { tk: 4 }, // guard on, guardMethod validate: the defaults
    };
    const stages: string[] = [];
    const p = await createPipeline(cfg, { container });
    const a = await p.run({ image, mask, onProgress: (e) => { if (stages[stages.length - 1] !== e.stage) stages.push(e.stage); } });
    expect(stages).toEqual(['guide', 'validate', 'fit', 'validate', 'refiner']);
    const v = a.guard![0];
    expect(v.method).toBe('validate');
    expect(v.reason).toMatch(/validation hole/);
    expect(Buffer.from(a.final.data.buffer).equals(Buffer.from((v.accept ? a.stage2! : a.stage1).data.buffer))).toBe(true);
    expect(knownPixelViolations(a.final, image, mask)).toBe(0);
    // the held-out pixels are never read by the fit: other values there give the same fitted model (from the cache)
    const held = validationHole(mask)!.hole;
    const other = image.clone();
    for (let k = 0; k < held.size; k++) if (held.data[k] === 1) for (let c = 0; c < 3; c++) other.data[c * held.size + k] = -1;
    const b = await p.run({ image: other, mask });
    expect(b.model?.fit?.cached).toBe(true);
    expect(b.model?.fit?.dir).toBe(a.model?.fit?.dir);
    // a cached fit is found before the validation hole's fill exists: the user's hole is refined beside the guide's
    // worker, with the same bytes as the first run's
    const again: string[] = [];
    const a2 = await p.run({ image, mask, onProgress: (e) => { if (again[again.length - 1] !== e.stage) again.push(e.stage); } });
    expect(a2.model?.fit?.cached).toBe(true);
    expect(again.indexOf('refiner')).toBeLessThan(again.lastIndexOf('validate'));
    expect(Buffer.from(a2.final.data.buffer).equals(Buffer.from(a.final.data.buffer))).toBe(true);
    expect(a2.guard![0].reason).toBe(v.reason);
    await p.dispose();
    // the reference-free guard (guardMethod texture) fits on all known pixels: another model
    const q = await createPipeline({ ...cfg, refiner: { tk: 4, guardMethod: 'texture' } }, { container });
    const c = await q.run({ image, mask });
    await q.dispose();
    expect(c.model?.fit?.dir).not.toBe(a.model?.fit?.dir);
    expect(c.guard![0].method).toBe('texture');
  }, 120000);

  it('a diffusion guide on a model fitted to the image (all noise levels), reused by the refiner', async () => {
    const cfg = {
      seed: 2,
      guide: { type: 'diffusion', model: 'fit', sampler: { type: 'ddim', steps: 3 } },
      model: { fit: { init: 'none', steps: 2, seconds: 600, crop: 16, batch: 2 } },
      refiner: { tk: 3, guard: false },
    };
    const stages: string[] = [];
    const p = await createPipeline(cfg, { container });
    const r = await p.run({ image, mask, onProgress: (e) => { if (stages[stages.length - 1] !== e.stage) stages.push(e.stage); } });
    await p.dispose();
    expect(stages).toEqual(['fit', 'guide', 'refiner']);
    expect(r.model?.fit?.settings.tMax).toBe(1000); // the guide samples from pure noise: every level is trained
    expect(knownPixelViolations(r.final, image, mask)).toBe(0);
  }, 120000);

  it('refiner.band refines only the hole\'s border band: the interior keeps stage 1 exactly', async () => {
    const p = await createPipeline(refined('onnx', { refiner: { tk: 6, guard: false, band: 2 } }), { container });
    const r = await p.run({ image, mask });
    await p.dispose();
    let interiorChanged = 0, bandChanged = 0;
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) {
      const inHole = x >= 10 && x < 22 && y >= 8 && y < 20;
      if (!inHole) continue;
      const interior = x >= 12 && x < 20 && y >= 10 && y < 18;
      for (let c = 0; c < 3; c++) {
        const k = c * 1024 + y * 32 + x;
        if (r.final.data[k] !== r.stage1.data[k]) interior ? interiorChanged++ : bandChanged++;
      }
    }
    expect(interiorChanged).toBe(0);
    expect(bandChanged).toBeGreaterThan(0);
  });

  /** The refined pipeline on the test image, guard off, with these refiner keys. */
  const runRefined = async (refiner: object) => {
    const p = await createPipeline(refined('onnx', { refiner: { tk: 6, guard: false, ...refiner } }), { container });
    try {
      return await p.run({ image, mask });
    } finally {
      await p.dispose();
    }
  };

  it('refiner.detail: stage 2 is the whole refinement\'s coarse part with stage 1\'s fine detail (default σ 1)', async () => {
    const whole = await runRefined({ detail: 0, tone: 0 });
    const fine = await runRefined({ tone: 0 });
    const coarse = await runRefined({ detail: 3, tone: 0 });
    // the same draws: each is the whole refinement with the detail transfer applied
    const expected = transferDetail(whole.stage1, whole.stage2!, mask, 1);
    for (let k = 0; k < expected.size; k++) expect(fine.stage2!.data[k]).toBeCloseTo(expected.data[k], 5);
    expect(knownPixelViolations(fine.final, image, mask)).toBe(0);
    expect(knownPixelViolations(coarse.final, image, mask)).toBe(0);
    // a larger σ keeps more of stage 1: closer to it in the hole
    const dist = (t: Tensor4) => t.data.reduce((s, v, k) => s + Math.abs(v - whole.stage1.data[k]), 0);
    expect(dist(coarse.stage2!)).toBeLessThan(dist(whole.stage2!));
  });

  it('refiner.tone (default 4): the detail transfer also drops the refinement\'s coarse change; a tone not above detail is a config error', async () => {
    const whole = await runRefined({ detail: 0, tone: 0 });
    const toned = await runRefined({}); // the defaults: σ 1, tone 4
    const expected = transferDetail(whole.stage1, whole.stage2!, mask, 1, 4);
    for (let k = 0; k < expected.size; k++) expect(toned.stage2!.data[k]).toBeCloseTo(expected.data[k], 5);
    expect(knownPixelViolations(toned.final, image, mask)).toBe(0);
    await expect(createPipeline(refined('onnx', { refiner: { tk: 6, detail: 2, tone: 2 } }), { container }))
      .rejects.toThrow('must be larger than refiner.detail (2 px) or 0, got 2 (at refiner.tone)');
  });

  it('NaN from a guide stops the run with one clear error instead of reaching a file', async () => {
    const c = cliContainer();
    c.guides.register({
      name: 'nan-guide',
      description: 'writes NaN into the hole (test only)',
      configSchema: z.object({}).strict(),
      create: () => ({
        name: 'nan-guide',
        sizes: { min: 1, max: 4096, multiple: 1, fullMask: true },
        inpaint: async (img: Tensor4, m: Tensor4) => {
          const out = img.clone();
          for (let k = 0; k < m.size; k++) if (m.data[k] === 1) out.data[k] = NaN;
          return out;
        },
      }),
    });
    const p = await createPipeline({ guide: { type: 'nan-guide' } }, { container: c });
    await expect(p.run({ image, mask })).rejects.toThrow(/^guide "nan-guide" produced NaN \(at value \d+ of \d+\): nothing was written$/);
    await p.dispose();
  });
});
