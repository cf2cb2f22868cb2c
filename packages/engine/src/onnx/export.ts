/**
 * ONNX export of native networks: walks a {@link NetworkDef} (the same definition the tfjs runner executes) and
 * writes standard ONNX graphs (opset {@link ONNX_OPSET}, default domain only) with the weights as initializers.
 *
 * Graph layout (see the README): the refiner swaps channels at h₋₁ (between encoder and middle) and at h (between
 * middle and decoder), in JavaScript, so a UNet is exported as THREE graphs — `encoder` (x, noise → h_enc, skip0…),
 * `middle` (h_enc, noise → h_mid) and `decoder` (h_mid, skip0…, noise → output) — plus optionally `full`
 * (x, noise → output) for plain denoising without the skip round trip. Every graph computes the embedding it needs
 * from `noise` itself (the embedding MLP is tiny), so the interfaces carry only images and the noise level. Batch and
 * spatial dimensions are symbolic (`N`, `H`, `W`, `H_8`…): one graph serves every batch size and image size that is
 * a multiple of `def.shapes.sizeMultiple`.
 *
 * Op mapping (semantics of def.ts): conv2d → Conv; groupNorm → Reshape [N,G,−1] + InstanceNormalization + Reshape
 * back + Mul/Add (GroupNormalization is opset 18); relu → Relu; silu → Sigmoid·x; add → Add; addVector / scaleShift
 * → Unsqueeze + (Split) + Mul/Add; concat → Concat; avgPool2 → AveragePool 2×2; upsample2 → Resize nearest
 * (asymmetric, floor, scales 2); dense → Gemm (transB); timestepEmbedding → Mul + Cos/Sin + Concat; tile → Unsqueeze
 * + Expand to [N, D, H, W]; attention → 1×1 Conv (qkv) + Reshape [N, heads, 3, d, T] + Split + MatMul + Softmax +
 * MatMul + Reshape + 1×1 Conv (proj). A convolution whose input is a concat is written as a sum of convolutions over
 * the parts (a tiled embedding's convolution emitted once per graph), see `GraphWriter.concatConv`.
 *
 * The refiner's fast path is a fourth kind of graph, {@link buildOnnxRefineModel}: the whole swapped step (two
 * encoder passes, the swaps, two middle passes, the decoder) in one graph with the swap fixed.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { ModelError, writeFileAtomic } from '@diff2s/core';
import { NetOp, NetworkDef, opInputs, SECTION_ORDER, SectionName, shapeSize } from '../net/def';
import type { WeightMap } from '../net/types';
import { engineVersion, readModel } from '../io/model-io';
import { AttrValue, OnnxGraphBuilder, ONNX_OPSET, onnxValueInfo } from './graph';
import { encodeOnnxModel, f32Bytes, OnnxDataType, OnnxModel } from './proto';

/** The graphs a UNet is exported as. */
export type OnnxPartName = 'encoder' | 'middle' | 'decoder' | 'full';
/** The three parts the refiner needs, in execution order. */
export const ONNX_UNET_PARTS: readonly OnnxPartName[] = ['encoder', 'middle', 'decoder'];

/** Public tensor names of the exported graphs (the names `OnnxUNet` feeds and reads). */
export const ONNX_NAMES = {
  input: 'x',
  noise: 'noise',
  hEnc: 'h_enc',
  hMid: 'h_mid',
  output: 'output',
  skip: (i: number): string => `skip${i}`,
} as const;

/** A declared interface value: name and dims (numbers fixed, strings symbolic). */
export interface OnnxIoSpec {
  name: string;
  dims: (number | string)[];
}

/** Inputs and outputs of one exported graph. */
export interface OnnxPartSignature {
  part: OnnxPartName;
  inputs: OnnxIoSpec[];
  outputs: OnnxIoSpec[];
}

/** Options of {@link exportNetworkToOnnx}. */
export interface OnnxExportOptions {
  /** Graph name / doc string prefix (default `diff2s`). */
  name?: string;
  /** Extra metadata_props entries. */
  metadata?: Record<string, string>;
  /**
   * Fix the input batch size and image size (default: symbolic N, H, W). With every shape known, onnxruntime folds the
   * Adds of {@link GraphWriter.concatConv}'s per-part convolutions and the activations after them into its blocked
   * convolutions; OnnxUNet exports its refine-step and `full` graphs this way, one session per image size.
   */
  fixedShape?: { n: number; h: number; w: number };
}

const sym = (base: 'H' | 'W', factor: number): string => (factor === 1 ? base : `${base}_${factor}`);

function imageDims(channels: number, factor: number): (number | string)[] {
  return ['N', channels, sym('H', factor), sym('W', factor)];
}

