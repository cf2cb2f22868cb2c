/**
 * The CLI's flags and messages (issue 21): --version; --guide, --model and --no-refine; help paragraphs wrapped at
 * word boundaries (no mid-sentence breaks); command-line paths (flags and --set path keys) against the current
 * directory, config paths against the config's folder; the mask-size hint naming input.resizeMask; the warning for a
 * mask whose hole covers most of the image (the other convention).
 */
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'fs';
import * as path from 'path';
import { buildProgram } from '../packages/cli/src/bin';
import { resolveCommandLinePaths } from '../packages/cli/src/config/cli-paths';
import { holeShareWarning } from '../packages/cli/src/commands/inpaint';
import { ROOT, runCli } from './helpers/cli';
import { listFiles, writeGrayPng, writeRectMask } from './helpers/images';
import { tempDir } from './helpers/tmp';

const MODEL = path.join(ROOT, 'models/frugal-brick');

/** Every command of the program, nested ones included. */
type Command = ReturnType<typeof buildProgram>;
function allCommands(c: Command): Command[] {
  return [c, ...c.commands.flatMap((s) => allCommands(s as Command))];
}

/**
 * Lines of the help's description paragraphs (between the usage line and the first section) that break early: the next
 * line's first word would have fitted on this one, so the break is a hard newline in the middle of a sentence.
 */
function raggedBreaks(help: string, width: number): string[] {
  const lines = help.split('\n');
  const end = lines.findIndex((l, i) => i > 0 && /^(Options|Commands|Arguments):$/.test(l));
  const block = lines.slice(1, end < 0 ? lines.length : end);
  const bad: string[] = [];
  for (let i = 0; i + 1 < block.length; i++) {
    const a = block[i], b = block[i + 1];
    if (!a.trim() || !b.trim()) continue;
    const word = b.trim().split(/\s+/)[0];
    if (a.length + 1 + word.length <= width) bad.push(`${JSON.stringify(a)} ⏎ ${JSON.stringify(b)}`);
  }
  return bad;
}

