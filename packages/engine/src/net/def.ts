/**
 * The engine-neutral network description ({@link NetworkDef}): pure JSON data — a list of ops per section over named
 * values, plus parameter specs. Builders walk it: the tfjs runner here, later ONNX writers and training graphs.
 *
 * Semantics (every engine must implement exactly these):
 * - Values are named strings. Kinds: `image` — a batch of feature maps, semantically NCHW [N,C,H,W]
 *   (an engine may store it NHWC; "channel axis" means C); `vector` — [N,D]; `scalar` — [N] (per-sample noise level).
 * - Parameter layouts follow PyTorch/ONNX: conv weight [Cout, Cin, KH, KW], dense weight [Out, In], biases [Out],
 *   group-norm scale/shift [C].
 * - `conv2d`: cross-correlation, `stride`, symmetric zero padding `pad` on each side (PyTorch `padding=`),
 *   dilation 1, optional bias.
 * - `groupNorm`: per sample, per group of C/groups channels: (x − mean)/√(var + eps) (biased variance), then
 *   ·scale[c] + shift[c].
 * - `act`: relu(x) = max(x, 0); silu(x) = x·sigmoid(x).
 * - `add`: a + b (same shape). `addVector`: image [N,C,H,W] + vector [N,C] broadcast over H,W.
 * - `scaleShift`: vector [N,2C] split into (scale, shift) (first C, last C): in·(1 + scale) + shift.
 * - `concat`: along the channel axis, in the listed order.
 * - `avgPool2`: 2×2 average pooling, stride 2 (H, W even). `upsample2`: nearest-neighbour ×2 (out[y,x] = in[y/2,x/2]).
 * - `dense`: y = x·Wᵀ + b on vectors.
 * - `timestepEmbedding`: scalar [N] → vector [N, dim]: v = scale·in; half = dim/2; f_k = exp(−ln(maxPeriod)·k/half),
 *   k = 0..half−1; out = [cos(v·f_0..), sin(v·f_0..)] (cos first, as guided-diffusion / Palette).
 * - `tile`: vector [N,D] → image [N,D,H,W] with H, W taken from the image value `like`.
 * - `attention`: multi-head self-attention over the H·W positions (no normalization, no residual — those are
 *   separate ops): qkv = W_qkv·x + b_qkv per position ([3C, C] weight, channels ordered per head as
 *   (head, {q,k,v}, C/heads) — guided-diffusion's legacy order); per head w = softmax(q·kᵀ/√d) over keys;
 *   a = w·v; heads concatenated (head-major); out = W_proj·a + b_proj ([C, C] weight).
 */

/** Kinds of values flowing between ops. */
export type ValueKind = 'image' | 'vector' | 'scalar';

/** How a parameter is initialised (see `initWeights`). */
export type InitSpec =
  | { kind: 'he'; fanIn: number }
  | { kind: 'glorot'; fanIn: number; fanOut: number }
  | { kind: 'zeros' }
  | { kind: 'ones' };

/** A named parameter tensor. */
export interface ParamSpec {
  name: string;
  shape: number[];
  init: InitSpec;
}

/** One op. `out` names the value it produces. */
export type NetOp =
  | { op: 'conv2d'; in: string; out: string; weight: string; bias?: string; stride: number; pad: number }
  | { op: 'groupNorm'; in: string; out: string; groups: number; eps: number; scale: string; shift: string }
  | { op: 'act'; fn: 'relu' | 'silu'; in: string; out: string }
  | { op: 'add'; a: string; b: string; out: string }
  | { op: 'addVector'; in: string; vec: string; out: string }
  | { op: 'scaleShift'; in: string; vec: string; out: string }
  | { op: 'concat'; ins: string[]; out: string }
  | { op: 'avgPool2'; in: string; out: string }
  | { op: 'upsample2'; in: string; out: string }
  | { op: 'dense'; in: string; out: string; weight: string; bias?: string }
  | { op: 'timestepEmbedding'; in: string; out: string; dim: number; maxPeriod: number; scale: number }
  | { op: 'tile'; in: string; like: string; out: string }
  | { op: 'attention'; in: string; out: string; heads: number; qkvWeight: string; qkvBias?: string; projWeight: string; projBias?: string };

