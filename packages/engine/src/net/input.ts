/**
 * The network input layout of a diff2s UNet, engine-neutral: the embedding's noise level for a step and the input
 * channels (x_t, x_m, mask in the config's `conditioning.inputs` order) written into a plain Float32Array. The tfjs
 * `NativeUNet`, the onnxruntime `OnnxUNet` and the training batches all build their inputs here.
 */
import { assertMaskFits, assertSameShape, Conditioning, DenoiserStep, InputError, Tensor4 } from '@diff2s/core';
import type { NetworkDef } from './def';
import { imageInputChannels, isConditional, type UNetConfig } from './unet';

/** The noise-level value a config feeds its embedding for a step: t, ᾱ_t or √ᾱ_t. */
export function noiseLevelFor(cfg: UNetConfig, step: DenoiserStep): number {
  switch (cfg.noise.input) {
    case 't': return step.t;
    case 'alphaBar': return step.alphaBar;
    case 'sqrtAlphaBar': return Math.sqrt(step.alphaBar);
  }
}

/**
 * Build the network input [N, inputChannels, H, W] from x_t and the conditioning, per the config's layout:
 * channels in `conditioning.inputs` order (`xt`, `xm` — as given or with zeros in the hole — and `mask`).
 */
export function buildUNetInput(cfg: UNetConfig, xt: Tensor4, cond?: Conditioning): Tensor4 {
  const out = new Tensor4([xt.n, imageInputChannels(cfg), xt.h, xt.w]);
  writeUNetInput(cfg, xt, cond, out.data, 0);
  return out;
}

/**
 * Write the network input for (x_t, cond) into `dst` starting at image `offset` (so two inputs can share one
 * batch buffer): channels in `conditioning.inputs` order — x_t, x_m (as given, or zero in the hole), mask.
 */
export function writeUNetInput(cfg: UNetConfig, xt: Tensor4, cond: Conditioning | undefined, dst: Float32Array, offset: number): void {
  const C = cfg.imageChannels;
  if (xt.c !== C) throw new InputError(`x_t has ${xt.c} channels, the model expects ${C}`);
  if (isConditional(cfg)) {
    if (!cond) throw new InputError('this model is conditional: it needs cond.xm and cond.mask');
    assertSameShape(xt, cond.xm, 'x_m');
    assertMaskFits(xt, cond.mask, 'cond.mask');
  }
  const inC = imageInputChannels(cfg);
  const { n, h, w } = xt;
  const hw = h * w;
  for (let i = 0; i < n; i++) {
    let ch = 0;
    for (const part of cfg.conditioning.inputs) {
      const at = ((offset + i) * inC + ch) * hw;
      if (part === 'xt') {
        dst.set(xt.data.subarray(i * C * hw, (i + 1) * C * hw), at);
        ch += C;
      } else if (part === 'mask') {
        dst.set(cond!.mask.data.subarray(i * hw, (i + 1) * hw), at);
        ch += 1;
      } else {
        const src = cond!.xm.data.subarray(i * C * hw, (i + 1) * C * hw);
        if (cfg.conditioning.holeFill === 'zero') {
          const m = cond!.mask.data;
          for (let c = 0; c < C; c++) {
            for (let p = 0; p < hw; p++) dst[at + c * hw + p] = m[i * hw + p] !== 0 ? 0 : src[c * hw + p];
          }
        } else {
          dst.set(src, at);
        }
        ch += C;
      }
    }
  }
}

/** Throws unless an image of h×w fits the network (both a multiple of its `sizeMultiple`). */
export function assertUNetSize(def: NetworkDef, h: number, w: number): void {
  const m = def.shapes.sizeMultiple;
  if (h % m || w % m) throw new InputError(`image size ${h}×${w} must be a multiple of ${m} for this UNet`);
}

/** Images [start, start+count) of a batch, as a new tensor. */
export function sliceBatch(t: Tensor4, start: number, count: number): Tensor4 {
  const s = t.imageSize;
  return new Tensor4([count, t.c, t.h, t.w], t.data.slice(start * s, (start + count) * s));
}
