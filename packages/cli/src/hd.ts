/**
 * HD strategies and any image size (issue 19), as inpainting tools do (IOPaint's Original / Resize / Crop):
 *
 * - `crop` runs the pipeline on a crop around each hole (its bounding box plus a context margin, at least `minSize`
 *   on a side) and pastes the filled hole back; holes whose crops overlap share one crop. The cost grows with the
 *   hole, not the image.
 * - `resize` runs on the image scaled down so its larger side is `resizeLimit`, and pastes the upscaled hole only.
 * - `original` runs on the whole image.
 * - `auto` (default): `crop` when the image's larger side exceeds `trigger`, else `original`.
 *
 * Whatever runs is padded on the right and bottom to the networks' size multiple (mirror padding by default: the
 * padded pixels are treated as known) and cropped back, so every image size runs. Known pixels are never resampled:
 * every strategy writes only hole pixels into a copy of the input, so they stay bit-exact.
 */
import { cropRect, maskBoundingBox, Tensor4 } from '@diff2s/core';
import { refineCrop } from '@diff2s/refiner';
import { resizeHoleConservative, resizePlanes, type Rect } from '@diff2s/guides';
import type { HdConfig } from './config/schema';

/** What runs for one image: the regions (crops) and the scale they run at. */
export interface HdPlan {
  strategy: 'crop' | 'resize' | 'original';
  /** Regions in image pixels (one, the whole image, for `original` and `resize`). */
  regions: Rect[];
  /** `resize`: the size the image runs at ([w, h]); otherwise the region's own. */
  scaled?: [number, number];
}

/** The bounding boxes of the hole's 8-connected components of a [1,1,H,W] mask. */
export function holeComponents(mask: Tensor4): Rect[] {
  const { h, w } = mask;
  const seen = new Uint8Array(h * w);
  const out: Rect[] = [];
  const stack: number[] = [];
  for (let p = 0; p < h * w; p++) {
    if (mask.data[p] === 0 || seen[p]) continue;
    const r: Rect = { x0: w, y0: h, x1: 0, y1: 0 };
    seen[p] = 1;
    stack.push(p);
    while (stack.length) {
      const q = stack.pop()!;
      const y = Math.floor(q / w), x = q - y * w;
      if (x < r.x0) r.x0 = x;
      if (x + 1 > r.x1) r.x1 = x + 1;
      if (y < r.y0) r.y0 = y;
      if (y + 1 > r.y1) r.y1 = y + 1;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= h) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= w) continue;
          const n = yy * w + xx;
          if (mask.data[n] !== 0 && !seen[n]) {
            seen[n] = 1;
            stack.push(n);
          }
        }
      }
    }
    out.push(r);
  }
  return out;
}

const overlaps = (a: Rect, b: Rect) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;

/** `r` grown by `margin` and to at least `min` on a side (centred, shifted inside the image), clamped to w×h. */
function grow(r: Rect, margin: number, min: number, w: number, h: number): Rect {
  const side = (a: number, b: number, size: number): [number, number] => {
    let lo = a - margin, hi = b + margin;
    if (hi - lo < min) {
      const c = (a + b) / 2;
      lo = Math.round(c - min / 2);
      hi = lo + min;
    }
    if (lo < 0) { hi -= lo; lo = 0; }
    if (hi > size) { lo -= hi - size; hi = size; }
    return [Math.max(0, lo), Math.min(size, hi)];
  };
  const [x0, x1] = side(r.x0, r.x1, w);
  const [y0, y1] = side(r.y0, r.y1, h);
  return { x0, y0, x1, y1 };
}

/**
 * The crops for a [1,1,H,W] mask: each hole component's box grown by `margin` (and to `minSize`); crops that overlap
 * are merged (their union box, grown again) until none do, so no crop holds part of another crop's hole.
 */