/** An I/O spec with the symbolic N, H, W (and H_f, W_f = H/f, W/f) replaced by the fixed sizes. */
function fixDims(spec: OnnxIoSpec, fixed: { n: number; h: number; w: number }): OnnxIoSpec {
  const dims = spec.dims.map((d) => {
    if (typeof d === 'number') return d;
    const m = /^([NHW])(?:_(\d+))?$/.exec(d);
    if (!m) throw new ModelError(`ONNX export: cannot fix the symbolic dimension "${d}" of "${spec.name}"`);
    const size = m[1] === 'N' ? fixed.n : m[1] === 'H' ? fixed.h : fixed.w;
    const f = m[2] === undefined ? 1 : Number(m[2]);
    if (size % f !== 0) throw new ModelError(`ONNX export: fixed size ${size} is not a multiple of ${f} (dimension "${d}" of "${spec.name}")`);
    return size / f;
  });
  return { ...spec, dims };
}

interface PartPlan {
  sig: OnnxPartSignature;
  /** def value name → public input name. */
  inputMap: Map<string, string>;
  /** public output name → def value name. */
  outputs: [string, string][];
  sections: SectionName[];
}

function planPart(def: NetworkDef, part: OnnxPartName): PartPlan {
  const io = def.io;
  const sh = def.shapes;
  const bf = sh.bottleneckFactor;
  const skipIn = (): [string, OnnxIoSpec][] =>
    io.skips.map((s, i) => [s, { name: ONNX_NAMES.skip(i), dims: imageDims(sh.skips[i].channels, sh.skips[i].factor) }]);
  const x: [string, OnnxIoSpec] = [io.input, { name: ONNX_NAMES.input, dims: imageDims(sh.inputChannels, 1) }];
  const noise: [string, OnnxIoSpec] = [io.noise, { name: ONNX_NAMES.noise, dims: ['N'] }];
  const hEnc: [string, OnnxIoSpec] = [io.hEnc, { name: ONNX_NAMES.hEnc, dims: imageDims(sh.hEncChannels, bf) }];
  const hMid: [string, OnnxIoSpec] = [io.hMid, { name: ONNX_NAMES.hMid, dims: imageDims(sh.hMidChannels, bf) }];
  const out: [string, OnnxIoSpec] = [io.output, { name: ONNX_NAMES.output, dims: imageDims(sh.outputChannels, 1) }];
  let ins: [string, OnnxIoSpec][];
  let outs: [string, OnnxIoSpec][];
  let sections: SectionName[];
  switch (part) {
    case 'encoder': ins = [x, noise]; outs = [hEnc, ...skipIn()]; sections = ['embed', 'encoder']; break;
    case 'middle': ins = [hEnc, noise]; outs = [hMid]; sections = ['embed', 'middle']; break;
    case 'decoder': ins = [hMid, ...skipIn(), noise]; outs = [out]; sections = ['embed', 'decoder']; break;
    case 'full': ins = [x, noise]; outs = [out]; sections = [...SECTION_ORDER]; break;
    default: throw new ModelError(`unknown ONNX part "${part as string}" (encoder, middle, decoder, full)`);
  }
  const inputMap = new Map<string, string>();
  for (const [v, spec] of ins) {
    const prev = inputMap.get(v);
    if (prev !== undefined) throw new ModelError(`ONNX export (${part}): inputs "${prev}" and "${spec.name}" are the same network value "${v}"`);
    inputMap.set(v, spec.name);
  }
  return {
    sig: { part, inputs: ins.map(([, s]) => s), outputs: outs.map(([, s]) => s) },
    inputMap,
    outputs: outs.map(([v, s]) => [s.name, v]),
    sections,
  };
}

/** Ops of the given sections needed for the outputs (backward liveness), in order. */
function liveOps(def: NetworkDef, sections: SectionName[], outputs: string[], available: Set<string>): NetOp[] {
  const all = sections.flatMap((s) => def.sections[s].ops);
  const needed = new Set(outputs);
  const keep: boolean[] = new Array(all.length).fill(false);
  for (let k = all.length - 1; k >= 0; k--) {
    const op = all[k];
    if (!needed.has(op.out) || available.has(op.out)) continue;
    keep[k] = true;
    for (const v of opInputs(op)) needed.add(v);
  }
  return all.filter((_, k) => keep[k]);
}

/**
 * The inputs and outputs of an exported graph. `noise` is listed only where the graph uses it (the classic
 * frugal layout's middle block and decoder do not: its embedding is concatenated to the input).
 */
export function onnxPartSignature(def: NetworkDef, part: OnnxPartName): OnnxPartSignature {
  const plan = planPart(def, part);
  const ops = liveOps(def, plan.sections, plan.outputs.map(([, v]) => v), new Set(plan.inputMap.keys()));
  const used = new Set(ops.flatMap(opInputs));
  for (const [, v] of plan.outputs) used.add(v);
  return { ...plan.sig, inputs: plan.sig.inputs.filter((s) => [...plan.inputMap].some(([v, n]) => n === s.name && used.has(v))) };
}


