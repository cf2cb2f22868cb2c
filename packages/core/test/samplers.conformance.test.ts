/**
 * The sampler conformance suite: every sampler registered by the core module runs it, with its default config.
 * Tiny images (8×8) and a 50-step schedule keep it fast.
 */
import {
  CancelledError, ConfigError, createContainer, GaussianDenoiser, OracleDenoiser, PredictionType, Rng, Sampler,
  StepInfo, Tensor4,
} from '@diff2s/core';
import {
  countFloat32Allocations, maxAbsDiff, pick, rectMask, RecordingDenoiser, request, testImage, testSchedule, withHole,
} from './sampler-helpers';

const container = createContainer();
const names = container.samplers.names();

/**
 * Config overrides for speed only (everything else is the registered default): RePaint's default j = r = 10 makes
 * 410 evaluations on T = 50; j = 5, r = 3 keeps 9 jump points and 140 evaluations.
 */
const FAST: Record<string, Record<string, unknown>> = { repaint: { jumpLength: 5, jumpNSample: 3 } };

function make(name: string, config: Record<string, unknown> = {}): Sampler {
  return container.samplers.create(name, { ...FAST[name], ...config }, undefined);
}

/** Where a request without `start` begins for this sampler. */
function defaultStart(s: Sampler, T: number): number {
  return s.defaultStartStep?.(testSchedule(T)) ?? T;
}

it('registers the four built-in samplers', () => {
  expect(names).toEqual(['ddim', 'ddpm', 'repaint', 'sdedit']);
});

