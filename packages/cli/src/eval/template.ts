/**
 * Per-image method configs: `{stem}` in any string value of a method's pipeline (a model path, the `file` guide's
 * path, …) is replaced by the image file's stem, so one method can use one model per image (seed 000 trains one frugal
 * model per texture) or read each image's externally made fill. In YAML, quote such a value inside a flow mapping
 * (`model: { path: 'models/{stem}' }`): unquoted braces there are YAML syntax.
 */
import { stemOf } from '../inputs';
import type { PipelineConfig } from '../config/schema';

/** The placeholder replaced by the image file's stem (file name without folder and extension). */
export const STEM_PLACEHOLDER = '{stem}';

/** Whether any string value of `value` contains `{stem}`. */
export function usesStem(value: unknown): boolean {
  if (typeof value === 'string') return value.includes(STEM_PLACEHOLDER);
  if (Array.isArray(value)) return value.some(usesStem);
  if (value !== null && typeof value === 'object') return Object.values(value).some(usesStem);
  return false;
}

function substitute(value: unknown, stem: string): unknown {
  if (typeof value === 'string') return value.split(STEM_PLACEHOLDER).join(stem);
  if (Array.isArray(value)) return value.map((v) => substitute(v, stem));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, stem)]));
  }
  return value;
}

/** The pipeline config for one image: a copy with every `{stem}` replaced (the config itself is returned when it has none). */
export function pipelineForImage(pipeline: PipelineConfig, imageFile: string): PipelineConfig {
  if (!usesStem(pipeline)) return pipeline;
  return substitute(pipeline, stemOf(imageFile)) as PipelineConfig;
}
