import { promises as fs } from 'fs';
import * as path from 'path';
import YAML from 'yaml';
import { ConfigError, InputError } from '@diff2s/core';

/**
 * Read a YAML (.yaml/.yml) or JSON (.json) config file, chosen by extension.
 * Returns the raw value and the folder relative paths resolve against.
 */
export async function readConfigFile(file: string): Promise<{ value: unknown; baseDir: string }> {
  const ext = path.extname(file).toLowerCase();
  if (!['.yaml', '.yml', '.json'].includes(ext)) {
    throw new InputError(`config ${file}: unknown extension "${ext}" (use .yaml, .yml or .json)`, file);
  }
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read config ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, file, { cause: err });
  }
  let value: unknown;
  try {
    if (ext === '.json') {
      const depth = nestingDepth(text);
      if (depth > MAX_CONFIG_DEPTH) throw new Error(`nested ${depth} levels deep (at most ${MAX_CONFIG_DEPTH})`);
      value = JSON.parse(text);
      // JSON.parse keeps the last of duplicate keys silently; YAML (a superset of JSON) refuses them, as for .yaml
      const dup = YAML.parseDocument(text, { uniqueKeys: true }).errors.find((e) => e.code === 'DUPLICATE_KEY');
      if (dup) throw new Error(dup.message);
    } else {
      if (nestingDepth(text) > MAX_CONFIG_DEPTH) throw new Error(`nested more than ${MAX_CONFIG_DEPTH} levels deep`);
      const doc = YAML.parseDocument(text, { prettyErrors: true });
      if (doc.errors.length) throw doc.errors[0];
      value = doc.toJS();
    }
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0].replace(/:\s*$/, '');
    throw new ConfigError(`config ${file} is not valid ${ext === '.json' ? 'JSON' : 'YAML'}: ${msg}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`config ${file} must be a mapping of keys to values`);
  }
  return { value, baseDir: path.dirname(path.resolve(file)) };
}

/** Configs nest a few levels; deeper ones are refused before parsing (a recursion could overflow the stack). */
export const MAX_CONFIG_DEPTH = 64;

/** The deepest nesting of `[`/`{` in a JSON or flow-YAML text, outside strings. */
function nestingDepth(text: string): number {
  let depth = 0, max = 0;
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = '';
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '{' || ch === '[') max = Math.max(max, ++depth);
    else if (ch === '}' || ch === ']') depth--;
  }
  return max;
}

/** Resolve `p` against `baseDir` unless absolute. */
export function resolvePath(baseDir: string, p: string): string {
  return path.isAbsolute(p) ? p : path.resolve(baseDir, p);
}

/** A config problem list: all collected ConfigErrors, reported one line each. */
export class ConfigErrors extends ConfigError {
  constructor(readonly errors: ConfigError[]) {
    super(errors.map((e) => e.message).join('\nERROR: '), '');
  }
}
