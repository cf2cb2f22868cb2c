import { Rng } from '@diff2s/core';
import { initEngine, NativeUNet, ParallelGradient } from '@diff2s/engine';
import { randMask, randTensor, relErr, tinyGuided } from './helpers';

// The workers run the compiled dist/tfjs/parallel/grad-worker.js: build first (`pnpm test` does; or `npx tsc -b packages/engine`).
test('worker-averaged gradient equals the full-batch gradient', async () => {
  await initEngine({ backend: 'wasm' });
  const model = await NativeUNet.create(tinyGuided as never, { seed: 21 });
  const rng = new Rng('parallel');
  const n = 5; // uneven split: 3 + 2
  const xt = randTensor(rng, [n, 3, 8, 8]);
  const mask = randMask(rng, n, 8, 8);
  const batch = {
    input: model.buildInput(xt, { xm: randTensor(rng, [n, 3, 8, 8]), mask }),
    noise: Float32Array.from({ length: n }, () => rng.uniform()),
    target: randTensor(rng, [n, 3, 8, 8]),
    weight: mask,
  };
  const full = model.net.lossAndGrads(batch);
  const pg = await ParallelGradient.create(model.def, { workers: 2 });
  try {
    expect(pg.size).toBe(2);
    expect(pg.backends.map((b) => b.backend)).toEqual(['wasm', 'wasm']);
    const par = await pg.lossAndGrads(model.net.getWeights(), batch);
    expect(Math.abs(par.loss - full.loss) / full.loss).toBeLessThan(1e-5);
    for (const [name, g] of full.grads) expect(relErr(par.grads.get(name)!, g)).toBeLessThan(1e-4);
    // weights changes are seen by the workers
    const w2 = model.net.getWeights();
    for (const a of w2.values()) for (let i = 0; i < a.length; i++) a[i] *= 0.5;
    model.net.setWeights(w2);
    const full2 = model.net.lossAndGrads(batch);
    const par2 = await pg.lossAndGrads(w2, batch);
    expect(Math.abs(par2.loss - full2.loss) / full2.loss).toBeLessThan(1e-5);
    // a batch smaller than the worker count uses fewer workers
    const one = { input: model.buildInput(xt.slice(0), { xm: xt.slice(0), mask: mask.slice(0) }), noise: batch.noise.slice(0, 1), target: batch.target.slice(0) };
    const p1 = await pg.lossAndGrads(w2, one);
    expect(Math.abs(p1.loss - model.net.lossAndGrads(one).loss)).toBeLessThan(1e-6 + 1e-5 * p1.loss);
  } finally {
    await pg.dispose();
    model.dispose();
  }
});
