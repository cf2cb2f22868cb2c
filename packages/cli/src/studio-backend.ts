import { existsSync, promises as fs, readdirSync } from 'fs';
import * as path from 'path';
import YAML from 'yaml';
import { z } from 'zod';
import {
  CancelledError, ConfigError, Diff2sContainer, NoiseSchedule,
} from '@diff2s/core';
import { checkRefinerSampler } from '@diff2s/refiner';
import type {
  StudioBackend, StudioDescription, StudioExample, StudioPipeline, StudioRunHooks, StudioRunRequest, StudioRunResult,
} from '@diff2s/studio';
import { ConfigErrors } from './config/load';
import { parsePipelineConfig } from './config/parse';
import { FitConfig, HdConfig } from './config/schema';
import { fitSchedule } from './fit';
import { COLOUR_PRIOR, ModelResolver, SHIPPED_MODELS_DIR } from './models';
import { cliContainer, createPipeline } from './pipeline';

/** The model id that fits a model to each job's image (warm-started from the shipped colour prior). */
export const FIT_MODEL_ID = 'fit';

/** The JSON Schema of a part's options (zod), for the page's option forms; undefined when it cannot be written. */
export function optionsJsonSchema(schema: unknown): Record<string, unknown> | undefined {
  try {
    return z.toJSONSchema(schema as z.ZodType, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** The samplers that can drive the refiner, in the page's order. */
const REFINER_SAMPLER_NAMES = ['ddpm', 'ddim', 'repaint'];

/** Guides whose options name files: they cannot be run from a web request (no request path reaches the disk). */
const FILE_GUIDES = new Set(['file', 'onnx']);

export interface StudioBackendOptions {
  /** Folders holding model folders (each with a model.json); a model's id is its folder name. */
  modelDirs: string[];
  /** Folder of example images: `<name>.png` with an optional `<name>-mask.png`. */
  examplesDir: string;
  /** Model id the default pipeline uses (default: `fit` when fitting is possible, else the first). */
  defaultModel?: string;
  /**
   * Offer fitting a model to each image (model id `fit`; default true, when the colour prior is shipped); an object
   * gives the fit settings (`model.fit` keys, e.g. `{ seconds: 30 }`).
   */
  fit?: boolean | Record<string, unknown>;
  /**
   * ONNX inpainting networks (LaMa, MAT, MI-GAN, …) the `onnx` guide may run, as files given when the studio starts
   * (`diff2s serve --onnx-model path`). Requests name them by id (the file name without `.onnx`), never by path.
   */
  onnxModels?: string[];
}

/** The onnx guide's profile a model file's name suggests (lama unless the name says mat or migan). */
export function onnxProfileOf(file: string): 'lama' | 'mat' | 'migan' {
  const n = path.basename(file).toLowerCase();
  return /mi-?gan/.test(n) ? 'migan' : /(^|[^a-z])mat([^a-z]|$)/.test(n) ? 'mat' : 'lama';
}

/**
 * The studio's real backend: the same registries and pipeline API as the CLI. Models and examples are found once,
 * at start, in the configured folders; requests name them by id. Loaded models are cached (the studio runs one job
 * per model at a time).
 */
export class PipelineStudioBackend implements StudioBackend {
  readonly container: Diff2sContainer = cliContainer();
  private readonly models = new Map<string, string>();
  /** The same model resolver as every pipeline runner: one load per model, shared by the jobs. */
  private readonly resolver = new ModelResolver(this.container, process.cwd(), this.container.logger);
  private fitAvailable = false;
  /** ONNX guide models: id → absolute path. */
  private readonly onnx = new Map<string, string>();

  constructor(private readonly options: StudioBackendOptions) {
    for (const file of options.onnxModels ?? []) {
      const abs = path.resolve(file);
      if (!existsSync(abs)) throw new ConfigError(`ONNX model ${file} does not exist`, 'onnxModels');
      const stem = path.basename(abs).replace(/\.onnx$/i, '') || 'model';
      let id = stem;
      for (let k = 2; this.onnx.has(id); k++) id = `${stem}-${k}`;
      this.onnx.set(id, abs);
    }
    this.fitAvailable = options.fit !== false && existsSync(path.join(SHIPPED_MODELS_DIR, COLOUR_PRIOR, 'model.json'));
    for (const dir of options.modelDirs) {
      if (!existsSync(dir)) continue;
      if (existsSync(path.join(dir, 'model.json'))) this.models.set(path.basename(dir), dir);
      for (const name of readdirSync(dir).sort()) {
        const p = path.join(dir, name);
        if (existsSync(path.join(p, 'model.json'))) this.models.set(name, p);
      }
    }
  }

  /** Ids of the ONNX guide models given at start. */
  onnxModelIds(): string[] {
    return [...this.onnx.keys()];
  }

  /** Model ids: `fit` (when offered), then the folders found. */
  modelIds(): string[] {
    return [...(this.fitAvailable ? [FIT_MODEL_ID] : []), ...this.models.keys()];
  }

  private defaultModel(): string | undefined {
    const ids = this.modelIds();
    return this.options.defaultModel && ids.includes(this.options.defaultModel) ? this.options.defaultModel : ids[0];
  }

  private async scheduleOf(id: string): Promise<NoiseSchedule> {
    if (id === FIT_MODEL_ID && this.fitAvailable) return fitSchedule(this.container, FitConfig.parse({}), process.cwd());
    const dir = this.models.get(id);
    if (!dir) throw new ConfigError(`unknown model "${id}"; available: ${this.modelIds().join(', ') || '(none)'}`, 'model');
    return (await this.resolver.resolve({ path: dir }, 'model')).schedule;
  }

  async describe(): Promise<StudioDescription> {
    const onnxIds = this.onnxModelIds();
    const guides = this.container.guides.list()
      .filter((e) => !FILE_GUIDES.has(e.name) || (e.name === 'onnx' && onnxIds.length > 0))
      .map((e) => {
        const start = e.name === 'diffusion' ? { model: this.defaultModel() ?? 'none' }
          : e.name === 'onnx' ? { model: onnxIds[0], profile: onnxProfileOf(this.onnx.get(onnxIds[0])!) } : {};
        const parsed = e.configSchema.safeParse(start);
        const options = parsed.success ? (parsed.data as Record<string, unknown>) : undefined;
        const schema = optionsJsonSchema(e.configSchema);
        if (e.name === 'onnx' && schema && schema.properties && typeof schema.properties === 'object') {
          // the model is one of the files the studio was started with, by id
          (schema.properties as Record<string, unknown>).model = { type: 'string', enum: onnxIds, description: 'an ONNX model the studio was started with (--onnx-model)' };
        }
        return { name: e.name, description: e.description, ...(options ? { options } : {}), ...(schema ? { schema } : {}) };
      })
      .filter((g) => g.name !== 'diffusion' || this.models.size > 0);
    const id = this.defaultModel();
    const maxTk = id ? (await this.scheduleOf(id)).T : 0;
    return {
      guides,
      samplers: [...REFINER_SAMPLER_NAMES],
      samplerSchemas: Object.fromEntries(REFINER_SAMPLER_NAMES.flatMap((n) => {
        const entry = this.container.samplers.list().find((e) => e.name === n);
        const schema = entry ? optionsJsonSchema(entry.configSchema) : undefined;
        return schema ? [[n, schema]] : [];
      })),
      refinerAvailable: !!id,
      maxTk,
      defaultPipeline: { guide: { type: 'patch' }, refiner: id ? { enabled: true, tk: Math.min(100, maxTk), sampler: { type: 'ddim', steps: 5, spacing: 'start' } } : undefined, seed: 0, samples: 1 },
      models: this.modelIds(),
      hdStrategies: [...HdConfig.shape.strategy.unwrap().options],
    };
  }

  async examples(): Promise<StudioExample[]> {
    const dir = this.options.examplesDir;
    if (!existsSync(dir)) return [];
    const names = readdirSync(dir).filter((n) => n.endsWith('.png') && !n.includes('-mask') && !n.includes('-fill') && !/-\d+\.png$/.test(n)).sort();
    const out: StudioExample[] = [];
    for (const n of names) {
      const stem = n.slice(0, -4);
      const maskFile = path.join(dir, `${stem}-mask.png`);
      out.push({
        id: stem,
        name: stem,
        image: await fs.readFile(path.join(dir, n)),
        ...(existsSync(maskFile) ? { mask: await fs.readFile(maskFile) } : {}),
      });
    }
    return out;
  }

  async parsePipeline(input: unknown): Promise<StudioPipeline> {
    let value = input;
    if (typeof input === 'string') {
      try {
        value = YAML.parse(input); // YAML is a superset of JSON
      } catch (err) {
        throw new ConfigError(`pipeline config is not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError('a pipeline config must be a mapping');
    const { input: _i, output: _o, model: _m, ...rest } = value as Record<string, unknown>;
    let cfg;
    try {
      cfg = parsePipelineConfig(rest);
    } catch (err) {
      if (err instanceof ConfigErrors) throw err.errors[0];
      throw err;
    }
    this.checkGuide(cfg.guide);
    if (cfg.refiner) checkRefinerSampler(cfg.refiner.sampler.type);
    return {
      guide: cfg.guide,
      // every refiner key (detail, tone, guard, crop, ...), not only the ones the page's form edits
      refiner: cfg.refiner ? { ...cfg.refiner } : undefined,
      seed: cfg.seed,
      samples: cfg.samples,
      hd: cfg.hd,
    };
  }

  private checkGuide(guide: { type: string; [k: string]: unknown }): void {
    if (guide.type === 'onnx' && this.onnx.size > 0) {
      if (typeof guide.model !== 'string' || !this.onnx.has(guide.model)) {
        throw new ConfigError(
          `unknown ONNX model ${JSON.stringify(guide.model)}: name one the studio was started with (--onnx-model): ${this.onnxModelIds().join(', ')}`,
          'guide.model',
        );
      }
      return;
    }
    if (FILE_GUIDES.has(guide.type)) {
      throw new ConfigError(`guide "${guide.type}" reads files named in its config and is not available in the studio`, 'guide.type');
    }
  }

  async run(req: StudioRunRequest, hooks: StudioRunHooks): Promise<StudioRunResult> {
    const p = req.pipeline;
    this.checkGuide(p.guide);
    const modelId = req.model ?? this.defaultModel();
    const { type, ...guideOptions } = p.guide;
    if (type === 'diffusion') {
      // a model id, resolved to its folder here: request strings never become paths
      const id = typeof guideOptions.model === 'string' && this.models.has(guideOptions.model) ? guideOptions.model
        : modelId && this.models.has(modelId) ? modelId : [...this.models.keys()][0];
      if (!id) throw new ConfigError('no model is available for the diffusion guide', 'guide.model');
      guideOptions.model = this.models.get(id)!;
    }
    // an id given at start, resolved to its file here (checkGuide refused any other string)
    if (type === 'onnx') guideOptions.model = this.onnx.get(guideOptions.model as string)!;
    const refinerOn = !!p.refiner?.enabled;
    if (refinerOn && !modelId) throw new ConfigError('no model is available for the refiner', 'refiner');
    if (refinerOn && modelId !== FIT_MODEL_ID && !this.models.has(modelId!)) {
      throw new ConfigError(`unknown model "${modelId}"; available: ${this.modelIds().join(', ') || '(none)'}`, 'model');
    }
    const { enabled: _e, ...refiner } = p.refiner ?? { enabled: false };
    const cfg = {
      seed: p.seed,
      samples: p.samples,
      guide: { type, ...guideOptions },
      ...(p.hd ? { hd: p.hd } : {}),
      ...(refinerOn ? {
        refiner,
        model: modelId === FIT_MODEL_ID ? { fit: typeof this.options.fit === 'object' ? { ...this.options.fit } : {} } : { path: this.models.get(modelId!)! },
      } : {}),
    };
    const pipeline = await createPipeline(cfg, { container: this.container, baseDir: process.cwd(), models: this.resolver });
    try {
      const res = await pipeline.run({
        image: req.image,
        mask: req.mask,
        signal: hooks.signal,
        // stage 1 is shown (as the preview) as soon as it exists, while the fit and the refiner run
        onStage1: (s1) => hooks.onProgress({ stage: 'guide', fraction: 1, label: 'stage 1 ready', preview: s1.slice(0) }),
        onProgress: (e) => {
          if (e.stage === 'guide') hooks.onProgress({ stage: 'guide', fraction: e.fraction });
          else if (e.stage === 'fit') {
            hooks.onProgress({ stage: 'fit', fraction: e.fit.fraction, step: e.fit.step, label: `step ${e.fit.step}, ${Math.round(e.fit.seconds)} / ${Math.round(e.fit.budget)} s` });
          } else if (e.stage === 'validate') {
            hooks.onProgress({ stage: 'fit', fraction: 1, label: `checking on a held-out region: ${e.label}` });
          } else hooks.onProgress({ stage: 'refiner', step: e.step.index, total: e.step.total, preview: e.step.x0Pred.clone() });
        },
      });
      return { stage1: res.stage1, stage2: res.stage2 ? res.final : undefined };
    } catch (err) {
      if (hooks.signal.aborted) throw new CancelledError('cancelled');
      throw err;
    } finally {
      await pipeline.dispose();
    }
  }

  /** Free the cached models. */
  async dispose(): Promise<void> {
    await this.resolver.dispose();
  }
}

