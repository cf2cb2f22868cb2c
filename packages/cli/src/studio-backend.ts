import { existsSync, promises as fs, readdirSync } from 'fs';
import * as path from 'path';
import YAML from 'yaml';
import {
  CancelledError, ConfigError, Diff2sContainer, GuideContext, NoiseSchedule, createContainer,
} from '@diff2s/core';
import { engineModule, type AnyLoadedModel as LoadedModel } from '@diff2s/engine';
import { guidesModule } from '@diff2s/guides';
import { checkRefinerSampler, inpaint } from '@diff2s/refiner';
import type {
  StudioBackend, StudioDescription, StudioExample, StudioPipeline, StudioRunHooks, StudioRunRequest, StudioRunResult,
} from '@diff2s/studio';
import { scheduleFromCard } from './compose';
import { ConfigErrors } from './config/load';
import { parsePipelineConfig } from './config/parse';

/** Guides whose options name files: they cannot be run from a web request (no request path reaches the disk). */
const FILE_GUIDES = new Set(['file', 'onnx']);

export interface StudioBackendOptions {
  /** Folders holding model folders (each with a model.json); a model's id is its folder name. */
  modelDirs: string[];
  /** Folder of example images: `<name>.png` with an optional `<name>-mask.png`. */
  examplesDir: string;
  /** Model id the default pipeline uses (default: the first). */
  defaultModel?: string;
}

/**
 * The studio's real backend: the same registries and pipeline API as the CLI. Models and examples are found once,
 * at start, in the configured folders; requests name them by id. Loaded models are cached (the studio runs one job
 * per model at a time).
 */
export class PipelineStudioBackend implements StudioBackend {
  readonly container: Diff2sContainer = createContainer(engineModule, guidesModule);
  private readonly models = new Map<string, string>();
  private readonly loaded = new Map<string, Promise<{ model: LoadedModel; schedule: NoiseSchedule }>>();

  constructor(private readonly options: StudioBackendOptions) {
    for (const dir of options.modelDirs) {
      if (!existsSync(dir)) continue;
      if (existsSync(path.join(dir, 'model.json'))) this.models.set(path.basename(dir), dir);
      for (const name of readdirSync(dir).sort()) {
        const p = path.join(dir, name);
        if (existsSync(path.join(p, 'model.json'))) this.models.set(name, p);
      }
    }
  }

  /** Model ids found in the configured folders. */
  modelIds(): string[] {
    return [...this.models.keys()];
  }

  private defaultModel(): string | undefined {
    return this.options.defaultModel && this.models.has(this.options.defaultModel) ? this.options.defaultModel : this.modelIds()[0];
  }

  private load(id: string): Promise<{ model: LoadedModel; schedule: NoiseSchedule }> {
    const dir = this.models.get(id);
    if (!dir) throw new ConfigError(`unknown model "${id}"; available: ${this.modelIds().join(', ') || '(none)'}`, 'model');
    let p = this.loaded.get(id);
    if (!p) {
      p = (async () => {
        const ctx: GuideContext = { container: this.container, baseDir: dir, logger: this.container.logger };
        const model = (await this.container.modelLoaders.create('native', { path: dir }, ctx, 'model')) as LoadedModel;
        return { model, schedule: scheduleFromCard(this.container, model) };
      })();
      p.catch(() => this.loaded.delete(id));
      this.loaded.set(id, p);
    }
    return p;
  }

  async describe(): Promise<StudioDescription> {
    const guides = this.container.guides.list()
      .filter((e) => !FILE_GUIDES.has(e.name))
      .map((e) => {
        const parsed = e.configSchema.safeParse(e.name === 'diffusion' ? { model: this.defaultModel() ?? 'none' } : {});
        const options = parsed.success ? (parsed.data as Record<string, unknown>) : undefined;
        return { name: e.name, description: e.description, ...(options ? { options } : {}) };
      })
      .filter((g) => g.name !== 'diffusion' || this.models.size > 0);
    const id = this.defaultModel();
    const maxTk = id ? (await this.load(id)).schedule.T : 0;
    return {
      guides,
      samplers: ['ddpm', 'ddim', 'repaint'],
      refinerAvailable: !!id,
      maxTk,
      defaultPipeline: { guide: { type: 'patch' }, refiner: id ? { enabled: true, tk: Math.min(200, maxTk), sampler: { type: 'ddpm' } } : undefined, seed: 0, samples: 1 },
      models: this.modelIds(),
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
      refiner: cfg.refiner ? { enabled: cfg.refiner.enabled, tk: cfg.refiner.tk, sampler: cfg.refiner.sampler } : undefined,
      seed: cfg.seed,
      samples: cfg.samples,
    };
  }

  private checkGuide(guide: { type: string; [k: string]: unknown }): void {
    if (FILE_GUIDES.has(guide.type)) {
      throw new ConfigError(`guide "${guide.type}" reads files named in its config and is not available in the studio`, 'guide.type');
    }
  }

  async run(req: StudioRunRequest, hooks: StudioRunHooks): Promise<StudioRunResult> {
    const p = req.pipeline;
    this.checkGuide(p.guide);
    const modelId = req.model ?? this.defaultModel();
    const ctx: GuideContext = { container: this.container, baseDir: process.cwd(), logger: this.container.logger };
    const { type, ...guideOptions } = p.guide;
    if (type === 'diffusion') {
      // a model id, resolved to its folder here: request strings never become paths
      const id = typeof guideOptions.model === 'string' && this.models.has(guideOptions.model) ? guideOptions.model : modelId;
      if (!id) throw new ConfigError('no model is available for the diffusion guide', 'guide.model');
      guideOptions.model = this.models.get(id)!;
    }
    const guide = this.container.guides.create(type, guideOptions, ctx, 'guide');
    let refiner;
    if (p.refiner?.enabled) {
      if (!modelId) throw new ConfigError('no model is available for the refiner', 'refiner');
      const { model, schedule } = await this.load(modelId);
      const s = p.refiner.sampler ?? { type: 'ddpm' };
      checkRefinerSampler(s.type);
      const { type: st, ...sRest } = s;
      const sampler = this.container.samplers.create(st, sRest, undefined, 'refiner.sampler');
      const { enabled: _e, sampler: _s, ...options } = p.refiner;
      if ((options.tk ?? 200) > schedule.T) throw new ConfigError(`T_k = ${options.tk} exceeds the model's schedule length T = ${schedule.T}`, 'refiner.tk');
      refiner = { network: model, schedule, sampler, options };
    }
    try {
      const res = await inpaint({
        image: req.image,
        mask: req.mask,
        guide,
        refiner,
        seed: p.seed,
        samples: p.samples,
        signal: hooks.signal,
        onProgress: (e) => {
          if (e.stage === 'guide') hooks.onProgress({ stage: 'guide', fraction: e.fraction });
          else hooks.onProgress({ stage: 'refiner', step: e.step.index, total: e.step.total, preview: e.step.x0Pred.clone() });
        },
      });
      return { stage1: res.stage1, stage2: res.stage2 };
    } catch (err) {
      if (hooks.signal.aborted) throw new CancelledError('cancelled');
      throw err;
    } finally {
      await guide.dispose?.();
    }
  }

  /** Free the cached models. */
  async dispose(): Promise<void> {
    for (const p of this.loaded.values()) await (await p.catch(() => undefined))?.model.dispose();
    this.loaded.clear();
  }
}

