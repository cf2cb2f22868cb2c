import { promises as fs } from 'fs';
import * as path from 'path';
import {
  applyMask, assertBinaryMask, blendByMask, ConfigError, InputError, knownMean, NoiseSchedule, noiseToLevel, Rng, Tensor4,
  generateMask, loadMask, readImage, vFromX0Eps,
} from '@diff2s/core';
import { buildUNetInput, noiseLevelFor } from '../net/input';
import type { TrainBatch } from '../net/types';
import { isConditional, type UNetConfig } from '../net/unet';
import type { TrainConfig } from './config';

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff']);

/** Expand files and folders into a sorted list of image files. */
export async function listImageFiles(entries: string[], baseDir: string, what = 'data.images'): Promise<string[]> {
  const out: string[] = [];
  for (const e of entries) {
    const p = path.resolve(baseDir, e);
    let st;
    try {
      st = await fs.stat(p);
    } catch {
      throw new InputError(`${what}: ${p} does not exist`, p);
    }
    if (st.isDirectory()) {
      const names = (await fs.readdir(p)).filter((n) => IMAGE_EXT.has(path.extname(n).toLowerCase())).sort();
      if (names.length === 0) throw new InputError(`${what}: no images in folder ${p}`, p);
      out.push(...names.map((n) => path.join(p, n)));
    } else out.push(p);
  }
  return out;
}

/** 2× box downscale (each output pixel the mean of a 2×2 block; odd last rows/columns dropped). */
function halve(t: Tensor4): Tensor4 {
  const h = t.h >> 1, w = t.w >> 1;
  const out = new Tensor4([t.n, t.c, h, w]);
  for (let n = 0; n < t.n; n++) for (let c = 0; c < t.c; c++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const i = t.index(n, c, 2 * y, 2 * x);
    out.data[out.index(n, c, y, x)] = 0.25 * (t.data[i] + t.data[i + 1] + t.data[i + t.w] + t.data[i + t.w + 1]);
  }
  return out;
}

/** A 2× downscaled hole mask: a pixel is a hole when any of its 2×2 block is (the user's hole never shrinks). */
function halveHole(m: Tensor4): Tensor4 {
  const h = m.h >> 1, w = m.w >> 1;
  const out = new Tensor4([m.n, 1, h, w]);
  for (let n = 0; n < m.n; n++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const i = m.index(n, 0, 2 * y, 2 * x);
    out.data[out.index(n, 0, y, x)] = Math.max(m.data[i], m.data[i + 1], m.data[i + m.w], m.data[i + m.w + 1]);
  }
  return out;
}

/** The pyramid of `image` at the given scales (1, 0.5, 0.25, …: powers of two), keeping levels at least `crop` wide. */
function pyramid(image: Tensor4, hole: Tensor4 | undefined, scales: readonly number[], crop: number): { image: Tensor4; hole?: Tensor4 }[] {
  const out: { image: Tensor4; hole?: Tensor4 }[] = [];
  let img = image, m = hole, s = 1;
  const want = [...scales].sort((a, b) => b - a);
  for (const target of want) {
    while (s > target * 1.0001 && img.w >= 2 * crop && img.h >= 2 * crop) {
      img = halve(img);
      m = m ? halveHole(m) : undefined;
      s /= 2;
    }
    if (Math.abs(s - target) < 1e-6 && img.w >= crop && img.h >= crop) out.push({ image: img, hole: m });
  }
  return out;
}

/** Options of {@link TrainingData.fromImage}. */
export interface ImageSourceOptions {
  /**
   * Values written into the user's hole before anything is read (default: the mean colour of the known pixels).
   * The pipeline passes its stage-1 result, so noised crops look like what the refiner will see. Either way the
   * hole's own pixels are never read: they are neither an input nor a target.
   */
  fill?: Tensor4;
  /** A name for the model card (default `image`). */
  name?: string;
}

