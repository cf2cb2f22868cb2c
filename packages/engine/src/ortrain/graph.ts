/**
 * A small ONNX graph builder with static shapes, for the onnxruntime training graphs (one graph per input shape, so
 * every value's shape is known while the graph is written — the differentiator relies on it). It produces the
 * protobuf objects of src/onnx/proto.ts and encodes them with {@link encodeOnnxModel}.
 */
import {
  attribute, AttrValue, encodeOnnxModel, f32Bytes, i64Bytes, OnnxDataType, OnnxModel, OnnxNode, OnnxTensor, OnnxValueInfo,
} from '../onnx/proto';

export type { AttrValue };

/** Opset of the training graphs (ReduceSum takes axes as an input, ReduceMean as an attribute). */
export const ORTRAIN_OPSET = 17;
/** onnxruntime's internal NCHWc domain (blocked-layout Conv, ReorderInput, ReorderOutput). */
export const NCHWC_DOMAIN = 'com.microsoft.nchwc';

function valueInfo(name: string, dims: readonly number[], elemType: number = OnnxDataType.FLOAT): OnnxValueInfo {
  return { name, type: { tensor_type: { elem_type: elemType, shape: { dim: dims.map((d) => ({ dim_value: d })) } } } };
}

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Builds one ONNX graph: nodes, constant initializers, declared float32 inputs and outputs (fixed dims). */
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

  /** Append a node; returns its output names. */
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

  /** One-output node writing a fresh tensor. */
  op(opType: string, inputs: string[], base: string, attrs: Record<string, AttrValue> = {}, domain?: string): string {
    return this.node(opType, inputs, [this.fresh(base)], attrs, domain)[0];
  }

  /** Declare a float32 graph input with fixed dims (the name is used as given). */
  input(name: string, dims: readonly number[]): string {
    if (this.taken.has(name)) throw new Error(`graph input "${name}" is declared twice`);
    this.taken.add(name);
    this.inputs.push(valueInfo(name, dims));
    return name;
  }

  /** Declare a graph output named `name`, a copy (Identity) of tensor `src`. */
  output(name: string, src: string, dims: readonly number[]): void {
    if (this.taken.has(name)) throw new Error(`graph output "${name}" is declared twice`);
    this.taken.add(name);
    this.node('Identity', [src], [name]);
    this.outputs.push(valueInfo(name, dims));
  }

  /** An int64 constant (cached by value). */
  constI64(values: readonly number[]): string {
    const key = `i64:${values.join(',')}`;
    let n = this.consts.get(key);
    if (!n) {
      n = this.fresh('c_i64');
      this.initializers.push({ name: n, dims: [values.length], data_type: OnnxDataType.INT64, raw_data: i64Bytes(values) });
      this.consts.set(key, n);
    }
    return n;
  }

  /** A float32 constant (small ones cached by value). */
  constF32(values: Float32Array | readonly number[], dims: readonly number[], base = 'c_f32'): string {
    const a = values instanceof Float32Array ? values : Float32Array.from(values);
    const key = a.length <= 64 ? `f32:${dims.join('x')}:${Array.from(a).join(',')}` : undefined;
    let n = key ? this.consts.get(key) : undefined;
    if (!n) {
      n = this.fresh(base);
      this.initializers.push({ name: n, dims: [...dims], data_type: OnnxDataType.FLOAT, raw_data: f32Bytes(a) });
      if (key) this.consts.set(key, n);
    }
    return n;
  }

  /** A float32 scalar constant of shape [] (broadcasts against anything). */
  scalar(v: number): string {
    return this.constF32([v], [], `c_${String(v).replace(/[^0-9a-z]/gi, '_')}`);
  }

  /** The model (protobuf object). */
  toModel(name: string, doc = ''): OnnxModel {
    return {
      ir_version: 8,
      opset_import: [{ domain: '', version: ORTRAIN_OPSET }, ...[...this.domains].map((d) => ({ domain: d, version: 1 }))],
      producer_name: 'diff2s-ortrain',
      model_version: 1,
      doc_string: doc,
      graph: {
        name: name.replace(/[^A-Za-z0-9_]/g, '_'),
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    };
  }

  /** Encoded ONNX bytes. */
  encode(name: string, doc = ''): Uint8Array {
    return encodeOnnxModel(this.toModel(name, doc));
  }
}
