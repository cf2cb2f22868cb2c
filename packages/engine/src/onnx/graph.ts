/**
 * The ONNX graph builder every generated graph of diff2s is written with — the inference export (`export.ts`: the
 * encoder / middle / decoder / full / refine graphs, symbolic or fixed shapes) and the onnxruntime training graphs
 * (`ortrain/`: forward, loss, backward, optimizer; fixed shapes): unique tensor names, nodes, cached constant
 * initializers, declared inputs and outputs, and the model wrapper (opset {@link ONNX_OPSET}, IR
 * {@link ONNX_IR_VERSION}), on the protobuf objects of `proto.ts`.
 */
import { createHash } from 'crypto';
import { ModelError } from '@diff2s/core';
import {
  attribute, AttrValue, encodeOnnxModel, f32Bytes, i64Bytes, OnnxDataType, OnnxDimension, OnnxModel, OnnxNode, OnnxTensor,
  OnnxValueInfo,
} from './proto';

export type { AttrValue };

/** The opset of every graph diff2s writes (GroupNorm is composed; ReduceSum takes axes as an input, ReduceMean as an attribute). */
export const ONNX_OPSET = 17;
/** IR version matching {@link ONNX_OPSET}. */
export const ONNX_IR_VERSION = 8;

/** A float32 (or `elemType`) tensor's value info: numbers are fixed dims, strings symbolic ones. */
export function onnxValueInfo(name: string, dims: readonly (number | string)[], elemType: number = OnnxDataType.FLOAT): OnnxValueInfo {
  const dim: OnnxDimension[] = dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d }));
  return { name, type: { tensor_type: { elem_type: elemType, shape: { dim } } } };
}

/** What {@link OnnxGraphBuilder.toModel} writes around the graph. */
export interface OnnxModelInfo {
  /** Graph name (characters other than [A-Za-z0-9_] become `_`). */
  name: string;
  doc?: string;
  producer?: string;
  producerVersion?: string;
  /** metadata_props entries. */
  metadata?: Record<string, string>;
}

/** Builds one ONNX graph: nodes, constant initializers, declared inputs and outputs. */
export class OnnxGraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  readonly inputs: OnnxValueInfo[] = [];
  readonly outputs: OnnxValueInfo[] = [];
  private readonly taken = new Set<string>();
  private readonly consts = new Map<string, string>();
  private readonly domains = new Set<string>();
  private count = 0;

  /** A tensor name not used yet, derived from `base`. */
  fresh(base: string): string {
    let n = base, k = 1;
    while (this.taken.has(n)) n = `${base}_${k++}`;
    this.taken.add(n);
    return n;
  }

  /** Claim `name` as given (a public input or output name); throws when it is taken. */
  reserve(name: string): string {
    if (this.taken.has(name)) throw new ModelError(`ONNX graph: tensor name "${name}" is used twice`);
    this.taken.add(name);
    return name;
  }

  /** Append a node (in `domain`, default the standard one); returns its output names. */
  node(opType: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue> = {}, domain?: string): string[] {
    if (domain) this.domains.add(domain);
    this.nodes.push({
      op_type: opType,
      name: `${opType}_${this.count++}`,
      input: inputs,
      output: outputs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
      ...(domain ? { domain } : {}),
    });
    return outputs;
  }

  /** One-output node writing a fresh tensor named after `base`. */
  op(opType: string, inputs: string[], base: string, attrs: Record<string, AttrValue> = {}, domain?: string): string {
    return this.node(opType, inputs, [this.fresh(base)], attrs, domain)[0];
  }

  /** Declare a float32 graph input (the name is used as given; numbers fixed dims, strings symbolic). */
  input(name: string, dims: readonly (number | string)[]): string {
    this.reserve(name);
    this.inputs.push(onnxValueInfo(name, dims));
    return name;
  }

  /** Declare a graph output named `name`, a copy (Identity) of tensor `src`. */
  output(name: string, src: string, dims: readonly (number | string)[]): void {
    this.reserve(name);
    this.node('Identity', [src], [name]);
    this.outputs.push(onnxValueInfo(name, dims));
  }

  /** An int64 constant (cached by value). */
  constI64(values: readonly number[]): string {
    const key = `i64:${values.join(',')}`;
    let n = this.consts.get(key);
    if (!n) {
      n = this.fresh(values.length <= 8 ? `const_i64_${values.join('_').replace(/-/g, 'm')}` : 'const_i64');
      this.initializers.push({ name: n, dims: [values.length], data_type: OnnxDataType.INT64, raw_data: i64Bytes(values) });
      this.consts.set(key, n);
    }
    return n;
  }

  /**
   * A float32 constant, cached by value and dims (one initializer however often it is asked for: the refine graph's
   * two encoder passes share their per-part convolution weights this way).
   */
  constF32(values: Float32Array | readonly number[], dims: readonly number[], base = 'const_f32'): string {
    const a = values instanceof Float32Array ? values : Float32Array.from(values);
    const bytes = f32Bytes(a);
    const key = `f32:${dims.join('x')}:` + (a.length <= 64 ? Array.from(a).join(',') : createHash('sha256').update(bytes).digest('base64'));
    let n = this.consts.get(key);
    if (!n) {
      n = this.fresh(base);
      this.initializers.push({ name: n, dims: [...dims], data_type: OnnxDataType.FLOAT, raw_data: bytes });
      this.consts.set(key, n);
    }
    return n;
  }

  /** A float32 scalar constant of shape [] (broadcasts against anything). */
  scalar(v: number): string {
    return this.constF32([v], [], `const_${String(v).replace(/[^0-9a-z]/gi, '_')}`);
  }

  /** The model (protobuf object): this graph, opset {@link ONNX_OPSET} plus version 1 of every other domain used. */
  toModel(info: OnnxModelInfo | string): OnnxModel {
    const o: OnnxModelInfo = typeof info === 'string' ? { name: info } : info;
    return {
      ir_version: ONNX_IR_VERSION,
      opset_import: [{ domain: '', version: ONNX_OPSET }, ...[...this.domains].map((d) => ({ domain: d, version: 1 }))],
      producer_name: o.producer ?? 'diff2s',
      ...(o.producerVersion ? { producer_version: o.producerVersion } : {}),
      model_version: 1,
      doc_string: o.doc ?? '',
      graph: {
        name: o.name.replace(/[^A-Za-z0-9_]/g, '_'),
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
      ...(o.metadata ? { metadata_props: Object.entries(o.metadata).map(([key, value]) => ({ key, value })) } : {}),
    };
  }

  /** Encoded ONNX bytes of {@link toModel}. */
  encode(info: OnnxModelInfo | string, doc = ''): Uint8Array {
    return encodeOnnxModel(this.toModel(typeof info === 'string' ? { name: info, doc } : info));
  }
}
