/**
 * The guide worker (a worker thread started by {@link runGuideInWorker}): fills one hole with a CPU guide built from
 * its config, so that a second fill (the validating guard's held-out hole) runs on another core while the pipeline
 * fills the user's hole. Same registry, same derived random stream as `inpaint()`: the result is the one the pipeline
 * would compute itself, bit for bit.
 */
import { parentPort } from 'worker_threads';
import { createContainer, type Logger } from '@diff2s/core';
import { guidesModule } from '@diff2s/guides';
import { inpaint } from '@diff2s/refiner';
import { plainError, plainTensor, tensorOf } from './messages';
import type { GuideWorkerReply, GuideWorkerRequest } from './parallel-guide';

const quiet: Logger = { info: () => undefined, warn: () => undefined, debug: () => undefined };

parentPort!.once('message', async (m: GuideWorkerRequest) => {
  let reply: GuideWorkerReply;
  try {
    const container = createContainer(guidesModule);
    const { type, ...options } = m.guide;
    const guide = container.guides.create(type, options, { container, baseDir: m.baseDir, logger: quiet }, 'guide');
    try {
      const out = await inpaint({
        image: tensorOf(m.image), mask: tensorOf(m.mask), guide, seed: m.seed, samples: 1, ...(m.focus ? { focus: tensorOf(m.focus) } : {}),
      });
      reply = { type: 'result', stage1: plainTensor(out.stage1), guideMs: out.timings.guideMs };
    } finally {
      await guide.dispose?.();
    }
  } catch (err) {
    reply = { type: 'error', error: plainError(err) };
  }
  parentPort!.postMessage(reply, reply.type === 'result' ? [reply.stage1.data.buffer as ArrayBuffer] : []);
});
