/** Every guide's frame refuses a soft mask (masks are binary between parts; core's binaryMask thresholds one). */
import { binaryMask, Rng, Tensor4 } from '@diff2s/core';
import { makeGuide, randomImage } from './helpers';

describe('guides and binary masks', () => {
  it('refuse a soft mask and accept it thresholded', async () => {
    const image = randomImage(1, 3, 8, 8);
    const mask = new Tensor4([1, 1, 8, 8]);
    for (let p = 20; p < 40; p++) mask.data[p] = 0.75;
    for (const name of ['mean', 'nearest', 'constant', 'patch']) {
      const { guide } = makeGuide(name, name === 'patch' ? { patchSize: 3 } : {});
      await expect(guide.inpaint(image, mask, { rng: new Rng(1) })).rejects.toThrow(new RegExp(`${name} guide: mask must be binary`));
      const out = await guide.inpaint(image, binaryMask(mask), { rng: new Rng(1) });
      expect(out.shape).toEqual(image.shape);
    }
  });
});
