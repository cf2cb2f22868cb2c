/**
 * The validating guard's second fill in a worker thread: the same bytes as in the pipeline's thread, the guide's own
 * error class, a stop on abort, and only CPU guides.
 */
import { CancelledError, InputError, Tensor4, createContainer } from '@diff2s/core';
import { guidesModule } from '@diff2s/guides';
import { inpaint } from '@diff2s/refiner';
import { guideWorkerRequest, guideWorkerScript, runGuideInWorker } from '../src/parallel-guide';

function testImage(w: number, h: number): { image: Tensor4; mask: Tensor4 } {
  const image = new Tensor4([1, 3, h, w]);
  for (let c = 0; c < 3; c++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    image.data[image.index(0, c, y, x)] = Math.sin(x * 0.7 + c) * 0.4 + (((x * 7919 + y * 104729 + c * 31) % 97) / 97 - 0.5) * 0.8; // a stripe and noise
  }
  const mask = new Tensor4([1, 1, h, w]);
  for (let y = 12; y < 24; y++) for (let x = 10; x < 30; x++) mask.data[y * w + x] = 1;
  return { image, mask };
}

describe('runGuideInWorker', () => {
  beforeAll(() => {
    // the worker runs the built script: pnpm test builds first
    expect(guideWorkerScript()).toBeDefined();
  });

  it("fills the hole as inpaint() does in this thread (the patch guide, the same seed): bit for bit", async () => {
    const { image, mask } = testImage(48, 40);
    const guideCfg = { type: 'patch', exactSearchPairs: 0 }; // PatchMatch's random search from the start: seed-dependent
    const container = createContainer(guidesModule);
    const guide = container.guides.create('patch', { exactSearchPairs: 0 }, { container, baseDir: process.cwd(), logger: container.logger }, 'guide');
    const here = await inpaint({ image, mask, guide, seed: 7, samples: 1 });
    const there = await runGuideInWorker(guideWorkerRequest(guideCfg, process.cwd(), image, mask, 7))!;
    expect(there.stage1.shape).toEqual(here.stage1.shape);
    expect(Buffer.from(there.stage1.data.buffer).equals(Buffer.from(here.stage1.data.buffer))).toBe(true);
    expect(there.guideMs).toBeGreaterThan(0);
    // another seed, another fill (the seed crosses the boundary)
    const other = await runGuideInWorker(guideWorkerRequest(guideCfg, process.cwd(), image, mask, 8))!;
    expect(Buffer.from(other.stage1.data.buffer).equals(Buffer.from(here.stage1.data.buffer))).toBe(false);
    // with a focus (the validating guard's: part of the hole), the same bytes in both threads too
    const focus = new Tensor4([1, 1, 40, 48]);
    for (let y = 12; y < 24; y++) for (let x = 20; x < 30; x++) focus.data[y * 48 + x] = 1;
    const hereF = await inpaint({ image, mask, guide, seed: 7, samples: 1, focus });
    const thereF = await runGuideInWorker(guideWorkerRequest(guideCfg, process.cwd(), image, mask, 7, focus))!;
    expect(Buffer.from(thereF.stage1.data.buffer).equals(Buffer.from(hereF.stage1.data.buffer))).toBe(true);
    expect(Buffer.from(thereF.stage1.data.buffer).equals(Buffer.from(here.stage1.data.buffer))).toBe(false);
  });

  it("rejects with the guide's own error class, and with CancelledError when aborted", async () => {
    const { image, mask } = testImage(48, 40);
    const full = Tensor4.full([1, 1, 40, 48], 1); // no known pixel to copy from
    const bad = runGuideInWorker(guideWorkerRequest({ type: 'patch' }, process.cwd(), image, full, 1))!;
    await expect(bad).rejects.toBeInstanceOf(InputError);
    const controller = new AbortController();
    const slow = runGuideInWorker(guideWorkerRequest({ type: 'harmonic', iterations: 20000 }, process.cwd(), image, mask, 1), controller.signal)!;
    setTimeout(() => controller.abort(), 50);
    await expect(slow).rejects.toBeInstanceOf(CancelledError);
    // the queue goes on after a cancelled run
    const after = await runGuideInWorker(guideWorkerRequest({ type: 'mean' }, process.cwd(), image, mask, 1))!;
    expect(after.stage1.shape).toEqual([1, 3, 40, 48]);
  });

  it('runs only CPU guides (no files, no models): undefined for the others', () => {
    const { image, mask } = testImage(16, 16);
    for (const type of ['onnx', 'file', 'diffusion']) expect(runGuideInWorker(guideWorkerRequest({ type }, '.', image, mask, 0))).toBeUndefined();
  });
});
