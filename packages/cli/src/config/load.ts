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
    if (ext === '.json') value = JSON.parse(text);
    else {
      const doc = YAML.parseDocument(text, { prettyErrors: true });
      if (doc.errors.length) throw doc.errors[0];
      value = doc.toJS();
    }
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0];
    throw new ConfigError(`config ${file} is not valid ${ext === '.json' ? 'JSON' : 'YAML'}: ${msg}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`config ${file} must be a mapping of keys to values`);
  }
  return { value, baseDir: path.dirname(path.resolve(file)) };
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
