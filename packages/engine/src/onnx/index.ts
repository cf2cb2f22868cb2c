/**
 * onnxruntime-node behind a small wrapper (`ort.ts`, the only importer of `onnxruntime-node` in the repository), the
 * ONNX protobuf subset, the graph builder every generated graph uses (`graph.ts`: the exporter here and the training
 * graphs of `ortrain/`), the NetworkDef → ONNX exporter and the onnxruntime-backed UNet.
 */
export * from './ort';
export * from './proto';
export * from './graph';
export * from './export';
export * from './onnx-unet';
