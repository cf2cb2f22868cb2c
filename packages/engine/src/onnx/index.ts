/**
 * onnxruntime-node behind a small wrapper (`ort.ts`, the only importer of `onnxruntime-node` in the repository), the
 * ONNX protobuf subset, the NetworkDef → ONNX exporter and the onnxruntime-backed UNet.
 */
export * from './ort';
export * from './proto';
export * from './export';
export * from './onnx-unet';
