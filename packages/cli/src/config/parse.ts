import { zodErrors } from '@diff2s/core';
import { ConfigErrors } from './load';
import { PipelineConfig } from './schema';

/** Validate a raw pipeline config; every problem becomes one `ERROR: … (at key.path)` line. */
export function parsePipelineConfig(raw: unknown): PipelineConfig {
  const r = PipelineConfig.safeParse(raw, { reportInput: true });
  if (!r.success) throw new ConfigErrors(zodErrors(r.error));
  return r.data;
}

/** Set `value` at a dotted key path of a plain object (creating objects on the way): flag overrides. */
export function setPath(obj: Record<string, unknown>, keyPath: string, value: unknown): void {
  const keys = keyPath.split('.');
  let cur: Record<string, unknown> = obj;
  for (const k of keys.slice(0, -1)) {
    if (cur[k] === undefined || cur[k] === null || typeof cur[k] !== 'object') cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1]] = value;
}
