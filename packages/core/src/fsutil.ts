import { promises as fs } from 'fs';
import * as path from 'path';

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