describe.each(names)('sampler %s', (name) => {
  const x0 = testImage(2);
  const mask = rectMask(2);
  const image = withHole(x0, mask, 0);

  it('has a strict config schema', () => {
    expect(() => make(name, { notAnOption: 1 })).toThrow(ConfigError);
    expect(make(name).name).toBe(name);
  });

  for (const pt of ['epsilon', 'x0', 'v'] as PredictionType[]) {
    for (const conditional of [true, false]) {
      it(`recovers x0 to 1e-4 with the oracle (${pt}, ${conditional ? 'conditional' : 'unconditional'})`, async () => {
        const out = await make(name).sample(request({ denoiser: new OracleDenoiser(x0, pt, conditional), image, mask }));
        expect(out.shape).toEqual(x0.shape);
        expect(maxAbsDiff(out.data, x0.data)).toBeLessThan(1e-4);
      });
    }
  }

  it('leaves known pixels exactly equal to the input image (both modes)', async () => {
    for (const conditional of [true, false]) {
      const out = await make(name).sample(request({ denoiser: new GaussianDenoiser(0, 0.5, 'epsilon', conditional), image, mask, rng: new Rng(5) }));
      expect(pick(out, mask, 'known')).toEqual(pick(image, mask, 'known'));
      const hole = pick(out, mask, 'hole');
      expect(hole.every((v) => v >= -1 && v <= 1)).toBe(true);
    }
  });

  it('same seed → identical output; different seed → different hole; each sample of a batch differs', async () => {
    const run = (seed: number, img = image, m = mask) =>
      make(name).sample(request({ denoiser: new GaussianDenoiser(0.1, 0.4, 'epsilon', false), image: img, mask: m, rng: new Rng(seed) }));
    const a = await run(7), b = await run(7), c = await run(8);
    expect(b.data).toEqual(a.data);
    expect(maxAbsDiff(pick(a, mask, 'hole') as unknown as Float32Array, pick(c, mask, 'hole') as unknown as Float32Array)).toBeGreaterThan(1e-3);
    // two samples of the same image (Tensor4.repeatEach) get different noise
    const one = image.slice(0), oneMask = mask.slice(0);
    const rep = await run(9, one.repeatEach(2), oneMask.repeatEach(2));
    const s0 = rep.slice(0), s1 = rep.slice(1);
    expect(maxAbsDiff(new Float32Array(pick(s0, oneMask, 'hole')), new Float32Array(pick(s1, oneMask, 'hole')))).toBeGreaterThan(1e-3);
    expect(pick(s0, oneMask, 'known')).toEqual(pick(s1, oneMask, 'known'));
  });

  it('calls onStep plannedSteps() times, with indices 1..total and the working buffers', async () => {
    const sampler = make(name);
    const schedule = testSchedule();
    for (const start of [undefined, { from: 'image' as const, image: x0, t: 20 }, { from: 'noise' as const, t: 30 }]) {
      const tStart = start ? start.t : defaultStart(sampler, schedule.T);
      const planned = sampler.plannedSteps(tStart, schedule);
      const infos: StepInfo[] = [];
      const xts = new Set<Float32Array>(), x0s = new Set<Float32Array>();
      await sampler.sample(request({
        denoiser: new OracleDenoiser(x0), image, mask, schedule, start,
        onStep: (info) => { infos.push({ ...info }); xts.add(info.xt.data); x0s.add(info.x0Pred.data); },
      }));
      expect(planned).toBeGreaterThan(0);
      expect(infos.length).toBe(planned);
      expect(infos.map((i) => i.index)).toEqual(Array.from({ length: planned }, (_, i) => i + 1));
      expect(infos.every((i) => i.total === planned)).toBe(true);
      expect(infos[infos.length - 1].t).toBe(0);
      // progress tensors are the sampler's reused working buffers, not fresh copies each step
      expect(xts.size).toBe(1);
      expect(x0s.size).toBe(1);
    }
  });

  it('does not allocate image-sized buffers per step', async () => {
    // Honest check: count every Float32Array of at least one batch-image's size (3·8·8 = 192 values) created
    // during sample() (views are not counted), for a 10-step and a 40-step schedule. A sampler that allocated
    // anything image-sized per step would show a count that grows with the number of steps.
    const sampler = make(name);
    const counts: number[] = [];
    const planned: number[] = [];
    for (const T of [10, 40]) {
      const schedule = testSchedule(T);
      const denoiser = new RecordingDenoiser(new GaussianDenoiser(0, 0.5, 'epsilon', false));
      await denoiser.predict(image, { t: 1, alphaBar: 0.5 }, { xm: image, mask }); // let the denoiser allocate its output once
      counts.push(await countFloat32Allocations(x0.imageSize, () =>
        sampler.sample(request({ denoiser, image, mask, schedule, onStep: () => undefined }))));
      planned.push(sampler.plannedSteps(defaultStart(sampler, T), schedule));
      // one x_t buffer (plus the warm-up input) and one x_m buffer are handed to the network, however many steps
      expect(denoiser.xtBuffers.size).toBe(2);
      expect(denoiser.xmBuffers.size).toBe(2);
    }
    expect(planned[1]).toBeGreaterThan(planned[0]);
    expect(counts[1]).toBe(counts[0]);
    // the counter sees the run's own buffers (x_t, x̂0, noise, x_m), so it is not vacuous
    expect(counts[0]).toBeGreaterThanOrEqual(4);
    expect(counts[0]).toBeLessThanOrEqual(5);
  });

  it('a start from an image at t = 0 returns that image with the known pixels pasted, without steps', async () => {
    const guide = testImage(2, 3, 8, 8, 99);
    const denoiser = new RecordingDenoiser(new OracleDenoiser(x0));
    const onStep = jest.fn();
    const sampler = make(name);
    expect(sampler.plannedSteps(0, testSchedule())).toBe(0);
    const out = await sampler.sample(request({ denoiser, image, mask, start: { from: 'image', image: guide, t: 0 }, onStep }));
    expect(onStep).not.toHaveBeenCalled();
    expect(denoiser.calls.length).toBe(0);
    expect(pick(out, mask, 'known')).toEqual(pick(image, mask, 'known'));
    expect(pick(out, mask, 'hole')).toEqual(pick(guide, mask, 'hole'));
  });

  it('a start from an image at t runs plannedSteps(t) evaluations and keeps the known pixels', async () => {
    const denoiser = new RecordingDenoiser(new OracleDenoiser(x0, 'epsilon', true));
    const sampler = make(name);
    const out = await sampler.sample(request({ denoiser, image, mask, start: { from: 'image', image: withHole(x0, mask, 0.5), t: 12 } }));
    expect(denoiser.calls.length).toBe(sampler.plannedSteps(12, testSchedule()));
    expect(Math.max(...denoiser.calls.map((c) => c.t))).toBe(12);
    expect(maxAbsDiff(out.data, x0.data)).toBeLessThan(1e-4);
  });

  it('cancellation throws CancelledError (before the first step and mid-run)', async () => {
    const denoiser = new RecordingDenoiser(new OracleDenoiser(x0));
    const pre = new AbortController();
    pre.abort();
    await expect(make(name).sample(request({ denoiser, image, mask, signal: pre.signal }))).rejects.toBeInstanceOf(CancelledError);
    expect(denoiser.calls.length).toBe(0);
    const mid = new AbortController();
    let seen = 0;
    await expect(make(name).sample(request({
      denoiser, image, mask, signal: mid.signal,
      onStep: () => { if (++seen === 3) mid.abort(); },
    }))).rejects.toBeInstanceOf(CancelledError);
    expect(seen).toBe(3);
  });

  it('rejects a mask that does not fit the image', async () => {
    await expect(make(name).sample(request({ denoiser: new OracleDenoiser(x0), image, mask: new Tensor4([2, 1, 4, 4]) }))).rejects.toThrow(/mask/);
  });
});

it('the allocation counter catches per-step allocation (negative control)', async () => {
  // a "sampler" whose onStep copies x_t each step: the same counter sees 10 vs 40 extra buffers
  const image = testImage(2);
  const mask = rectMask(2);
  const leaky = (T: number) => countFloat32Allocations(image.imageSize, () =>
    make('ddpm').sample(request({ denoiser: new OracleDenoiser(image), image, mask, schedule: testSchedule(T), onStep: (i) => { i.xt.clone(); } })));
  const [a, b] = [await leaky(10), await leaky(40)];
  expect(b - a).toBe(30);
});
