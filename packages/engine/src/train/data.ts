import { promises as fs } from 'fs';
import * as path from 'path';
import {
  ConfigError, InputError, NoiseSchedule, Rng, Tensor4, generateMask, loadMask, readImage,
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

/** The training images in memory, with the crop sampler and the mask source. */
export class TrainingData {
  private constructor(
    readonly images: Tensor4[],
    readonly files: string[],
    private readonly cfg: TrainConfig['data'],
    private readonly maskFiles: Tensor4[],
  ) {}

  static async load(cfg: TrainConfig['data'], baseDir: string, channels: number): Promise<TrainingData> {
    const files = await listImageFiles(Array.isArray(cfg.images) ? cfg.images : [cfg.images], baseDir);
    const images: Tensor4[] = [];
    for (const f of files) {
      const img = await readImage(f, { channels: channels === 1 ? 1 : 3 });
      if (img.width < cfg.crop || img.height < cfg.crop) {
        throw new InputError(`${f} is ${img.width}x${img.height}, smaller than the crop size ${cfg.crop}`, f);
      }
      images.push(img.tensor);
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
    return new TrainingData(images, files, cfg, maskFiles);
  }

  /** B random crops [B,C,crop,crop] (random image, position outside the held-out region, flips) and B masks. */
  sample(batch: number, rng: Rng): { x0: Tensor4; mask: Tensor4 } {
    const S = this.cfg.crop;
    const C = this.images[0].c;
    const x0 = new Tensor4([batch, C, S, S]);
    const mask = new Tensor4([batch, 1, S, S]);
    for (let b = 0; b < batch; b++) {
      const img = this.images[rng.int(this.images.length)];
      let x = 0, y = 0;
      for (let tries = 0; ; tries++) {
        x = rng.int(img.w - S + 1);
        y = rng.int(img.h - S + 1);
        if (!this.cfg.holdout || !intersects(x, y, S, this.cfg.holdout) || tries > 10000) break;
      }
      const fx = this.cfg.flips && rng.uniform() < 0.5, fy = this.cfg.flips && rng.uniform() < 0.5;
      for (let c = 0; c < C; c++) {
        for (let yy = 0; yy < S; yy++) {
          const sy = y + (fy ? S - 1 - yy : yy);
          const src = img.index(0, c, sy, x);
          const dst = x0.index(b, c, yy, 0);
          if (!fx) x0.data.set(img.data.subarray(src, src + S), dst);
          else for (let xx = 0; xx < S; xx++) x0.data[dst + xx] = img.data[src + S - 1 - xx];
        }
      }
      const m = this.maskFiles.length
        ? this.maskFiles[rng.int(this.maskFiles.length)]
        : generateMask(this.cfg.masks.type as string, S, rng);
      mask.data.set(m.data, b * S * S);
    }
    return { x0, mask };
  }
}

function intersects(x: number, y: number, S: number, h: { x: number; y: number; width: number; height: number }): boolean {
  return x < h.x + h.width && x + S > h.x && y < h.y + h.height && y + S > h.y;
}

function hasCropOutside(w: number, hgt: number, S: number, h: { x: number; y: number; width: number; height: number }): boolean {
  return h.x >= S || h.y >= S || w - (h.x + h.width) >= S || hgt - (h.y + h.height) >= S;
}

/**
 * One training batch for `objective` (Diff-2sIR Algorithm 1, seed 000's x₀ loss):
 * t ~ U{1..T}, x_t = √ᾱ x₀ + √(1−ᾱ) ε, x̄ = m⊙x_t + (1−m)⊙x₀, x_m = m⊙ε_m + (1−m)⊙x₀; target ε / x₀ / v per the model;
 * loss weight = the hole mask (eq. 12) unless `lossOn: all`. Unconditional models see x_t everywhere, no paste.
 * `regression`: the network sees the masked image (x_t = x_m) at the schedule's last step and regresses x₀.
 */
export function makeBatch(
  data: TrainingData,
  cfg: UNetConfig,
  schedule: NoiseSchedule,
  objective: 'diffusion' | 'regression',
  batch: number,
  lossOn: 'hole' | 'all',
  rng: Rng,
): TrainBatch {
  if (objective === 'regression' && cfg.predictionType !== 'x0') {
    throw new ConfigError('the regression objective needs an x0-predicting model (predictionType: x0)', 'model.predictionType');
  }
  const { x0, mask } = data.sample(batch, rng);
  const { c: C, h: H, w: W } = x0;
  const hw = H * W;
  const cond = isConditional(cfg);
  const eps = rng.fillNormal(new Float32Array(x0.size));
  const epsM = rng.fillNormal(new Float32Array(x0.size));
  const xt = x0.zerosLike();
  const xm = x0.zerosLike();
  const target = x0.zerosLike();
  const noise = new Float32Array(batch);
  for (let b = 0; b < batch; b++) {
    const t = objective === 'regression' ? schedule.T : 1 + rng.int(schedule.T);
    const ab = schedule.alphaBars[t];
    const a = Math.sqrt(ab), s = Math.sqrt(1 - ab);
    noise[b] = noiseLevelFor(cfg, { t, alphaBar: ab });
    for (let c = 0; c < C; c++) {
      const base = (b * C + c) * hw;
      for (let p = 0; p < hw; p++) {
        const k = base + p;
        const hole = mask.data[b * hw + p] >= 0.5;
        const x = x0.data[k];
        xm.data[k] = hole ? epsM[k] : x;
        const noisy = objective === 'regression' ? xm.data[k] : a * x + s * eps[k];
        xt.data[k] = cond && !hole ? x : noisy;
        switch (cfg.predictionType) {
          case 'x0': target.data[k] = x; break;
          case 'epsilon': target.data[k] = objective === 'regression' ? x : eps[k]; break;
          case 'v': target.data[k] = objective === 'regression' ? x : a * eps[k] - s * x; break;
        }
      }
    }
  }
  const input = buildUNetInput(cfg, xt, cond ? { xm, mask } : undefined);
  const weight = lossOn === 'hole' ? mask : undefined;
  return { input, noise, target, weight };
}
