import * as path from 'path';
import YAML from 'yaml';
import {
  ConfigError, Diff2sContainer, InputError, applyMask, Tensor4, exitCodeFor, loadMask, readImage, writeImage, knownPixelViolations,
} from '@diff2s/core';
import { inpaint } from '@diff2s/refiner';
import { composePipeline } from '../compose';
import { ConfigErrors, readConfigFile, resolvePath } from '../config/load';
import { parsePipelineConfig, setPath } from '../config/parse';
import type { PipelineConfig } from '../config/schema';
import { pairInputs, InputPair } from '../inputs';
import { Progress } from '../progress';
import { sideBySide } from '../sheet';

/** The repository's examples folder (the embedded default config and data live there). */
export const EXAMPLES_DIR = path.resolve(__dirname, '../../../../examples');
export const DEFAULT_CONFIG = path.join(EXAMPLES_DIR, 'default.yaml');

export interface InpaintFlags {
  config?: string;
  image?: string;
  mask?: string;
  maskConvention?: string;
  out?: string;
  seed?: number;
  samples?: number;
  concat?: boolean;
  tk?: number;
  /** `key.path=value` overrides (value parsed as YAML: numbers, booleans, lists). */
  set?: string[];
  quiet?: boolean;
}

export interface InpaintSummary {
  done: { image: string; outputs: string[] }[];
  failed: { image: string; error: string; code: number }[];
  skipped: string[];
}

const IMG_EXT = /\.(png|jpe?g|webp)$/i;

/**
 * `diff2s inpaint`: guide → refiner → outputs, for one image or a folder (batch).
 * Flags override the config; flag paths resolve against the working directory, config paths against the config's folder.
 */
export async function inpaintCommand(flags: InpaintFlags, container: Diff2sContainer): Promise<InpaintSummary> {
  const cfgFile = flags.config ?? DEFAULT_CONFIG;
  const { value, baseDir } = await readConfigFile(cfgFile);
  const raw = structuredClone(value) as Record<string, unknown>;
  const cwd = process.cwd();
  if (flags.image !== undefined) setPath(raw, 'input.image', path.resolve(cwd, flags.image));
  if (flags.mask !== undefined) setPath(raw, 'input.mask', path.resolve(cwd, flags.mask));
  if (flags.maskConvention !== undefined) setPath(raw, 'input.maskConvention', flags.maskConvention);
  if (flags.seed !== undefined) setPath(raw, 'seed', flags.seed);
  if (flags.samples !== undefined) setPath(raw, 'samples', flags.samples);
  if (flags.concat !== undefined) setPath(raw, 'output.concat', flags.concat);
  if (flags.tk !== undefined) setPath(raw, 'refiner.tk', flags.tk);
  for (const kv of flags.set ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new ConfigError(`expected key.path=value, got "${kv}"`, '--set');
    setPath(raw, kv.slice(0, eq).trim(), YAML.parse(kv.slice(eq + 1)));
  }
  const cfg = parsePipelineConfig(raw);
  if (!cfg.input) throw new ConfigErrors([new ConfigError('expected an input image (set input.image or pass --image)', 'input')]);
  // output: a flag is relative to cwd; a config value to the config's folder; the default to cwd
  const outSpec = flags.out !== undefined ? path.resolve(cwd, flags.out)
    : (value as { output?: { dir?: string } }).output?.dir ? resolvePath(baseDir, cfg.output.dir) : path.resolve(cwd, cfg.output.dir);
  const imagePath = resolvePath(baseDir, cfg.input.image);
  const maskPath = cfg.input.mask ? resolvePath(baseDir, cfg.input.mask) : undefined;
  const { pairs, unmatched, batch } = await pairInputs(imagePath, maskPath);
  if (!maskPath && !cfg.input.alphaAsMask) {
    throw new ConfigErrors([new ConfigError('expected a mask (set input.mask, pass --mask, or set input.alphaAsMask: true)', 'input.mask')]);
  }
  const pipeline = await composePipeline(cfg, baseDir, container);
  const log = (m: string) => { if (!flags.quiet) process.stderr.write(`${m}\n`); };
  log(`diff2s: ${pipeline.summary}`);
  const summary: InpaintSummary = { done: [], failed: [], skipped: unmatched };
  for (const u of unmatched) log(`skipped ${u}: no mask with the same file stem in ${maskPath}`);
  const steps = pipeline.refiner ? pipeline.refiner.sampler.plannedSteps(cfg.refiner!.strategy === 'start' ? pipeline.refiner.schedule.T : cfg.refiner!.tk, pipeline.refiner.schedule) : 0;
  const bar = new Progress(batch ? 'images' : 'inpaint', !flags.quiet);
  const unitsPerImage = 1 + steps;
  bar.start(pairs.length * unitsPerImage);
  const singleFile = !batch && IMG_EXT.test(outSpec) && cfg.samples === 1;
  try {
    for (let i = 0; i < pairs.length; i++) {
      const pair = pairs[i];
      const base = i * unitsPerImage;
      try {
        const outputs = await runOne(pair, cfg, pipeline, outSpec, singleFile, (k, info) => bar.update(base + k, `${i + 1}/${pairs.length} ${info}`));
        summary.done.push({ image: pair.image, outputs });
      } catch (err) {
        if (!batch || err instanceof ConfigErrors) throw err;
        const msg = err instanceof Error ? err.message : String(err);
        summary.failed.push({ image: pair.image, error: msg, code: exitCodeFor(err) });
        bar.stop();
        log(`ERROR: ${msg} (skipped)`);
      }
      bar.update((i + 1) * unitsPerImage, `${i + 1}/${pairs.length}`);
    }
  } finally {
    bar.stop();
    await pipeline.dispose();
  }
  if (batch) log(`done: ${summary.done.length} written, ${summary.failed.length} failed, ${summary.skipped.length} skipped (no mask)`);
  return summary;
}

