/**
 * Worker entry of {@link ParallelGradient} (runs as plain JS from dist/tfjs/parallel/grad-worker.js): its own tfjs engine
 * and wasm instance, a TfjsNetwork whose weights are read from a SharedArrayBuffer before each gradient.
 */
import { parentPort } from 'worker_threads';
import { Tensor4 } from '@diff2s/core';
import { flattenWeights, weightViews } from '../../net/types';
import { initEngine } from '../backend';
import { TfjsNetwork } from '../network';
import type { FromWorker, InitMessage, PlainTensor, ToWorker } from './protocol';

let net: TfjsNetwork | undefined;
let init: InitMessage | undefined;

const t4 = (p: PlainTensor) => new Tensor4(p.shape, p.data);

function post(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(msg, transfer);
}

parentPort!.on('message', (msg: ToWorker) => {
  void (async () => {
    try {
      if (msg.type === 'close') {
        net?.dispose();
        parentPort!.close();
        return;
      }
      if (msg.type === 'init') {
        init = msg;
        const backend = await initEngine({ backend: msg.backend });
        net = new TfjsNetwork(msg.def, weightViews(msg.def, new Float32Array(msg.weights)));
        post({ type: 'ready', backend });
        return;
      }
      if (!net || !init) throw new Error('worker not initialised');
      net.setWeights(weightViews(init.def, new Float32Array(init.weights)));
      const r = net.lossAndGrads(
        { input: t4(msg.input), noise: msg.noise, target: t4(msg.target), weight: msg.weight ? t4(msg.weight) : undefined },
        msg.loss,
      );
      const flat = flattenWeights(init.def, r.grads);
      post({ type: 'result', id: msg.id, loss: r.loss, grads: flat }, [flat.buffer]);
    } catch (err) {
      post({ type: 'error', id: msg.type === 'grad' ? msg.id : undefined, message: (err as Error).message, stack: (err as Error).stack });
    }
  })();
});
