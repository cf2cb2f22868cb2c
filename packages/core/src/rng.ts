/**
 * Seeded random numbers: xoshiro128** (Blackman & Vigna) seeded through splitmix32.
 * Every stochastic component of diff2s takes an {@link Rng}; the same seed gives the same bytes on any machine
 * (all arithmetic is 32-bit integer, Gaussians by Box–Muller in float64 then stored as float32).
 */

/** Serializable generator state (for checkpoints / resume). */
export interface RngState {
  s: [number, number, number, number];
  spare: number | null;
  key: [number, number, number, number];
}

function splitmix32(state: { x: number }): number {
  state.x = (state.x + 0x9e3779b9) | 0;
  let z = state.x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

function hashString(s: string): number {
  // FNV-1a 32-bit
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function keyFrom(words: number[]): [number, number, number, number] {
  const st = { x: 0 };
  const out: number[] = [];
  let acc = 0x243f6a88;
  for (const w of words) {
    st.x = (acc ^ w) | 0;
    acc = splitmix32(st);
  }
  st.x = acc | 0;
  for (let i = 0; i < 4; i++) out.push(splitmix32(st));
  if ((out[0] | out[1] | out[2] | out[3]) === 0) out[0] = 1; // xoshiro state must not be all zero
  return out as [number, number, number, number];
}

export class Rng {
  /** xoshiro128** state as int32 (a typed array keeps V8 from boxing values ≥ 2³¹). */
  private readonly st = new Int32Array(4);
  private spare: number | null = null;
  /** Seed material this generator started from; {@link derive} hashes it, so derived streams ignore consumption. */
  private key: [number, number, number, number];

  /** A generator from an integer (or string) seed. */
  constructor(seed: number | string = 0) {
    const words = typeof seed === 'string' ? [hashString(seed), seed.length] : splitSeed(seed);
    this.key = keyFrom(words);
    this.st.set(this.key.map((v) => v | 0));
  }

  /** Restore a generator from {@link getState}. */
  static fromState(state: RngState): Rng {
    const r = new Rng(0);
    r.setState(state);
    return r;
  }

  getState(): RngState {
    const s = this.st;
    return { s: [s[0] >>> 0, s[1] >>> 0, s[2] >>> 0, s[3] >>> 0], spare: this.spare, key: [...this.key] as RngState['key'] };
  }

  setState(state: RngState): void {
    this.st.set(state.s.map((v) => v | 0));
    this.spare = state.spare;
    this.key = [...state.key] as RngState['key'];
  }

  /** Next uniformly distributed unsigned 32-bit integer. */
  nextUint32(): number {
    const s = this.st;
    const s1 = s[1];
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
    const t = s1 << 9;
    s[2] ^= s[0];
    s[3] ^= s1;
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return r >>> 0;
  }

  /** Uniform float in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!(n > 0)) throw new RangeError(`Rng.int needs n > 0, got ${n}`);
    return Math.floor(this.uniform() * n);
  }

  /** Uniform float in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** One standard normal draw (Marsaglia's polar method on 32-bit uniforms, pairs cached). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u: number, v: number, q: number;
    do {
      u = this.nextUint32() * 4.656612873077393e-10 - 1; // 2^-31
      v = this.nextUint32() * 4.656612873077393e-10 - 1;
      q = u * u + v * v;
    } while (q >= 1 || q === 0);
    const m = Math.sqrt((-2 * Math.log(q)) / q);
    this.spare = v * m;
    return u * m;
  }

  /**
   * Fill `out` with N(mean, std²) draws; returns `out`. The same values, in the same order, as `out.length` calls of
   * {@link normal} (the generator state kept in locals: samplers draw a whole image of noise per step).
   */
  fillNormal(out: Float32Array, mean = 0, std = 1): Float32Array {
    const len = out.length;
    let i = 0;
    if (len > 0 && this.spare !== null) {
      out[i++] = mean + std * this.spare;
      this.spare = null;
    }
    const st = this.st;
    let s0 = st[0], s1 = st[1], s2 = st[2], s3 = st[3];
    while (i < len) {
      let u: number, v: number, q: number;
      do {
        // two xoshiro128** outputs, as nextUint32
        let r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
        let t = s1 << 9;
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rotl(s3, 11);
        u = r * 4.656612873077393e-10 - 1;
        r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
        t = s1 << 9;
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rotl(s3, 11);
        v = r * 4.656612873077393e-10 - 1;
        q = u * u + v * v;
      } while (q >= 1 || q === 0);
      const m = Math.sqrt((-2 * Math.log(q)) / q);
      out[i++] = mean + std * (u * m);
      if (i < len) out[i++] = mean + std * (v * m);
      else this.spare = v * m;
    }
    st[0] = s0; st[1] = s1; st[2] = s2; st[3] = s3;
    return out;
  }

  /** Fill `out` with U[lo, hi) draws; returns `out`. */
  fillUniform(out: Float32Array, lo = 0, hi = 1): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * this.uniform();
    return out;
  }

  /** In-place Fisher–Yates shuffle. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }

  /**
   * An independent stream split off this one (consumes 4 draws of this generator).
   * Use for handing a child its own generator in sequential code.
   */
  split(): Rng {
    const r = new Rng(0);
    const k = keyFrom([this.nextUint32(), this.nextUint32(), this.nextUint32(), this.nextUint32()]);
    r.setState({ s: k, spare: null, key: k });
    return r;
  }

  /**
   * A stream derived from this generator's seed and a label, independent of how much this generator has been used:
   * `rng.derive('worker-1')` gives the same stream whenever it is asked. For parallel parts.
   */
  derive(label: string | number): Rng {
    const r = new Rng(0);
    const lab = typeof label === 'number' ? splitSeed(label) : [hashString(label), label.length + 0x5bd1e995];
    const k = keyFrom([...this.key, ...lab]);
    r.setState({ s: k, spare: null, key: k });
    return r;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

function splitSeed(seed: number): number[] {
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
  const s = Math.trunc(seed);
  const lo = s >>> 0;
  const hi = Math.floor(s / 4294967296) >>> 0;
  return [lo, hi, s < 0 ? 1 : 0];
}