async function runOne(
  pair: InputPair,
  cfg: PipelineConfig,
  pipeline: Awaited<ReturnType<typeof composePipeline>>,
  outSpec: string,
  singleFile: boolean,
  progress: (units: number, info: string) => void,
): Promise<string[]> {
  const input = cfg.input!;
  const img = await readImage(pair.image, {
    pixelLimit: input.pixelLimit,
    alpha: pair.mask ? 'drop' : 'mask',
    channels: pipeline.channels,
  });
  let mask: Tensor4;
  if (pair.mask) {
    mask = await loadMask(pair.mask, {
      convention: input.maskConvention,
      expect: { width: img.width, height: img.height },
      resize: input.resizeMask,
      onWarning: (w) => process.stderr.write(`${w}\n`),
    });
  } else {
    if (!img.alphaMask) throw new InputError(`${pair.image} has no alpha channel to use as the mask (give input.mask)`, pair.image);
    mask = img.alphaMask;
  }
  let holes = 0;
  for (let k = 0; k < mask.size; k++) holes += mask.data[k];
  if (holes === 0) throw new InputError(`mask ${pair.mask ?? pair.image} has no hole (all pixels known): nothing to inpaint`, pair.mask ?? pair.image);
  const sz = pipeline.guide.sizes;
  if (holes === mask.size && !sz.fullMask) {
    throw new InputError(`mask ${pair.mask ?? pair.image} covers the whole image: guide "${pipeline.guide.name}" needs known pixels`, pair.mask ?? pair.image);
  }
  const res = await inpaint({
    image: img.tensor,
    mask,
    guide: pipeline.guide,
    refiner: pipeline.refiner,
    seed: cfg.seed,
    samples: cfg.samples,
    onProgress: (e) => {
      if (e.stage === 'guide') progress(0, `guide ${Math.round(e.fraction * 100)}%`);
      else progress(1 + e.step.index, `step ${e.step.index}/${e.step.total} (t=${e.step.t})`);
    },
  });
  const final = res.stage2 ?? res.stage1;
  const bad = knownPixelViolations(final, res.image, res.mask);
  if (bad) throw new Error(`internal error: ${bad} known pixels changed (the output would violate the known-pixel invariant)`);
  const ext = cfg.output.format === 'jpeg' ? 'jpg' : cfg.output.format;
  const outputs: string[] = [];
  const n = final.n;
  for (let k = 0; k < n; k++) {
    const suffix = n > 1 ? `_${k}` : '';
    const stemDir = singleFile ? path.dirname(outSpec) : outSpec;
    const finalName = singleFile ? outSpec : path.join(stemDir, `${pair.stem}${suffix}_${res.stage2 ? 'stage2' : 'stage1'}.${ext}`);
    const files: [string, Tensor4][] = [[finalName, final.slice(k)]];
    if (res.stage2 && cfg.output.stage1) {
      const s1 = singleFile ? path.join(stemDir, `${path.basename(outSpec, path.extname(outSpec))}_stage1${path.extname(outSpec)}`)
        : path.join(stemDir, `${pair.stem}${suffix}_stage1.${ext}`);
      files.push([s1, res.stage1.slice(k)]);
    }
    if (cfg.output.concat) {
      const masked = applyMask(res.image.slice(k), res.mask.slice(k), 0); // the incomplete input: hole in mid-grey
      const panels = [{ tensor: masked }, { tensor: res.mask.slice(k), isMask: true }, { tensor: res.stage1.slice(k) }];
      if (res.stage2) panels.push({ tensor: res.stage2.slice(k) });
      files.push([path.join(stemDir, `${pair.stem}${suffix}_sheet.png`), sideBySide(panels)]);
    }
    for (const [f, t] of files) {
      await writeImage(f, t, { format: /\.png$/i.test(f) ? 'png' : cfg.output.format });
      outputs.push(f);
    }
  }
  return outputs;
}
