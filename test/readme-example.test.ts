/**
 * The README's library example, as written (only its output path is redirected to a temp folder): type-checked (strict) with
 * the workspace's packages, then run from the repository root on the shipped example image.
 */
import { spawnSync } from 'child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'fs';
import * as path from 'path';
import * as ts from 'typescript';
import { readImage } from '@diff2s/core';
import { ROOT } from './helpers/cli';
import { tempDir } from './helpers/tmp';

function readmeExample(): string {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## As a library'));
  const m = /```ts\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error('README.md has no ts block under "## As a library"');
  return m[1];
}

describe("the README's library example", () => {
  it('type-checks (strict) and runs, writing the refined image', async () => {
    const tmp = tempDir('diff2s-readme-');
    const out = path.join(tmp.dir, 'refined.png');
    const code = readmeExample();
    expect(code).toContain("'refined.png'");
    const source = code.replace("'refined.png'", JSON.stringify(out));
    // the file sits in the cli package, so `@diff2s/cli` resolves to itself (package self-reference) and `@diff2s/core`
    // to its dependency, as for a user who installed the packages
    const file = path.join(ROOT, 'packages/cli', `.readme-example-${process.pid}.ts`);
    const js = file.replace(/\.ts$/, '.js');
    try {
      writeFileSync(file, source);
      // skipLibCheck as the project's own builds; test/library-install.test.ts compiles it without, in a project outside the repo
      const program = ts.createProgram([file], { strict: true, esModuleInterop: true, skipLibCheck: true, noEmit: true, module: ts.ModuleKind.Node16, target: ts.ScriptTarget.ES2022, moduleResolution: ts.ModuleResolutionKind.Node16 });
      const diags = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      expect(diags).toEqual([]);
      writeFileSync(js, ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } }).outputText);
      const r = spawnSync(process.execPath, [js], { cwd: ROOT, encoding: 'utf8', timeout: 120000 });
      if (r.status !== 0) throw new Error(`exit ${r.status}\n${r.stderr}`);
      expect(existsSync(out)).toBe(true);
      expect((await readImage(out)).width).toBe(128);
      expect(r.stdout).toMatch(/guide[\s\S]*refiner/);
    } finally {
      rmSync(file, { force: true });
      rmSync(js, { force: true });
      tmp.cleanup();
    }
  }, 180000);
});