/** Writes one graph's nodes and initializers from def ops (on the shared {@link OnnxGraphBuilder}). */
class GraphWriter extends OnnxGraphBuilder {
  private readonly paramInits = new Map<string, string>();
  /** def value name → ONNX tensor name. */
  readonly env = new Map<string, string>();
  /** Appended to emitted value names (a second copy of ops, e.g. the refine graph's guide pass). */
  valueSuffix = '';

  constructor(private readonly def: NetworkDef, private readonly weights: WeightMap) {
    super();
    for (const p of def.params) this.paramShapes.set(p.name, p.shape);
    for (const s of SECTION_ORDER) for (const o of def.sections[s].ops) this.producers.set(o.out, o);
  }

  private readonly paramShapes = new Map<string, number[]>();

  /** A parameter as an initializer with the given dims (same data, possibly reshaped, e.g. [C] → [C,1,1]). */
  param(name: string, dims?: number[]): string {
    const shape = this.paramShapes.get(name);
    if (!shape) throw new ModelError(`ONNX export: parameter "${name}" is not declared`);
    const d = dims ?? shape;
    if (shapeSize(d) !== shapeSize(shape)) throw new ModelError(`ONNX export: cannot view parameter "${name}" [${shape.join(', ')}] as [${d.join(', ')}]`);
    const key = `${name}|${d.join(',')}`;
    let n = this.paramInits.get(key);
    if (!n) {
      const w = this.weights.get(name);
      if (!w) throw new ModelError(`weights lack parameter "${name}" [${shape.join(', ')}]`);
      if (w.length !== shapeSize(shape)) throw new ModelError(`parameter "${name}" has ${w.length} values, shape [${shape.join(', ')}] needs ${shapeSize(shape)}`);
      n = this.fresh(d === shape ? name : `${name}:${d.join('x')}`);
      this.initializers.push({ name: n, dims: d, data_type: OnnxDataType.FLOAT, raw_data: f32Bytes(w) });
      this.paramInits.set(key, n);
    }
    return n;
  }

  shapeOf(name: string): number[] {
    const s = this.paramShapes.get(name);
    if (!s) throw new ModelError(`ONNX export: parameter "${name}" is not declared`);
    return s;
  }

  get(v: string, op: NetOp): string {
    const n = this.env.get(v);
    if (n === undefined) throw new ModelError(`ONNX export: value "${v}" is not defined (op ${op.op} → ${op.out})`);
    return this.resolve(n);
  }

  /**
   * Deferred ops, by placeholder name: every `tile` (an embedding broadcast over H×W) and `concat` is emitted only
   * when something other than a convolution that {@link concatConv} decomposes reads it.
   */
  private readonly deferred = new Map<string, { op: NetOp; inputs: Map<string, string>; suffix: string; name?: string }>();

  /** The ONNX name of an env entry, emitting a deferred op (with the inputs and name suffix it was deferred with). */
  private resolve(n: string): string {
    const d = this.deferred.get(n);
    if (!d) return n;
    if (d.name) return d.name;
    const saved = new Map<string, string | undefined>();
    for (const [v, name] of d.inputs) {
      saved.set(v, this.env.get(v));
      this.env.set(v, this.resolve(name));
    }
    const suffix = this.valueSuffix;
    this.valueSuffix = d.suffix;
    try {
      d.name = this.emitNow(d.op);
    } finally {
      this.valueSuffix = suffix;
      for (const [v, old] of saved) {
        if (old === undefined) this.env.delete(v);
        else this.env.set(v, old);
      }
    }
    return d.name;
  }

  /** Channel count of a def value (undefined when it cannot be told from the definition). */
  private channelsOf(v: string): number | undefined {
    if (v === this.def.io.input) return this.def.shapes.inputChannels;
    const op = this.producers.get(v);
    if (!op) return undefined;
    switch (op.op) {
      case 'conv2d': case 'dense': return this.shapeOf(op.weight)[0];
      case 'timestepEmbedding': return op.dim;
      case 'concat': {
        let c = 0;
        for (const i of op.ins) {
          const k = this.channelsOf(i);
          if (k === undefined) return undefined;
          c += k;
        }
        return c;
      }
      case 'add': return this.channelsOf(op.a);
      default: return this.channelsOf(op.in);
    }
  }

  /** def value name → the op producing it. */
  private readonly producers = new Map<string, NetOp>();

  /** Emit one def op; returns the ONNX name of its output (or a placeholder for a deferred op). */
  emit(op: NetOp): string {
    if (op.op === 'tile' || op.op === 'concat') {
      const placeholder = `\u0000deferred:${op.out}${this.valueSuffix}`;
      const inputs = new Map<string, string>();
      for (const v of opInputs(op)) {
        const n = this.env.get(v);
        if (n === undefined) throw new ModelError(`ONNX export: value "${v}" is not defined (op ${op.op} → ${op.out})`);
        inputs.set(v, n);
      }
      this.deferred.set(placeholder, { op, inputs, suffix: this.valueSuffix });
      return placeholder;
    }
    if (op.op === 'conv2d') {
      const d = this.concatConv(op);
      if (d !== undefined) return d;
    }
    return this.emitNow(op);
  }

