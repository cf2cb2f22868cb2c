import { Tensor4, boundaryJump, dilateMask, invertMask, swdAgainst, swdRegions } from '@diff2s/core';

/** What the guard measured for one image (all values on [0,1] intensities). */
export interface GuardVerdict {
  /** Keep stage 2 (true) or fall back to stage 1 (false). */
  accept: boolean;
  /** Patch SWD of the hole's patches against the known region's, for stage 1 and stage 2 (lower: more alike). */
  texture: [number, number];
  /** |seam step − the known region's own step| for stage 1 and stage 2 (lower: a seam like the image's own edges). */
  seam: [number, number];
  /** The known region's mean 4-neighbour step (the seam's natural level). */
  naturalStep: number;
  /** One line: why. */
  reason: string;
  /**
   * How it was judged: `validate` (on a held-out validation hole against the truth: `texture` is the SWD to the truth,
   * `seam` the distance from the truth's seam step, `naturalStep` the truth's step) or `texture` (reference-free).
   */
  method?: 'validate' | 'texture';
}

export interface GuardOptions {
  /**
   * Relative texture tolerance: stage 2 may be this much less like the known region than stage 1 (default 0.02).
   * The hole-vs-known patch distance favours copies of known patches (a patch guide's fill is made of them), so it
   * also refuses some refinements that are closer to the truth; a looser tolerance (0.5 was tried) let through fills
   * with visible grid artefacts on the VisTex and photo contact sheets (reports/own-image/notes.md). Strict keeps
   * the default at "never worse than stage 1".
   */
  textureTolerance?: number;
  /** Absolute seam tolerance (default 0.003 on [0,1]). */
  seamTolerance?: number;
  /** SWD patch size (default 7, reduced for small images). */
  patch?: number;
}

/** Mean absolute 4-neighbour step of one image [1,C,H,W] over pairs of pixels both outside `avoid`, averaged over channels. */
function naturalStep(t: Tensor4, avoid: Tensor4): number {
  const { h, w } = t;
  const hw = h * w;
  let s = 0, count = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      if (avoid.data[p] !== 0) continue;
      for (const q of [x + 1 < w ? p + 1 : -1, y + 1 < h ? p + w : -1]) {
        if (q < 0 || avoid.data[q] !== 0) continue;
        for (let c = 0; c < t.c; c++) s += Math.abs(t.data[c * hw + p] - t.data[c * hw + q]) / 2;
        count += t.c;
      }
    }
  }
  return count ? s / count : NaN;
}

/**
 * "Never worse than stage 1", measured without a reference: stage 2 is kept for an image only when its hole's patches
 * are at least as like the known region's patches as stage 1's (patch SWD, within `textureTolerance`) and its seam is
 * at least as close to the image's own step size (within `seamTolerance`). Known pixels are the same in both stages,
 * so these are the only places they differ.
 */