/**
 * The training images in memory, with the crop sampler and the mask source.
 * An image may come with the user's hole (`fromImage`): crops may cover it, but its pixels are never an input or a
 * target — they are overwritten (by `fill`) before sampling, the network's conditioning marks them unknown, and the
 * loss weight is the synthetic hole ∧ known pixels.
 */
export class TrainingData {
  private constructor(
    readonly images: Tensor4[],
    readonly files: string[],
    private readonly cfg: TrainConfig['data'],
    private readonly maskFiles: Tensor4[],
    /** Per image: the user's hole (1 = unknown), or undefined when every pixel is known. */
    readonly holes: (Tensor4 | undefined)[] = images.map(() => undefined),
  ) {}

  /**
   * One image with its hole mask (1 = hole) as the training source: any image size ≥ the crop, grey or colour, any
   * hole shape (strokes across the whole image included). `cfg.scales` adds downscaled copies (multi-scale crops).
   */
  static fromImage(image: Tensor4, hole: Tensor4, cfg: TrainConfig['data'], options: ImageSourceOptions = {}): TrainingData {
    if (image.n !== 1) throw new InputError(`the training image must be a single image, got a batch of ${image.n}`);
    if (hole.n !== 1 || hole.c !== 1 || hole.h !== image.h || hole.w !== image.w) {
      throw new InputError(`the hole mask is ${hole.w}x${hole.h}x${hole.c}, the image ${image.w}x${image.h}`);
    }
    if (image.w < cfg.crop || image.h < cfg.crop) {
      throw new InputError(`the image is ${image.w}x${image.h}, smaller than the crop size ${cfg.crop}`);
    }
    assertBinaryMask(hole, 'the hole mask');
    if (!hole.data.includes(0)) throw new InputError('the mask covers the whole image: there are no known pixels to train on');
    const { fill } = options;
    if (fill && (fill.n !== 1 || fill.c !== image.c || fill.h !== image.h || fill.w !== image.w)) {
      throw new InputError('the fill image must have the image\'s shape');
    }
    // the hole's own pixels are overwritten before anything reads them: by `fill`, else the known pixels' mean colour
    const clean = fill ? blendByMask(fill, image, hole, image.zerosLike()) : applyMask(image, hole, knownMean(image, hole));
    const levels = pyramid(clean, hole.clone(), cfg.scales ?? [1], cfg.crop);
    const name = options.name ?? 'image';
    return new TrainingData(
      levels.map((l) => l.image),
      levels.map((l, i) => (i === 0 ? name : `${name}@1/${2 ** i}`)),
      cfg,
      [],
      levels.map((l) => l.hole),
    );
  }

  static async load(cfg: TrainConfig['data'], baseDir: string, channels: number): Promise<TrainingData> {
    if (cfg.images === undefined) throw new ConfigError('expected training images (files and/or folders)', 'data.images');
    const files = await listImageFiles(Array.isArray(cfg.images) ? cfg.images : [cfg.images], baseDir);
    const images: Tensor4[] = [];
    for (const f of files) {
      const img = await readImage(f, { channels: channels === 1 ? 1 : 3 });
      if (img.width < cfg.crop || img.height < cfg.crop) {
        throw new InputError(`${f} is ${img.width}x${img.height}, smaller than the crop size ${cfg.crop}`, f);
      }
      images.push(img.tensor);
    }
    const scaled: Tensor4[] = [];
    const scaledFiles: string[] = [];
    for (let i = 0; i < images.length; i++) {
      for (const [k, l] of pyramid(images[i], undefined, cfg.scales ?? [1], cfg.crop).entries()) {
        scaled.push(l.image);
        scaledFiles.push(k === 0 ? files[i] : `${files[i]}@1/${2 ** k}`);
      }
    }
    if (cfg.holdout) {
      const h = cfg.holdout;
      for (let i = 0; i < images.length; i++) {
        if (!hasCropOutside(images[i].w, images[i].h, cfg.crop, h)) {
          throw new ConfigError(`no ${cfg.crop}x${cfg.crop} crop of ${files[i]} avoids the held-out region`, 'data.holdout');
        }
      }
    }
    const maskFiles: Tensor4[] = [];
    if (cfg.masks.type === 'files') {
      if (!cfg.masks.dir) throw new ConfigError('expected a folder of mask files', 'data.masks.dir');
      for (const f of await listImageFiles([cfg.masks.dir], baseDir, 'data.masks.dir')) {
        maskFiles.push(await loadMask(f, { expect: { width: cfg.crop, height: cfg.crop }, resize: true, onWarning: () => undefined }));
      }
    }
    return cfg.scales && cfg.scales.some((x) => x !== 1)
      ? new TrainingData(scaled, scaledFiles, cfg, maskFiles)
      : new TrainingData(images, files, cfg, maskFiles);
  }

