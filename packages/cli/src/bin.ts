#!/usr/bin/env node
/* Interim entry point (foundation issue): loads the embedded example and writes the masked image. */
import * as path from 'path';
import { applyMask, exitCodeFor, holeFraction, loadMask, readImage, writeImage } from '@diff2s/core';

async function main(argv: string[]): Promise<void> {
  const cmd = argv[0] ?? 'inpaint';
  if (cmd === '--help' || cmd === 'help') {
    console.log('usage: diff2s inpaint [--out DIR]   (embedded example: examples/data/brick.png + brick-mask.png)');
    return;
  }
  if (cmd !== 'inpaint') throw new Error(`unknown command "${cmd}"`);
  const outIdx = argv.indexOf('--out');
  const outDir = outIdx >= 0 ? argv[outIdx + 1] : 'out';
  const root = path.resolve(__dirname, '../../..');
  const img = await readImage(path.join(root, 'examples/data/brick.png'), { channels: 3 });
  const mask = await loadMask(path.join(root, 'examples/data/brick-mask.png'), { expect: img });
  const masked = applyMask(img.tensor, mask, 0);
  const file = path.join(outDir, 'masked.png');
  await writeImage(file, masked);
  console.log(`wrote ${file} (${img.width}x${img.height}, hole ${(holeFraction(mask)[0] * 100).toFixed(1)}%)`);
}

main(process.argv.slice(2)).catch((err) => {
  console.error(`ERROR: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(exitCodeFor(err));
});
