import { maskToImage, Tensor4, toChannels } from '@diff2s/core';

/**
 * A side-by-side sheet of equally sized panels (e.g. input | mask | stage 1 | stage 2), with a `gap`-pixel white
 * separator, as one [1, C, H, W·k + gap·(k−1)] image. Gray panels and masks are expanded to C channels; a mask
 * (1 = hole) is drawn white on black. Image `index` of each batch is used.
 */
export function sideBySide(panels: { tensor: Tensor4; isMask?: boolean }[], index = 0, gap = 4): Tensor4 {
  const C = Math.max(...panels.map((p) => (p.isMask ? 1 : p.tensor.c)));
  const { h, w } = panels[0].tensor;
  const W = panels.length * w + (panels.length - 1) * gap;
  const out = Tensor4.full([1, C, h, W], 1);
  panels.forEach((p, k) => {
    let t = p.tensor.slice(Math.min(index, p.tensor.n - 1));
    if (p.isMask) t = maskToImage(t);
    t = toChannels(t, C);
    for (let c = 0; c < C; c++) for (let y = 0; y < h; y++) {
      out.data.set(t.data.subarray((c * h + y) * w, (c * h + y + 1) * w), (c * h + y) * W + k * (w + gap));
    }
  });
  return out;
}
