/**
 * The training command survives SIGKILL: kill it after its first checkpoint, resume with --resume, and the run
 * finishes with the loss log continuing (at most one checkpoint interval of work lost).
 */
import { existsSync, promises as fs, readFileSync, writeFileSync } from 'fs';
import * as path from 'path';
import { ROOT, runCli, startCli } from './helpers/cli';
import { tempDir } from './helpers/tmp';

function stateStep(dir: string): number {
  try {
    // the checkpoint is the step folder its pointer names
    return JSON.parse(readFileSync(path.join(dir, 'checkpoint', 'current.json'), 'utf8')).step;
  } catch {
    return 0;
  }
}

describe('diff2s train: kill -9 and --resume', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeAll(() => (tmp = tempDir('diff2s-kill-')));
  afterAll(() => tmp.cleanup());

  it('continues the loss curve after SIGKILL', async () => {
    const out = path.join(tmp.dir, 'model');
    const cfg = path.join(tmp.dir, 'train.yaml');
    writeFileSync(cfg, [
      'seed: 5',
      'data:',
      `  images: ${path.join(ROOT, 'test/fixtures/brick48.png')}`,
      '  crop: 16',
      'model: { preset: frugal, baseChannels: 4, channelMults: [1, 1] }',
      'schedule: { type: linear, T: 50, betaStart: 0.001, betaEnd: 0.2 }',
      'train: { steps: 400, batch: 4, lr: 0.003, workers: 1, checkpointEvery: 10, logEvery: 10 }',
      `output: ${out}`,
    ].join('\n'));
    const child = startCli(['train', '--config', cfg]);
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code, sig) => resolve(sig ? -1 : code)));
    // wait for the second checkpoint, then kill without warning
    for (let i = 0; i < 600 && stateStep(out) < 20; i++) await new Promise((r) => setTimeout(r, 100));
    expect(stateStep(out)).toBeGreaterThanOrEqual(20);
    child.kill('SIGKILL');
    expect(await exited).toBe(-1);
    const killedAt = stateStep(out);
    expect(killedAt).toBeLessThan(400);
    // no half-written files: the model folder loads and the checkpoint is complete
    const files = (await fs.readdir(out)).filter((f) => !f.startsWith('.'));
    expect(files.sort()).toEqual(['checkpoint', 'loss.csv', 'model.json', 'weights.bin', 'weights.json']);
    const before = readFileSync(path.join(out, 'loss.csv'), 'utf8').trim().split('\n').slice(1);
    const r = runCli(['train', '--config', cfg, '--resume', '--steps', String(killedAt + 30)]);
    expect(r.stderr).toMatch(new RegExp(`resuming from step ${killedAt}`));
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`trained ${killedAt + 30} steps \\(30 this run\\)`));
    const after = readFileSync(path.join(out, 'loss.csv'), 'utf8').trim().split('\n').slice(1);
    // the log up to the checkpoint is kept as it was, then continues every 10 steps to the end
    expect(after.slice(0, before.length)).toEqual(before);
    const steps = after.map((l) => Number(l.split(',')[0]));
    expect(steps).toEqual(Array.from({ length: (killedAt + 30) / 10 }, (_, i) => 10 * (i + 1)));
    expect(existsSync(path.join(out, 'checkpoint', `step-${killedAt + 30}`, 'state.json'))).toBe(true);
    void stderr;
  });
});