  /**
   * B random crops [B,C,crop,crop] (random image, position outside the held-out region, flips) and B synthetic masks;
   * `userHole` [B,1,crop,crop] marks the crops' pixels in the user's hole (only for sources with a hole).
   * Crops that are more than half user hole are redrawn (up to 100 times).
   */
  sample(batch: number, rng: Rng): { x0: Tensor4; mask: Tensor4; userHole?: Tensor4 } {
    const S = this.cfg.crop;
    const C = this.images[0].c;
    const x0 = new Tensor4([batch, C, S, S]);
    const mask = new Tensor4([batch, 1, S, S]);
    const anyHole = this.holes.some((h) => !!h);
    const userHole = anyHole ? new Tensor4([batch, 1, S, S]) : undefined;
    const copyCrop = (src: Tensor4, dst: Tensor4, b: number, x: number, y: number, fx: boolean, fy: boolean) => {
      for (let c = 0; c < src.c; c++) {
        for (let yy = 0; yy < S; yy++) {
          const sy = y + (fy ? S - 1 - yy : yy);
          const s0 = src.index(0, c, sy, x);
          const d0 = dst.index(b, c, yy, 0);
          if (!fx) dst.data.set(src.data.subarray(s0, s0 + S), d0);
          else for (let xx = 0; xx < S; xx++) dst.data[d0 + xx] = src.data[s0 + S - 1 - xx];
        }
      }
    };
    for (let b = 0; b < batch; b++) {
      const k = rng.int(this.images.length);
      const img = this.images[k];
      const hole = this.holes[k];
      let x = 0, y = 0;
      for (let tries = 0; ; tries++) {
        x = rng.int(img.w - S + 1);
        y = rng.int(img.h - S + 1);
        if (tries > 10000) break;
        if (this.cfg.holdout && intersects(x, y, S, this.cfg.holdout)) continue;
        if (hole && tries < 100 && holeShare(hole, x, y, S) > 0.5) continue;
        break;
      }
      const fx = this.cfg.flips && rng.uniform() < 0.5, fy = this.cfg.flips && rng.uniform() < 0.5;
      copyCrop(img, x0, b, x, y, fx, fy);
      if (userHole && hole) copyCrop(hole, userHole, b, x, y, fx, fy);
      const m = this.maskFiles.length
        ? this.maskFiles[rng.int(this.maskFiles.length)]
        : generateMask(this.cfg.masks.type as string, S, rng);
      mask.data.set(m.data, b * S * S);
    }
    return { x0, mask, userHole };
  }
}

function holeShare(hole: Tensor4, x: number, y: number, S: number): number {
  let s = 0;
  for (let yy = 0; yy < S; yy++) {
    const o = hole.index(0, 0, y + yy, x);
    for (let xx = 0; xx < S; xx++) s += hole.data[o + xx];
  }
  return s / (S * S);
}

function intersects(x: number, y: number, S: number, h: { x: number; y: number; width: number; height: number }): boolean {
  return x < h.x + h.width && x + S > h.x && y < h.y + h.height && y + S > h.y;
}

function hasCropOutside(w: number, hgt: number, S: number, h: { x: number; y: number; width: number; height: number }): boolean {
  return h.x >= S || h.y >= S || w - (h.x + h.width) >= S || hgt - (h.y + h.height) >= S;
}

