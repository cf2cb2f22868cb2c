/**
 * A hand-written subset of `onnx.proto` (ONNX IR, proto2 syntax, the same field numbers as onnx/onnx) and
 * protobufjs codecs for it: enough to write and read back inference graphs (models, graphs, nodes, attributes,
 * tensors with raw data, value infos with symbolic dimensions, opset imports, metadata). Fields diff2s never writes
 * (sparse tensors, functions, training info, quantization annotations, external data…) are left out; protobuf
 * decoders skip unknown fields, so files from other tools still decode to this subset.
 */
import * as os from 'os';
import * as protobuf from 'protobufjs';

/** The ONNX protobuf schema subset (field names and numbers as in onnx/onnx's onnx.proto). */
export const ONNX_PROTO_SUBSET = `
syntax = "proto2";
package onnx;

message AttributeProto {
  enum AttributeType {
    UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5; SPARSE_TENSOR = 11; TYPE_PROTO = 13;
    FLOATS = 6; INTS = 7; STRINGS = 8; TENSORS = 9; GRAPHS = 10; SPARSE_TENSORS = 12; TYPE_PROTOS = 14;
  }
  optional string name = 1;
  optional string ref_attr_name = 21;
  optional string doc_string = 13;
  optional AttributeType type = 20;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  optional TensorProto t = 5;
  optional GraphProto g = 6;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
  repeated TensorProto tensors = 10;
  repeated GraphProto graphs = 11;
}

message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
  optional string doc_string = 3;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  optional string domain = 7;
  repeated AttributeProto attribute = 5;
  optional string doc_string = 6;
}

message StringStringEntryProto {
  optional string key = 1;
  optional string value = 2;
}

message ModelProto {
  optional int64 ir_version = 1;
  repeated OperatorSetIdProto opset_import = 8;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional string domain = 4;
  optional int64 model_version = 5;
  optional string doc_string = 6;
  optional GraphProto graph = 7;
  repeated StringStringEntryProto metadata_props = 14;
}

message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  optional string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
}

message TensorProto {
  enum DataType {
    UNDEFINED = 0; FLOAT = 1; UINT8 = 2; INT8 = 3; UINT16 = 4; INT16 = 5; INT32 = 6; INT64 = 7; STRING = 8; BOOL = 9;
    FLOAT16 = 10; DOUBLE = 11; UINT32 = 12; UINT64 = 13; COMPLEX64 = 14; COMPLEX128 = 15; BFLOAT16 = 16;
  }
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  repeated float float_data = 4 [packed = true];
  repeated int32 int32_data = 5 [packed = true];
  repeated bytes string_data = 6;
  repeated int64 int64_data = 7 [packed = true];
  optional string name = 8;
  optional string doc_string = 12;
  optional bytes raw_data = 9;
  repeated double double_data = 10 [packed = true];
  repeated uint64 uint64_data = 11 [packed = true];
}

message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
    optional string denotation = 3;
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
  }
  optional string denotation = 6;
}

message OperatorSetIdProto {
  optional string domain = 1;
  optional int64 version = 2;
}
`;

/** TensorProto.DataType values diff2s uses. */
export const OnnxDataType = { FLOAT: 1, INT32: 6, INT64: 7 } as const;

/** AttributeProto.AttributeType values. */
export const OnnxAttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;

/** int64 fields: numbers when written; protobufjs decodes them as numbers or Long-like objects. */
export type Int64 = number | { low: number; high: number; toNumber?: () => number };

/** A tensor (initializer or attribute value). Weights go in `raw_data` (little-endian). */
export interface OnnxTensor {
  name?: string;
  dims?: Int64[];
  data_type?: number;
  raw_data?: Uint8Array;
  float_data?: number[];
  int64_data?: Int64[];
  int32_data?: number[];
  doc_string?: string;
}

/** One dimension: fixed (`dim_value`) or symbolic (`dim_param`). */
export interface OnnxDimension {
  dim_value?: Int64;
  dim_param?: string;
}

