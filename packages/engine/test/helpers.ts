import { Rng, Tensor4 } from '@diff2s/core';
import type { UNetConfigInput } from '@diff2s/engine';

/** A tiny guided (Palette-like) UNet: GroupNorm, SiLU, MLP embedding, scale-shift, middle attention, resblock up/down. */
export const tinyGuided: UNetConfigInput = {
  preset: 'palette',
  baseChannels: 8,
  channelMults: [1, 2],
  numResBlocks: 1,
  groups: 4,
  attentionHeadChannels: 8,
  noise: { dim: 8, mlpMult: 2 },
  zeroInit: false,
} as UNetConfigInput;

/** A tiny frugal-style UNet (classic layout, tiled embedding), SiLU so finite differences are smooth. */
export const tinyClassic: UNetConfigInput = {
  preset: 'frugal',
  baseChannels: 4,
  channelMults: [1, 1],
  activation: 'silu',
  noise: { dim: 4 },
} as UNetConfigInput;

export function randTensor(rng: Rng, shape: number[], std = 1): Tensor4 {
  const t = new Tensor4(shape);
  rng.fillNormal(t.data, 0, std);
  return t;
}

export function randMask(rng: Rng, n: number, h: number, w: number, p = 0.4): Tensor4 {
  const m = new Tensor4([n, 1, h, w]);
  for (let i = 0; i < m.size; i++) m.data[i] = rng.uniform() < p ? 1 : 0;
  return m;
}

/** max |a − b| / max(1e-12, max |b|) */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0, s = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return m / Math.max(1e-12, s);
}
