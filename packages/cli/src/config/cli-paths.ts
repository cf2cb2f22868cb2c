import * as path from 'path';

/**
 * The pipeline config keys that hold paths, each with the values that are names rather than paths. A path written in
 * a config file resolves against the config's folder; one given on the command line (a flag, or `--set key=value`)
 * against the current directory, as a user typing it expects.
 */
export const PATH_KEYS: Readonly<Record<string, readonly string[]>> = {
  'input.image': [],
  'input.mask': [],
  'output.dir': [],
  'model.path': [],
  'model.fit.init': ['prior', 'none'],
  'model.fit.keep': [],
  'guide.model': ['fit'], // diffusion: a model folder (or `fit`); onnx: an .onnx file
  'guide.path': [], // file: one result file
  'guide.dir': [], // file: a folder of results
};

/**
 * A `--set key=value` value with its paths made absolute against `cwd`: the value of a path key, or the path keys inside
 * an object set at once (`--set 'model={path: ../m}'`). Other values are returned as they are.
 */
export function resolveCommandLinePaths(key: string, value: unknown, cwd: string): unknown {
  const names = PATH_KEYS[key];
  if (names) return typeof value === 'string' && value !== '' && !names.includes(value) ? path.resolve(cwd, value) : value;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = resolveCommandLinePaths(`${key}.${k}`, v, cwd);
    return out;
  }
  return value;
}