  /**
   * Convolutions of a shared input (the tiled noise embedding) by weight slice, emitted once per graph: in the refine
   * graph both encoder passes read the same embedding on images of the same size.
   */
  private readonly sharedConvs = new Map<string, string>();

  /**
   * A convolution over a concatenation, without the concatenated copy: Cat[a, b, …] ⊛ W = a ⊛ W_a + b ⊛ W_b + … (the
   * same sums in another order; stride 1, odd k×k, "same" padding). Why (onnxruntime's profiler on the fused refine
   * step at 256²): a concat input of 23 channels (the frugal layout's first layer: 7 image channels + the 16-channel
   * noise embedding tiled over H×W) ran as im2col at 2.5× the time per MAC of onnxruntime's blocked (NCHWc)
   * convolutions, and the decoder's skip concats plus the layout conversions around them took ~15% of the step.
   * Every part must be a width those blocked kernels take directly (< 8 channels, read as NCHW, or a multiple of 16).
   * The per-image parts come first (the first one carries the bias), then the parts that only depend on the noise
   * level (a tiled embedding: its convolution is emitted once per graph and shared by the refine graph's two passes);
   * onnxruntime folds each Add — and the activation after it — into the blocked convolutions when the shapes are
   * known to match (fixed input shapes, {@link OnnxExportOptions.fixedShape}).
   * Returns undefined (emit the plain convolution) when this does not apply.
   */
  private concatConv(op: Extract<NetOp, { op: 'conv2d' }>): string | undefined {
    const src = this.env.get(op.in);
    const rec = src === undefined ? undefined : this.deferred.get(src);
    if (!rec || rec.name !== undefined || rec.op.op !== 'concat') return undefined;
    const [cout, cin, kh, kw] = this.shapeOf(op.weight);
    if (op.stride !== 1 || kh !== kw || kh % 2 !== 1 || op.pad !== (kh - 1) / 2) return undefined;
    const parts: { name: string; channels: number; offset: number; tile?: string }[] = [];
    let offset = 0;
    for (const v of rec.op.ins) {
      const channels = this.channelsOf(v);
      const name = rec.inputs.get(v)!;
      if (channels === undefined) return undefined;
      const t = this.deferred.get(name);
      const tile = t && t.name === undefined && t.op.op === 'tile' ? t.inputs.get(t.op.in)! : undefined;
      parts.push({ name, channels, offset, tile });
      offset += channels;
    }
    if (offset !== cin || parts.length < 2) return undefined;
    if (parts.some((p) => p.channels >= 8 && p.channels % 16 !== 0)) return undefined;
    const ordered = [...parts.filter((p) => !p.tile), ...parts.filter((p) => p.tile)];
    if (ordered[0].tile) return undefined;
    const w = this.weights.get(op.weight);
    if (!w) throw new ModelError(`weights lack parameter "${op.weight}"`);
    const k2 = kh * kw;
    const slice = (p: (typeof parts)[number]): Float32Array => {
      const out = new Float32Array(cout * p.channels * k2);
      for (let o = 0; o < cout; o++) out.set(w.subarray((o * cin + p.offset) * k2, (o * cin + p.offset + p.channels) * k2), o * p.channels * k2);
      return out;
    };
    const attrs: Record<string, AttrValue> = {
      kernel_shape: { ints: [kh, kw] }, strides: { ints: [1, 1] }, pads: { ints: [op.pad, op.pad, op.pad, op.pad] }, dilations: { ints: [1, 1] }, group: { i: 1 },
    };
    const base = op.out;
    const conv = (p: (typeof parts)[number], i: number): string => {
      const weight = this.constF32(slice(p), [cout, p.channels, kh, kw], `${op.weight}:part${i}`);
      if (!p.tile) {
        const inputs = [this.resolve(p.name), weight];
        if (i === 0 && op.bias) inputs.push(this.param(op.bias));
        return this.op('Conv', inputs, `${base}/part${i}`, attrs);
      }
      const key = `${weight}|${p.tile}`;
      let shared = this.sharedConvs.get(key);
      if (shared === undefined) {
        shared = this.op('Conv', [this.resolve(p.name), weight], `${base}/tiled${i}`, attrs);
        this.sharedConvs.set(key, shared);
      }
      return shared;
    };
    let acc = '';
    ordered.forEach((p, i) => {
      const c = conv(p, i);
      acc = i === 0 ? c : i === ordered.length - 1
        ? this.node('Add', [acc, c], [this.reserve(`v:${op.out}${this.valueSuffix}`)])[0]
        : this.op('Add', [acc, c], `${base}/sum${i}`);
    });
    return acc;
  }

