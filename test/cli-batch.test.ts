/**
 * Batch mode: a folder of images with a folder of masks matched by file stem (or one mask for all); a bad file is
 * reported and skipped, the others are written, and the exit code says not all succeeded.
 */
import { mkdirSync, writeFileSync } from 'fs';
import * as path from 'path';
import { runCli } from './helpers/cli';
import { listFiles, writeRectMask, writeRgbPng } from './helpers/images';
import { tempDir } from './helpers/tmp';

describe('diff2s inpaint in batch mode', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeAll(() => (tmp = tempDir('diff2s-batch-')));
  afterAll(() => tmp.cleanup());

  it('matches masks by stem, skips a corrupt image and an unmatched one, and exits non-zero', async () => {
    const imgs = path.join(tmp.dir, 'images'), masks = path.join(tmp.dir, 'masks'), out = path.join(tmp.dir, 'out');
    mkdirSync(imgs);
    mkdirSync(masks);
    await writeRgbPng(path.join(imgs, 'a.png'), 24, 20, 1);
    await writeRgbPng(path.join(imgs, 'b.png'), 24, 20, 2);
    writeFileSync(path.join(imgs, 'c.png'), 'corrupt');
    await writeRgbPng(path.join(imgs, 'd.png'), 24, 20, 4);
    await writeRectMask(path.join(masks, 'a.png'), 24, 20, 5, 5, 12, 12);
    await writeRectMask(path.join(masks, 'b_mask.png'), 24, 20, 2, 2, 9, 9);
    await writeRectMask(path.join(masks, 'c.png'), 24, 20, 2, 2, 9, 9);
    const cfg = path.join(tmp.dir, 'p.yaml');
    writeFileSync(cfg, 'guide: { type: harmonic }\n');
    const r = runCli(['inpaint', '--config', cfg, '--image', imgs, '--mask', masks, '--out', out]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/skipped .*d\.png: no mask with the same file stem/);
    expect(r.stderr).toMatch(/ERROR: .*c\.png is not a readable image.*\(skipped\)/);
    expect(r.stderr).toMatch(/done: 2 written, 1 failed, 1 skipped \(no mask\)/);
    expect(await listFiles(out)).toEqual(['a_stage1.png', 'b_stage1.png']);
    expect(r.stdout.trim().split('\n').map((l) => path.basename(l))).toEqual(['a_stage1.png', 'b_stage1.png']);
  });

  it('refuses two images with one stem (a.png, a.jpg) before any work: their outputs would collide', async () => {
    const imgs = path.join(tmp.dir, 'images3'), out = path.join(tmp.dir, 'out3');
    mkdirSync(imgs);
    await writeRgbPng(path.join(imgs, 'a.png'), 16, 16, 1);
    await writeRgbPng(path.join(imgs, 'a.jpg'), 16, 16, 2);
    const mask = path.join(tmp.dir, 'mask3.png');
    await writeRectMask(mask, 16, 16, 4, 4, 10, 10);
    const cfg = path.join(tmp.dir, 'r.yaml');
    writeFileSync(cfg, 'guide: { type: mean }\n');
    const r = runCli(['inpaint', '--config', cfg, '--image', imgs, '--mask', mask, '--out', out]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^ERROR: a\.jpg and a\.png in .*images3 share the stem "a": their outputs would overwrite each other \(rename one\)$/m);
    expect(await listFiles(out)).toEqual([]);
  });

  it('one mask file applies to every image; all succeed with exit 0', async () => {
    const imgs = path.join(tmp.dir, 'images2'), out = path.join(tmp.dir, 'out2');
    mkdirSync(imgs);
    for (const n of ['x', 'y', 'z']) await writeRgbPng(path.join(imgs, `${n}.png`), 16, 16, n.charCodeAt(0));
    const mask = path.join(tmp.dir, 'one-mask.png');
    await writeRectMask(mask, 16, 16, 4, 4, 10, 10);
    const cfg = path.join(tmp.dir, 'q.yaml');
    writeFileSync(cfg, 'guide: { type: mean }\noutput: { concat: true }\n');
    const r = runCli(['inpaint', '--config', cfg, '--image', imgs, '--mask', mask, '--out', out, '--samples', '2']);
    expect(r.status).toBe(0);
    expect(await listFiles(out)).toEqual([
      'x_0_sheet.png', 'x_0_stage1.png', 'x_1_sheet.png', 'x_1_stage1.png',
      'y_0_sheet.png', 'y_0_stage1.png', 'y_1_sheet.png', 'y_1_stage1.png',
      'z_0_sheet.png', 'z_0_stage1.png', 'z_1_sheet.png', 'z_1_stage1.png',
    ]);
  });
});

describe('diff2s export', () => {
  it('writes the three refiner parts, the full graph and their description', async () => {
    const tmp = tempDir('diff2s-export-');
    try {
      const r = runCli(['export', path.join(__dirname, '..', 'models/frugal-brick'), '--out', tmp.dir]);
      expect(r.status).toBe(0);
      expect(r.stdout.trim().split('\n').map((f) => path.basename(f))).toEqual(['encoder.onnx', 'middle.onnx', 'decoder.onnx', 'full.onnx']);
      expect(await listFiles(tmp.dir)).toEqual(['decoder.onnx', 'encoder.onnx', 'full.onnx', 'middle.onnx', 'onnx.json']);
    } finally {
      tmp.cleanup();
    }
  });
});
