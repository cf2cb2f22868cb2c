/**
 * Issue 7's integration test: the patch guide chained with the refiner (the shipped frugal model, trained on the
 * brick texture with this region held out) on a 64x64 crop: the refined hole is closer to the reference than pure
 * noise, known pixels are kept bit for bit, and the live tfjs tensor count does not grow per step.
 */
import * as path from 'path';
import { createContainer, knownPixelViolations, l1, loadMask, readImage, Rng, Tensor4 } from '@diff2s/core';
import { engineModule, liveTensorCount, loadModel } from '@diff2s/engine';
import { guidesModule } from '@diff2s/guides';
import { inpaint } from '@diff2s/refiner';
import { ROOT } from './helpers/cli';

function crop(t: Tensor4, x0: number, y0: number, s: number): Tensor4 {
  const out = new Tensor4([t.n, t.c, s, s]);
  for (let c = 0; c < t.c; c++) for (let y = 0; y < s; y++) for (let x = 0; x < s; x++) out.data[out.index(0, c, y, x)] = t.data[t.index(0, c, y0 + y, x0 + x)];
  return out;
}

describe('patch guide + Diff-2sIR refiner on a 64x64 texture crop', () => {
  it('refines the hole towards the reference, keeps known pixels, leaks no tensors', async () => {
    const image = crop((await readImage(path.join(ROOT, 'examples/data/brick.png'), { channels: 3 })).tensor, 32, 32, 64);
    const mask = crop(await loadMask(path.join(ROOT, 'examples/data/brick-mask.png')), 32, 32, 64);
    const model = await loadModel(path.join(ROOT, 'models/frugal-brick'));
    const c = createContainer(engineModule, guidesModule);
    const { type, ...sc } = model.card.schedule as { type: string };
    const schedule = c.schedules.create(type, sc, undefined);
    const guide = c.guides.create('patch', {}, { container: c, baseDir: ROOT, logger: c.logger });
    const counts: number[] = [];
    const res = await inpaint({
      image, mask, guide, seed: 1,
      refiner: { network: model, schedule, sampler: c.samplers.create('ddpm', {}, undefined), options: { tk: 40 } },
      onProgress: (e) => { if (e.stage === 'refiner') counts.push(liveTensorCount()); },
    });
    model.dispose();
    const out = res.stage2!;
    expect(knownPixelViolations(out, image, mask)).toBe(0);
    for (let k = 0; k < out.size; k++) if (mask.data[k % 4096] === 0) expect(out.data[k]).toBe(image.data[k]);
    // pure noise in the hole (what the refiner would start from without a guide)
    const noise = image.clone();
    const rng = new Rng(9);
    for (let k = 0; k < noise.size; k++) if (mask.data[k % 4096]) noise.data[k] = Math.max(-1, Math.min(1, rng.normal()));
    const refined = l1(out, image, mask)[0];
    const noisy = l1(noise, image, mask)[0];
    expect(refined).toBeLessThan(0.5 * noisy);
    expect(counts).toHaveLength(40);
    expect(new Set(counts.slice(1)).size).toBe(1);
  });
});
