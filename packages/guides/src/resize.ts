import { Tensor4, cropRect, type Rect } from '@diff2s/core';

/** Re-exported from core (their owner) for the guides' callers. */
export { cropRect, type Rect };

/**
 * Resampling helpers for guides that bring images to a network's size (planar CHW float32 buffers).
 */

interface Taps {
  start: Int32Array;
  count: Int32Array;
  weights: Float32Array;
  maxTaps: number;
}

/** Per output index: the input indices and normalised triangle-filter weights (widened by the scale when shrinking). */
function taps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const support = Math.max(1, scale);
  const maxTaps = Math.ceil(2 * support) + 2;
  const start = new Int32Array(outSize), count = new Int32Array(outSize);
  const weights = new Float32Array(outSize * maxTaps);
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale - 0.5;
    const lo = Math.ceil(center - support), hi = Math.floor(center + support);
    let n = 0, sum = 0;
    const first = Math.max(0, Math.min(inSize - 1, lo));
    start[i] = first;
    // accumulate weights on clamped indices (edge replication)
    const local = new Float64Array(maxTaps);
    for (let j = lo; j <= hi; j++) {
      const wgt = 1 - Math.abs(j - center) / support;
      if (wgt <= 0) continue;
      const jj = Math.max(0, Math.min(inSize - 1, j));
      const slot = jj - first;
      if (slot < 0 || slot >= maxTaps) continue;
      local[slot] += wgt;
      if (slot + 1 > n) n = slot + 1;
      sum += wgt;
    }
    if (sum === 0) { local[0] = 1; n = 1; sum = 1; }
    count[i] = n;
    for (let k = 0; k < n; k++) weights[i * maxTaps + k] = local[k] / sum;
  }
  return { start, count, weights, maxTaps };
}

/**
 * Resize `c` planes of h×w to nh×nw: bilinear with half-pixel centres when enlarging, a triangle (area-like,
 * antialiased) filter when shrinking; edges replicated. Returns a new buffer; the same size returns a copy.
 */
export function resizePlanes(src: Float32Array, c: number, h: number, w: number, nh: number, nw: number): Float32Array {
  if (nh === h && nw === w) return src.slice(0, c * h * w);
  const tx = taps(w, nw), ty = taps(h, nh);
  const tmp = new Float32Array(c * h * nw);
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < h; y++) {
      const row = (ch * h + y) * w;
      const orow = (ch * h + y) * nw;
      for (let x = 0; x < nw; x++) {
        const s = tx.start[x], n = tx.count[x], wb = x * tx.maxTaps;
        let acc = 0;
        for (let k = 0; k < n; k++) acc += tx.weights[wb + k] * src[row + s + k];
        tmp[orow + x] = acc;
      }
    }
  }
  const out = new Float32Array(c * nh * nw);
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < nh; y++) {
      const s = ty.start[y], n = ty.count[y], wb = y * ty.maxTaps;
      const orow = (ch * nh + y) * nw;
      for (let x = 0; x < nw; x++) {
        let acc = 0;
        for (let k = 0; k < n; k++) acc += ty.weights[wb + k] * tmp[(ch * h + s + k) * nw + x];
        out[orow + x] = acc;
      }
    }
  }
  return out;
}

/**
 * Resize a binary h×w hole map (non-zero = hole) to nh×nw conservatively: an output pixel is a hole if any input
 * pixel its footprint touches is, so the resized hole covers the original one.
 */
export function resizeHoleConservative(src: ArrayLike<number>, h: number, w: number, nh: number, nw: number): Uint8Array {
  const out = new Uint8Array(nh * nw);
  const rangeOf = (i: number, inSize: number, outSize: number): [number, number] => {
    const a = Math.floor((i * inSize) / outSize);
    const b = Math.max(a, Math.ceil(((i + 1) * inSize) / outSize) - 1);
    return [a, Math.min(inSize - 1, b)];
  };
  const tmp = new Uint8Array(h * nw);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < nw; x++) {
      const [a, b] = rangeOf(x, w, nw);
      let v = 0;
      for (let j = a; j <= b && !v; j++) if (src[y * w + j] !== 0) v = 1;
      tmp[y * nw + x] = v;
    }
  }
  for (let y = 0; y < nh; y++) {
    const [a, b] = rangeOf(y, h, nh);
    for (let x = 0; x < nw; x++) {
      let v = 0;
      for (let j = a; j <= b && !v; j++) v = tmp[j * nw + x];
      out[y * nw + x] = v;
    }
  }
  return out;
}

/** How {@link padPlanes} fills the added border. */
export type PadMode = 'symmetric' | 'edge' | 'zero';

/** Pad `c` planes of h×w on the right and bottom to nh×nw (symmetric = mirror including the edge pixel, as numpy). */
export function padPlanes(src: ArrayLike<number>, c: number, h: number, w: number, nh: number, nw: number, mode: PadMode): Float32Array {
  const out = new Float32Array(c * nh * nw);
  const mapIndex = (i: number, n: number): number => {
    if (i < n) return i;
    if (mode === 'edge') return n - 1;
    // symmetric: n-1, n-2, ... then bounce
    const period = 2 * n;
    let k = i % period;
    if (k >= n) k = period - 1 - k;
    return k;
  };
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < nh; y++) {
      const inY = y < h;
      const sy = mapIndex(y, h);
      for (let x = 0; x < nw; x++) {
        if (mode === 'zero' && (!inY || x >= w)) continue;
        out[(ch * nh + y) * nw + x] = src[(ch * h + sy) * w + mapIndex(x, w)];
      }
    }
  }
  return out;
}

/**
 * Pad every image of `t` on the right and bottom to multiples of `m` ({@link padPlanes}' modes; `zero` for hole
 * masks, so padded pixels are known). `t` itself when its sides already are multiples.
 */
export function padToMultiple(t: Tensor4, m: number, mode: PadMode): Tensor4 {
  const H = Math.ceil(t.h / m) * m, W = Math.ceil(t.w / m) * m;
  if (H === t.h && W === t.w) return t;
  const out = new Tensor4([t.n, t.c, H, W]);
  const per = t.imageSize;
  for (let i = 0; i < t.n; i++) {
    out.data.set(padPlanes(t.data.subarray(i * per, (i + 1) * per), t.c, t.h, t.w, H, W, mode), i * out.imageSize);
  }
  return out;
}
