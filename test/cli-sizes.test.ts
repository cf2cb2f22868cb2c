/**
 * Real photo sizes through the CLI (issue 19): 1366×768 and 4032×3024 with small holes run (HD crop strategy, padding
 * to the network's multiple), keep their size, and keep every known pixel bit for bit.
 */
import * as path from 'path';
import sharp from 'sharp';
import { NativeUNet, saveModel } from '@diff2s/engine';
import { runCli } from './helpers/cli';
import { tempDir } from './helpers/tmp';

let tmp: ReturnType<typeof tempDir>;
let modelDir: string;
beforeAll(async () => {
  tmp = tempDir('diff2s-sizes-');
  const net = await NativeUNet.create({ preset: 'frugal', baseChannels: 4, channelMults: [1, 1, 1] }, { seed: 3 });
  modelDir = path.join(tmp.dir, 'tiny');
  await saveModel(modelDir, net, { preset: 'frugal', schedule: { type: 'linear', T: 20, betaStart: 1e-3, betaEnd: 0.2 }, training: { content: 'colour' } });
  net.dispose();
});
afterAll(() => tmp.cleanup());

async function writePhoto(file: string, w: number, h: number): Promise<Buffer> {
  const buf = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) buf[(y * w + x) * 3 + c] = (x * 3 + y * 5 + c * 70) & 255;
  await sharp(buf, { raw: { width: w, height: h, channels: 3 } }).png({ compressionLevel: 1 }).toFile(file);
  return buf;
}

it.each([
  [1366, 768, [[600, 300, 660, 350], [1300, 20, 1330, 40]]],
  [4032, 3024, [[2000, 1500, 2060, 1540]]],
])('%i×%i: output size kept, known pixels exact, only the holes changed', async (w, h, holes) => {
  const img = path.join(tmp.dir, `p${w}.png`), msk = path.join(tmp.dir, `m${w}.png`), out = path.join(tmp.dir, `o${w}.png`);
  const input = await writePhoto(img, w, h);
  const m = Buffer.alloc(w * h);
  for (const [x0, y0, x1, y1] of holes) for (let y = y0; y < y1; y++) m.fill(255, y * w + x0, y * w + x1);
  await sharp(m, { raw: { width: w, height: h, channels: 1 } }).png().toFile(msk);
  const r = runCli(['inpaint', '--image', img, '--mask', msk, '--model', modelDir, '--tk', '3', '--set', 'refiner.guard=false', '--out', out, '--quiet']);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
  expect([info.width, info.height, info.channels]).toEqual([w, h, 3]);
  let knownChanged = 0, holeChanged = 0;
  for (let p = 0; p < w * h; p++) {
    const diff = data[p * 3] !== input[p * 3] || data[p * 3 + 1] !== input[p * 3 + 1] || data[p * 3 + 2] !== input[p * 3 + 2];
    if (!diff) continue;
    if (m[p]) holeChanged++;
    else knownChanged++;
  }
  expect(knownChanged).toBe(0);
  expect(holeChanged).toBeGreaterThan(0);
}, 300000);

describe('memory is estimated and bounded before work', () => {
  it('an 8000×8000 PNG (a few KB on disk) is refused from its header, before decoding, with the figure and the limit (memoryLimit 2048 MiB)', async () => {
    const img = path.join(tmp.dir, 'huge.png'), msk = path.join(tmp.dir, 'huge-mask.png');
    await sharp({ create: { width: 8000, height: 8000, channels: 3, background: { r: 90, g: 120, b: 60 } } }).png().toFile(img);
    await sharp({ create: { width: 8000, height: 8000, channels: 3, background: { r: 0, g: 0, b: 0 } } }).png().toFile(msk);
    const r = runCli(['inpaint', '--image', img, '--mask', msk, '--model', modelDir, '--tk', '3', '--set', 'memoryLimit=2048', '--out', path.join(tmp.dir, 'huge-out')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/huge\.png is 8000×8000: a run needs at least \d+ MiB .* over the memory limit of 2048 MiB \(memoryLimit/);
  });

  it('memoryLimit applies to the run as planned (strategy, samples, the refiner on the whole image): the whole 1366×768 image with 4 samples is refused, its crops are not', async () => {
    const img = path.join(tmp.dir, 'p1366.png'), msk = path.join(tmp.dir, 'm1366.png');
    const common = ['inpaint', '--image', img, '--mask', msk, '--model', modelDir, '--tk', '2', '--set', 'refiner.guard=false', '--set', 'memoryLimit=800', '--quiet'];
    const whole = runCli([...common, '--samples', '4', '--set', 'hd.strategy=original', '--set', 'refiner.crop=false', '--out', path.join(tmp.dir, 'mem-a')]);
    expect(whole.status).toBe(2);
    expect(whole.stderr).toMatch(/this run needs about \d+ MiB \(a 1366×768 image, 4 sample\(s\), the whole image\), over the memory limit of 800 MiB/);
    const crops = runCli([...common, '--samples', '4', '--out', path.join(tmp.dir, 'mem-b')]);
    expect(crops.stderr).toBe('');
    expect(crops.status).toBe(0);
  }, 120000);
});