  /** Emit one def op now (no deferral); returns the ONNX name of its output. */
  private emitNow(op: NetOp): string {
    const g = (v: string) => this.get(v, op);
    const out = `v:${op.out}${this.valueSuffix}`;
    const last = (opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string =>
      this.node(opType, inputs, [this.reserve(out)], attrs)[0];
    switch (op.op) {
      case 'conv2d': {
        const shape = this.shapeOf(op.weight);
        const inputs = [g(op.in), this.param(op.weight)];
        if (op.bias) inputs.push(this.param(op.bias));
        return last('Conv', inputs, {
          kernel_shape: { ints: [shape[2], shape[3]] },
          strides: { ints: [op.stride, op.stride] },
          pads: { ints: [op.pad, op.pad, op.pad, op.pad] },
          dilations: { ints: [1, 1] },
          group: { i: 1 },
        });
      }
      case 'groupNorm': {
        const x = g(op.in);
        const c = this.shapeOf(op.scale)[0];
        const grouped = this.op('Reshape', [x, this.constI64([0, op.groups, -1])], `${op.out}/grouped`);
        const normed = this.op('InstanceNormalization', [
          grouped, this.constF32(new Float32Array(op.groups).fill(1), [op.groups], `const_ones_${op.groups}`),
          this.constF32(new Float32Array(op.groups), [op.groups], `const_zeros_${op.groups}`),
        ], `${op.out}/normed`, { epsilon: { f: op.eps } });
        const shape = this.op('Shape', [x], `${op.out}/shape`);
        const back = this.op('Reshape', [normed, shape], `${op.out}/reshaped`);
        const scaled = this.op('Mul', [back, this.param(op.scale, [c, 1, 1])], `${op.out}/scaled`);
        return last('Add', [scaled, this.param(op.shift, [c, 1, 1])]);
      }
      case 'act':
        if (op.fn === 'relu') return last('Relu', [g(op.in)]);
        return last('Mul', [g(op.in), this.op('Sigmoid', [g(op.in)], `${op.out}/sigmoid`)]);
      case 'add':
        return last('Add', [g(op.a), g(op.b)]);
      case 'addVector': {
        const v = this.op('Unsqueeze', [g(op.vec), this.constI64([2, 3])], `${op.out}/vec`);
        return last('Add', [g(op.in), v]);
      }
      case 'scaleShift': {
        const v = this.op('Unsqueeze', [g(op.vec), this.constI64([2, 3])], `${op.out}/vec`);
        const [scale, shift] = this.node('Split', [v], [this.fresh(`${op.out}/scale`), this.fresh(`${op.out}/shift`)], { axis: { i: 1 } });
        const onePlus = this.op('Add', [scale, this.constF32([1], [1], 'const_one')], `${op.out}/1+scale`);
        const scaled = this.op('Mul', [g(op.in), onePlus], `${op.out}/scaled`);
        return last('Add', [scaled, shift]);
      }
      case 'concat':
        return last('Concat', op.ins.map(g), { axis: { i: 1 } });
      case 'avgPool2':
        return last('AveragePool', [g(op.in)], { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] } });
      case 'upsample2':
        return last('Resize', [g(op.in), '', this.constF32([1, 1, 2, 2], [4], 'const_scales_up2')], {
          mode: { s: 'nearest' },
          coordinate_transformation_mode: { s: 'asymmetric' },
          nearest_mode: { s: 'floor' },
        });
      case 'dense': {
        const inputs = [g(op.in), this.param(op.weight)];
        if (op.bias) inputs.push(this.param(op.bias));
        return last('Gemm', inputs, { transB: { i: 1 } });
      }
      case 'timestepEmbedding': {
        const half = op.dim / 2;
        const freqs = new Float32Array(half);
        for (let k = 0; k < half; k++) freqs[k] = Math.exp((-Math.log(op.maxPeriod) * k) / half);
        const scaled = this.op('Mul', [g(op.in), this.constF32([op.scale], [1], `const_temb_scale`)], `${op.out}/scaled`);
        const col = this.op('Unsqueeze', [scaled, this.constI64([1])], `${op.out}/col`);
        const args = this.op('Mul', [col, this.constF32(freqs, [1, half], 'const_temb_freqs')], `${op.out}/args`);
        const cos = this.op('Cos', [args], `${op.out}/cos`);
        const sin = this.op('Sin', [args], `${op.out}/sin`);
        return last('Concat', [cos, sin], { axis: { i: 1 } });
      }
      case 'tile': {
        const v = this.op('Unsqueeze', [g(op.in), this.constI64([2, 3])], `${op.out}/vec`);
        const nd = this.op('Shape', [g(op.in)], `${op.out}/nd`);
        const hw = this.op('Shape', [g(op.like)], `${op.out}/hw`, { start: { i: 2 } });
        const shape = this.op('Concat', [nd, hw], `${op.out}/shape`, { axis: { i: 0 } });
        return last('Expand', [v, shape]);
      }
      case 'attention': {
        const x = g(op.in);
        const c = this.shapeOf(op.qkvWeight)[1];
        const heads = op.heads;
        const d = c / heads;
        const qkvIn = [x, this.param(op.qkvWeight, [3 * c, c, 1, 1])];
        if (op.qkvBias) qkvIn.push(this.param(op.qkvBias));
        const qkv = this.op('Conv', qkvIn, `${op.out}/qkv`, { kernel_shape: { ints: [1, 1] } });
        // channels ordered (head, {q,k,v}, d) → [N, heads, 3, d, T]
        const split5 = this.op('Reshape', [qkv, this.constI64([0, heads, 3, d, -1])], `${op.out}/qkv5`);
        const parts = this.node('Split', [split5], ['q5', 'k5', 'v5'].map((s) => this.fresh(`${op.out}/${s}`)), { axis: { i: 2 } });
        const axis2 = this.constI64([2]);
        const [q, k, v] = parts.map((p, i) => this.op('Squeeze', [p, axis2], `${op.out}/${'qkv'[i]}`)); // [N, heads, d, T]
        const qT = this.op('Transpose', [q], `${op.out}/qT`, { perm: { ints: [0, 1, 3, 2] } }); // [N, heads, T, d]
        const scores = this.op('MatMul', [qT, k], `${op.out}/scores`); // [N, heads, T, S]
        const scaled = this.op('Mul', [scores, this.constF32([1 / Math.sqrt(d)], [1], `const_attn_scale_${d}`)], `${op.out}/scores_scaled`);
        const w = this.op('Softmax', [scaled], `${op.out}/weights`, { axis: { i: -1 } });
        const wT = this.op('Transpose', [w], `${op.out}/weightsT`, { perm: { ints: [0, 1, 3, 2] } }); // [N, heads, S, T]
        const a = this.op('MatMul', [v, wT], `${op.out}/a`); // [N, heads, d, T]
        const merged = this.op('Reshape', [a, this.op('Shape', [x], `${op.out}/shape`)], `${op.out}/merged`); // [N, C, H, W]
        const projIn = [merged, this.param(op.projWeight, [c, c, 1, 1])];
        if (op.projBias) projIn.push(this.param(op.projBias));
        return last('Conv', projIn, { kernel_shape: { ints: [1, 1] } });
      }
    }
  }
}

