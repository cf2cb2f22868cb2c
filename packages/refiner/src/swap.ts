import { InputError, Tensor4, assertSameShape } from '@diff2s/core';

/**
 * Number of channels (out of `channels`) taken from the guide pass for a swap fraction f: round(C·f).
 * The paper swaps one half: the first C/2 channels from the x_t pass, the last C/2 from the guide pass.
 */
export function guideChannelCount(channels: number, fraction: number): number {
  if (!(fraction >= 0 && fraction <= 1)) throw new InputError(`swap fraction must be in [0, 1], got ${fraction}`);
  return Math.round(channels * fraction);
}

/**
 * Cat[a¹, b²]: the first C − k channels of `a` (the x_t pass) followed by the last k channels of `b` (the guide pass),
 * k = round(C·fraction). Writes into `out` (allocated if absent) and returns it.
 */
export function swapChannels(a: Tensor4, b: Tensor4, fraction: number, out?: Tensor4): Tensor4 {
  assertSameShape(a, b, 'channel swap');
  const res = out ?? a.zerosLike();
  assertSameShape(a, res, 'channel swap output');
  const { n, c } = a;
  const hw = a.h * a.w;
  const keep = c - guideChannelCount(c, fraction);
  for (let i = 0; i < n; i++) {
    const base = i * c * hw;
    if (res !== a) res.data.set(a.data.subarray(base, base + keep * hw), base);
    res.data.set(b.data.subarray(base + keep * hw, base + c * hw), base + keep * hw);
  }
  return res;
}
