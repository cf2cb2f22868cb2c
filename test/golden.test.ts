/**
 * Golden values (as diffusers' `result_sum` tests): a fixed-seed short refinement and one fixed-seed training step,
 * on the tfjs wasm backend, against constants computed once and committed here. They catch any change of the
 * numbers — seeds, noise draws, schedules, network initialisation, the swapped forward, the sampler's step, the
 * batch sampler, gradients, Adam. A deliberate change of the numbers updates the constants (the failure message
 * prints the new values); the tolerances only absorb last-bit float32 differences between machines.
 */
import { readFileSync } from 'fs';
import * as path from 'path';
import { linearSchedule, Rng, Tensor4, DdpmSampler } from '@diff2s/core';
import { initEngine, NativeUNet, train } from '@diff2s/engine';
import { refine } from '@diff2s/refiner';
import { ROOT } from './helpers/cli';
import { tempDir } from './helpers/tmp';

/** Σ v, Σ |v| and Σ v·s_i with fixed pseudo-random signs s_i = ±1 (sensitive to any single value's change). */
function checksums(v: Float32Array): { sum: number; abs: number; signed: number } {
  let sum = 0, abs = 0, signed = 0, x = 12345;
  for (let i = 0; i < v.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) | 0;
    sum += v[i];
    abs += Math.abs(v[i]);
    signed += (x & 0x10000 ? 1 : -1) * v[i];
  }
  return { sum, abs, signed };
}

function expectGolden(got: Record<string, number>, want: Record<string, number>, tol: number): void {
  const off = Object.keys(want).filter((k) => !(Math.abs(got[k] - want[k]) <= tol * Math.max(1, Math.abs(want[k]))));
  if (off.length) throw new Error(`golden values changed (${off.join(', ')}): got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

/** A tiny frugal-layout UNet (4 channels, 2 levels): 16x16 RGB images, conditioned on x_m and the mask. */
const TINY = { preset: 'frugal', baseChannels: 4, channelMults: [1, 1], noise: { dim: 4 } };

beforeAll(() => initEngine({ backend: 'wasm' }));

describe('golden values', () => {
  it('a fixed-seed refinement: tiny UNet (weights from seed 7), T = 100, T_k = 8, ddpm, seed 3', async () => {
    const rng = new Rng('golden-refine');
    const image = new Tensor4([1, 3, 16, 16]);
    rng.fillUniform(image.data, -0.9, 0.9);
    const mask = new Tensor4([1, 1, 16, 16]);
    for (let y = 4; y < 12; y++) for (let x = 3; x < 10; x++) mask.data[y * 16 + x] = 1;
    const guide = image.clone();
    for (let c = 0; c < 3; c++) for (let p = 0; p < 256; p++) if (mask.data[p]) guide.data[c * 256 + p] = 0.1 * c - 0.1;
    const model = await NativeUNet.create(TINY as never, { seed: 7 });
    try {
      const out = await refine(guide, image, mask, {
        network: model, schedule: linearSchedule(100, 1e-3, 0.1), sampler: new DdpmSampler(), rng: new Rng(3), options: { tk: 8 },
      });
      const hole = Float32Array.from(out.data.filter((_, k) => mask.data[k % 256] === 1));
      expect(hole.length).toBe(3 * 56);
      expectGolden({ ...checksums(hole), first: hole[0], last: hole[hole.length - 1] }, GOLDEN_REFINE, 1e-5);
    } finally {
      model.dispose();
    }
  });

  it('one fixed-seed training step: the job on brick48 (16x16 crops, batch 4, seed 5), tfjs engine', async () => {
    const tmp = tempDir('diff2s-golden-');
    try {
      const losses: number[] = [];
      const r = await train({
        seed: 5,
        data: { images: [path.join(ROOT, 'test/fixtures/brick48.png')], crop: 16 },
        model: TINY,
        schedule: { type: 'linear', T: 50, betaStart: 0.001, betaEnd: 0.2 },
        train: { steps: 1, batch: 4, lr: 0.003, workers: 1, engine: 'tfjs', logEvery: 1, checkpointEvery: 1000 },
        output: path.join(tmp.dir, 'model'),
      } as never, { onProgress: (p) => losses.push(p.loss) });
      expect(r.steps).toBe(1);
      expect(losses).toHaveLength(1);
      const bytes = readFileSync(path.join(tmp.dir, 'model', 'weights.bin'));
      const w = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
      expectGolden({ loss: losses[0], ...checksums(w) }, GOLDEN_TRAIN, 1e-5);
    } finally {
      tmp.cleanup();
    }
  });
});

const GOLDEN_REFINE = { sum: 51.79818405583501, abs: 67.10444876924157, signed: -10.371806811541319, first: 0.4917939305305481, last: 0.27372032403945923 };
const GOLDEN_TRAIN = { loss: 0.24171763610839844, sum: -13.202936657704413, abs: 314.3158948752098, signed: -16.964472066494636 };
