import { Rng } from '@diff2s/core';
import type { NetworkDef } from './def';
import { shapeSize } from './def';

/**
 * Deterministic initial weights for a definition, from core's Rng: each parameter draws from its own stream
 * `rng.derive(name)`, so adding a parameter never changes the others.
 * He normal (std √(2/fan_in)) for convs, Glorot uniform (±√(6/(fan_in+fan_out))) for dense / attention, zeros for
 * biases and norm shifts (and zero-initialised layers), ones for norm scales.
 */
export function initWeights(def: NetworkDef, seed: number | string | Rng = 0): Map<string, Float32Array> {
  const rng = seed instanceof Rng ? seed : new Rng(seed);
  const out = new Map<string, Float32Array>();
  for (const p of def.params) {
    const a = new Float32Array(shapeSize(p.shape));
    const r = rng.derive(p.name);
    switch (p.init.kind) {
      case 'he':
        r.fillNormal(a, 0, Math.sqrt(2 / p.init.fanIn));
        break;
      case 'glorot': {
        const lim = Math.sqrt(6 / (p.init.fanIn + p.init.fanOut));
        r.fillUniform(a, -lim, lim);
        break;
      }
      case 'ones':
        a.fill(1);
        break;
      case 'zeros':
        break;
    }
    out.set(p.name, a);
  }
  return out;
}
