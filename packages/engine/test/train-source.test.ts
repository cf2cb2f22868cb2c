/**
 * Training on the image being inpainted (issue 18): crops may cover the user's hole, but its pixels are never an
 * input or a target; multi-scale crops; the refiner-only noise range (tMax); the time budget; the warm start.
 */
import { existsSync, readFileSync, writeFileSync } from 'fs';
import * as path from 'path';
import { Rng, Tensor4, createContainer } from '@diff2s/core';
import { TrainingData, TrainingDivergedError, makeBatch, noiseLevelFor, readModel, resolveUNetConfig, train, type TrainConfigInput } from '@diff2s/engine';
import { tempDir } from '../../../test/helpers/tmp';

const DATA = { crop: 16, flips: true, masks: { type: 'freeform' as const } };
const NET = { preset: 'frugal', baseChannels: 4, channelMults: [1, 1] };
const SCHEDULE = { type: 'linear', T: 50, betaStart: 1e-3, betaEnd: 0.2 };

/** A 3-channel 40x36 texture and a stroke-like hole crossing the whole image. */
function scene(): { image: Tensor4; hole: Tensor4 } {
  const image = new Tensor4([1, 3, 36, 40]);
  const rng = new Rng(9);
  for (let k = 0; k < image.size; k++) image.data[k] = Math.sin(k * 0.37) * 0.5 + (rng.uniform() - 0.5) * 0.4;
  const hole = new Tensor4([1, 1, 36, 40]);
  for (let y = 0; y < 36; y++) for (let x = 0; x < 40; x++) if (Math.abs(y - x * 0.8 - 2) < 3) hole.data[y * 40 + x] = 1;
  return { image, hole };
}

function cfg(output: string, over: Partial<TrainConfigInput['train']> = {}): TrainConfigInput {
  return {
    seed: 2, data: DATA, model: NET, schedule: SCHEDULE, output,
    train: { steps: 3, batch: 2, lr: 1e-3, workers: 1, engine: 'tfjs', checkpointEvery: 100, logEvery: 1, ...over },
  };
}

