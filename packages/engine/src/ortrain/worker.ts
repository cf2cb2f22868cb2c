/**
 * Worker entry of {@link OrtTrainerWorker} (runs as plain JS from dist/ortrain/worker.js): one {@link OrtTrainer} in a
 * worker thread, so onnxruntime's blocking `session.run` does not block the main thread's event loop.
 */
import { parentPort } from 'worker_threads';
import { Tensor4 } from '@diff2s/core';
import { OrtTrainer } from './session';
import type { OrtWorkerReply, OrtWorkerRequest, PlainBatch } from './worker-client';

let trainer: OrtTrainer | undefined;

function post(msg: OrtWorkerReply, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(msg, transfer);
}

const batchOf = (b: PlainBatch) => ({
  input: new Tensor4(b.input.shape, b.input.data),
  noise: b.noise,
  target: new Tensor4(b.target.shape, b.target.data),
  weight: b.weight ? new Tensor4(b.weight.shape, b.weight.data) : undefined,
});

const buf = (a: Float32Array | undefined): ArrayBuffer[] => (a ? [a.buffer as ArrayBuffer] : []);

parentPort!.on('message', (msg: OrtWorkerRequest) => {
  void (async () => {
    try {
      switch (msg.type) {
        case 'init':
          trainer = await OrtTrainer.create(msg.def, msg.options);
          post({ type: 'ready', id: msg.id, description: trainer.describe(), block: trainer.nchwc?.block });
          return;
        case 'step': {
          const r = await trainer!.step(msg.state, batchOf(msg.batch), msg.lr);
          // onnxruntime's outputs may share one buffer: copy into transferable arrays
          const params = new Float32Array(r.params), m = r.m && new Float32Array(r.m), v = r.v && new Float32Array(r.v);
          post({ type: 'step', id: msg.id, loss: r.loss, params, m, v }, [...buf(params), ...buf(m), ...buf(v)]);
          return;
        }
        case 'grads': {
          const r = await trainer!.lossAndGrads(msg.params, batchOf(msg.batch));
          const grads = new Float32Array(r.grads);
          post({ type: 'grads', id: msg.id, loss: r.loss, grads }, [grads.buffer]);
          return;
        }
        case 'close':
          await trainer?.dispose();
          parentPort!.close();
          return;
      }
    } catch (err) {
      post({ type: 'error', id: (msg as { id?: number }).id, message: (err as Error).message, stack: (err as Error).stack });
    }
  })();
});
