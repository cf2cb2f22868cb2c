/**
 * The studio's job process (forked by {@link ProcessStudioBackend}): runs one job with the real pipeline backend,
 * reports progress and the result over IPC, and exits, so the job's memory goes back to the system.
 */
import { CancelledError } from '@diff2s/core';
import { decodeUpload, encodeBatch, shrinkForPreview } from '@diff2s/studio';
import { PipelineStudioBackend } from './studio-backend';
import { plainError, plainTensor, tensorOf } from './messages';
import type { JobProcessOutput, JobProcessReply, JobProcessRequest } from './studio-process';

/** Previews are shrunk here to this many pixels on the longer side (the studio shows them at most this large). */
const PREVIEW_MAX_SIDE = 384;
/** About how many refiner previews a run sends (the studio throttles again). */
const PREVIEWS_PER_RUN = 12;

const controller = new AbortController();
let started = false;

function send(m: JobProcessReply): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) return resolve();
    process.send!(m, undefined, {}, () => resolve());
  });
}

async function run(m: Extract<JobProcessRequest, { type: 'run' }>): Promise<void> {
  const backend = new PipelineStudioBackend(m.options);
  let lastPreviewStep = -Infinity;
  try {
    const r = m.request;
    const { image, mask } = r.kind === 'png' ? await decodeUpload(r.image, r.mask, r.maxPixels) : { image: tensorOf(r.image), mask: tensorOf(r.mask) };
    const out = await backend.run(
      { image, mask, pipeline: r.pipeline, ...(r.model !== undefined ? { model: r.model } : {}) },
      {
        signal: controller.signal,
        onProgress: (e) => {
          const { preview, ...rest } = e;
          let small;
          if (preview) {
            const every = typeof e.step === 'number' && typeof e.total === 'number' && e.total > 0 ? Math.max(1, Math.ceil(e.total / PREVIEWS_PER_RUN)) : 0;
            const want = !every || e.step! >= e.total! || e.step! - lastPreviewStep >= every;
            if (want) {
              small = shrinkForPreview(preview, PREVIEW_MAX_SIDE);
              if (typeof e.step === 'number') lastPreviewStep = e.step;
            }
          }
          void send({ type: 'progress', progress: { ...rest, ...(small ? { preview: plainTensor(small) } : {}) } });
        },
      },
    );
    const output: JobProcessOutput = r.kind === 'png'
      ? { kind: 'png', stage1: await encodeBatch(out.stage1), ...(out.stage2 ? { stage2: await encodeBatch(out.stage2) } : {}), width: out.stage1.w, height: out.stage1.h }
      : { kind: 'tensors', stage1: plainTensor(out.stage1), ...(out.stage2 ? { stage2: plainTensor(out.stage2) } : {}) };
    await send({ type: 'result', output });
  } catch (err) {
    await send({ type: 'error', error: plainError(controller.signal.aborted ? new CancelledError('cancelled') : err) });
  } finally {
    await backend.dispose().catch(() => undefined);
  }
}

process.on('message', (m: JobProcessRequest) => {
  if (!m || typeof m !== 'object') return;
  if (m.type === 'cancel') {
    controller.abort(new CancelledError('cancelled'));
    return;
  }
  if (m.type === 'run' && !started) {
    started = true;
    void run(m).finally(() => process.exit(0));
  }
});
// the studio went away: nothing to report to
process.on('disconnect', () => process.exit(0));
void send({ type: 'ready' });