/** The ONNX model (protobuf object, before encoding) of one part of a network. */
export function buildOnnxModel(def: NetworkDef, weights: WeightMap, part: OnnxPartName, options: OnnxExportOptions = {}): OnnxModel {
  const plan = planPart(def, part);
  const sig = onnxPartSignature(def, part);
  const w = new GraphWriter(def, weights);
  for (const spec of sig.inputs) w.reserve(spec.name);
  for (const spec of sig.outputs) w.reserve(spec.name);
  for (const [v, name] of plan.inputMap) w.env.set(v, name);
  const ops = liveOps(def, plan.sections, plan.outputs.map(([, v]) => v), new Set(plan.inputMap.keys()));
  for (const op of ops) {
    if (w.env.has(op.out)) throw new ModelError(`ONNX export: value "${op.out}" is defined twice`);
    w.env.set(op.out, w.emit(op));
  }
  for (const [name, v] of plan.outputs) {
    const src = w.env.get(v);
    if (src === undefined) throw new ModelError(`ONNX export (${part}): output value "${v}" is not produced`);
    w.node('Identity', [src], [name]);
  }
  return wrapGraph(def, w, part, `${part} (NCHW float32; exported from the engine-neutral NetworkDef)`, sig.inputs, sig.outputs, options);
}

/** The ONNX model around a written graph: opset, producer, graph name `<name>_<part>`, metadata (part, family, size multiple, extras). */
function wrapGraph(
  def: NetworkDef, w: GraphWriter, part: string, doc: string, inputs: OnnxIoSpec[], outputs: OnnxIoSpec[],
  options: OnnxExportOptions, metadata: Record<string, string> = {},
): OnnxModel {
  const fixed = options.fixedShape;
  if (fixed) {
    for (const [k, v] of Object.entries(fixed)) {
      if (!Number.isInteger(v) || v < 1) throw new ModelError(`ONNX export: fixedShape.${k} must be a positive integer, got ${v}`);
    }
    inputs = inputs.map((s) => fixDims(s, fixed));
    outputs = outputs.map((s) => fixDims(s, fixed));
  }
  for (const s of inputs) w.inputs.push(onnxValueInfo(s.name, s.dims));
  for (const s of outputs) w.outputs.push(onnxValueInfo(s.name, s.dims));
  return w.toModel({
    name: `${options.name ?? 'diff2s'}_${part}`,
    doc: `diff2s ${def.family} ${doc}`,
    producer: 'diff2s',
    producerVersion: engineVersion(),
    metadata: {
      'diff2s.part': part,
      'diff2s.family': def.family,
      'diff2s.sizeMultiple': String(def.shapes.sizeMultiple),
      ...metadata,
      ...options.metadata,
    },
  });
}

