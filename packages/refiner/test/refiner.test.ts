import {
  blendByMask, ConfigError, createContainer, knownPixelViolations, linearSchedule, Rng, StepInfo, Tensor4,
} from '@diff2s/core';
import {
  guideChannelCount, inpaint, plainForward, refine, refineCrop, RefinerDenoiser, swapChannels,
} from '@diff2s/refiner';
import { ToyUNet } from './toy';

function randomImage(shape: [number, number, number, number], seed: number): Tensor4 {
  const t = new Tensor4(shape);
  new Rng(seed).fillUniform(t.data, -1, 1);
  return t;
}

function centreMask(n: number, h: number, w: number): Tensor4 {
  const m = new Tensor4([n, 1, h, w]);
  for (let i = 0; i < n; i++) for (let y = h >> 2; y < (3 * h) >> 2; y++) for (let x = w >> 2; x < (3 * w) >> 2; x++) m.data[m.index(i, 0, y, x)] = 1;
  return m;
}

const step = { t: 10, alphaBar: 0.6 };

describe('channel swap', () => {
  it('takes the first C − round(C·f) channels from a and the rest from b', () => {
    const a = Tensor4.full([1, 4, 1, 1], 1);
    const b = Tensor4.full([1, 4, 1, 1], 2);
    expect([...swapChannels(a, b, 0.5).data]).toEqual([1, 1, 2, 2]);
    expect([...swapChannels(a, b, 0.25).data]).toEqual([1, 1, 1, 2]);
    expect([...swapChannels(a, b, 0).data]).toEqual([1, 1, 1, 1]);
    expect([...swapChannels(a, b, 1).data]).toEqual([2, 2, 2, 2]);
    expect(guideChannelCount(64, 0.5)).toBe(32);
    expect(() => guideChannelCount(4, 1.5)).toThrow(/swap fraction/);
  });
});

describe('RefinerDenoiser', () => {
  const image = randomImage([2, 3, 8, 8], 1);
  const mask = centreMask(2, 8, 8);
  const cond = { xm: randomImage([2, 3, 8, 8], 2), mask };
  const xt = randomImage([2, 3, 8, 8], 3);
  const guide = randomImage([2, 3, 8, 8], 4);

  for (const swapSpaces of ['h-1', 'h', 'both'] as const) {
    for (const swapFraction of [0.5, 0.25, 1]) {
      it(`equals the plain UNet exactly when x̄_t = x_t (spaces ${swapSpaces}, fraction ${swapFraction})`, async () => {
        const net = new ToyUNet();
        const den = new RefinerDenoiser(net, guide, image, mask, new Rng(0), {
          swapFraction, swapSpaces, guideNoise: 'fresh', noiseRegion: 'auto',
        });
        const plain = await plainForward(net, xt, step, cond);
        const swapped = await den.predictWithGuide(xt, xt.clone(), step, cond);
        expect(Buffer.from(swapped.data.buffer).equals(Buffer.from(plain.data.buffer))).toBe(true);
      });
    }
  }

  it('a different guide changes the prediction unless nothing is swapped', async () => {
    const net = new ToyUNet();
    const mk = (f: number) => new RefinerDenoiser(net, guide, image, mask, new Rng(0), {
      swapFraction: f, swapSpaces: 'both', guideNoise: 'fresh', noiseRegion: 'auto',
    });
    const plain = await plainForward(net, xt, step, cond);
    const g = randomImage([2, 3, 8, 8], 9);
    const none = await mk(0).predictWithGuide(xt, g, step, cond);
    expect([...none.data]).toEqual([...plain.data]);
    const half = await mk(0.5).predictWithGuide(xt, g, step, cond);
    let diff = 0;
    for (let i = 0; i < half.size; i++) diff += Math.abs(half.data[i] - plain.data[i]);
    expect(diff).toBeGreaterThan(1e-3);
  });

  it('runs encoder and middle twice and the decoder once per step', async () => {
    const net = new ToyUNet();
    const den = new RefinerDenoiser(net, guide, image, mask, new Rng(0), {
      swapFraction: 0.5, swapSpaces: 'both', guideNoise: 'fresh', noiseRegion: 'auto',
    });
    await den.predict(xt, step, cond);
    expect(net.calls).toEqual({ encode: 2, middle: 2, decode: 1 });
  });

  it('noises the guide: x̄_t = √ᾱ x̄_0 + √(1−ᾱ) ε in the hole, known pixels clean for conditional nets; fixed noise repeats', () => {
    const net = new ToyUNet();
    const fixed = new RefinerDenoiser(net, guide, image, mask, new Rng(3), {
      swapFraction: 0.5, swapSpaces: 'both', guideNoise: 'fixed', noiseRegion: 'auto',
    });
    const a = fixed.noisedGuide({ t: 5, alphaBar: 0.81 }).clone();
    const b = fixed.noisedGuide({ t: 5, alphaBar: 0.81 }).clone();
    expect([...a.data]).toEqual([...b.data]);
    // ε′ is drawn for the hole pixels only, in (image, channel, hole pixel) order
    const holes = [0, 1].slice(0, image.n).map((i) => [...Array(64).keys()].filter((p) => mask.data[i * 64 + p] === 1));
    const holeCount = holes.reduce((acc, h) => acc + h.length, 0);
    expect(holeCount).toBeGreaterThan(0);
    expect(holeCount).toBeLessThan(64 * image.n);
    const eps = new Rng(3).fillNormal(new Float32Array(3 * holeCount));
    const want = Float32Array.from(image.data);
    let j = 0;
    holes.forEach((hole, i) => {
      for (let ch = 0; ch < 3; ch++) for (const p of hole) { const k = (i * 3 + ch) * 64 + p; want[k] = 0.9 * guide.data[k] + Math.sqrt(0.19) * eps[j++]; }
    });
    for (let k = 0; k < a.size; k++) expect(a.data[k]).toBeCloseTo(want[k], 5);
    const fresh = new RefinerDenoiser(net, guide, image, mask, new Rng(3), {
      swapFraction: 0.5, swapSpaces: 'both', guideNoise: 'fresh', noiseRegion: 'all',
    });
    const c = fresh.noisedGuide({ t: 5, alphaBar: 0.81 }).clone();
    const d = fresh.noisedGuide({ t: 5, alphaBar: 0.81 }).clone();
    expect([...c.data]).not.toEqual([...d.data]);
    const epsAll = new Rng(3).fillNormal(new Float32Array(image.size));
    expect(mask.data[0]).toBe(0);
    expect(c.data[0]).toBeCloseTo(0.9 * guide.data[0] + Math.sqrt(0.19) * epsAll[0], 5); // known pixel noised too
  });
});

