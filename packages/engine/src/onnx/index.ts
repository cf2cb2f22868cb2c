/** onnxruntime-node behind a small wrapper (the only importer of `onnxruntime-node` in the repository). */
export * from './ort';
