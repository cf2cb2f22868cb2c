/**
 * A studio for bench/studio-soak.js: `node bench/lib/studio-server.js process|inprocess [cacheDir]` starts the studio
 * on a free loopback port with the real backend — `process` is what `diff2s serve` runs (ProcessStudioBackend: a
 * process per job), `inprocess` the jobs on the studio's own event loop (PipelineStudioBackend, the earlier
 * behaviour) — prints `url <url>` and runs until stdin closes or SIGTERM.
 */
'use strict';
const path = require('path');
const ROOT = path.resolve(__dirname, '../..');
const cli = require(path.join(ROOT, 'packages/cli/dist'));
const { startStudio } = require(path.join(ROOT, 'packages/studio/dist'));

async function main() {
  const kind = process.argv[2] === 'inprocess' ? 'inprocess' : 'process';
  const options = { modelDirs: [path.join(ROOT, 'models')], examplesDir: path.join(ROOT, 'examples/data'), fit: false };
  const backend = kind === 'process' ? new cli.ProcessStudioBackend(options) : new cli.PipelineStudioBackend(options);
  const studio = await startStudio({ backend, port: 0, logger: { info: () => undefined, warn: (m) => process.stderr.write(`warning: ${m}\n`) } });
  process.stdout.write(`url ${studio.url}\n`);
  const stop = async () => {
    await studio.close();
    await backend.dispose();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.stdin.on('end', stop);
  process.stdin.resume();
}
main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
