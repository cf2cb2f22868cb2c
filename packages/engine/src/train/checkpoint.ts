import { promises as fs } from 'fs';
import * as path from 'path';
import { z } from 'zod';
import { InputError, formatZodIssue, writeFileAtomic } from '@diff2s/core';

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

/** The schema `state.json` must satisfy (a truncated or edited file is refused naming the file and the key). */
export const CheckpointStateSchema = z.object({
  format: z.literal('diff2s.checkpoint'),
  version: z.literal(1),
  step: z.number().int().min(0).max(1e7),
  configHash: z.string().min(1).max(200),
  adamT: z.number().int().min(0).max(1e7),
  losses: z.array(z.tuple([z.number().int().min(0), z.number()])).max(1e7),
  seconds: z.number().min(0).max(1e8),
  hasEma: z.boolean(),
}).strict();

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

/** The pointer file inside the checkpoint folder: names the complete step folder that is the checkpoint. */
const POINTER = 'current.json';

/**
 * Write a checkpoint: the new step's files go to their own folder `<dir>/step-<n>/` (state.json last, so a folder
 * with a state is complete); then the pointer `<dir>/current.json` is replaced in one atomic rename — a kill at any
 * moment leaves the old or the new checkpoint, never none — and only then are older step folders, temp files and
 * leftovers of killed runs (also of the earlier layout) removed.
 */
export async function saveCheckpoint(dir: string, state: CheckpointState, arrays: CheckpointArrays): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const name = `step-${state.step}`;
  const folder = path.join(dir, name);
  await fs.rm(folder, { recursive: true, force: true });
  await fs.mkdir(folder);
  await fs.writeFile(path.join(folder, FILES.params), bytes(arrays.params));
  await fs.writeFile(path.join(folder, FILES.m), bytes(arrays.m));
  await fs.writeFile(path.join(folder, FILES.v), bytes(arrays.v));
  if (arrays.ema) await fs.writeFile(path.join(folder, FILES.ema), bytes(arrays.ema));
  await writeFileAtomic(path.join(folder, FILES.state), JSON.stringify(state) + '\n');
  await writeFileAtomic(path.join(dir, POINTER), JSON.stringify({ folder: name, step: state.step }) + '\n');
  // clean up: every other entry of the checkpoint folder, and leftovers of the earlier two-rename layout beside it
  for (const e of await fs.readdir(dir)) {
    if (e === name || e === POINTER) continue;
    await fs.rm(path.join(dir, e), { recursive: true, force: true });
  }
  const parent = path.dirname(dir), base = path.basename(dir);
  for (const e of await fs.readdir(parent)) {
    if (e.startsWith(`.${base}.tmp-`) || e.startsWith(`.${base}.old-`)) await fs.rm(path.join(parent, e), { recursive: true, force: true });
  }
}

async function readState(folder: string): Promise<CheckpointState | null> {
  const file = path.join(folder, FILES.state);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InputError(`checkpoint state ${file} is not valid JSON (${(err as Error).message}): delete the checkpoint folder to start over`, file, { cause: err });
  }
  const r = CheckpointStateSchema.safeParse(value, { reportInput: true });
  if (!r.success) {
    const e = formatZodIssue(r.error.issues[0]);
    throw new InputError(`checkpoint state ${file}: ${e.message}: delete the checkpoint folder to start over`, file);
  }
  return r.data as CheckpointState;
}

/** {@link readState} for a candidate folder of a killed run: an invalid one is no candidate. */
async function readStateOrNull(folder: string): Promise<CheckpointState | null> {
  try {
    return await readState(folder);
  } catch {
    return null;
  }
}

/** The folder holding the checkpoint: the pointer's; else (a kill before the first pointer, or an older layout) the complete candidate with the most steps. */
async function checkpointFolder(dir: string): Promise<string | null> {
  try {
    const p = JSON.parse(await fs.readFile(path.join(dir, POINTER), 'utf8')) as { folder: string };
    if (typeof p.folder === 'string' && !p.folder.includes('/') && !p.folder.includes('..')) return path.join(dir, p.folder);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const candidates: string[] = [dir];
  const list = async (d: string) => { try { return await fs.readdir(d); } catch { return []; } };
  for (const e of await list(dir)) if (e.startsWith('step-')) candidates.push(path.join(dir, e));
  const parent = path.dirname(dir), base = path.basename(dir);
  for (const e of await list(parent)) if (e.startsWith(`.${base}.tmp-`) || e.startsWith(`.${base}.old-`)) candidates.push(path.join(parent, e));
  let best: { folder: string; step: number } | null = null;
  for (const c of candidates) {
    const st = await readStateOrNull(c);
    if (st && st.format === 'diff2s.checkpoint' && (!best || st.step > best.step)) best = { folder: c, step: st.step };
  }
  return best?.folder ?? null;
}

/** Read the checkpoint (null if there is none); sizes are checked against `size` parameters. */
export async function loadCheckpoint(dir: string, size: number): Promise<{ state: CheckpointState; arrays: CheckpointArrays } | null> {
  const folder = await checkpointFolder(dir);
  if (!folder) return null;
  const state = await readState(folder);
  if (!state) return null;
  if (state.format !== 'diff2s.checkpoint') throw new InputError(`${folder} is not a diff2s checkpoint`, folder);
  const read = async (f: string): Promise<Float32Array> => {
    const b = await fs.readFile(path.join(folder, f));
    if (b.byteLength !== size * 4) throw new InputError(`checkpoint ${path.join(folder, f)} holds ${b.byteLength / 4} values, the model has ${size}`, folder);
    const out = new Float32Array(size);
    new Uint8Array(out.buffer).set(b);
    return out;
  };
  const arrays: CheckpointArrays = { params: await read(FILES.params), m: await read(FILES.m), v: await read(FILES.v) };
  if (state.hasEma) arrays.ema = await read(FILES.ema);
  return { state, arrays };
}
