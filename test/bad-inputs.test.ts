/**
 * The bad-input corpus: each broken config or image gives one clear `ERROR:` line naming the key path or file,
 * the promised exit code (2 for config/input errors), and writes no output file.
 */
import { execFileSync } from 'child_process';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'fs';
import * as path from 'path';

import { ROOT, runCli } from './helpers/cli';
import { listFiles, writeRectMask, writeRgbPng } from './helpers/images';
import { tempDir } from './helpers/tmp';

const MODEL = path.join(ROOT, 'models/frugal-brick');
const LAMA = path.join(ROOT, 'packages/guides/test/fixtures/lama.onnx');
const BAD_LAMA = path.join(ROOT, 'packages/guides/test/fixtures/bad_lama.onnx');

interface Case {
  name: string;
  /** YAML config text (paths relative to the case folder), or null for no --config. */
  config?: string | null;
  /** Extra CLI arguments. */
  args?: string[];
  /** Prepare files in the case folder. */
  setup?: (dir: string) => Promise<void> | void;
  stderr: RegExp;
  code: number;
}

const base = (extra = '') => `input: { image: img.png, mask: mask.png }\nguide: { type: mean }\n${extra}`;
const refined = (extra = '') => `input: { image: img.png, mask: mask.png }\nguide: { type: mean }\nmodel: { path: ${MODEL} }\nrefiner: { tk: 3 }\n${extra}`;

