/** Sample grids: rows = images, columns = input+mask | each run's result | reference, as one RGB image. */
import { Tensor4, toChannels } from '@diff2s/core';

/** The input with its hole shown: hole pixels tinted magenta (RGB, [1,3,H,W]). */
export function maskedInput(image: Tensor4, mask: Tensor4): Tensor4 {
  const rgb = toChannels(image.slice(0), 3).clone();
  const hw = rgb.h * rgb.w;
  const tint = [1, -1, 1];
  for (let p = 0; p < hw; p++) {
    if (mask.data[p] === 0) continue;
    for (let c = 0; c < 3; c++) rgb.data[c * hw + p] = 0.3 * rgb.data[c * hw + p] + 0.7 * tint[c];
  }
  return rgb;
}

/**
 * Lay out cells (each [1,C,H,W]; undefined = a missing result, drawn mid grey) in a grid with `gap`-pixel white
 * separators; every cell gets the largest cell's size (smaller ones centred on white). Output is RGB [1,3,H,W].
 */
export function composeGrid(rows: (Tensor4 | undefined)[][], gap = 4): Tensor4 {
  const cells = rows.flat().filter((t): t is Tensor4 => !!t);
  const ch = Math.max(1, ...cells.map((t) => t.h));
  const cw = Math.max(1, ...cells.map((t) => t.w));
  const cols = Math.max(1, ...rows.map((r) => r.length));
  const H = rows.length * ch + Math.max(0, rows.length - 1) * gap;
  const W = cols * cw + (cols - 1) * gap;
  const out = Tensor4.full([1, 3, Math.max(1, H), W], 1);
  const plane = out.h * out.w;
  rows.forEach((row, r) => {
    for (let k = 0; k < cols; k++) {
      const t = row[k];
      const oy = r * (ch + gap), ox = k * (cw + gap);
      if (!t) {
        for (let c = 0; c < 3; c++) for (let y = 0; y < ch; y++) out.data.fill(0, c * plane + (oy + y) * W + ox, c * plane + (oy + y) * W + ox + cw);
        continue;
      }
      const rgb = toChannels(t.slice(0), 3);
      const dy = oy + ((ch - rgb.h) >> 1), dx = ox + ((cw - rgb.w) >> 1);
      for (let c = 0; c < 3; c++) for (let y = 0; y < rgb.h; y++) {
        const src = (c * rgb.h + y) * rgb.w;
        out.data.set(rgb.data.subarray(src, src + rgb.w), c * plane + (dy + y) * W + dx);
      }
    }
  });
  return out;
}
