import { promises as fs } from 'fs';
import * as path from 'path';
import { InputError } from './errors';

/**
 * Write `data` to `file` atomically: a temp file in the same folder, then rename. An interrupted write never leaves
 * a half-written file under the final name. Creates the folder if needed.
 */
export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  const dir = path.dirname(file);
  await fs.mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  try {
    await fs.writeFile(tmp, data);
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/** Largest input file read whole (images, masks): 512 MiB; larger files are refused before any byte is read. */
export const DEFAULT_MAX_INPUT_BYTES = 512 * 1024 * 1024;

/**
 * Read an input file whole, after checking that it is a regular file (not a device such as /dev/zero, a FIFO or a
 * folder, which would block or never end) of at most `maxBytes`. `what` names it in errors ("image", "mask").
 */
export async function readInputFile(file: string, what: string, maxBytes = DEFAULT_MAX_INPUT_BYTES): Promise<Buffer> {
  let st;
  try {
    st = await fs.stat(file);
  } catch (err) {
    throw new InputError(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, file, { cause: err });
  }
  if (!st.isFile()) {
    const kind = st.isDirectory() ? 'a folder' : st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : 'not a regular file';
    throw new InputError(`${what} ${file} is ${kind}: expected a regular image file`, file);
  }
  if (st.size > maxBytes) {
    throw new InputError(`${what} ${file} is ${st.size} bytes, over the limit of ${maxBytes} bytes for an input file`, file);
  }
  try {
    return await fs.readFile(file);
  } catch (err) {
    throw new InputError(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, file, { cause: err });
  }
}

/**
 * Check, before any work, that files can be written into `dir` (created later if missing): its nearest existing
 * ancestor must be a folder in which a probe folder can be made. Pseudo file systems (/proc, /sys) fail here at once
 * instead of in a recursive mkdir that never returns. `what` names the option in the error (e.g. "--out").
 */
export async function assertWritableFolder(dir: string, what: string): Promise<void> {
  let probe = path.resolve(dir);
  for (;;) {
    try {
      const st = await fs.stat(probe);
      if (!st.isDirectory()) throw new InputError(`${what} ${dir}: ${probe} is not a folder`, dir);
      break;
    } catch (err) {
      if (err instanceof InputError) throw err;
      const parent = path.dirname(probe);
      if (parent === probe) throw new InputError(`${what} ${dir}: no existing folder above it`, dir);
      probe = parent;
    }
  }
  try {
    const t = await fs.mkdtemp(path.join(probe, '.diff2s-probe-'));
    await fs.rmdir(t);
  } catch (err) {
    throw new InputError(`${what} ${dir}: cannot write into ${probe} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, dir, { cause: err });
  }
}

