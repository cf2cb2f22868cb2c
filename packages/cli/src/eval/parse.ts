/**
 * Eval config validation and sweep expansion. Every problem becomes one `ERROR: … (at key.path)` line
 * ({@link ConfigErrors}); sweeps are checked value by value against the pipeline schema.
 */
import { z } from 'zod';
import { ConfigError, formatZodIssue, zodErrors } from '@diff2s/core';
import { ConfigErrors } from '../config/load';
import { setPath } from '../config/parse';
import { PipelineConfig } from '../config/schema';
import {
  EvalConfig, MaskDirSource, MaskFileSource, MaskGenSource, MethodPipeline, MetricSpec, type MetricName, type Region,
} from './schema';

export type SweepValue = number | string | boolean;

/** One pipeline to evaluate: a method, or one point of a method's sweep. */
export interface EvalRun {
  /** Display name, unique: `patch+refiner tk=100`. */
  name: string;
  /** A file-system-safe unique name (folders, plot files). */
  slug: string;
  method: string;
  methodIndex: number;
  /** The swept keys' values of this run (empty without a sweep). */
  params: Record<string, SweepValue>;
  /** The validated pipeline config (seed filled in). */
  pipeline: PipelineConfig;
}

/** One measured quantity: a metric on a region, e.g. `psnr_hole`, or `boundary`. */
export interface MetricColumn {
  key: string;
  metric: MetricName;
  region?: Region;
  /** Whether larger is better. */
  higherIsBetter: boolean;
  label: string;
  spec: MetricSpec;
  /** Position of its entry in the config's `metrics` list (for messages: `metrics[i]`). */
  index: number;
}

export interface ParsedEval {
  config: EvalConfig;
  runs: EvalRun[];
  columns: MetricColumn[];
}

/** Keys a sweep may not touch (they belong to the eval, not to a method). */
const RESERVED = new Set(['input', 'output', 'samples', '$schema']);

function stripAt(e: ConfigError): string {
  const suffix = ` (at ${e.path})`;
  return e.path && e.message.endsWith(suffix) ? e.message.slice(0, -suffix.length) : e.message;
}

function keyPathLabel(methodIndex: number, key: string): string {
  return `methods[${methodIndex}].sweep["${key}"]`;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * The schema used to parse: union members picked from the raw value (so an error names the key that is wrong instead
 * of "invalid input"), metric names normalised to `{ name }`.
 */
function parseSchemaFor(raw: Record<string, unknown>) {
  const ds = isObj(raw.dataset) ? raw.dataset : {};
  const m = isObj(ds.masks) ? ds.masks : undefined;
  const masks = m && 'dir' in m ? MaskDirSource : m && 'file' in m ? MaskFileSource : m && 'type' in m ? MaskGenSource
    : z.union([MaskDirSource, MaskFileSource, MaskGenSource], { error: 'expected { dir }, { file } or { type, seed?, size? }' });
  return EvalConfig.extend({
    dataset: EvalConfig.shape.dataset.extend({ masks }),
    metrics: z.array(MetricSpec).min(1).default([{ name: 'psnr' }, { name: 'ssim' }, { name: 'l1' }, { name: 'swd' }, { name: 'boundary' }] as never),
  });
}

/**
 * The metric columns of a config, in order: `psnr_hole`, `psnr_image`, `boundary`, … (duplicates dropped; a `classify`
 * entry with another classifier or labels gets its own column `classify_<i>`, i its position in the list).
 */
export function metricColumns(metrics: EvalConfig['metrics']): MetricColumn[] {
  const out: MetricColumn[] = [];
  const seen = new Map<string, string>(); // column key → its spec (JSON)
  for (const [index, m] of metrics.entries()) {
    const spec: MetricSpec = typeof m === 'string' ? { name: m, region: 'hole' } : m;
    // the mask border, the hole's mean colour, the whole result: one column each
    const whole = ['boundary', 'jump', 'jump-ref', 'chroma', 'classify'].includes(spec.name);
    const regions: (Region | undefined)[] = whole ? [undefined] : spec.region === 'both' ? ['hole', 'image'] : [spec.region];
    for (const region of regions) {
      let key = region ? `${spec.name}_${region}` : spec.name;
      if (spec.name === 'classify' && seen.has(key) && seen.get(key) !== JSON.stringify(spec)) key = `classify_${index}`;
      if (seen.has(key)) continue;
      seen.set(key, JSON.stringify(spec));
      const higherIsBetter = spec.name === 'psnr' || spec.name === 'ssim' || spec.name === 'classify';
      const unit = spec.name === 'psnr' ? ' (dB)' : '';
      const title = spec.name === 'boundary' ? 'boundary consistency' : spec.name === 'jump' ? 'seam step'
        : spec.name === 'jump-ref' ? 'seam step of the reference' : spec.name === 'chroma' ? 'hole chroma error'
        : spec.name === 'classify' ? `recognised (classifier${key === 'classify' ? '' : ` of metrics[${index}]`})` : spec.name.toUpperCase();
      const label = `${title}${region ? ` ${region}` : ''}${unit} ${higherIsBetter ? '↑' : '↓'}`;
      out.push({ key, metric: spec.name, region, higherIsBetter, label, spec, index });
    }
  }
  return out;
}

function slugify(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9.=_+-]+/g, '-').replace(/-+/g, '-').replace(/^-|-$/g, '') || 'run';
}