describe('refine (Diff-2sIR⁺)', () => {
  const container = createContainer();
  const schedule = linearSchedule(50, 1e-4, 0.05);
  const image = randomImage([1, 3, 8, 8], 11);
  const mask = centreMask(1, 8, 8);
  const guide = randomImage([1, 3, 8, 8], 12);

  it('T_k = 0 returns the guide with the known pixels pasted', async () => {
    const out = await refine(guide, image, mask, {
      network: new ToyUNet(), schedule, sampler: container.samplers.create('ddpm', {}, undefined), rng: new Rng(1), options: { tk: 0 },
    });
    for (let k = 0; k < out.size; k++) {
      const p = k % 64;
      expect(out.data[k]).toBe(mask.data[p] ? guide.data[k] : image.data[k]);
    }
  });

  for (const samplerName of ['ddpm', 'ddim', 'repaint']) {
    it(`${samplerName}: known pixels bit-exact, seeded determinism, one decode per step`, async () => {
      const sampler = container.samplers.create(samplerName, samplerName === 'ddim' ? { steps: 5 } : {}, undefined);
      const run = async (seed: number) => {
        const net = new ToyUNet();
        let steps = 0;
        const out = await refine(guide, image, mask, {
          network: net, schedule, sampler, rng: new Rng(seed), options: { tk: 20 }, onStep: () => void steps++,
        });
        return { out, steps, decodes: net.calls.decode };
      };
      const a = await run(1), b = await run(1), c = await run(2);
      expect(knownPixelViolations(a.out, image, mask)).toBe(0);
      for (let k = 0; k < a.out.size; k++) if (!mask.data[k % 64]) expect(a.out.data[k]).toBe(image.data[k]);
      expect(Buffer.from(a.out.data.buffer).equals(Buffer.from(b.out.data.buffer))).toBe(true);
      expect(Buffer.from(a.out.data.buffer).equals(Buffer.from(c.out.data.buffer))).toBe(false);
      expect(a.decodes).toBe(a.steps);
      expect(a.steps).toBe(sampler.plannedSteps(20, schedule));
    });
  }

  it('an incompatible sampler is a config error that says why; T_k beyond T too', async () => {
    const sdedit = container.samplers.create('sdedit', {}, undefined);
    await expect(refine(guide, image, mask, { network: new ToyUNet(), schedule, sampler: sdedit, rng: new Rng(1) })).rejects.toThrow(
      /sampler "sdedit" cannot drive the refiner: sdedit is the plain-network special case.*\(at refiner.sampler.type\)/,
    );
    const ddpm = container.samplers.create('ddpm', {}, undefined);
    await expect(
      refine(guide, image, mask, { network: new ToyUNet(), schedule, sampler: ddpm, rng: new Rng(1), options: { tk: 51 } }),
    ).rejects.toThrow(new ConfigError('T_k = 51 exceeds the model\'s schedule length T = 50', 'refiner.tk'));
    await expect(
      refine(guide, image, mask, { network: new ToyUNet(), schedule, sampler: ddpm, rng: new Rng(1), options: { tK: 5 } as never }),
    ).rejects.toThrow('unknown key "tK" (at refiner)');
  });

  it('strategy start runs from T (Algorithm 2)', async () => {
    const sampler = container.samplers.create('ddpm', {}, undefined);
    let steps = 0;
    await refine(guide, image, mask, {
      network: new ToyUNet(), schedule, sampler, rng: new Rng(1), options: { strategy: 'start', tk: 5 }, onStep: () => void steps++,
    });
    expect(steps).toBe(sampler.plannedSteps(50, schedule));
  });
});