/** The op names, for validation and for engines listing what they support. */
export const NET_OP_NAMES = [
  'conv2d', 'groupNorm', 'act', 'add', 'addVector', 'scaleShift', 'concat', 'avgPool2', 'upsample2', 'dense',
  'timestepEmbedding', 'tile', 'attention',
] as const;

/** A section: ops run in order, reading `inputs` (and values of earlier sections it lists) and producing `outputs`. */
export interface NetSection {
  inputs: string[];
  outputs: string[];
  ops: NetOp[];
}

/** The four sections of a UNet, in execution order. */
export type SectionName = 'embed' | 'encoder' | 'middle' | 'decoder';
export const SECTION_ORDER: readonly SectionName[] = ['embed', 'encoder', 'middle', 'decoder'];

/**
 * A complete network: parameters, sections and the names of its interface values.
 *
 * Interface: `io.input` (image [N, inputChannels, H, W]) and `io.noise` (scalar [N]) feed the network. `embed` turns
 * the noise into the embedding value(s) (`io.embeddings`, e.g. `temb` / `emb`) used by the other sections.
 * `encoder` outputs `io.hEnc` (h₋₁, the middle's input) and `io.skips`; `middle` maps `io.hEnc` to `io.hMid` (h);
 * `decoder` maps `io.hMid` + `io.skips` to `io.output` (image [N, outputChannels, H, W]).
 */
export interface NetworkDef {
  format: 'diff2s.network';
  version: 1;
  /** e.g. `unet`. */
  family: string;
  params: ParamSpec[];
  sections: Record<SectionName, NetSection>;
  io: {
    input: string;
    noise: string;
    embeddings: string[];
    hEnc: string;
    hMid: string;
    skips: string[];
    output: string;
  };
  /** Channel counts and the spatial factor H and W must be multiples of. */
  shapes: {
    inputChannels: number;
    outputChannels: number;
    hEncChannels: number;
    hMidChannels: number;
    /** For each skip: channels and downsampling factor relative to the input. */
    skips: { channels: number; factor: number }[];
    /** Downsampling factor of h₋₁ and h. */
    bottleneckFactor: number;
    /** H and W must be multiples of this. */
    sizeMultiple: number;
  };
}

/** Number of scalars in a shape. */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Total parameter count of a definition (no allocation). */
export function paramCount(def: NetworkDef): number {
  let n = 0;
  for (const p of def.params) n += shapeSize(p.shape);
  return n;
}

/** Parameter specs by name. */
export function paramMap(def: NetworkDef): Map<string, ParamSpec> {
  return new Map(def.params.map((p) => [p.name, p]));
}

/** Parameter names an op uses. */
export function opParams(op: NetOp): string[] {
  switch (op.op) {
    case 'conv2d':
    case 'dense':
      return op.bias ? [op.weight, op.bias] : [op.weight];
    case 'groupNorm':
      return [op.scale, op.shift];
    case 'attention':
      return [op.qkvWeight, op.qkvBias, op.projWeight, op.projBias].filter((x): x is string => !!x);
    default:
      return [];
  }
}

/** Value names an op reads. */
export function opInputs(op: NetOp): string[] {
  switch (op.op) {
    case 'add':
      return [op.a, op.b];
    case 'addVector':
    case 'scaleShift':
      return [op.in, op.vec];
    case 'concat':
      return op.ins;
    case 'tile':
      return [op.in, op.like];
    default:
      return [op.in];
  }
}

/**
 * Check a definition's internal consistency: every op reads a value defined earlier (or a section input), every
 * parameter an op names exists, every declared output is produced. Throws an Error naming the first problem.
 */
