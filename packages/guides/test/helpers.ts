import * as path from 'path';
import { createContainer, MemoryLogger, Rng, Tensor4 } from '@diff2s/core';
import type { Diff2sContainer, Guide, GuideContext } from '@diff2s/core';
import { engineModule } from '@diff2s/engine';
import { guidesModule } from '@diff2s/guides';

/** Folder of the committed tiny ONNX models (built by fixtures/make_models.py). */
export const FIXTURES = path.join(__dirname, 'fixtures');

/** A container with the guides registered and a memory logger context. */
export function guideContext(baseDir = FIXTURES): { container: Diff2sContainer; context: GuideContext; logger: MemoryLogger } {
  const container = createContainer(engineModule, guidesModule);
  const logger = new MemoryLogger();
  return { container, context: { container, baseDir, logger }, logger };
}

/** Build a guide by name and config. */
export function makeGuide(name: string, config: unknown, baseDir = FIXTURES): { guide: Guide; logger: MemoryLogger } {
  const { container, context, logger } = guideContext(baseDir);
  return { guide: container.guides.create(name, config, context), logger };
}

/** A random image in [-1,1], 8-bit quantised (as if read from a PNG). */
export function randomImage(n: number, c: number, h: number, w: number, seed = 1): Tensor4 {
  const t = new Tensor4([n, c, h, w]);
  const rng = new Rng(seed);
  for (let i = 0; i < t.size; i++) t.data[i] = rng.int(256) / 127.5 - 1;
  return t;
}

/** A mask [n,1,h,w] with an axis-aligned rectangular hole (x0..x1, y0..y1 exclusive) in every image. */
export function rectMask(n: number, h: number, w: number, x0: number, y0: number, x1: number, y1: number): Tensor4 {
  const m = new Tensor4([n, 1, h, w]);
  for (let i = 0; i < n; i++) for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) m.data[i * h * w + y * w + x] = 1;
  return m;
}

/** Mean squared error of the hole pixels between `a` and `ref`. */
export function holeMse(a: Tensor4, ref: Tensor4, mask: Tensor4): number {
  const hw = a.h * a.w;
  let s = 0, k = 0;
  for (let i = 0; i < a.n; i++) {
    for (let c = 0; c < a.c; c++) {
      for (let p = 0; p < hw; p++) {
        if (mask.data[i * hw + p] < 0.5) continue;
        const j = (i * a.c + c) * hw + p;
        s += (a.data[j] - ref.data[j]) ** 2;
        k++;
      }
    }
  }
  return k ? s / k : 0;
}

/** Expect every known pixel of `out` to equal `input`'s bit for bit; returns the number checked. */
export function knownPixelsExact(out: Tensor4, input: Tensor4, mask: Tensor4): boolean {
  const hw = input.h * input.w;
  for (let i = 0; i < input.n; i++) {
    for (let c = 0; c < input.c; c++) {
      for (let p = 0; p < hw; p++) {
        if (mask.data[i * hw + p] >= 0.5) continue;
        const j = (i * input.c + c) * hw + p;
        if (!Object.is(out.data[j], input.data[j])) return false;
      }
    }
  }
  return true;
}

/** Value of (n, c, y, x). */
export function at(t: Tensor4, n: number, c: number, y: number, x: number): number {
  return t.data[t.index(n, c, y, x)];
}