describe('refine on a crop around the hole', () => {
  const container = createContainer();
  // betas so small that every draw but x_m's is scaled by ~1e-4, and a network that ignores x_m (whose hole is drawn
  // noise): the refinement is then a deterministic function of the images and the network (x₀ prediction, DDIM η = 0),
  // so a crop must give the whole image's values in the hole
  const quiet = linearSchedule(20, 1e-8, 1e-8);
  const image = randomImage([1, 3, 16, 16], 21);
  const guide = randomImage([1, 3, 16, 16], 22);
  const mask = new Tensor4([1, 1, 16, 16]);
  for (let y = 5; y < 9; y++) for (let x = 3; x < 9; x++) mask.data[y * 16 + x] = 1;
  const sampler = container.samplers.create('ddim', { steps: 4 }, undefined);
  const run = async (field: { radius: number; multiple: number } | undefined, crop = true, onStep?: (i: StepInfo) => void) => {
    const net = new ToyUNet(3, 4, 5, { predictionType: 'x0', xmWeight: 0, ...(field ? { receptiveField: field } : {}) });
    const out = await refine(guide, image, mask, { network: net, schedule: quiet, sampler, rng: new Rng(3), options: { tk: 15, crop }, onStep });
    return { out, sizes: net.sizes };
  };
  const maxDiff = (a: Tensor4, b: Tensor4) => a.data.reduce((m, v, k) => Math.max(m, Math.abs(v - b.data[k])), 0);

  it('refineCrop: the hole box grown by the radius, aligned to the multiple, inside the image; none when it is all', () => {
    expect(refineCrop(mask, { radius: 1, multiple: 2 })).toEqual({ x0: 2, y0: 4, x1: 10, y1: 10 });
    expect(refineCrop(mask, { radius: 3, multiple: 4 })).toEqual({ x0: 0, y0: 0, x1: 12, y1: 12 });
    expect(refineCrop(mask, { radius: 20, multiple: 2 })).toBeUndefined();
    expect(refineCrop(mask, undefined)).toBeUndefined();
    expect(refineCrop(new Tensor4([1, 1, 16, 16]), { radius: 1, multiple: 2 })).toBeUndefined();
  });

  it('runs the network on the crop only, and equals the whole-image refinement', async () => {
    const whole = await run(undefined);
    const cropped = await run({ radius: 1, multiple: 2 });
    expect(whole.sizes.every(([h, w]) => h === 16 && w === 16)).toBe(true);
    expect(cropped.sizes.every(([h, w]) => h === 6 && w === 8)).toBe(true);
    expect(knownPixelViolations(cropped.out, image, mask)).toBe(0);
    expect(maxDiff(cropped.out, whole.out)).toBeLessThan(1e-3);
    // the network did change the hole (the comparison is not between two copies of the guide)
    expect(maxDiff(whole.out, blendByMask(guide, image, mask, image.zerosLike()))).toBeGreaterThan(1e-2);
    // crop: false runs the whole image whatever the network declares
    expect((await run({ radius: 1, multiple: 2 }, false)).sizes[0]).toEqual([16, 16]);
  });

  it('a crop that breaks the declared field (misaligned to the pooling) changes the result', async () => {
    const whole = await run(undefined);
    const wrong = await run({ radius: 0, multiple: 1 }); // origin 3: the 2×2 blocks of the pooling shift
    expect(maxDiff(wrong.out, whole.out)).toBeGreaterThan(2e-2);
  });

  it('with a focus, the crop is grown around the focus only; the hole beyond it keeps the guide', async () => {
    const two = mask.clone();
    for (let y = 12; y < 15; y++) for (let x = 11; x < 15; x++) two.data[y * 16 + x] = 1; // a second hole
    const refineTwo = async (field: { radius: number; multiple: number } | undefined, focus?: Tensor4) => {
      const net = new ToyUNet(3, 4, 5, { predictionType: 'x0', xmWeight: 0, ...(field ? { receptiveField: field } : {}) });
      const out = await refine(guide, image, two, { network: net, schedule: quiet, sampler, rng: new Rng(3), options: { tk: 15, crop: true }, ...(focus ? { focus } : {}) });
      return { out, sizes: net.sizes };
    };
    const whole = await refineTwo(undefined);
    const focused = await refineTwo({ radius: 1, multiple: 2 }, mask);
    expect(focused.sizes.every(([h, w]) => h === 6 && w === 8)).toBe(true); // the first hole's crop, as without the second
    expect(knownPixelViolations(focused.out, image, two)).toBe(0);
    let inFocus = 0, beyond = 0;
    for (let c = 0; c < 3; c++) for (let p = 0; p < 256; p++) {
      const k = c * 256 + p;
      if (mask.data[p]) inFocus = Math.max(inFocus, Math.abs(focused.out.data[k] - whole.out.data[k]));
      else if (two.data[p]) beyond = Math.max(beyond, Math.abs(focused.out.data[k] - guide.data[k]));
    }
    expect(inFocus).toBeLessThan(1e-3);
    expect(beyond).toBe(0);
    // without the focus the crop spans both holes
    expect((await refineTwo({ radius: 1, multiple: 2 })).sizes[0]).toEqual([12, 14]);
  });

  it('per-step previews are full-size images with the crop pasted in', async () => {
    const seen: [number, number, number][] = [];
    let outside = 0;
    await run({ radius: 1, multiple: 2 }, true, (i) => {
      seen.push([i.x0Pred.h, i.x0Pred.w, i.xt.w]);
      outside = Math.max(outside, Math.abs(i.x0Pred.data[0] - image.data[0]));
    });
    expect(seen.length).toBe(4);
    expect(seen.every(([h, w, xw]) => h === 16 && w === 16 && xw === 16)).toBe(true);
    expect(outside).toBe(0);
  });
});

