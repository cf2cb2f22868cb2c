import { readFileSync } from 'fs';
import * as path from 'path';

/** The version of `@diff2s/cli` (its package.json, next to `dist/` and `src/` alike). */
export const VERSION: string = (JSON.parse(readFileSync(path.join(__dirname, '../package.json'), 'utf8')) as { version: string }).version;