/** A typed, shaped graph input/output. */
export interface OnnxValueInfo {
  name?: string;
  type?: { tensor_type?: { elem_type?: number; shape?: { dim?: OnnxDimension[] } } };
  doc_string?: string;
}

/** A node attribute. */
export interface OnnxAttribute {
  name?: string;
  type?: number;
  f?: number;
  i?: Int64;
  s?: Uint8Array;
  t?: OnnxTensor;
  floats?: number[];
  ints?: Int64[];
  strings?: Uint8Array[];
}

/** A node: one operator application. */
export interface OnnxNode {
  input?: string[];
  output?: string[];
  name?: string;
  op_type?: string;
  domain?: string;
  attribute?: OnnxAttribute[];
  doc_string?: string;
}

/** A graph. */
export interface OnnxGraph {
  node?: OnnxNode[];
  name?: string;
  initializer?: OnnxTensor[];
  doc_string?: string;
  input?: OnnxValueInfo[];
  output?: OnnxValueInfo[];
  value_info?: OnnxValueInfo[];
}

/** A model: graph, IR version, opset imports, metadata. */
export interface OnnxModel {
  ir_version?: Int64;
  opset_import?: { domain?: string; version?: Int64 }[];
  producer_name?: string;
  producer_version?: string;
  domain?: string;
  model_version?: Int64;
  doc_string?: string;
  graph?: OnnxGraph;
  metadata_props?: { key?: string; value?: string }[];
}

let root: protobuf.Root | undefined;

/** The parsed schema (field names kept in snake_case, as in onnx.proto). */
export function onnxProtoRoot(): protobuf.Root {
  root ??= protobuf.parse(ONNX_PROTO_SUBSET, { keepCase: true }).root;
  return root;
}

function modelType(): protobuf.Type {
  return onnxProtoRoot().lookupType('onnx.ModelProto');
}

/** Serialise a model to the ONNX binary format. */
export function encodeOnnxModel(model: OnnxModel): Uint8Array {
  return modelType().encode(model as Record<string, unknown>).finish();
}

/** Parse an ONNX file (the subset's fields; others are skipped). int64 fields come back as numbers. */
export function decodeOnnxModel(bytes: Uint8Array): OnnxModel {
  const T = modelType();
  return T.toObject(T.decode(bytes), { longs: Number, defaults: false, arrays: true }) as OnnxModel;
}

/** An int64 value (number or Long-like) as a JS number. */
export function int64ToNumber(v: Int64 | undefined): number {
  if (v === undefined) return 0;
  if (typeof v === 'number') return v;
  if (typeof v.toNumber === 'function') return v.toNumber();
  return v.high * 4294967296 + (v.low >>> 0);
}

/** An ONNX attribute value: int, float, string, ints or floats. */
export type AttrValue = { i: number } | { f: number } | { s: string } | { ints: number[] } | { floats: number[] };

/** One node attribute. */
export function attribute(name: string, v: AttrValue): OnnxAttribute {
  if ('i' in v) return { name, type: OnnxAttributeType.INT, i: v.i };
  if ('f' in v) return { name, type: OnnxAttributeType.FLOAT, f: v.f };
  if ('s' in v) return { name, type: OnnxAttributeType.STRING, s: new TextEncoder().encode(v.s) };
  if ('ints' in v) return { name, type: OnnxAttributeType.INTS, ints: v.ints };
  return { name, type: OnnxAttributeType.FLOATS, floats: v.floats };
}

const LITTLE_ENDIAN = os.endianness() === 'LE';

/** float32 values as little-endian bytes (TensorProto raw_data); a view when the machine is little-endian. */
export function f32Bytes(a: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const out = new Uint8Array(a.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < a.length; i++) view.setFloat32(4 * i, a[i], true);
  return out;
}

/** int64 values as little-endian bytes (TensorProto raw_data). */
export function i64Bytes(values: readonly number[]): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setBigInt64(8 * i, BigInt(v), true));
  return out;
}
