import { ConfigError, zodErrors } from '@diff2s/core';
import { ConfigErrors } from './load';
import { PipelineConfig } from './schema';

/** Validate a raw pipeline config; every problem becomes one `ERROR: … (at key.path)` line. */
export function parsePipelineConfig(raw: unknown): PipelineConfig {
  const r = PipelineConfig.safeParse(raw, { reportInput: true });
  if (!r.success) throw new ConfigErrors(zodErrors(r.error));
  // rules across keys (the schema checks each key alone)
  const ref = r.data.refiner;
  if (ref && ref.tone > 0 && ref.detail > 0 && ref.tone <= ref.detail) {
    throw new ConfigErrors([new ConfigError(`must be larger than refiner.detail (${ref.detail} px) or 0, got ${ref.tone}`, 'refiner.tone')]);
  }
  return r.data;
}

/** Set `value` at a dotted key path of a plain object (creating objects on the way): flag overrides. */
export function setPath(obj: Record<string, unknown>, keyPath: string, value: unknown): void {
  const keys = keyPath.split('.');
  // a key path never reaches an object's prototype (`--set __proto__.x=1`)
  const bad = keys.find((k) => k === '__proto__' || k === 'constructor' || k === 'prototype' || k === '');
  if (bad !== undefined) throw new ConfigError(`"${keyPath}" is not a config key path (the part "${bad}" is not allowed)`, '--set');
  let cur: Record<string, unknown> = obj;
  for (const k of keys.slice(0, -1)) {
    if (!Object.prototype.hasOwnProperty.call(cur, k) || cur[k] === null || typeof cur[k] !== 'object') cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1]] = value;
}
