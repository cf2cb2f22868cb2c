/**
 * The training job's view of an engine: one optimisation step on a batch. The job (trainer.ts) owns the flat
 * parameters and the Adam state (checkpointed the same way for every engine); an engine computes the step. The
 * implementations live with their engines, each in its `train-engine.ts` — TensorFlow.js (gradients in process or
 * over worker threads, then Adam in JavaScript) and onnxruntime (`ortrain/`: the whole step as one graph) —
 * and `engines.ts` picks one (`createTrainEngine`), so nothing under train/ depends on an engine.
 */
import type { Logger } from '@diff2s/core';
import type { TrainBatch } from '../net/types';
import type { Adam } from './adam';

/** The engines a training step can run on (`train.engine` in a training config). */
export type TrainEngineName = 'tfjs' | 'onnx';

/** Options of `createTrainEngine` (engines.ts). */
export interface TrainEngineOptions {
  engine: TrainEngineName;
  /** tfjs: gradient worker threads (1 = in process; default 1). onnx: ignored (onnxruntime uses its own threads). */
  workers?: number;
  /** Adam's hyper-parameters (the onnx engine builds them into its graph; they must match the `Adam` given to `step`). */
  beta1?: number;
  beta2?: number;
  eps?: number;
  logger?: Logger;
}

/** Runs training steps of one network (see the file comment). */
export interface TrainStepEngine {
  /** Which engine this is. */
  readonly engine: TrainEngineName;
  /** What runs the step, as recorded in the model card (e.g. `wasm (@tensorflow/tfjs-backend-wasm, 1 thread, SIMD)`). */
  readonly backend: string;
  /** `backend` and how the work is spread (e.g. `…, 2 workers`), for the run's result. */
  readonly summary: string;
  /**
   * One Adam step on `batch` at learning rate `lr`: updates `params` (flat, `def.params` order) and `adam` (m, v and
   * the update count t) in place. Returns the batch loss before the update (Σ w·(pred − target)² / (N·C·H·W)).
   */
  step(params: Float32Array, adam: Adam, batch: TrainBatch, lr: number): Promise<{ loss: number }>;
  /** Release workers, sessions and tensors. */
  dispose(): Promise<void>;
}