function cartesian(keys: string[], values: SweepValue[][]): Record<string, SweepValue>[] {
  let acc: Record<string, SweepValue>[] = [{}];
  keys.forEach((k, i) => {
    acc = acc.flatMap((p) => values[i].map((v) => ({ ...p, [k]: v })));
  });
  return acc;
}

/**
 * Validate a raw eval config and expand its methods' sweeps into runs. Throws {@link ConfigErrors} listing every
 * problem (one line each, with its key path).
 */
export function parseEvalConfig(raw: unknown): ParsedEval {
  if (!isObj(raw)) throw new ConfigErrors([new ConfigError('an eval config must be a mapping of keys to values')]);
  const normalized: Record<string, unknown> = { ...raw };
  if (Array.isArray(raw.metrics)) normalized.metrics = raw.metrics.map((m) => (typeof m === 'string' ? { name: m } : m));
  const r = parseSchemaFor(raw).safeParse(normalized, { reportInput: true });
  if (!r.success) throw new ConfigErrors(zodErrors(r.error));
  const config = r.data as EvalConfig;
  const errors: ConfigError[] = [];
  const seenErr = new Set<string>();
  const push = (e: ConfigError) => {
    if (!seenErr.has(e.message)) {
      seenErr.add(e.message);
      errors.push(e);
    }
  };
  const rawMethods = raw.methods as Record<string, unknown>[];
  const runs: EvalRun[] = [];
  const names = new Map<string, number>();
  config.methods.forEach((method, mi) => {
    const rawPipeline = isObj(rawMethods[mi].pipeline) ? (rawMethods[mi].pipeline as Record<string, unknown>) : {};
    const sweep = method.sweep ?? {};
    const keys = Object.keys(sweep);
    let bad = false;
    for (const k of keys) {
      if (RESERVED.has(k.split('.')[0])) {
        push(new ConfigError(`cannot sweep "${k}": ${k.split('.')[0]} belongs to the eval config, not to a method`, keyPathLabel(mi, k)));
        bad = true;
      }
    }
    if (bad) return;
    const last = keys.map((k) => k.split('.').pop()!);
    const short = keys.map((k, i) => (last.filter((l) => l === last[i]).length > 1 ? k : last[i]));
    for (const params of cartesian(keys, keys.map((k) => sweep[k]))) {
      const p = structuredClone(rawPipeline);
      for (const k of keys) setPath(p, k, params[k]);
      const mp = MethodPipeline.safeParse(p, { reportInput: true });
      if (!mp.success) {
        for (const issue of mp.error.issues) {
          const e = formatZodIssue(issue);
          const full = [...issue.path.map(String), ...(issue.code === 'unrecognized_keys' ? issue.keys : [])].join('.');
          const key = keys.find((k) => full === k || full.startsWith(`${k}.`) || k.startsWith(`${full}.`) || full === '') ?? keys[0];
          const value = issue.code === 'unrecognized_keys' ? '' : ` = ${JSON.stringify(params[key])}`;
          push(new ConfigError(`sweep "${key}"${value}: ${stripAt(e)}${e.path ? ` at ${e.path}` : ''}`, keyPathLabel(mi, key)));
        }
        continue;
      }
      const pipeline = PipelineConfig.parse({ ...mp.data, seed: mp.data.seed ?? config.seed });
      const name = keys.length ? `${method.name} ${keys.map((k, i) => `${short[i]}=${params[k]}`).join(' ')}` : method.name;
      if (names.has(name)) {
        push(new ConfigError(`duplicate run name "${name}" (also methods[${names.get(name)}]); give the methods distinct names`, `methods[${mi}].name`));
        continue;
      }
      names.set(name, mi);
      runs.push({ name, slug: '', method: method.name, methodIndex: mi, params, pipeline });
    }
  });
  if (errors.length) throw new ConfigErrors(errors);
  const slugs = new Set<string>();
  for (const run of runs) {
    let s = slugify(run.name);
    for (let k = 2; slugs.has(s); k++) s = `${slugify(run.name)}-${k}`;
    slugs.add(s);
    run.slug = s;
  }
  return { config, runs, columns: metricColumns(config.metrics) };
}
