import type { z } from 'zod';
import { ConfigError } from './errors';

type Issue = z.core.$ZodIssue;

/** Join a key path like `refiner.tk` or `pipelines[2].guide`. */
export function joinPath(prefix: string, parts: readonly PropertyKey[]): string {
  let out = prefix;
  for (const p of parts) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out;
}

/** One zod issue as a {@link ConfigError} whose message reads `expected number (at refiner.tk)`. */
export function formatZodIssue(issue: Issue, prefix = ''): ConfigError {
  const path = joinPath(prefix, issue.path as PropertyKey[]);
  let msg: string;
  switch (issue.code) {
    case 'unrecognized_keys':
      msg = issue.keys.length === 1 ? `unknown key "${issue.keys[0]}"` : `unknown keys ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
      break;
    case 'invalid_type':
      msg = `expected ${issue.expected}` + (issue.input === undefined ? ' (missing)' : `, got ${describe(issue.input)}`);
      break;
    default:
      msg = issue.message;
  }
  return new ConfigError(msg, path);
}

/** All issues of a failed parse, one ConfigError each. */
export function zodErrors(error: z.ZodError, prefix = ''): ConfigError[] {
  return error.issues.map((i) => formatZodIssue(i, prefix));
}

/** Parse `value` with `schema` or throw the first problem as a ConfigError (key path under `prefix`). */
export function parseConfig<T>(schema: z.ZodType<T>, value: unknown, prefix = ''): T {
  const r = schema.safeParse(value, { reportInput: true });
  if (!r.success) throw formatZodIssue(r.error.issues[0], prefix);
  return r.data;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? 'NaN (.nan)' : `${v > 0 ? '' : '-'}infinity (.inf)`;
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'string') return `string "${v.length > 30 ? v.slice(0, 27) + '...' : v}"`;
  return typeof v;
}
