import { InputError, Tensor4, blurPlane, cropRect, gaussianKernel, maskBounds, pasteRect } from '@diff2s/core';

/**
 * Detail transfer (frequency split): inside the hole, the refined result's low frequencies with stage 1's fine detail,
 * `out = G_σ ∗ stage2 + (stage1 − G_σ ∗ stage1)`; known pixels are stage 2's (the input's). A refiner whose model is
 * weaker at fine texture than the guide (a small model fitted in seconds: blur and a grid at 2–8 px) then corrects
 * colour, shading and seams at scales above σ and leaves the guide's texture below σ. `sigma` is in pixels; 0 keeps
 * stage 2's fine scales. Values are clamped to [-1, 1]. `mask` is [1 or N, 1, H, W] with 1 = hole.
 *
 * `tone` (σ_t px, > σ; 0 = off) also keeps stage 1's coarse scales: the refinement's change D = stage2 − stage1
 * (zero on known pixels) loses its part coarser than σ_t, `out −= G_σt ∗ D`, so of what the refiner changed only the
 * band between σ and σ_t stays (seams, local structure) and the hole keeps stage 1's colour and shading at scales
 * above σ_t (a patch guide's Poisson-blended fill is already harmonised with the known pixels there, and a small
 * model's colour drifts). Near the hole's border G_σt ∗ D is smaller (the known pixels' zero change), so the
 * refiner's seam corrections stay.
 */
export function transferDetail(stage1: Tensor4, stage2: Tensor4, mask: Tensor4, sigma: number, tone = 0): Tensor4 {
  const out = stage2.clone();
  if (!(sigma > 0) && !(tone > 0)) return out;
  const { n, c, h, w } = stage2;
  if (stage1.n !== n || stage1.c !== c || stage1.h !== h || stage1.w !== w) {
    throw new InputError(`detail transfer: stage 1 is [${stage1.shape.join(', ')}], stage 2 [${stage2.shape.join(', ')}]`);
  }
  if (mask.c !== 1 || mask.h !== h || mask.w !== w || (mask.n !== 1 && mask.n !== n)) {
    throw new InputError(`detail transfer: the mask is [${mask.shape.join(', ')}], expected [1 or ${n}, 1, ${h}, ${w}]`);
  }
  if (tone > 0 && sigma > 0 && !(tone > sigma)) {
    throw new InputError(`detail transfer: the tone scale (${tone} px) must be larger than the detail scale (${sigma} px)`);
  }
  const rs = Math.max(1, Math.ceil(3 * sigma)), rt = Math.max(1, Math.ceil(3 * tone));
  // only the hole changes, and its blurs read no farther than the larger kernel's radius: the work is done on the
  // hole's bounding box grown by it (the same values, bit for bit, at a cost that grows with the hole)
  const box = maskBounds(mask);
  if (!box) return out;
  const r = Math.max(sigma > 0 ? rs : 0, tone > 0 ? rt : 0);
  const rect = { x0: Math.max(0, box.x0 - r), y0: Math.max(0, box.y0 - r), x1: Math.min(w, box.x1 + r), y1: Math.min(h, box.y1 + r) };
  if (rect.x0 > 0 || rect.y0 > 0 || rect.x1 < w || rect.y1 < h) {
    pasteRect(out, transferDetail(cropRect(stage1, rect), cropRect(stage2, rect), cropRect(mask, rect), sigma, tone), rect);
    return out;
  }
  const hw = h * w;
  const k = sigma > 0 ? gaussianKernel(sigma, rs) : undefined;
  const kt = tone > 0 ? gaussianKernel(tone, rt) : undefined;
  const a = new Float64Array(hw), b = new Float64Array(hw), tmp = new Float64Array(hw), la = new Float64Array(hw), lb = new Float64Array(hw);
  const d = kt ? new Float64Array(hw) : undefined, ld = kt ? new Float64Array(hw) : undefined;
  for (let i = 0; i < n; i++) {
    const m = mask.data.subarray((mask.n === 1 ? 0 : i) * hw, ((mask.n === 1 ? 0 : i) + 1) * hw);
    let any = false;
    for (let p = 0; p < hw; p++) if (m[p] > 0.5) { any = true; break; }
    if (!any) continue;
    for (let ch = 0; ch < c; ch++) {
      const off = (i * c + ch) * hw;
      for (let p = 0; p < hw; p++) {
        a[p] = stage1.data[off + p];
        b[p] = stage2.data[off + p];
      }
      if (k) {
        blurPlane(a, w, h, k, tmp, la);
        blurPlane(b, w, h, k, tmp, lb);
      }
      if (kt) {
        for (let p = 0; p < hw; p++) d![p] = b[p] - a[p];
        blurPlane(d!, w, h, kt, tmp, ld!);
      }
      for (let p = 0; p < hw; p++) {
        if (m[p] <= 0.5) continue;
        let v = k ? lb[p] + a[p] - la[p] : b[p];
        if (kt) v -= ld![p];
        out.data[off + p] = v > 1 ? 1 : v < -1 ? -1 : v;
      }
    }
  }
  return out;
}