export function planCrops(mask: Tensor4, margin: number, minSize: number): Rect[] {
  const { h, w } = mask;
  let rects = holeComponents(mask).map((r) => grow(r, margin, minSize, w, h));
  for (let merged = true; merged;) {
    merged = false;
    outer: for (let i = 0; i < rects.length; i++) {
      for (let j = i + 1; j < rects.length; j++) {
        if (!overlaps(rects[i], rects[j])) continue;
        const a = rects[i], b = rects[j];
        const u = { x0: Math.min(a.x0, b.x0), y0: Math.min(a.y0, b.y0), x1: Math.max(a.x1, b.x1), y1: Math.max(a.y1, b.y1) };
        rects = [...rects.filter((_, k) => k !== i && k !== j), u];
        merged = true;
        break outer;
      }
    }
  }
  return rects.sort((a, b) => a.y0 - b.y0 || a.x0 - b.x0);
}

/** The plan for one image [1,C,H,W] and its mask under `cfg`. */
export function planHd(mask: Tensor4, cfg: HdConfig): HdPlan {
  const { h, w } = mask;
  const whole: Rect = { x0: 0, y0: 0, x1: w, y1: h };
  const strategy = cfg.strategy === 'auto' ? (Math.max(w, h) > cfg.trigger ? 'crop' : 'original') : cfg.strategy;
  if (strategy === 'crop') {
    if (!maskBoundingBox(mask)) return { strategy: 'original', regions: [whole] };
    return { strategy, regions: planCrops(mask, cfg.margin, cfg.minSize) };
  }
  if (strategy === 'resize' && Math.max(w, h) > cfg.resizeLimit) {
    const s = cfg.resizeLimit / Math.max(w, h);
    return { strategy, regions: [whole], scaled: [Math.max(1, Math.round(w * s)), Math.max(1, Math.round(h * s))] };
  }
  return { strategy: strategy === 'resize' ? 'original' : strategy, regions: [whole] };
}

/** Resize every image of `t` to nw×nh (bilinear up, antialiased down: the guides' resampler). */
export function resizeTensor(t: Tensor4, nw: number, nh: number): Tensor4 {
  if (nw === t.w && nh === t.h) return t;
  const out = new Tensor4([t.n, t.c, nh, nw]);
  const per = t.imageSize;
  for (let i = 0; i < t.n; i++) out.data.set(resizePlanes(t.data.subarray(i * per, (i + 1) * per), t.c, t.h, t.w, nh, nw), i * out.imageSize);
  return out;
}

/** A [1,1,H,W] hole mask resized to nw×nh so the resized hole covers the original one. */
export function resizeMaskCovering(mask: Tensor4, nw: number, nh: number): Tensor4 {
  if (nw === mask.w && nh === mask.h) return mask;
  return new Tensor4([1, 1, nh, nw], Float32Array.from(resizeHoleConservative(mask.data, mask.h, mask.w, nh, nw)));
}

/**
 * Write the hole pixels of `part` (images [N,C,rh,rw] of region `r`) into `into` ([N,C,H,W]) where `mask` ([1,1,H,W])
 * is a hole; known pixels of `into` are left as they are.
 */
export function pasteHole(into: Tensor4, part: Tensor4, r: Rect, mask: Tensor4): void {
  const { w } = into;
  const rw = r.x1 - r.x0, rh = r.y1 - r.y0;
  for (let i = 0; i < into.n; i++) for (let c = 0; c < into.c; c++) {
    const dst = into.index(i, c, 0, 0), src = part.index(i, c, 0, 0);
    for (let y = 0; y < rh; y++) for (let x = 0; x < rw; x++) {
      const p = (r.y0 + y) * w + r.x0 + x;
      if (mask.data[p] !== 0) into.data[dst + p] = part.data[src + y * rw + x];
    }
  }
}

/** Bytes per pixel a network (the refiner, a diffusion or ONNX guide) needs for what it runs on, per sample (activations and buffers, measured). */
export const REGION_BYTES_PER_PIXEL = 1300;
/**
 * Bytes per pixel of the region a CPU guide (patch, harmonic, ...) needs: the patch guide's pyramid, NNF and buffers.
 * Measured with `hd.strategy: original` and a 64² hole (peak RSS less the process and the full-size buffers): 16 B/px
 * at 2048², 30 B/px at 4096²; with a margin.
 */