export function validateNetworkDef(def: NetworkDef): void {
  const params = paramMap(def);
  const used = new Set<string>();
  const known = new Set<string>([def.io.input, def.io.noise]);
  for (const name of SECTION_ORDER) {
    const s = def.sections[name];
    for (const i of s.inputs) {
      if (!known.has(i)) throw new Error(`section ${name}: input "${i}" is not produced before it`);
    }
    const local = new Set(s.inputs);
    for (const [k, op] of s.ops.entries()) {
      if (!(NET_OP_NAMES as readonly string[]).includes(op.op)) throw new Error(`section ${name} op ${k}: unknown op "${op.op}"`);
      for (const v of opInputs(op)) {
        if (!local.has(v)) throw new Error(`section ${name} op ${k} (${op.op}): value "${v}" is not defined before it`);
      }
      for (const p of opParams(op)) {
        if (!params.has(p)) throw new Error(`section ${name} op ${k} (${op.op}): parameter "${p}" is not declared`);
        used.add(p);
      }
      if (local.has(op.out)) throw new Error(`section ${name} op ${k} (${op.op}): value "${op.out}" is defined twice`);
      local.add(op.out);
    }
    for (const o of s.outputs) {
      if (!local.has(o)) throw new Error(`section ${name}: output "${o}" is not produced`);
      known.add(o);
    }
  }
  for (const p of def.params) if (!used.has(p.name)) throw new Error(`parameter "${p.name}" is declared but unused`);
}

/** How far a network's output pixel can see: see {@link receptiveField}. */
export interface ReceptiveField {
  /** Input pixels farther than this (chessboard distance, pixels) from an output pixel cannot change it. */
  radius: number;
  /** Crops keep the network's function when their origin is a multiple of this (its downsampling factor). */
  multiple: number;
}

/**
 * The receptive field of a definition's full forward pass (encoder → middle → decoder), from its ops: each value's
 * radius (in input pixels, around its cell's footprint) and scale. A stride-s conv of kernel k and padding p at scale
 * σ adds max(p, k − 1 − p)·σ; 2×2 average pooling adds nothing (a cell's footprint is its children's); nearest
 * upsampling adds σ/2; pointwise ops, sums and concatenations take the largest radius of their inputs; vectors
 * (embeddings) have none. Undefined for ops that see the whole image (group normalisation, attention): such a network
 * cannot be run on a crop without changing its output.
 */
export function receptiveField(def: NetworkDef): ReceptiveField | undefined {
  const params = paramMap(def);
  const info = new Map<string, { r: number; s: number } | 'vector'>([[def.io.input, { r: 0, s: 1 }], [def.io.noise, 'vector']]);
  const spatial = (v: string) => {
    const x = info.get(v);
    if (x === undefined) throw new Error(`receptiveField: value "${v}" is not defined before it is read`);
    return x;
  };
  for (const name of SECTION_ORDER) {
    for (const op of def.sections[name].ops) {
      const ins = opInputs(op).map(spatial);
      const maps = ins.filter((x): x is { r: number; s: number } => x !== 'vector');
      const r = Math.max(0, ...maps.map((x) => x.r));
      const s = maps.length ? maps[0].s : 1;
      switch (op.op) {
        case 'groupNorm':
        case 'attention':
          return undefined;
        case 'conv2d': {
          const k = params.get(op.weight)!.shape[2];
          info.set(op.out, { r: r + Math.max(op.pad, k - 1 - op.pad) * s, s: s * op.stride });
          break;
        }
        case 'avgPool2':
          info.set(op.out, { r, s: 2 * s });
          break;
        case 'upsample2':
          info.set(op.out, { r: r + s / 2, s: s / 2 });
          break;
        case 'dense':
        case 'timestepEmbedding':
          if (maps.length) return undefined; // a dense map over an image's values would mix all of them
          info.set(op.out, 'vector');
          break;
        case 'tile':
          info.set(op.out, { r: 0, s: (spatial(op.like) as { s: number }).s });
          break;
        default:
          info.set(op.out, maps.length ? { r, s } : 'vector');
      }
    }
  }
  const out = info.get(def.io.output);
  if (!out || out === 'vector') return undefined;
  return { radius: Math.ceil(out.r), multiple: def.shapes.sizeMultiple };
}
