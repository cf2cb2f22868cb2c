/**
 * The packages used outside this repository, the way the README's "Using the library outside this repo" says: every
 * package packed, all the tarballs installed with pnpm into a temporary project outside the workspace (offline where
 * the workspace install filled the store: --prefer-offline; no install scripts run, so onnxruntime-node and sharp
 * download nothing), the README's library example compiled AS WRITTEN with `tsc --strict` (no skipLibCheck) and run on
 * the shipped example image, and its ES-module example (top-level await) run as written.
 */
import { spawnSync, SpawnSyncReturns } from 'child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'fs';
import * as path from 'path';
import { readImage } from '@diff2s/core';
import { ROOT } from './helpers/cli';
import { tempDir } from './helpers/tmp';

const PACKAGES = ['core', 'engine', 'guides', 'refiner', 'studio', 'cli'];

/** The first fenced block of `lang` after `heading` in the README. */
function readmeBlock(heading: string, lang: string): string {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf(heading);
  if (at < 0) throw new Error(`README.md has no "${heading}"`);
  const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(readme.slice(at));
  if (!m) throw new Error(`README.md has no ${lang} block under "${heading}"`);
  return m[1];
}

function run(cmd: string, args: string[], cwd: string, timeout = 180000): SpawnSyncReturns<string> {
  // no npm_config_* of an enclosing `pnpm test`: the temporary project gets pnpm's own defaults
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k))) as NodeJS.ProcessEnv;
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout, env });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r;
}

function installedVersion(pkg: string): string {
  return (JSON.parse(readFileSync(path.join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
}

describe('the packages outside this repository', () => {
  let tmp: ReturnType<typeof tempDir>;
  let project: string;
  beforeAll(() => {
    tmp = tempDir('diff2s-lib-');
    project = path.join(tmp.dir, 'project');
    mkdirSync(project);
  });
  afterAll(() => tmp.cleanup());

  it('pack all, install all tarballs in one pnpm install (no install scripts), compile the README example with tsc --strict, run both examples', async () => {
    const t0 = performance.now();
    const lap = (what: string) => process.stderr.write(`library-install: ${what} after ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    // 1. one tarball per package (pnpm replaces workspace: versions with the packages' own)
    const packs = path.join(tmp.dir, 'packs');
    run('pnpm', ['-r', 'exec', 'pnpm', 'pack', '--pack-destination', packs], ROOT);
    const tgz = (p: string) => path.join(packs, `diff2s-${p}-0.1.0.tgz`);
    expect(readdirSync(packs).sort()).toEqual(PACKAGES.map((p) => path.basename(tgz(p))).sort());
    const cliManifest = spawnSync('tar', ['-xzOf', tgz('cli'), 'package/package.json'], { encoding: 'utf8' }).stdout;
    expect(cliManifest).not.toMatch(/workspace:/);
    lap('packed');

    // 2. the README's pnpm way: overrides point every @diff2s/* at its tarball; one install, from the workspace's store
    const overrides = Object.fromEntries(PACKAGES.map((p) => [`@diff2s/${p}`, `file:${tgz(p)}`]));
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'diff2s-user', private: true, pnpm: { overrides } }, null, 2));
    const store = run('pnpm', ['store', 'path'], ROOT).stdout.trim();
    const add = run('pnpm', [
      'add', tgz('core'), tgz('cli'), `typescript@${installedVersion('typescript')}`, `@types/node@${installedVersion('@types/node')}`,
      '--prefer-offline', '--store-dir', store, '--config.confirmModulesPurge=false',
    ], project, 240000);
    expect(existsSync(path.join(project, 'node_modules/@diff2s/cli/package.json'))).toBe(true);
    // pnpm ran no install script of a dependency: onnxruntime-node's postinstall (a CUDA download) was skipped
    expect(add.stdout + add.stderr).toMatch(/Ignored build scripts:[\s\S]*onnxruntime-node/);
    const ortBin = path.join(path.dirname(require.resolve('onnxruntime-node/package.json', { paths: [path.join(project, 'node_modules/@diff2s/engine')] })), 'bin');
    const files = (readdirSync(ortBin, { recursive: true }) as string[]).map(String);
    expect(files.filter((f) => /providers_(cuda|tensorrt)/.test(f))).toEqual([]);
    lap('installed');

    // 3. what the example reads, copied as a user would (the packages ship no models or images)
    cpSync(path.join(ROOT, 'models/frugal-brick'), path.join(project, 'models/frugal-brick'), { recursive: true });
    mkdirSync(path.join(project, 'examples/data'), { recursive: true });
    for (const f of ['brick.png', 'brick-mask.png']) copyFileSync(path.join(ROOT, 'examples/data', f), path.join(project, 'examples/data', f));

    // 4. the README's example as written, compiled with the README's command: strict, no skipLibCheck
    writeFileSync(path.join(project, 'example.ts'), readmeBlock('## As a library', 'ts'));
    const tsc = spawnSync(process.execPath, [path.join(project, 'node_modules/typescript/bin/tsc'), '--strict', '--target', 'es2022', '--module', 'node16', 'example.ts'], { cwd: project, encoding: 'utf8', timeout: 180000 });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
    lap('compiled');
    const r = run(process.execPath, ['example.js'], project);
    expect(r.stdout).toMatch(/guide[\s\S]*refiner/);
    const refined = await readImage(path.join(project, 'refined.png'));
    expect([refined.width, refined.height]).toEqual([128, 128]);
    lap('example run');

    // 5. the ES-module example (top-level await) as written
    writeFileSync(path.join(project, 'example.mjs'), readmeBlock('In an ES module', 'js'));
    run(process.execPath, ['example.mjs'], project);
    expect((await readImage(path.join(project, 'harmonic.png'))).width).toBe(128);
    lap('ES-module example run');
  }, 600000);
});