/**
 * Where and how much the refiner swaps (seed 002, eqs. 15–16): the last round(C·fraction) channels come from the guide
 * pass, at h₋₁ (middle input) and/or at h (decoder input).
 */
export interface OnnxRefineSwap {
  fraction: number;
  atHm1: boolean;
  atH: boolean;
}

/** Public names of the fused refine-step graph's inputs: the x_t pass's network input and the guide pass's. */
export const ONNX_REFINE_NAMES = { part: 'refine', input: 'x', guideInput: 'x_guide', noise: 'noise', output: 'output' } as const;

/**
 * The whole Diff-2sIR network step as ONE graph (no skip or bottleneck tensor leaves onnxruntime): the encoder on
 * input(x_t) and, with the same weights, on input(x̄_t); the h₋₁ swap Cat[F_e(x_t)¹, F_e(x̄_t)²]; the middle block on
 * the swapped value and on F_e(x̄_t); the h swap; the decoder with the x_t pass's skips. The noise embedding is
 * computed once. Same values as the refiner's three-part path (RefinerDenoiser.predictWithGuide); `swap` is fixed in
 * the graph. The two passes are separate subgraphs (not one batch of 2N) so that no large tensor is split or
 * concatenated along the batch: onnxruntime keeps the convolutions' blocked (NCHWc) layout from end to end.
 * Inputs `x`, `x_guide` [N, C_in, H, W], `noise` [N] (where the network uses it); output `output` [N, C_out, H, W].
 */
export function buildOnnxRefineModel(def: NetworkDef, weights: WeightMap, swap: OnnxRefineSwap, options: OnnxExportOptions = {}): OnnxModel {
  if (!(swap.fraction >= 0 && swap.fraction <= 1)) throw new ModelError(`swap fraction must be in [0, 1], got ${swap.fraction}`);
  const io = def.io;
  const sh = def.shapes;
  const N = ONNX_REFINE_NAMES;
  const produced = (ops: NetOp[]) => new Set(ops.map((o) => o.out));
  const external = (ops: NetOp[]) => {
    const own = produced(ops);
    return [...new Set(ops.flatMap(opInputs))].filter((v) => !own.has(v));
  };
  const midOps = liveOps(def, ['middle'], [io.hMid], new Set([io.hEnc]));
  const decOps = liveOps(def, ['decoder'], [io.output], new Set([io.hMid, ...io.skips]));
  const needed = [io.hEnc, ...io.skips, ...external(midOps), ...external(decOps)].filter((v) => v !== io.hMid && v !== io.input && v !== io.noise);
  const frontOps = liveOps(def, ['embed', 'encoder'], [...new Set(needed)], new Set([io.input, io.noise]));
  // ops that depend on the image input run once per pass; the rest (the noise embedding) once
  const perPass = new Set<string>([io.input]);
  for (const op of frontOps) if (opInputs(op).some((v) => perPass.has(v))) perPass.add(op.out);
  const sharedOps = frontOps.filter((o) => !perPass.has(o.out));
  const passOps = frontOps.filter((o) => perPass.has(o.out));
  const all = [...frontOps, ...midOps, ...decOps];
  const usesNoise = all.some((o) => opInputs(o).includes(io.noise));
  const usesInput = all.some((o) => opInputs(o).includes(io.input));
  if (!usesInput) throw new ModelError('ONNX export (refine): the network does not read its input');
  const inputs: OnnxIoSpec[] = [
    { name: N.input, dims: imageDims(sh.inputChannels, 1) },
    { name: N.guideInput, dims: imageDims(sh.inputChannels, 1) },
  ];
  if (usesNoise) inputs.push({ name: N.noise, dims: ['N'] });
  const outputs: OnnxIoSpec[] = [{ name: N.output, dims: imageDims(sh.outputChannels, 1) }];
  const w = new GraphWriter(def, weights);
  for (const spec of [...inputs, ...outputs]) w.reserve(spec.name);
  if (usesNoise) w.env.set(io.noise, N.noise);
  const need = (v: string): string => {
    const n = w.env.get(v);
    if (n === undefined) throw new ModelError(`ONNX export (refine): value "${v}" is not produced`);
    return n;
  };
  /** Emit ops under a name suffix; returns the def values they defined (then forgotten, so a second copy can run). */
  const pass = (ops: NetOp[], suffix: string, bind: [string, string][]): Map<string, string> => {
    w.valueSuffix = suffix;
    for (const [v, n] of bind) w.env.set(v, n);
    const outs = new Map<string, string>();
    for (const op of ops) {
      const n = w.emit(op);
      w.env.set(op.out, n);
      outs.set(op.out, n);
    }
    for (const op of ops) w.env.delete(op.out);
    for (const [v] of bind) w.env.delete(v);
    w.valueSuffix = '';
    return outs;
  };
  /** Cat[a¹, b²] along channels: the first C − round(C·f) channels of a, the rest of b. */
  const swapped = (a: string, b: string, channels: number, base: string): string => {
    const keep = channels - Math.round(channels * swap.fraction);
    if (keep === channels) return a;
    if (keep === 0) return b;
    const axis = w.constI64([1]);
    const first = w.op('Slice', [a, w.constI64([0]), w.constI64([keep]), axis], `${base}/keep`);
    const second = w.op('Slice', [b, w.constI64([keep]), w.constI64([channels]), axis], `${base}/from_guide`);
    return w.op('Concat', [first, second], `${base}/swapped`, { axis: { i: 1 } });
  };
  for (const op of sharedOps) w.env.set(op.out, w.emit(op));
  const encA = pass(passOps, '', [[io.input, N.input]]);
  const encB = pass(passOps, '/guide', [[io.input, N.guideInput]]);
  const hA = encA.get(io.hEnc) ?? need(io.hEnc);
  const hB = encB.get(io.hEnc) ?? need(io.hEnc);
  const midA = pass(midOps, '/xt_mid', [[io.hEnc, swap.atHm1 ? swapped(hA, hB, sh.hEncChannels, 'h_enc') : hA]]).get(io.hMid);
  let h = midA;
  if (h === undefined) throw new ModelError(`ONNX export (refine): the middle block does not produce "${io.hMid}"`);
  if (swap.atH && Math.round(sh.hMidChannels * swap.fraction) > 0) {
    const midB = pass(midOps, '/guide_mid', [[io.hEnc, hB]]).get(io.hMid)!;
    h = swapped(h, midB, sh.hMidChannels, 'h_mid');
  }
  const bind: [string, string][] = [[io.hMid, h]];
  for (const v of external(decOps)) {
    if (v === io.hMid || w.env.has(v)) continue;
    const src = encA.get(v);
    if (src === undefined) throw new ModelError(`ONNX export (refine): decoder input "${v}" is not produced`);
    bind.push([v, src]);
  }
  const dec = pass(decOps, '/dec', bind);
  w.node('Identity', [dec.get(io.output) ?? need(io.output)], [N.output]);
  return wrapGraph(def, w, N.part, `refine step (Diff-2sIR swap: fraction ${swap.fraction}, at h-1 ${swap.atHm1}, at h ${swap.atH}; NCHW float32)`,
    inputs, outputs, options, { 'diff2s.swap': JSON.stringify(swap) });
}