const CASES: Case[] = [
  { name: 'unknown top-level key', config: base('sed: 3'), stderr: /^ERROR: unknown key "sed"$/m, code: 2 },
  { name: 'misspelled refiner key', config: refined().replace('tk: 3', 'tK: 3'), stderr: /^ERROR: unknown key "tK" \(at refiner\)$/m, code: 2 },
  { name: 'refiner.tk of the wrong type', config: refined().replace('tk: 3', 'tk: soon'), stderr: /^ERROR: expected number, got string "soon" \(at refiner\.tk\)$/m, code: 2 },
  { name: 'negative T_k', config: refined().replace('tk: 3', 'tk: -5'), stderr: /\(at refiner\.tk\)$/m, code: 2 },
  { name: 'T_k beyond the model schedule', config: refined().replace('tk: 3', 'tk: 5000'), stderr: /^ERROR: T_k = 5000 exceeds the model's schedule length T = 1000 \(at refiner\.tk\)$/m, code: 2 },
  { name: 'unknown guide type', config: base().replace('type: mean', 'type: lama'), stderr: /^ERROR: unknown guide "lama"; registered: constant, diffusion, file, harmonic, mean, nearest, onnx, patch \(at guide\.type\)$/m, code: 2 },
  { name: 'bad guide option', config: base().replace('{ type: mean }', '{ type: patch, patchSize: 8 }'), stderr: /patchSize must be odd \(at guide\.patchSize\)$/m, code: 2 },
  { name: 'unknown sampler', config: refined('').replace('refiner: { tk: 3 }', 'refiner: { tk: 3, sampler: { type: euler } }'), stderr: /^ERROR: .*sampler "euler" cannot drive the refiner.*\(at refiner\.sampler\.type\)$/m, code: 2 },
  { name: 'sdedit cannot drive the refiner', config: refined('').replace('refiner: { tk: 3 }', 'refiner: { tk: 3, sampler: { type: sdedit } }'), stderr: /sdedit is the plain-network special case.*\(at refiner\.sampler\.type\)$/m, code: 2 },
  { name: 'fit from a folder that is no model', config: base('refiner: { tk: 3 }\nmodel: { fit: { init: nowhere } }'), stderr: /^ERROR: .*nowhere is not a model folder \(no model\.json\) \(at model\.fit\.init\)$/m, code: 2 },
  { name: 'a model folder and a fit at once', config: base('refiner: { tk: 3 }\nmodel: { path: m, fit: {} }'), stderr: /^ERROR: give either a model folder \(path\) or fit, not both \(at model\.fit\)$/m, code: 2 },
  { name: 'several problems reported one per line', config: base('sed: 3\nsamples: 0'), stderr: /ERROR: .*samples[\s\S]*ERROR: unknown key "sed"|ERROR: unknown key "sed"[\s\S]*ERROR: .*\(at samples\)/, code: 2 },
  { name: 'invalid YAML', config: 'input: { image: img.png\nguide: [', stderr: /^ERROR: config .*config\.yaml is not valid YAML/m, code: 2 },
  { name: 'config file missing', config: null, args: ['--config', 'nope.yaml'], stderr: /^ERROR: cannot read config .*nope\.yaml: ENOENT$/m, code: 2 },
  { name: 'config with an unknown extension', config: null, args: ['--config', 'config.txt'], setup: (d) => writeFileSync(path.join(d, 'config.txt'), 'seed: 1'), stderr: /unknown extension "\.txt"/, code: 2 },
  { name: 'image file missing', config: base().replace('img.png', 'missing.png'), stderr: /missing\.png: ENOENT/, code: 2 },
  { name: 'truncated PNG', config: base(), setup: (d) => { const b = readFileSync(path.join(d, 'img.png')); writeFileSync(path.join(d, 'img.png'), b.subarray(0, b.length >> 1)); }, stderr: /img\.png could not be decoded|img\.png is not a readable image/, code: 2 },
  { name: 'text file named .png', config: base(), setup: (d) => writeFileSync(path.join(d, 'img.png'), 'not an image'), stderr: /img\.png is not a readable image/, code: 2 },
  { name: 'image over the pixel limit', config: base().replace('mask: mask.png }', 'mask: mask.png, pixelLimit: 100 }'), stderr: /img\.png is 24x20 = 480 pixels, over the limit of 100/, code: 2 },
  { name: 'mask of another size', config: base(), setup: (d) => writeRectMask(path.join(d, 'mask.png'), 10, 10, 2, 2, 5, 5), stderr: /mask .*mask\.png is 10x10 but the image is 24x20/, code: 2 },
  { name: 'empty mask', config: base(), setup: (d) => writeRectMask(path.join(d, 'mask.png'), 24, 20, 0, 0, 0, 0), stderr: /mask .*mask\.png has no hole/, code: 2 },
  { name: 'full mask for a guide that needs known pixels', config: base(), setup: (d) => writeRectMask(path.join(d, 'mask.png'), 24, 20, 0, 0, 24, 20), stderr: /covers the whole image: guide "mean" needs known pixels/, code: 2 },
  { name: 'no mask and no alpha', config: 'input: { image: img.png }\nguide: { type: mean }\n', stderr: /expected a mask.*\(at input\.mask\)/, code: 2 },
  { name: 'ONNX model with the wrong signature', config: base().replace('{ type: mean }', `{ type: onnx, model: ${BAD_LAMA}, profile: lama }`), stderr: /bad_lama\.onnx/, code: 2 },
  { name: 'model folder missing', config: refined().replace(MODEL, 'no-such-model'), stderr: /no-such-model/, code: 2 },
  {
    name: 'corrupt model weights',
    config: refined().replace(MODEL, 'broken-model'),
    setup: (d) => {
      mkdirSync(path.join(d, 'broken-model'));
      for (const f of ['model.json', 'weights.json']) copyFileSync(path.join(MODEL, f), path.join(d, 'broken-model', f));
      writeFileSync(path.join(d, 'broken-model', 'weights.bin'), readFileSync(path.join(MODEL, 'weights.bin')).subarray(0, 1000));
    },
    stderr: /weights/,
    code: 2,
  },
  { name: 'bad --mask-convention value', config: base(), args: ['--mask-convention', 'white'], stderr: /argument 'white' is invalid/, code: 2 },
  { name: 'non-integer --seed', config: base(), args: ['--seed', '1.5'], stderr: /expected an integer for --seed, got "1\.5"/, code: 2 },
  { name: 'bad --set syntax', config: base(), args: ['--set', 'refiner.tk'], stderr: /expected key\.path=value, got "refiner\.tk" \(at --set\)/, code: 2 },
  // inputs that are no regular file: refused before reading (a device never ends, a FIFO blocks)
  { name: 'a device as the image', config: base().replace('img.png', '/dev/zero'), stderr: /^ERROR: image \/dev\/zero is a device: expected a regular image file$/m, code: 2 },
  { name: 'a FIFO as the mask', config: base().replace('mask.png', 'fifo.png'), setup: (d) => { execFileSync('mkfifo', [path.join(d, 'fifo.png')]); }, stderr: /^ERROR: mask .*fifo\.png is a FIFO: expected a regular image file$/m, code: 2 },
  { name: '--out on a pseudo file system', config: base(), args: ['--out', '/proc/diff2s-out'], stderr: /^ERROR: --out \/proc\/diff2s-out: cannot write into \/proc \(\w+\)$/m, code: 2 },
  { name: '--out below a file', config: base(), args: ['--out', 'img.png/out'], stderr: /^ERROR: --out .*img\.png\/out: .*img\.png is not a folder$/m, code: 2 },
  // data loss: no output may overwrite an input (issue 20)
  { name: '--out is the input image', config: base(), args: ['--out', 'img.png'], stderr: /^ERROR: output .*img\.png is the input image .*img\.png: refusing to overwrite it/m, code: 2 },
  { name: '--out is the mask', config: base(), args: ['--out', 'mask.png'], stderr: /is the input mask .*mask\.png: refusing to overwrite it/m, code: 2 },
  { name: '--out is a symlink to the input image', config: base(), setup: (d) => symlinkSync(path.join(d, 'img.png'), path.join(d, 'link.png')), args: ['--out', 'link.png'], stderr: /is the input image .*img\.png: refusing to overwrite it/m, code: 2 },
  // configs and flags that reached too far (issue 20)
  { name: 'JSON config with a duplicate key', config: null, setup: (d) => writeFileSync(path.join(d, 'c.json'), '{"input": {"image": "img.png", "mask": "mask.png"}, "seed": 1, "seed": 2}'), args: ['--config', 'c.json'], stderr: /^ERROR: config .*c\.json is not valid JSON: Map keys must be unique/m, code: 2 },
  { name: 'JSON config nested 10000 levels', config: null, setup: (d) => writeFileSync(path.join(d, 'c.json'), '{"a":'.repeat(10000) + '1' + '}'.repeat(10000)), args: ['--config', 'c.json'], stderr: /^ERROR: config .*c\.json is not valid JSON: nested 10000 levels deep \(at most 64\)$/m, code: 2 },
  { name: '--set __proto__.x never reaches Object.prototype', config: base(), args: ['--set', '__proto__.polluted=1'], stderr: /^ERROR: "__proto__\.polluted" is not a config key path \(the part "__proto__" is not allowed\) \(at --set\)$/m, code: 2 },
  { name: '--set constructor.prototype.x', config: base(), args: ['--set', 'constructor.prototype.x=1'], stderr: /the part "constructor" is not allowed/, code: 2 },
  { name: '.nan as a number', config: refined().replace('tk: 3', 'tk: .nan'), stderr: /^ERROR: expected number, got NaN \(\.nan\) \(at refiner\.tk\)$/m, code: 2 },
  { name: '.inf as a number', config: refined().replace('tk: 3', 'tk: .inf'), stderr: /^ERROR: expected number, got infinity \(\.inf\) \(at refiner\.tk\)$/m, code: 2 },
  // bad ONNX files are bad input: exit 2, said plainly
  { name: 'garbage as an ONNX model', config: base().replace('{ type: mean }', '{ type: onnx, model: junk.onnx, profile: lama }'), setup: (d) => writeFileSync(path.join(d, 'junk.onnx'), 'not a model'), stderr: /^ERROR: cannot load ONNX model .*junk\.onnx: /m, code: 2 },
  { name: 'an empty ONNX file', config: base().replace('{ type: mean }', '{ type: onnx, model: empty.onnx, profile: lama }'), setup: (d) => writeFileSync(path.join(d, 'empty.onnx'), ''), stderr: /empty\.onnx: the file is empty|empty\.onnx.*empty/, code: 2 },
  { name: 'a Git LFS pointer as the ONNX model', config: base().replace('{ type: mean }', '{ type: onnx, model: lfs.onnx, profile: lama }'), setup: (d) => writeFileSync(path.join(d, 'lfs.onnx'), 'version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1\n'), stderr: /lfs\.onnx: it is a Git LFS pointer, not the model/, code: 2 },
  // memory is estimated before work (issue 20)
  { name: 'a run over memoryLimit', config: base('memoryLimit: 64'), stderr: /^ERROR: .*needs (at least|about) \d+ MiB .*over the memory limit of 64 MiB/m, code: 2 },
];

describe('bad inputs: one clear line, exit code, no output', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeAll(() => (tmp = tempDir('diff2s-bad-')));
  afterAll(() => tmp.cleanup());

  it('the corpus has at least 20 cases', () => expect(CASES.length).toBeGreaterThanOrEqual(20));

  it.each(CASES.map((c, i) => [c.name, i] as const))('%s', async (_name, i) => {
    const c = CASES[i];
    const dir = path.join(tmp.dir, `case-${i}`);
    mkdirSync(dir, { recursive: true });
    await writeRgbPng(path.join(dir, 'img.png'), 24, 20);
    await writeRectMask(path.join(dir, 'mask.png'), 24, 20, 6, 5, 14, 12);
    if (c.config !== null) writeFileSync(path.join(dir, 'config.yaml'), c.config ?? base());
    await c.setup?.(dir);
    const out = path.join(dir, 'out');
    const args = ['inpaint', ...(c.config === null ? [] : ['--config', 'config.yaml']), '--out', out, '--quiet', ...(c.args ?? [])];
    const r = runCli(args, { cwd: dir });
    expect(r.stderr).toMatch(c.stderr);
    expect(r.status).toBe(c.code);
    expect(r.stdout).toBe('');
    expect(await listFiles(out)).toEqual([]);
    // one line per problem, no stack trace without --debug
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it('--quiet never hides errors: a batch names its corrupt image and its unmatched ones on stderr', async () => {
    const dir = path.join(tmp.dir, 'quiet');
    mkdirSync(path.join(dir, 'img'), { recursive: true });
    mkdirSync(path.join(dir, 'mask'), { recursive: true });
    await writeRgbPng(path.join(dir, 'img', 'a.png'), 24, 20);
    writeFileSync(path.join(dir, 'img', 'b.png'), 'not an image');
    await writeRgbPng(path.join(dir, 'img', 'c.png'), 24, 20);
    await writeRectMask(path.join(dir, 'mask', 'a.png'), 24, 20, 6, 5, 14, 12);
    await writeRectMask(path.join(dir, 'mask', 'b.png'), 24, 20, 6, 5, 14, 12);
    writeFileSync(path.join(dir, 'config.yaml'), 'guide: { type: mean }\n');
    const r = runCli(['inpaint', '--config', 'config.yaml', '--image', 'img', '--mask', 'mask', '--out', 'out', '--quiet'], { cwd: dir });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^ERROR: .*b\.png is not a readable image.*\(skipped\)$/m);
    expect(r.stderr).toMatch(/^skipped .*c\.png: no mask with the same file stem/m);
    expect(await listFiles(path.join(dir, 'out'))).toContain('a_stage1.png');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('an input named as --out keeps its bytes', async () => {
    const dir = path.join(tmp.dir, 'keep');
    mkdirSync(dir, { recursive: true });
    await writeRgbPng(path.join(dir, 'img.png'), 24, 20);
    await writeRectMask(path.join(dir, 'mask.png'), 24, 20, 6, 5, 14, 12);
    writeFileSync(path.join(dir, 'config.yaml'), base());
    const before = readFileSync(path.join(dir, 'img.png'));
    const r = runCli(['inpaint', '--config', 'config.yaml', '--out', 'img.png', '--quiet'], { cwd: dir });
    expect(r.status).toBe(2);
    expect(readFileSync(path.join(dir, 'img.png')).equals(before)).toBe(true);
  });
});
