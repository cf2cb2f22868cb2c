import { promises as fs } from 'fs';
import * as path from 'path';
import { ConfigError, createContainer } from '@diff2s/core';
import { Adam, learningRate, loadModel, readLossLog, REGRESSION_SCHEDULE, train, TrainConfigInput } from '@diff2s/engine';
import { tempDir } from '../../../test/helpers/tmp';

const FIXTURE = path.resolve(__dirname, '../../../test/fixtures/brick48.png');

function tiny(output: string, over: Partial<TrainConfigInput['train']> = {}, extra: Partial<TrainConfigInput> = {}): TrainConfigInput {
  return {
    seed: 3,
    data: { images: FIXTURE, crop: 16 },
    model: { preset: 'frugal', baseChannels: 4, channelMults: [1, 1] },
    schedule: { type: 'linear', T: 50, betaStart: 1e-3, betaEnd: 0.2 },
    train: { steps: 20, batch: 4, lr: 3e-3, workers: 1, checkpointEvery: 10, logEvery: 5, ...over },
    output,
    ...extra,
  };
}

describe('Adam and the learning-rate schedule', () => {
  it('first Adam step moves each weight by lr·sign(g) (bias-corrected), later steps follow the recursion', () => {
    const a = new Adam(3);
    const w = new Float32Array([1, 2, 3]);
    a.step(w, new Float32Array([0.5, -2, 0]), 0.1);
    expect(w[0]).toBeCloseTo(0.9, 6);
    expect(w[1]).toBeCloseTo(2.1, 6);
    expect(w[2]).toBe(3);
    a.step(w, new Float32Array([0.5, -2, 0]), 0.1); // same gradient: m̂ = g, v̂ = g²: again lr·sign
    expect(w[0]).toBeCloseTo(0.8, 5);
  });

  it('warm-up, constant and cosine learning rates', () => {
    const o = { lr: 1, lrSchedule: 'cosine' as const, warmup: 10, lrMinFactor: 0.1, steps: 110 };
    expect(learningRate(5, o)).toBeCloseTo(0.5, 12);
    expect(learningRate(10, o)).toBeCloseTo(1, 12);
    expect(learningRate(60, o)).toBeCloseTo(0.55, 12);
    expect(learningRate(110, o)).toBeCloseTo(0.1, 12);
    expect(learningRate(50, { ...o, lrSchedule: 'constant' })).toBe(1);
  });
});

describe('train', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir('diff2s-train-')));
  afterEach(() => tmp.cleanup());

  it('the loss falls, and the output folder is a loadable model with its card and loss log', async () => {
    const out = path.join(tmp.dir, 'm');
    const losses: number[] = [];
    const r = await train(tiny(out, { steps: 80, checkpointEvery: 40, logEvery: 10 }), { onProgress: (p) => losses.push(p.loss) });
    expect(r.steps).toBe(80);
    expect(losses).toHaveLength(80);
    const first = losses.slice(0, 20).reduce((a, b) => a + b) / 20;
    const last = losses.slice(-20).reduce((a, b) => a + b) / 20;
    expect(last).toBeLessThan(0.85 * first);
    const model = await loadModel(out);
    expect(model.card.training?.steps).toBe(80);
    expect(model.card.schedule).toEqual({ type: 'linear', T: 50, betaStart: 1e-3, betaEnd: 0.2 });
    expect(model.predictionType).toBe('x0');
    model.dispose();
    const log = await readLossLog(out);
    expect(log.map(([s]) => s)).toEqual([10, 20, 30, 40, 50, 60, 70, 80]);
  });

  it('an interrupted run resumed from its checkpoint ends with exactly the weights of an uninterrupted run', async () => {
    const a = path.join(tmp.dir, 'a'), b = path.join(tmp.dir, 'b');
    await train(tiny(a, { steps: 20 }));
    await train(tiny(b, { steps: 10 }));
    const r = await train(tiny(b, { steps: 20 }), { resume: true });
    expect(r.sessionSteps).toBe(10);
    const wa = await fs.readFile(path.join(a, 'weights.bin'));
    const wb = await fs.readFile(path.join(b, 'weights.bin'));
    expect(wb.equals(wa)).toBe(true);
    expect(await readLossLog(b)).toEqual(await readLossLog(a));
  });

  it('refuses to resume with a different config', async () => {
    const out = path.join(tmp.dir, 'c');
    await train(tiny(out, { steps: 10 }));
    await expect(train(tiny(out, { steps: 20, lr: 1e-2 }), { resume: true })).rejects.toThrow(ConfigError);
    await expect(train(tiny(out, { steps: 20, lr: 1e-2 }), { resume: true })).rejects.toThrow(/different config/);
  });

  it('regression baseline: same network, one-step schedule in the card, runs as a 1-step sampler', async () => {
    const out = path.join(tmp.dir, 'r');
    const r = await train(tiny(out, { steps: 10 }, { objective: 'regression' }));
    expect(r.steps).toBe(10);
    const model = await loadModel(out);
    expect(model.card.schedule).toEqual(REGRESSION_SCHEDULE);
    const c = createContainer();
    const { type, ...rest } = model.card.schedule as { type: string };
    expect(c.schedules.create(type, rest, undefined).T).toBe(1);
    model.dispose();
  });

  it('EMA weights are what gets saved; bad configs name their key', async () => {
    const out = path.join(tmp.dir, 'e');
    await train(tiny(out, { steps: 4, ema: 0.5, checkpointEvery: 4 }));
    expect((await fs.readdir(path.join(out, 'checkpoint'))).sort()).toEqual(['current.json', 'step-4']);
    expect((await fs.readdir(path.join(out, 'checkpoint', 'step-4'))).sort()).toEqual(['adam-m.bin', 'adam-v.bin', 'ema.bin', 'params.bin', 'state.json']);
    const ema = await fs.readFile(path.join(out, 'checkpoint', 'step-4', 'ema.bin'));
    const params = await fs.readFile(path.join(out, 'checkpoint', 'step-4', 'params.bin'));
    const weights = await fs.readFile(path.join(out, 'weights.bin'));
    expect(weights.equals(ema)).toBe(true);
    expect(weights.equals(params)).toBe(false);
    await expect(train({ ...tiny(out), train: { steps: 'x' } } as never)).rejects.toThrow('expected number, got string "x" (at train.steps)');
    await expect(train(tiny(out, {}, { data: { images: path.join(tmp.dir, 'missing.png') } }))).rejects.toThrow(/missing\.png does not exist/);
  });
});
