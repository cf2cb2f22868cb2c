/**
 * Checkpoints survive a kill at any moment: the switch to a new checkpoint is one atomic rename of a pointer file,
 * resume recovers from every state a kill can leave (including the earlier two-rename layout's leftovers), and a
 * save cleans up what killed runs left behind.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'fs';
import * as path from 'path';
import { loadCheckpoint, saveCheckpoint, type CheckpointState } from '@diff2s/engine';
import { tempDir } from '../../../test/helpers/tmp';

const N = 5;
const state = (step: number): CheckpointState => ({ format: 'diff2s.checkpoint', version: 1, step, configHash: 'h', adamT: step, losses: [], seconds: step, hasEma: false });
const arrays = (v: number) => ({ params: new Float32Array(N).fill(v), m: new Float32Array(N), v: new Float32Array(N) });

describe('checkpoints', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir('diff2s-ckpt-')));
  afterEach(() => tmp.cleanup());

  it('the newest save wins; older step folders are removed', async () => {
    const dir = path.join(tmp.dir, 'checkpoint');
    await saveCheckpoint(dir, state(10), arrays(1));
    await saveCheckpoint(dir, state(20), arrays(2));
    expect(readdirSync(dir).sort()).toEqual(['current.json', 'step-20']);
    const ck = await loadCheckpoint(dir, N);
    expect(ck?.state.step).toBe(20);
    expect(ck?.arrays.params[0]).toBe(2);
  });

  it('a kill while writing the next step folder leaves the previous checkpoint', async () => {
    const dir = path.join(tmp.dir, 'checkpoint');
    await saveCheckpoint(dir, state(10), arrays(1));
    // the next save died after some of its files, before its state and the pointer
    mkdirSync(path.join(dir, 'step-20'));
    writeFileSync(path.join(dir, 'step-20', 'params.bin'), Buffer.alloc(N * 4));
    expect((await loadCheckpoint(dir, N))?.state.step).toBe(10);
  });

  it('a kill after the step folder but before the pointer: the pointer still names the previous one', async () => {
    const dir = path.join(tmp.dir, 'checkpoint');
    await saveCheckpoint(dir, state(10), arrays(1));
    await saveCheckpoint(path.join(tmp.dir, 'other'), state(20), arrays(2));
    renameSync(path.join(tmp.dir, 'other', 'step-20'), path.join(dir, 'step-20'));
    expect((await loadCheckpoint(dir, N))?.state.step).toBe(10);
    // a kill before the very first pointer: the complete step folder is used
    rmSync(path.join(dir, 'current.json'));
    expect((await loadCheckpoint(dir, N))?.state.step).toBe(20);
  });

  it("recovers the earlier layout's leftovers (no checkpoint/, complete copies beside it) and cleans them up", async () => {
    const dir = path.join(tmp.dir, 'checkpoint');
    // the earlier layout: state.json directly in the folder, killed between its two renames
    for (const [name, step] of [['.checkpoint.old-123', 21], ['.checkpoint.tmp-123', 22]] as const) {
      const d = path.join(tmp.dir, name);
      await saveCheckpoint(path.join(tmp.dir, `x${step}`), state(step), arrays(step));
      renameSync(path.join(tmp.dir, `x${step}`, `step-${step}`), d);
    }
    expect(existsSync(dir)).toBe(false);
    const ck = await loadCheckpoint(dir, N);
    expect(ck?.state.step).toBe(22);
    await saveCheckpoint(dir, state(23), ck!.arrays);
    expect(readdirSync(tmp.dir).filter((e) => e.startsWith('.checkpoint'))).toEqual([]);
  });

  it('no checkpoint at all: null', async () => {
    expect(await loadCheckpoint(path.join(tmp.dir, 'none'), N)).toBeNull();
  });

  it('a truncated or out-of-range state.json is refused, naming the file and the key', async () => {
    const dir = path.join(tmp.dir, 'checkpoint');
    await saveCheckpoint(dir, state(10), arrays(1));
    const file = path.join(dir, 'step-10', 'state.json');
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.slice(0, text.length >> 1));
    await expect(loadCheckpoint(dir, N)).rejects.toThrow(new RegExp(`checkpoint state ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not valid JSON`));
    for (const [step, key] of [[-5, 'step'], [1e9, 'step'], [1.5, 'step']] as const) {
      writeFileSync(file, JSON.stringify({ ...state(10), step }));
      await expect(loadCheckpoint(dir, N)).rejects.toThrow(new RegExp(`checkpoint state .*state\\.json: .*\\(at ${key}\\)`));
    }
  });
});
