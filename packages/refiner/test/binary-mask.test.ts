/** refine() and inpaint() refuse a soft mask (masks are binary between parts; core's binaryMask thresholds one). */
import { binaryMask, DdpmSampler, linearSchedule, Rng, Tensor4, type Guide } from '@diff2s/core';
import { inpaint, refine } from '@diff2s/refiner';
import { ToyUNet } from './toy';

describe('refiner and binary masks', () => {
  const image = Tensor4.full([1, 3, 8, 8], 0.2);
  const mask = new Tensor4([1, 1, 8, 8]);
  for (let p = 18; p < 46; p++) mask.data[p] = 0.6;
  const setup = () => ({ network: new ToyUNet(), schedule: linearSchedule(10, 1e-3, 0.2), sampler: new DdpmSampler(), rng: new Rng(2), options: { tk: 3 } });
  const guide: Guide = {
    name: 'copy', sizes: { min: 1, max: Infinity, multiple: 1, fullMask: true },
    inpaint: async (img) => img.clone(),
  };

  it('refine refuses a soft mask', async () => {
    await expect(refine(image, image, mask, setup())).rejects.toThrow(/refine mask must be binary/);
    const out = await refine(image, image, binaryMask(mask), setup());
    expect(out.shape).toEqual(image.shape);
  });

  it('inpaint refuses a soft mask', async () => {
    await expect(inpaint({ image, mask, guide, seed: 1 })).rejects.toThrow(/mask must be binary/);
    const res = await inpaint({ image, mask: binaryMask(mask), guide, seed: 1, refiner: setup() });
    expect(res.stage2!.shape).toEqual(image.shape);
  });
});