describe('diff2s --version and help', () => {
  it('--version (and -V) print the package version', () => {
    const version = (JSON.parse(readFileSync(path.join(ROOT, 'packages/cli/package.json'), 'utf8')) as { version: string }).version;
    for (const flag of ['--version', '-V']) {
      const r = runCli([flag]);
      expect(r.status).toBe(0);
      expect(r.stdout.trim()).toBe(version);
    }
  });

  it('every command\'s help wraps its description at word boundaries (80 columns), never mid-sentence', () => {
    const program = buildProgram();
    const problems: string[] = [];
    for (const c of allCommands(program)) {
      c.configureOutput({ getOutHelpWidth: () => 80 });
      const help = c.helpInformation();
      for (const l of help.split('\n')) if (l.length > 80 && /\s/.test(l.trim())) problems.push(`${c.name()}: too long: ${l}`);
      for (const b of raggedBreaks(help, 80)) problems.push(`${c.name()}: ${b}`);
    }
    expect(problems).toEqual([]);
  });

  it('the built CLI\'s inpaint --help names the new flags and how paths resolve', () => {
    const r = runCli(['inpaint', '--help']);
    expect(r.status).toBe(0);
    const text = r.stdout.replace(/\s+/g, ' ');
    for (const f of ['--guide <type>', '--model <dir>', '--no-refine', '--mask-convention']) expect(text).toContain(f);
    expect(text).toMatch(/given on the command line .* resolve against the current directory; those written in a config file resolve against the config's folder/);
    expect(raggedBreaks(r.stdout, 80)).toEqual([]);
  });
});

describe('diff2s inpaint: --guide, --model, --no-refine and command-line paths', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeAll(async () => {
    tmp = tempDir('diff2s-flags-');
    // a grey image (frugal-brick is a grey model, sizes in multiples of 8) with a small hole
    await writeGrayPng(path.join(tmp.dir, 'img.png'), 24, 16, (x, y) => (x * 9 + y * 5) % 256);
    await writeRectMask(path.join(tmp.dir, 'mask.png'), 24, 16, 8, 4, 14, 10);
    symlinkSync(MODEL, path.join(tmp.dir, 'm'));
    mkdirSync(path.join(tmp.dir, 'conf'));
  });
  afterAll(() => tmp.cleanup());

  it('--guide mean --no-refine: stage 1 only on the embedded default config (no fit, no refiner)', async () => {
    const out = path.join(tmp.dir, 'out-norefine');
    const r = runCli(['inpaint', '--image', 'img.png', '--mask', 'mask.png', '--guide', 'mean', '--no-refine', '--out', out], { cwd: tmp.dir });
    expect(r.stderr).toMatch(/^diff2s: guide mean$/m);
    expect(r.status).toBe(0);
    expect(await listFiles(out)).toEqual(['img_stage1.png']);
  });

  it('--model DIR (relative to the cwd) replaces the config\'s fit; the guide keeps its options only for its own type', async () => {
    const out = path.join(tmp.dir, 'out-model');
    const cfg = path.join(tmp.dir, 'conf', 'p.yaml');
    writeFileSync(cfg, 'guide: { type: patch, patchSize: 5 }\nmodel: { fit: { seconds: 1 } }\nrefiner: { tk: 3, guard: false }\n');
    const r = runCli(['inpaint', '--config', cfg, '--image', 'img.png', '--mask', 'mask.png', '--guide', 'mean', '--model', 'm', '--out', out], { cwd: tmp.dir });
    expect(r.stderr).toMatch(new RegExp(`^diff2s: guide mean → refiner \\(ddim, T_k 3, model ${path.join(tmp.dir, 'm').replace(/[/\\]/g, '.')} on \\w+[,)]`, 'm'));
    expect(r.status).toBe(0);
    expect(await listFiles(out)).toEqual(['img_stage1.png', 'img_stage2.png']);
  });

  it('--model with a config without a refiner adds one (its defaults, T_k set by --tk)', () => {
    const cfg = path.join(tmp.dir, 'conf', 'stage1.yaml');
    writeFileSync(cfg, 'guide: { type: mean }\n');
    const r = runCli(['inpaint', '--config', cfg, '--image', 'img.png', '--mask', 'mask.png', '--model', 'm', '--tk', '2', '--out', path.join(tmp.dir, 'out-add')], { cwd: tmp.dir });
    expect(r.stderr).toMatch(/^diff2s: guide mean → refiner \(ddim, T_k 2, model .*m on \w+/m);
    expect(r.status).toBe(0);
  });

  it('--set model.path=… resolves against the current directory, not the config\'s folder', () => {
    const cfg = path.join(tmp.dir, 'conf', 'q.yaml');
    writeFileSync(cfg, 'guide: { type: mean }\nrefiner: { tk: 2, guard: false }\n');
    // m exists beside the cwd (tmp), not beside the config (tmp/conf)
    const r = runCli(['inpaint', '--config', cfg, '--image', 'img.png', '--mask', 'mask.png', '--set', 'model.path=m', '--out', path.join(tmp.dir, 'out-set')], { cwd: tmp.dir });
    expect(r.stderr).toMatch(new RegExp(`model ${path.join(tmp.dir, 'm').replace(/[/\\]/g, '.')} on`));
    expect(r.status).toBe(0);
    // while a path written in the config stays relative to the config's folder
    writeFileSync(cfg, 'guide: { type: mean }\nmodel: { path: ../m }\nrefiner: { tk: 2, guard: false }\n');
    const r2 = runCli(['inpaint', '--config', cfg, '--image', 'img.png', '--mask', 'mask.png', '--out', path.join(tmp.dir, 'out-cfg')], { cwd: tmp.dir });
    expect(r2.status).toBe(0);
  });

  it('contradicting flags are refused with one line', () => {
    const a = runCli(['inpaint', '--image', 'img.png', '--mask', 'mask.png', '--model', 'm', '--fit', '5'], { cwd: tmp.dir });
    expect(a.stderr).toMatch(/^ERROR: --model and --fit contradict each other.*\(at --model\)$/m);
    expect(a.status).toBe(2);
    const b = runCli(['inpaint', '--image', 'img.png', '--mask', 'mask.png', '--no-refine', '--tk', '3'], { cwd: tmp.dir });
    expect(b.stderr).toMatch(/^ERROR: --no-refine and --tk contradict each other/m);
    expect(b.status).toBe(2);
  });

  it('path keys of --set values resolve against the cwd, names (prior, none, fit) stay names', () => {
    const cwd = '/work/here';
    expect(resolveCommandLinePaths('model.path', '../x', cwd)).toBe('/work/x');
    expect(resolveCommandLinePaths('input.image', '/abs/a.png', cwd)).toBe('/abs/a.png');
    expect(resolveCommandLinePaths('model.fit.init', 'prior', cwd)).toBe('prior');
    expect(resolveCommandLinePaths('model.fit.init', 'models/m', cwd)).toBe('/work/here/models/m');
    expect(resolveCommandLinePaths('guide.model', 'fit', cwd)).toBe('fit');
    expect(resolveCommandLinePaths('guide.model', 'lama.onnx', cwd)).toBe('/work/here/lama.onnx');
    expect(resolveCommandLinePaths('model', { path: 'm', engine: 'onnx' }, cwd)).toEqual({ path: '/work/here/m', engine: 'onnx' });
    expect(resolveCommandLinePaths('refiner.tk', 5, cwd)).toBe(5);
    expect(resolveCommandLinePaths('guide.patchSize', 9, cwd)).toBe(9);
  });
});

describe('diff2s inpaint: mask messages', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeAll(async () => {
    tmp = tempDir('diff2s-maskmsg-');
    await writeGrayPng(path.join(tmp.dir, 'img.png'), 24, 20, (x, y) => (x * 9 + y * 5) % 256);
    writeFileSync(path.join(tmp.dir, 'p.yaml'), 'guide: { type: mean }\n');
  });
  afterAll(() => tmp.cleanup());

  it('a mask of another size names the key that allows resizing (input.resizeMask)', async () => {
    await writeRectMask(path.join(tmp.dir, 'small.png'), 10, 10, 2, 2, 5, 5);
    const r = runCli(['inpaint', '--config', 'p.yaml', '--image', 'img.png', '--mask', 'small.png', '--out', 'o1', '-q'], { cwd: tmp.dir });
    expect(r.stderr).toMatch(/^ERROR: mask .*small\.png is 10x10 but the image is 24x20 \(set input\.resizeMask: true \(or pass --set input\.resizeMask=true\) to scale it, nearest neighbour\)$/m);
    expect(r.status).toBe(2);
    const ok = runCli(['inpaint', '--config', 'p.yaml', '--image', 'img.png', '--mask', 'small.png', '--set', 'input.resizeMask=true', '--out', 'o2', '-q'], { cwd: tmp.dir });
    expect(ok.status).toBe(0);
  });

  it('a white-is-known mask read as white = hole warns, naming --mask-convention known-white; the right flag silences it', async () => {
    // white everywhere but a 6x6 square: a white-is-known mask of a small hole
    await writeGrayPng(path.join(tmp.dir, 'known-white.png'), 24, 20, (x, y) => (x >= 8 && x < 14 && y >= 6 && y < 12 ? 0 : 255));
    const r = runCli(['inpaint', '--config', 'p.yaml', '--image', 'img.png', '--mask', 'known-white.png', '--out', 'o3', '-q'], { cwd: tmp.dir });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^warning: mask .*known-white\.png marks 92\.5% of the image as the hole \(white = hole, --mask-convention hole-white\); if white marks the pixels to keep, pass --mask-convention known-white \(input\.maskConvention: known-white\)$/m);
    const right = runCli(['inpaint', '--config', 'p.yaml', '--image', 'img.png', '--mask', 'known-white.png', '--mask-convention', 'known-white', '--out', 'o4', '-q'], { cwd: tmp.dir });
    expect(right.status).toBe(0);
    expect(right.stderr).not.toMatch(/warning/);
    // a small hole: no warning
    await writeRectMask(path.join(tmp.dir, 'hole.png'), 24, 20, 8, 6, 14, 12);
    const small = runCli(['inpaint', '--config', 'p.yaml', '--image', 'img.png', '--mask', 'hole.png', '--out', 'o5', '-q'], { cwd: tmp.dir });
    expect(small.status).toBe(0);
    expect(small.stderr).toBe('');
  });

  it('the warning flips with the convention and stays quiet at or below half the image', () => {
    expect(holeShareWarning('m.png', 0.5, 'hole-white')).toBeUndefined();
    expect(holeShareWarning('m.png', 0.8, 'known-white')).toMatch(/black = hole, --mask-convention known-white\); if black marks the pixels to keep, pass --mask-convention hole-white/);
  });
});
