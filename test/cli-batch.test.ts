/**
 * Batch mode: a folder of images with a folder of masks matched by file stem (or one mask for all); a bad file is
 * reported and skipped, the others are written, and the exit code says not all succeeded.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'fs';
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
    expect(await listFiles(out)).toEqual(['a_stage1.png', 'b_stage1.png', 'summary.csv', 'summary.json']);
    expect(r.stdout.trim().split('\n').map((l) => path.basename(l))).toEqual(['a_stage1.png', 'b_stage1.png']);
    // progress counts images (a failed one too, so it reaches the end), never refiner steps; no broken ETA
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('images: '));
    expect(lines[0]).toBe('images: 0/3');
    expect(lines[1]).toMatch(/^images: 1\/3 done \(a\.png: ok, \d+\.\d s\) \| ETA (\d+s|\d+m\d\ds|--)$/);
    expect(lines[3]).toMatch(/^images: 3\/3 done, 1 failed \(c\.png: failed, \d+\.\d s\)$/);
    expect(r.stderr).not.toMatch(/60s|NF|Infinity|NaN/);
    // the summary: one row per input (written, failed, skipped) with its outputs, error and time
    const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({ images: 4, ok: 2, failed: 1, skipped: 1 });
    expect(summary.records.map((x: { input: string; status: string }) => [path.basename(x.input), x.status])).toEqual([['a.png', 'ok'], ['b.png', 'ok'], ['c.png', 'failed'], ['d.png', 'skipped']]);
    expect(summary.records[0].outputs).toEqual([path.join(out, 'a_stage1.png')]);
    expect(summary.records[2].error).toMatch(/c\.png is not a readable image/);
    expect(typeof summary.records[0].seconds).toBe('number');
    const csv = readFileSync(path.join(out, 'summary.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('input,mask,outputs,status,error,seconds');
    expect(csv).toHaveLength(5);
    expect(csv[1]).toMatch(new RegExp(`^${path.join(imgs, 'a.png')},${path.join(masks, 'a.png')},${path.join(out, 'a_stage1.png')},ok,,\\d+\\.\\d{3}$`));
    expect(csv[3]).toMatch(/,failed,.*c\.png is not a readable image.*,\d+\.\d{3}$/);
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
      'summary.csv', 'summary.json',
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
