/**
 * The binary-mask invariant (issue 17): masks are thresholded once (binaryMask, loadMask), checked at the public
 * entry points (samplers, metrics), and pasted with one function (blendByMask).
 */
import {
  applyMask, assertBinaryMask, binaryMask, blendByMask, InputError, isBinaryMask, knownMean, l1, MASK_THRESHOLD,
  maskToImage, MeanDenoiser, Rng, swdRegions, Tensor4, DdpmSampler, linearSchedule,
} from '@diff2s/core';

function soft(): Tensor4 {
  return new Tensor4([1, 1, 2, 3], Float32Array.from([0, 0.2, 0.49, 0.5, 0.8, 1]));
}

describe('binary masks', () => {
  it('binaryMask thresholds at MASK_THRESHOLD into a new tensor; isBinaryMask / assertBinaryMask check it', () => {
    expect(MASK_THRESHOLD).toBe(0.5);
    const m = soft();
    const b = binaryMask(m);
    expect([...b.data]).toEqual([0, 0, 0, 1, 1, 1]);
    expect(m.data[1]).toBeCloseTo(0.2); // the input is untouched
    expect(isBinaryMask(b)).toBe(true);
    expect(isBinaryMask(m)).toBe(false);
    expect(() => assertBinaryMask(b)).not.toThrow();
    expect(() => assertBinaryMask(m, 'the mask')).toThrow(InputError);
    expect(() => assertBinaryMask(m, 'the mask')).toThrow(/the mask must be binary .*binaryMask/);
    const nan = b.clone();
    nan.data[0] = NaN;
    expect(isBinaryMask(nan)).toBe(false);
  });

  it('the samplers and the metrics refuse a soft mask', async () => {
    const image = Tensor4.full([1, 1, 2, 3], 0.1);
    await expect(new DdpmSampler().sample({
      denoiser: new MeanDenoiser(0), schedule: linearSchedule(5, 1e-3, 0.1), image, mask: soft(), rng: new Rng(1),
    })).rejects.toThrow(/sampler mask must be binary/);
    expect(() => l1(image, image, soft())).toThrow(/metric mask must be binary/);
    const a = Tensor4.full([1, 1, 8, 8], 0);
    const region = Tensor4.full([1, 1, 8, 8], 1);
    const half = Tensor4.full([1, 1, 8, 8], 0.5);
    expect(() => swdRegions(a, region, a, half, { patch: 3 })).toThrow(/swd region must be binary/);
  });

  it('blendByMask takes a where m = 1 and b where m = 0, in place too', () => {
    const a = Tensor4.full([1, 2, 2, 3], 5);
    const b = new Tensor4([1, 2, 2, 3], Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]));
    const m = binaryMask(soft());
    expect([...blendByMask(a, b, m, a.zerosLike()).data]).toEqual([0, 1, 2, 5, 5, 5, 6, 7, 8, 5, 5, 5]);
    blendByMask(a, b, m, b);
    expect([...b.data]).toEqual([0, 1, 2, 5, 5, 5, 6, 7, 8, 5, 5, 5]);
  });

  it('applyMask paints one value or one per channel; knownMean is the known pixels\' mean; maskToImage draws hole white', () => {
    const img = new Tensor4([1, 2, 2, 3], Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]));
    const m = binaryMask(soft());
    expect(knownMean(img, m)).toEqual([1, 7]);
    expect([...applyMask(img, m, [-1, 1]).data]).toEqual([0, 1, 2, -1, -1, -1, 6, 7, 8, 1, 1, 1]);
    expect(img.data[3]).toBe(3); // a copy unless told to write into the image
    applyMask(img, m, 0.5, img);
    expect([...img.data]).toEqual([0, 1, 2, 0.5, 0.5, 0.5, 6, 7, 8, 0.5, 0.5, 0.5]);
    expect(knownMean(img, Tensor4.full([1, 1, 2, 3], 1))).toEqual([0, 0]);
    expect([...maskToImage(m).data]).toEqual([-1, -1, -1, 1, 1, 1]);
  });
});