export function judgeRefinement(stage1: Tensor4, stage2: Tensor4, mask: Tensor4, options: GuardOptions = {}): GuardVerdict[] {
  const tolT = options.textureTolerance ?? 0.02;
  const tolS = options.seamTolerance ?? 0.003;
  const side = Math.min(stage1.h, stage1.w);
  const patch = Math.min(options.patch ?? 7, side % 2 === 1 ? side : side - 1);
  const r = Math.floor(patch / 2);
  // known patch centres: at least a patch radius away from the hole, so no known patch contains filled pixels
  const near = dilateMask(mask, r + 1);
  const far = invertMask(near);
  const out: GuardVerdict[] = [];
  for (let i = 0; i < stage1.n; i++) {
    const s1 = stage1.slice(i), s2 = stage2.slice(i), m = mask.slice(i), f = far.slice(i);
    const t1 = swdRegions(s1, m, s1, f, { patch })[0], t2 = swdRegions(s2, m, s2, f, { patch })[0];
    const nat = naturalStep(s1, near.slice(i));
    const j1 = Math.abs(boundaryJump(s1, m)[0] - nat), j2 = Math.abs(boundaryJump(s2, m)[0] - nat);
    const measurable = Number.isFinite(t1) && Number.isFinite(t2) && Number.isFinite(j1) && Number.isFinite(j2);
    const texOk = !measurable || t2 <= t1 * (1 + tolT);
    const seamOk = !measurable || j2 <= j1 + tolS;
    const accept = measurable && texOk && seamOk;
    const fmt = (v: number) => v.toFixed(4);
    const reason = !measurable
      ? 'not measurable (too few known patches): stage 1 kept'
      : accept
        ? `refined: texture ${fmt(t1)} → ${fmt(t2)}, seam ${fmt(j1)} → ${fmt(j2)}`
        : `stage 1 kept: ${!texOk ? `texture ${fmt(t1)} → ${fmt(t2)} (less like the known pixels)` : ''}${!texOk && !seamOk ? ', ' : ''}${!seamOk ? `seam ${fmt(j1)} → ${fmt(j2)} (stronger than the image's own step ${fmt(nat)})` : ''}`;
    out.push({ accept, texture: [t1, t2], seam: [j1, j2], naturalStep: nat, reason, method: 'texture' });
  }
  return out;
}

/**
 * Checkerboard energy of image 0 of `t` inside `region` ([1,1,H,W], 1 = in): the mean |a − b − c + d| over the 2×2
 * blocks whose four pixels all lie in the region, averaged over channels (on [0,1] intensities). It answers only to
 * the pixel-period pattern (a vertical or horizontal edge or a smooth ramp cancels), the grid artefact a weak
 * frugal model paints; natural image content has little of it. NaN when no block fits.
 */
export function checkerEnergy(t: Tensor4, region: Tensor4): number {
  const { h, w, c } = t;
  const hw = h * w;
  let s = 0, n = 0;
  for (let y = 0; y + 1 < h; y++) {
    for (let x = 0; x + 1 < w; x++) {
      const p = y * w + x;
      if (!region.data[p] || !region.data[p + 1] || !region.data[p + w] || !region.data[p + w + 1]) continue;
      for (let ch = 0; ch < c; ch++) {
        const b = ch * hw + p;
        s += Math.abs(t.data[b] - t.data[b + 1] - t.data[b + w] + t.data[b + w + 1]) / 2;
      }
      n += c;
    }
  }
  return n ? s / n : NaN;
}

/** Stage 2 may have this much more checkerboard energy (relative) than the truth or stage 1 before it is refused. */
export const CHECKER_TOLERANCE = 0.15;

/** A held-out region of the known pixels for {@link judgeOnValidation}, and what it was made from. */
export interface ValidationHole {
  /** [1,1,H,W], 1 = held out: known pixels that the fit never sees and that are filled and refined as a second hole. */
  hole: Tensor4;
  /** How the user's hole was shifted to make it (pixels). */
  shift: [number, number];
  /** Held-out pixels. */
  pixels: number;
}

/** Held-out regions smaller than this many pixels are not measured (the verdict falls back to {@link judgeRefinement}). */
export const MIN_VALIDATION_PIXELS = 64;

/**
 * A validation hole for self-validation: the user's hole [1,1,H,W] shifted (no wrap) to the place among a fixed set of
 * shifts (quarters of the image, every direction) where the most of it lands on known pixels that are more than
 * `margin` pixels from the user's hole (so no patch of the measure, of radius ≤ margin − 1, reads a hole pixel). Same
 * shape and size as the user's hole where it fits, so it is as hard to fill. Deterministic; `undefined` when fewer than
 * {@link MIN_VALIDATION_PIXELS} pixels qualify.
 */
export function validationHole(mask: Tensor4, margin = 4): ValidationHole | undefined {
  if (mask.n !== 1 || mask.c !== 1) throw new Error(`validationHole: expected a [1,1,H,W] mask, got [${mask.n},${mask.c},${mask.h},${mask.w}]`);
  const { h, w } = mask;
  const near = dilateMask(mask, margin);
  const steps = [0, 1, -1, 2, -2, 3, -3];
  let best: { dx: number; dy: number; count: number } | undefined;
  for (const sy of steps) {
    for (const sx of steps) {
      if (sx === 0 && sy === 0) continue;
      const dx = Math.round((sx * w) / 4), dy = Math.round((sy * h) / 4);
      let count = 0;
      for (let y = Math.max(0, dy); y < Math.min(h, h + dy); y++) {
        for (let x = Math.max(0, dx); x < Math.min(w, w + dx); x++) {
          if (mask.data[(y - dy) * w + (x - dx)] !== 0 && near.data[y * w + x] === 0) count++;
        }
      }
      if (!best || count > best.count) best = { dx, dy, count };
    }
  }
  if (!best || best.count < MIN_VALIDATION_PIXELS) return undefined;
  const hole = new Tensor4([1, 1, h, w]);
  const { dx, dy } = best;
  for (let y = Math.max(0, dy); y < Math.min(h, h + dy); y++) {
    for (let x = Math.max(0, dx); x < Math.min(w, w + dx); x++) {
      if (mask.data[(y - dy) * w + (x - dx)] !== 0 && near.data[y * w + x] === 0) hole.data[y * w + x] = 1;
    }
  }
  return { hole, shift: [dx, dy], pixels: best.count };
}

/**
 * "Never worse than stage 1", measured where the truth is known: stage 1 and stage 2 of a *validation* hole (known
 * pixels held out of the fit, filled by the same guide and refined by the same model, see {@link validationHole}) are
 * compared with the image's real pixels there, by the evaluation's own measures: the hole's patch SWD against the
 * truth's and the seam step's distance from the truth's. Stage 2 is accepted when neither is worse (SWD within the
 * relative `textureTolerance`, seam within `seamTolerance`). One verdict, for the image (every sample follows it).
 */
export function judgeOnValidation(stage1: Tensor4, stage2: Tensor4, truth: Tensor4, hole: Tensor4, options: GuardOptions = {}): GuardVerdict {
  const tolT = options.textureTolerance ?? 0.02;
  const tolS = options.seamTolerance ?? 0.003;
  const side = Math.min(truth.h, truth.w);
  const patch = Math.min(options.patch ?? 7, side % 2 === 1 ? side : side - 1);
  const [[t1], [t2]] = swdAgainst([stage1, stage2], truth, hole, { patch }); // swd() of each, the truth's patches once
  const ref = boundaryJump(truth, hole)[0];
  const j1 = Math.abs(boundaryJump(stage1, hole)[0] - ref), j2 = Math.abs(boundaryJump(stage2, hole)[0] - ref);
  const measurable = [t1, t2, j1, j2].every(Number.isFinite);
  const texOk = !measurable || t2 <= t1 * (1 + tolT);
  const seamOk = !measurable || j2 <= j1 + tolS;
  // the grid artefact: stage 2 may not have more pixel-period checker energy than the truth and stage 1 there
  const c1 = checkerEnergy(stage1, hole), c2 = checkerEnergy(stage2, hole), ct = checkerEnergy(truth, hole);
  const gridOk = !Number.isFinite(c2) || c2 <= Math.max(ct, c1) * (1 + CHECKER_TOLERANCE);
  const accept = measurable && texOk && seamOk && gridOk;
  const fmt = (v: number) => v.toFixed(4);
  const measured = `on the validation hole: SWD to the truth ${fmt(t1)} → ${fmt(t2)}, seam ${fmt(j1)} → ${fmt(j2)}, checker ${fmt(c1)} → ${fmt(c2)} (truth ${fmt(ct)})`;
  const reason = !measurable ? 'validation hole not measurable: stage 1 kept' : accept ? `refined: ${measured}` : `stage 1 kept: ${measured}`;
  return { accept, texture: [t1, t2], seam: [j1, j2], naturalStep: ref, reason, method: 'validate' };
}
