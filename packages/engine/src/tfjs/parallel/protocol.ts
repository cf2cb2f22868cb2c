import type { NetworkDef } from '../../net/def';
import type { LossKind } from '../../net/types';
import type { BackendRequest, BackendInfo } from '../backend';

/** Messages between {@link ParallelGradient} and its workers (internal). */
export interface InitMessage {
  type: 'init';
  def: NetworkDef;
  backend: BackendRequest;
  /** Shared float32 weights, parameters back to back in definition order. */
  weights: SharedArrayBuffer;
}

export interface PlainTensor {
  shape: [number, number, number, number];
  data: Float32Array;
}

export interface GradMessage {
  type: 'grad';
  id: number;
  input: PlainTensor;
  noise: Float32Array;
  target: PlainTensor;
  weight?: PlainTensor;
  loss: LossKind;
}

export type ToWorker = InitMessage | GradMessage | { type: 'close' };

export type FromWorker =
  | { type: 'ready'; backend: BackendInfo }
  | { type: 'result'; id: number; loss: number; grads: Float32Array }
  | { type: 'error'; id?: number; message: string; stack?: string };
