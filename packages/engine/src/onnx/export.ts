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
 * MatMul + Reshape + 1×1 Conv (proj).
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { ModelError, writeFileAtomic } from '@diff2s/core';
import { NetOp, NetworkDef, opInputs, SECTION_ORDER, SectionName, shapeSize } from '../net/def';
import type { WeightMap } from '../tfjs/network';
import { engineVersion, readModel } from '../io/model-io';
import {
  attribute, AttrValue, encodeOnnxModel, f32Bytes, i64Bytes, OnnxDataType, OnnxDimension, OnnxModel, OnnxNode, OnnxTensor,
  OnnxValueInfo,
} from './proto';

/** The opset the exporter targets (GroupNorm is composed; every op used exists since opset 13). */
export const ONNX_OPSET = 17;
/** IR version matching {@link ONNX_OPSET}. */
export const ONNX_IR_VERSION = 8;

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
}

const sym = (base: 'H' | 'W', factor: number): string => (factor === 1 ? base : `${base}_${factor}`);

function imageDims(channels: number, factor: number): (number | string)[] {
  return ['N', channels, sym('H', factor), sym('W', factor)];
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


/** Builds one graph's nodes and initializers from def ops. */
class GraphWriter {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private readonly consts = new Map<string, string>();
  private readonly paramInits = new Map<string, string>();
  private readonly taken = new Set<string>();
  private nodeCount = 0;
  /** def value name → ONNX tensor name. */
  readonly env = new Map<string, string>();

  constructor(private readonly def: NetworkDef, private readonly weights: WeightMap) {
    for (const p of def.params) this.paramShapes.set(p.name, p.shape);
  }

  private readonly paramShapes = new Map<string, number[]>();

  /** A tensor name not used yet. */
  fresh(base: string): string {
    let n = base, k = 1;
    while (this.taken.has(n)) n = `${base}_${k++}`;
    this.taken.add(n);
    return n;
  }

  reserve(name: string): string {
    if (this.taken.has(name)) throw new ModelError(`ONNX export: tensor name "${name}" is used twice`);
    this.taken.add(name);
    return name;
  }

  node(opType: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue> = {}): string[] {
    this.nodes.push({
      op_type: opType,
      name: `${opType}_${this.nodeCount++}`,
      input: inputs,
      output: outputs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outputs;
  }

  /** One-output node writing a fresh tensor named after `base`. */
  op(opType: string, inputs: string[], base: string, attrs: Record<string, AttrValue> = {}): string {
    return this.node(opType, inputs, [this.fresh(base)], attrs)[0];
  }

  constI64(values: readonly number[]): string {
    const key = `i64:${values.join(',')}`;
    let n = this.consts.get(key);
    if (!n) {
      n = this.fresh(`const_i64_${values.join('_').replace(/-/g, 'm')}`);
      this.initializers.push({ name: n, dims: [values.length], data_type: OnnxDataType.INT64, raw_data: i64Bytes(values) });
      this.consts.set(key, n);
    }
    return n;
  }

  constF32(values: Float32Array | readonly number[], dims: number[], base = 'const_f32'): string {
    const a = values instanceof Float32Array ? values : Float32Array.from(values);
    const key = `f32:${dims.join('x')}:${Array.from(a).join(',')}`;
    let n = this.consts.get(key);
    if (!n) {
      n = this.fresh(base);
      this.initializers.push({ name: n, dims, data_type: OnnxDataType.FLOAT, raw_data: f32Bytes(a) });
      this.consts.set(key, n);
    }
    return n;
  }

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
    return n;
  }

  /** Emit one def op; returns the ONNX name of its output. */
  emit(op: NetOp): string {
    const g = (v: string) => this.get(v, op);
    const out = `v:${op.out}`;
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

function valueInfo(spec: OnnxIoSpec): OnnxValueInfo {
  const dim: OnnxDimension[] = spec.dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d }));
  return { name: spec.name, type: { tensor_type: { elem_type: OnnxDataType.FLOAT, shape: { dim } } } };
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
  const graphName = `${options.name ?? 'diff2s'}_${part}`;
  return {
    ir_version: ONNX_IR_VERSION,
    opset_import: [{ domain: '', version: ONNX_OPSET }],
    producer_name: 'diff2s',
    producer_version: engineVersion(),
    model_version: 1,
    doc_string: `diff2s ${def.family} ${part} (NCHW float32; exported from the engine-neutral NetworkDef)`,
    graph: {
      name: graphName.replace(/[^A-Za-z0-9_]/g, '_'),
      node: w.nodes,
      initializer: w.initializers,
      input: sig.inputs.map(valueInfo),
      output: sig.outputs.map(valueInfo),
    },
    metadata_props: Object.entries({
      'diff2s.part': part,
      'diff2s.family': def.family,
      'diff2s.sizeMultiple': String(def.shapes.sizeMultiple),
      ...options.metadata,
    }).map(([key, value]) => ({ key, value })),
  };
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
