/** Adam (Kingma & Ba) on flat Float32Arrays, with bias correction; state serialisable for checkpoints. */
export class Adam {
  readonly m: Float32Array;
  readonly v: Float32Array;
  /** Number of updates done. */
  t = 0;

  constructor(size: number, readonly beta1 = 0.9, readonly beta2 = 0.999, readonly eps = 1e-8) {
    this.m = new Float32Array(size);
    this.v = new Float32Array(size);
  }

  /** One update of `w` in place with gradient `g` at learning rate `lr`. */
  step(w: Float32Array, g: Float32Array, lr: number): void {
    this.t++;
    const { beta1: b1, beta2: b2, eps, m, v } = this;
    const c1 = 1 - b1 ** this.t, c2 = 1 - b2 ** this.t;
    const a = lr / c1;
    const sc2 = 1 / Math.sqrt(c2);
    for (let i = 0; i < w.length; i++) {
      const gi = g[i];
      const mi = (m[i] = b1 * m[i] + (1 - b1) * gi);
      const vi = (v[i] = b2 * v[i] + (1 - b2) * gi * gi);
      w[i] -= (a * mi) / (Math.sqrt(vi) * sc2 + eps);
    }
  }
}

/** Learning rate at `step` (1-based): linear warm-up, then constant or cosine decay to lr·minFactor. */
export function learningRate(step: number, o: { lr: number; lrSchedule: 'constant' | 'cosine'; warmup: number; lrMinFactor: number; steps: number }): number {
  if (o.warmup > 0 && step <= o.warmup) return (o.lr * step) / o.warmup;
  if (o.lrSchedule === 'constant') return o.lr;
  const span = Math.max(1, o.steps - o.warmup);
  const p = Math.min(1, (step - o.warmup) / span);
  const min = o.lr * o.lrMinFactor;
  return min + (o.lr - min) * 0.5 * (1 + Math.cos(Math.PI * p));
}