describe('inpaint pipeline', () => {
  const container = createContainer();
  const schedule = linearSchedule(30, 1e-4, 0.05);
  const image = randomImage([1, 3, 8, 8], 21);
  const mask = centreMask(1, 8, 8);
  const meanGuide = {
    name: 'test-mean',
    sizes: { min: 1, max: Infinity, multiple: 1, fullMask: false },
    inpaint: async (img: Tensor4, m: Tensor4) => {
      const out = img.clone();
      for (let k = 0; k < out.size; k++) if (m.data[k % 64 + Math.floor(k / 192) * 64]) out.data[k] = 0.1;
      return out;
    },
  };

  it('chains a guide with the refiner, with samples, timings and known pixels', async () => {
    const events: string[] = [];
    const res = await inpaint({
      image, mask, guide: meanGuide, seed: 3, samples: 2,
      refiner: { network: new ToyUNet(), schedule, sampler: container.samplers.create('ddpm', {}, undefined), options: { tk: 10 } },
      onProgress: (e) => events.push(e.stage),
    });
    expect(res.stage1.shape).toEqual([2, 3, 8, 8]);
    expect(res.stage2!.shape).toEqual([2, 3, 8, 8]);
    expect(knownPixelViolations(res.stage2!, res.image, res.mask)).toBe(0);
    expect(knownPixelViolations(res.stage1, res.image, res.mask)).toBe(0);
    // the two samples got different noise
    expect([...res.stage2!.slice(0).data]).not.toEqual([...res.stage2!.slice(1).data]);
    expect(res.timings.stepMs).toHaveLength(10);
    expect(events.filter((e) => e === 'refiner')).toHaveLength(10);
    const again = await inpaint({
      image, mask, guide: meanGuide, seed: 3, samples: 2,
      refiner: { network: new ToyUNet(), schedule, sampler: container.samplers.create('ddpm', {}, undefined), options: { tk: 10 } },
    });
    expect([...again.stage2!.data]).toEqual([...res.stage2!.data]);
  });

  it('without a refiner returns stage 1 only', async () => {
    const res = await inpaint({ image, mask, guide: meanGuide, seed: 1 });
    expect(res.stage2).toBeUndefined();
    expect(res.stage1.data[res.stage1.index(0, 0, 4, 4)]).toBeCloseTo(0.1, 6);
  });
});