/** Export one part of a network as ONNX bytes (see the file comment for the graph layout). */
export function exportNetworkToOnnx(def: NetworkDef, weights: WeightMap, part: OnnxPartName, options: OnnxExportOptions = {}): Uint8Array {
  return encodeOnnxModel(buildOnnxModel(def, weights, part, options));
}

/** Options of {@link exportModelToOnnx}. */
export interface ExportModelToOnnxOptions {
  /** Also write `full.onnx` (the whole network in one graph; default true). */
  full?: boolean;
}

/** What {@link exportModelToOnnx} wrote. */
export interface ExportModelToOnnxResult {
  /** Written files (absolute paths), by part. */
  files: Partial<Record<OnnxPartName, string>>;
  /** Each part's declared inputs and outputs. */
  signatures: OnnxPartSignature[];
  /** Bytes written in total. */
  bytes: number;
}

/**
 * Export a native model folder (model.json + weights) to `outDir`: `encoder.onnx`, `middle.onnx`, `decoder.onnx`
 * and (unless `full: false`) `full.onnx`, each self-contained (weights inside), plus `onnx.json` describing the
 * interface (part names, inputs/outputs with symbolic dims, the model card's config and prediction type). Files are
 * written atomically.
 */
export async function exportModelToOnnx(modelDir: string, outDir: string, options: ExportModelToOnnxOptions = {}): Promise<ExportModelToOnnxResult> {
  const { card, def, weights } = await readModel(modelDir);
  await fs.mkdir(outDir, { recursive: true });
  const parts: OnnxPartName[] = options.full === false ? [...ONNX_UNET_PARTS] : [...ONNX_UNET_PARTS, 'full'];
  const files: Partial<Record<OnnxPartName, string>> = {};
  const signatures: OnnxPartSignature[] = [];
  let bytes = 0;
  for (const part of parts) {
    const data = exportNetworkToOnnx(def, weights, part, {
      name: path.basename(path.resolve(modelDir)),
      metadata: { 'diff2s.predictionType': card.predictionType },
    });
    const file = path.resolve(outDir, `${part}.onnx`);
    await writeFileAtomic(file, data);
    files[part] = file;
    signatures.push(onnxPartSignature(def, part));
    bytes += data.byteLength;
  }
  const info = {
    format: 'diff2s.onnx-export',
    version: 1,
    opset: ONNX_OPSET,
    source: path.resolve(modelDir),
    predictionType: card.predictionType,
    config: card.config,
    sizeMultiple: def.shapes.sizeMultiple,
    parts: signatures,
  };
  await writeFileAtomic(path.join(outDir, 'onnx.json'), JSON.stringify(info, null, 2) + '\n');
  return { files, signatures, bytes };
}