describe('TrainingData.fromImage', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeAll(() => (tmp = tempDir('diff2s-source-')));
  afterAll(() => tmp.cleanup());

  it('other values in the hole give bit-identical weights; another known pixel does not', async () => {
    const { image, hole } = scene();
    const other = image.clone();
    const known = image.clone();
    for (let p = 0; p < hole.size; p++) if (hole.data[p] === 1) for (let c = 0; c < 3; c++) other.data[c * hole.size + p] = 0.9;
    const firstKnown = hole.data.findIndex((v) => v === 0);
    known.data[firstKnown] += 0.5;
    const weights = async (img: Tensor4, name: string) => {
      const out = path.join(tmp.dir, name);
      await train(cfg(out), { data: TrainingData.fromImage(img, hole, DATA) });
      return readFileSync(path.join(out, 'weights.bin'));
    };
    const a = await weights(image, 'a'), b = await weights(other, 'b'), c = await weights(known, 'c');
    expect(a.equals(b)).toBe(true);
    expect(a.equals(c)).toBe(false);
  }, 60000);

  it('the network sees the user hole as unknown and is never scored on it', () => {
    const { image, hole } = scene();
    const data = TrainingData.fromImage(image, hole, DATA);
    const ucfg = resolveUNetConfig(NET as never);
    const schedule = createContainer().schedules.create('linear', { T: 50, betaStart: 1e-3, betaEnd: 0.2 }, undefined);
    const rng = new Rng(4);
    const probe = new Rng(4);
    const { userHole } = data.sample(6, probe);
    const batch = makeBatch(data, ucfg, schedule, 'diffusion', 6, 'hole', rng);
    expect(userHole).toBeDefined();
    let inHole = 0;
    // the mask channel is the last of xt (3) + xm (3) + mask (1), before the noise embedding
    const hw = 16 * 16;
    const C = batch.input.c;
    for (let b = 0; b < 6; b++) for (let p = 0; p < hw; p++) {
      if (userHole!.data[b * hw + p] !== 1) continue;
      inHole++;
      expect(batch.weight!.data[b * hw + p]).toBe(0);
      expect(batch.input.data[(b * C + 6) * hw + p]).toBe(1);
    }
    expect(inHole).toBeGreaterThan(0);
  });

  it('multi-scale crops: one image per scale, its hole downscaled with it', () => {
    const { image, hole } = scene();
    const d = TrainingData.fromImage(image, hole, { ...DATA, scales: [1, 0.5] });
    expect(d.images.map((t) => [t.w, t.h])).toEqual([[40, 36], [20, 18]]);
    expect(d.holes[1]!.w).toBe(20);
    expect(d.files).toEqual(['image', 'image@1/2']);
  });

  it('tMax bounds the noise levels trained', () => {
    const { image, hole } = scene();
    const data = TrainingData.fromImage(image, hole, DATA);
    const ucfg = resolveUNetConfig(NET as never);
    const schedule = createContainer().schedules.create('linear', { T: 50, betaStart: 1e-3, betaEnd: 0.2 }, undefined);
    const top = noiseLevelFor(ucfg, { t: 5, alphaBar: schedule.alphaBars[5] });
    for (let s = 0; s < 5; s++) {
      const batch = makeBatch(data, ucfg, schedule, 'diffusion', 8, 'hole', new Rng(s), 5);
      for (const v of batch.noise) expect(v).toBeLessThanOrEqual(top);
    }
  });

  it('a time budget stops the run (and saves) early; init warm-starts from a model folder', async () => {
    const { image, hole } = scene();
    const first = path.join(tmp.dir, 'budget');
    const r = await train(cfg(first, { steps: 1000, maxSeconds: 1e-6 }), { data: TrainingData.fromImage(image, hole, DATA) });
    expect(r.steps).toBe(1);
    const card = JSON.parse(readFileSync(path.join(first, 'model.json'), 'utf8'));
    expect(card.training.steps).toBe(1);
    expect(card.training.content).toBe('colour');
    // one step at lr 0 from the init keeps its weights exactly
    const second = path.join(tmp.dir, 'warm');
    const { model: _m, schedule: _s, ...rest } = cfg(second, { steps: 1, lr: 1e-30 });
    await train({ ...rest, init: first }, { data: TrainingData.fromImage(image, hole, DATA) });
    const w0 = new Float32Array(readFileSync(path.join(first, 'weights.bin')).buffer.slice(0));
    const w1 = new Float32Array(readFileSync(path.join(second, 'weights.bin')).buffer.slice(0));
    let max = 0;
    for (let i = 0; i < w0.length; i++) max = Math.max(max, Math.abs(w0[i] - w1[i]));
    expect(max).toBeLessThan(1e-20);
    expect(JSON.parse(readFileSync(path.join(second, 'model.json'), 'utf8')).schedule).toEqual(SCHEDULE);
  }, 60000);
});

describe('training that diverges', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeAll(() => (tmp = tempDir('diff2s-diverge-')));
  afterAll(() => tmp.cleanup());

  it('stops with one clear error at a NaN loss and writes no model', async () => {
    const { image, hole } = scene();
    const out = path.join(tmp.dir, 'nan');
    const err = await train(cfg(out, { steps: 50, lr: 1e12 }), { data: TrainingData.fromImage(image, hole, DATA) }).catch((e) => e);
    expect(err).toBeInstanceOf(TrainingDivergedError);
    expect((err as Error).message).toMatch(/^training diverged at step \d+: the loss is (NaN|Infinity|-Infinity)/);
    expect(existsSync(path.join(out, 'model.json'))).toBe(false);
  }, 60000);

  it('weights holding NaN are refused on load, naming the parameter', async () => {
    const { image, hole } = scene();
    const out = path.join(tmp.dir, 'ok');
    await train(cfg(out, { steps: 1 }), { data: TrainingData.fromImage(image, hole, DATA) });
    const bin = path.join(out, 'weights.bin');
    const b = readFileSync(bin);
    b.writeFloatLE(NaN, 8);
    writeFileSync(bin, b);
    await expect(readModel(out)).rejects.toThrow(/parameter "[^"]+" holds NaN at index 2: the weights are corrupt/);
  }, 60000);
});
