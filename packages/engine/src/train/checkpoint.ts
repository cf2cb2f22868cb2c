import { promises as fs } from 'fs';
import * as path from 'path';
import { InputError, writeFileAtomic } from '@diff2s/core';

/** What a checkpoint holds besides the arrays. */
export interface CheckpointState {
  format: 'diff2s.checkpoint';
  version: 1;
  /** Steps completed. */
  step: number;
  /** Hash of the config parts that must not change on resume. */
  configHash: string;
  /** Adam's update count. */
  adamT: number;
  /** (step, loss) pairs logged so far. */
  losses: [number, number][];
  /** Training seconds so far. */
  seconds: number;
  hasEma: boolean;
}

export interface CheckpointArrays {
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
  ema?: Float32Array;
}

const FILES = { params: 'params.bin', m: 'adam-m.bin', v: 'adam-v.bin', ema: 'ema.bin', state: 'state.json' } as const;

function bytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * Write a checkpoint folder atomically: everything goes to a temp folder beside it, which then replaces the old
 * checkpoint by renames. A kill at any moment leaves either the old or the new checkpoint, never a mix.
 */
export async function saveCheckpoint(dir: string, state: CheckpointState, arrays: CheckpointArrays): Promise<void> {
  const parent = path.dirname(dir);
  await fs.mkdir(parent, { recursive: true });
  const tmp = path.join(parent, `.${path.basename(dir)}.tmp-${process.pid}`);
  await fs.rm(tmp, { recursive: true, force: true });
  await fs.mkdir(tmp);
  await fs.writeFile(path.join(tmp, FILES.params), bytes(arrays.params));
  await fs.writeFile(path.join(tmp, FILES.m), bytes(arrays.m));
  await fs.writeFile(path.join(tmp, FILES.v), bytes(arrays.v));
  if (arrays.ema) await fs.writeFile(path.join(tmp, FILES.ema), bytes(arrays.ema));
  await writeFileAtomic(path.join(tmp, FILES.state), JSON.stringify(state) + '\n');
  const old = path.join(parent, `.${path.basename(dir)}.old-${process.pid}`);
  let hadOld = false;
  try {
    await fs.rename(dir, old);
    hadOld = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await fs.rename(tmp, dir);
  if (hadOld) await fs.rm(old, { recursive: true, force: true });
}

/** Read a checkpoint folder (null if there is none); sizes are checked against `size` parameters. */
export async function loadCheckpoint(dir: string, size: number): Promise<{ state: CheckpointState; arrays: CheckpointArrays } | null> {
  let text: string;
  try {
    text = await fs.readFile(path.join(dir, FILES.state), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const state = JSON.parse(text) as CheckpointState;
  if (state.format !== 'diff2s.checkpoint') throw new InputError(`${dir} is not a diff2s checkpoint`, dir);
  const read = async (f: string): Promise<Float32Array> => {
    const b = await fs.readFile(path.join(dir, f));
    if (b.byteLength !== size * 4) throw new InputError(`checkpoint ${path.join(dir, f)} holds ${b.byteLength / 4} values, the model has ${size}`, dir);
    const out = new Float32Array(size);
    new Uint8Array(out.buffer).set(b);
    return out;
  };
  const arrays: CheckpointArrays = { params: await read(FILES.params), m: await read(FILES.m), v: await read(FILES.v) };
  if (state.hasEma) arrays.ema = await read(FILES.ema);
  return { state, arrays };
}
