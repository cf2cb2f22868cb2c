import { Rng, Tensor4 } from '@diff2s/core';
import { defineUNet, OnnxUNet, receptiveField, resolveUNetConfig, type UNetConfigInput } from '@diff2s/engine';
import { randTensor, tinyClassic, tinyGuided } from './helpers';

describe('receptive field of a UNet definition', () => {
  const fieldOf = (spec: UNetConfigInput) => receptiveField(defineUNet(resolveUNetConfig(spec as never)));

  it('is finite for the convolutional frugal UNet and undefined where group norm or attention see the whole image', () => {
    const frugal = fieldOf({ preset: 'frugal', imageChannels: 3 } as UNetConfigInput);
    expect(frugal).toEqual({ radius: expect.any(Number), multiple: 8 });
    expect(frugal!.radius).toBeGreaterThan(8);
    expect(fieldOf(tinyGuided)).toBeUndefined();
    expect(fieldOf({ ...tinyClassic, middleAttention: true } as UNetConfigInput)).toBeUndefined();
    expect(fieldOf({ ...tinyClassic, norm: 'groupnorm', groups: 2 } as UNetConfigInput)).toBeUndefined();
    // more levels see farther
    expect(fieldOf({ ...tinyClassic, channelMults: [1, 1, 1] } as UNetConfigInput)!.radius).toBeGreaterThan(fieldOf(tinyClassic)!.radius);
  });

  it('bounds what reaches an output pixel: inputs beyond it never change it, inputs well inside do', async () => {
    const spec = { preset: 'frugal', imageChannels: 3, baseChannels: 8 } as UNetConfigInput;
    const net = await OnnxUNet.create(spec as never, { seed: 3 });
    try {
      const { radius } = net.receptiveField!;
      const size = 2 * radius + 16 + 8 - ((2 * radius + 16) % 8);
      const c0 = 8 * Math.floor(size / 16); // an aligned pixel near the centre
      const rng = new Rng('rf');
      const input = randTensor(rng, [1, net.def.shapes.inputChannels, size, size]);
      const noise = [300];
      const at = (t: Tensor4) => Array.from({ length: t.c }, (_, ch) => t.data[t.index(0, ch, c0, c0)]);
      const base = at(await net.forwardInput(input, noise));
      // every input pixel farther than the radius (chessboard) from (c0, c0) replaced by other values
      const far = input.clone();
      const other = randTensor(rng, [...input.shape]);
      let changed = 0;
      for (let ch = 0; ch < far.c; ch++) for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
        if (Math.max(Math.abs(y - c0), Math.abs(x - c0)) > radius) { far.data[far.index(0, ch, y, x)] = other.data[far.index(0, ch, y, x)]; changed++; }
      }
      expect(changed).toBeGreaterThan(0);
      const farOut = at(await net.forwardInput(far, noise));
      farOut.forEach((v, ch) => expect(Math.abs(v - base[ch])).toBeLessThan(1e-6));
      // a ring at half the radius does reach it (the bound is not vacuous)
      const near = input.clone();
      const d = Math.floor(radius / 2);
      for (let ch = 0; ch < near.c; ch++) for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
        if (Math.max(Math.abs(y - c0), Math.abs(x - c0)) === d) near.data[near.index(0, ch, y, x)] = other.data[near.index(0, ch, y, x)];
      }
      const nearOut = at(await net.forwardInput(near, noise));
      expect(Math.max(...nearOut.map((v, ch) => Math.abs(v - base[ch])))).toBeGreaterThan(1e-4);
    } finally {
      await net.dispose();
    }
  });
});