export const CPU_GUIDE_BYTES_PER_PIXEL = 48;
/**
 * Bytes per pixel of the region the validating guard adds: its guide run in a worker thread (copies of the image, the
 * masks and its stage 1, and the guide's own buffers). Measured with `original` and a 64² hole: 115 B/px at 2048²,
 * 116 B/px at 4096² (peak RSS with the guard less without it).
 */
export const VALIDATION_BYTES_PER_PIXEL = 128;
/** The process itself, the engines and a model (bytes). */
export const BASE_BYTES = 256 * 1024 * 1024;
/** A fit's training batch and optimiser state (bytes). */
export const FIT_BYTES = 256 * 1024 * 1024;

/** The full-size part of {@link estimateRunBytes}: what a run of a w×h image with c channels needs whatever its holes. */
export function estimateFullBytes(w: number, h: number, c: number, samples: number): number {
  const px = w * h;
  return BASE_BYTES + px * (4 * c + 4 + c) + px * samples * (3 * 4 * c + 4);
}

/** What a run's networks run on, for {@link estimateRunBytes}. */
export interface RunFootprint {
  /** The guide is a CPU guide (its region costs {@link CPU_GUIDE_BYTES_PER_PIXEL}) rather than a network. */
  cpuGuide: boolean;
  /**
   * The refiner: off (`none`), on the whole region (`whole`), or on the hole's box grown by the network's receptive
   * field within the region (refiner.crop, a network that declares one).
   */
  refiner: 'none' | 'whole' | { radius: number; multiple: number };
  /**
   * The validating guard runs: a second guide run on each region, and 2 refiner crops' worth held at once (the user's
   * hole and the held-out hole, refined on its own crop of the same size, can be refined at the same time).
   */
  validation: boolean;
}

/**
 * The memory a run needs, estimated before any work (bytes): the full-size image, mask and results (float32, per
 * sample: stage 1, stage 2, final), the regions that run (padded to `multiple`, scaled for `resize`): the guide's at
 * {@link CPU_GUIDE_BYTES_PER_PIXEL} or {@link REGION_BYTES_PER_PIXEL}, the refiner's crop (or region) at
 * {@link REGION_BYTES_PER_PIXEL} per sample, the validating guard's {@link VALIDATION_BYTES_PER_PIXEL}; a fit, and the
 * process. `mask` ([1,1,H,W]) places the holes.
 */
export function estimateRunBytes(plan: HdPlan, mask: Tensor4, c: number, samples: number, multiple: number, fits: boolean, run: RunFootprint): number {
  const { w, h } = mask;
  const pad = (v: number) => Math.ceil(v / multiple) * multiple;
  let region = 0;
  for (const r of plan.regions) {
    const rw = plan.scaled ? plan.scaled[0] : r.x1 - r.x0, rh = plan.scaled ? plan.scaled[1] : r.y1 - r.y0;
    const px = pad(rw) * pad(rh);
    let refinerPx = run.refiner === 'none' ? 0 : px;
    if (typeof run.refiner === 'object' && !plan.scaled) {
      const crop = refineCrop(cropRect(mask, r), run.refiner); // the refiner's own crop (undefined: the whole region)
      if (crop) refinerPx = (crop.x1 - crop.x0) * (crop.y1 - crop.y0);
    }
    const guide = px * (run.cpuGuide ? CPU_GUIDE_BYTES_PER_PIXEL : REGION_BYTES_PER_PIXEL * samples) + (run.validation ? px * VALIDATION_BYTES_PER_PIXEL : 0);
    region = Math.max(region, guide + Math.min(px * 2, refinerPx * (run.validation ? 2 : 1)) * samples * REGION_BYTES_PER_PIXEL);
  }
  return estimateFullBytes(w, h, c, samples) + region + (fits ? FIT_BYTES : 0);
}