/**
 * One training batch for `objective` (Diff-2sIR Algorithm 1, seed 000's x₀ loss):
 * t ~ U{1..tMax} (tMax = T unless given: a refiner-only model needs t ≤ T_k plus a margin),
 * x_t = √ᾱ x₀ + √(1−ᾱ) ε, x̄ = m⊙x_t + (1−m)⊙x₀, x_m = m⊙ε_m + (1−m)⊙x₀; target ε / x₀ / v per the model;
 * loss weight = the hole mask (eq. 12) unless `lossOn: all`. Unconditional models see x_t everywhere, no paste.
 * `regression`: the network sees the masked image (x_t = x_m) at the schedule's last step and regresses x₀.
 * For a source with the user's hole: the conditioning mask m is synthetic ∨ user hole (those pixels are unknown to
 * the network) and the loss weight is synthetic ∧ known (the user's hole is never a target).
 */
export function makeBatch(
  data: TrainingData,
  cfg: UNetConfig,
  schedule: NoiseSchedule,
  objective: 'diffusion' | 'regression',
  batch: number,
  lossOn: 'hole' | 'all',
  rng: Rng,
  tMax?: number,
): TrainBatch {
  if (objective === 'regression' && cfg.predictionType !== 'x0') {
    throw new ConfigError('the regression objective needs an x0-predicting model (predictionType: x0)', 'model.predictionType');
  }
  const tTop = Math.max(1, Math.min(schedule.T, tMax ?? schedule.T));
  const { x0, mask: synthetic, userHole } = data.sample(batch, rng);
  // the network's hole: synthetic ∨ user; the loss weight: synthetic ∧ known (or known, for lossOn: all)
  let mask = synthetic;
  let weight: Tensor4 | undefined = lossOn === 'hole' ? synthetic : undefined;
  if (userHole) {
    mask = synthetic.zerosLike();
    weight = synthetic.zerosLike();
    for (let k = 0; k < mask.size; k++) {
      const u = userHole.data[k] !== 0, s = synthetic.data[k] !== 0;
      mask.data[k] = u || s ? 1 : 0;
      weight.data[k] = u ? 0 : lossOn === 'hole' ? (s ? 1 : 0) : 1;
    }
  }
  const cond = isConditional(cfg);
  const eps = rng.fillNormal(new Float32Array(x0.size));
  const epsM = rng.fillNormal(new Float32Array(x0.size));
  // x_m = m⊙ε_m + (1−m)⊙x₀ (eq. 11)
  const xm = blendByMask(new Tensor4(x0.shape, epsM), x0, mask, x0.zerosLike());
  const xt = x0.zerosLike();
  const target = x0.zerosLike();
  const noise = new Float32Array(batch);
  const S = x0.imageSize;
  for (let b = 0; b < batch; b++) {
    const t = objective === 'regression' ? schedule.T : 1 + rng.int(tTop);
    const ab = schedule.alphaBars[t];
    noise[b] = noiseLevelFor(cfg, { t, alphaBar: ab });
    const image = (d: Float32Array) => d.subarray(b * S, (b + 1) * S); // image b of a batch buffer
    // x_t = √ᾱ x₀ + √(1−ᾱ) ε (regression: the masked image x_m)
    if (objective === 'regression') image(xt.data).set(image(xm.data));
    else noiseToLevel(image(x0.data), ab, image(eps), image(xt.data));
    // the target (the regression objective needs an x0 model)
    if (objective === 'regression' || cfg.predictionType === 'x0') image(target.data).set(image(x0.data));
    else if (cfg.predictionType === 'epsilon') image(target.data).set(image(eps));
    else vFromX0Eps(image(x0.data), image(eps), ab, image(target.data));
  }
  // conditional models see the known pixels clean: x̄ = m⊙x_t + (1−m)⊙x₀
  if (cond) blendByMask(xt, x0, mask, xt);
  const input = buildUNetInput(cfg, xt, cond ? { xm, mask } : undefined);
  return { input, noise, target, weight };
}
