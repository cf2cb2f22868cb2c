import * as path from 'path';
import {
  ConfigError, Diff2sContainer, GuideContext, Logger, ModelSource, NoiseSchedule,
} from '@diff2s/core';
import type { AnyLoadedModel } from '@diff2s/engine';

/** The repository's shipped model folders (`models/<name>`). */
export const SHIPPED_MODELS_DIR = path.resolve(__dirname, '../../../models');
/** The shipped colour prior: the default refiner model when fitting is off, and what fitting starts from. */
export const COLOUR_PRIOR = 'frugal-colour';

/** A model to load: a folder, its loader (`format`) and the engine to run it on. */
export interface ModelSpec {
  path: string;
  format?: string;
  engine?: 'auto' | 'tfjs' | 'onnx' | string;
}

/** A loaded model with its noise schedule (from the card) and the engine that runs it. */
export interface ResolvedModel {
  model: AnyLoadedModel;
  schedule: NoiseSchedule;
  /** `onnx` or `tfjs`: the engine that actually runs the model. */
  engine: 'onnx' | 'tfjs';
  /** The resolved folder. */
  path: string;
}

/** Build a model's noise schedule from its card (`schedule: { type, ... }`). */
export function scheduleFromCard(container: Diff2sContainer, model: { card?: { schedule?: Record<string, unknown> } }, keyPath = 'model.schedule'): NoiseSchedule {
  const sc = model.card?.schedule;
  if (!sc || typeof sc.type !== 'string') {
    throw new ConfigError(`model card has no schedule (expected { type: linear|cosine|quad|explicit, ... })`, keyPath);
  }
  const { type, ...rest } = sc as { type: string };
  return container.schedules.create(type, rest, undefined, keyPath);
}

/**
 * The one model resolver of a pipeline: loads each (folder, format, engine) once through the container's model-loader
 * registry, honouring `engine`, and shares it between the refiner and a `diffusion` guide. Models loaded for one
 * image only (fitted ones) are kept `transientLimit` at a time, the oldest disposed first.
 */
export class ModelResolver implements ModelSource {
  private readonly cache = new Map<string, Promise<ResolvedModel>>();
  private readonly transient: string[] = [];

  constructor(
    private readonly container: Diff2sContainer,
    private readonly baseDir: string,
    private readonly logger: Logger,
    private readonly transientLimit = 2,
  ) {}

  private key(spec: ModelSpec): { key: string; dir: string; format: string; engine: string } {
    const dir = path.resolve(this.baseDir, spec.path);
    const format = spec.format ?? 'native';
    const engine = spec.engine ?? 'auto';
    return { key: `${format}\u0000${engine}\u0000${dir}`, dir, format, engine };
  }

  /** Load (or reuse) a model and its schedule; `keyPath` names the config key in errors. */
  resolve(spec: ModelSpec, keyPath = 'model', options: { transient?: boolean } = {}): Promise<ResolvedModel> {
    const { key, dir, format, engine } = this.key(spec);
    let p = this.cache.get(key);
    if (!p) {
      const ctx: GuideContext = { container: this.container, baseDir: this.baseDir, logger: this.logger, models: this };
      p = (async () => {
        // a loader other than `native` gets `engine` only when one is asked for (plugins' schemas may be strict)
        const cfg = format === 'native' || engine !== 'auto' ? { path: dir, engine } : { path: dir };
        const model = (await this.container.modelLoaders.create(format, cfg, ctx, keyPath)) as AnyLoadedModel;
        try {
          return { model, schedule: scheduleFromCard(this.container, model, `${keyPath}.schedule`), engine: model.engine, path: dir };
        } catch (err) {
          await model.dispose();
          throw err;
        }
      })();
      p.catch(() => this.cache.delete(key));
      this.cache.set(key, p);
      if (options.transient) {
        this.transient.push(key);
        while (this.transient.length > this.transientLimit) void this.release(this.transient.shift()!);
      }
    }
    return p;
  }

  /** {@link ModelSource} for guides: the loaded model itself. */
  async load(spec: ModelSpec, keyPath: string): Promise<unknown> {
    return (await this.resolve(spec, keyPath)).model;
  }

  private async release(key: string): Promise<void> {
    const p = this.cache.get(key);
    this.cache.delete(key);
    await (await p?.catch(() => undefined))?.model.dispose();
  }

  /** Dispose every model this resolver loaded. */
  async dispose(): Promise<void> {
    const all = [...this.cache.values()];
    this.cache.clear();
    this.transient.length = 0;
    for (const p of all) await (await p.catch(() => undefined))?.model.dispose();
  }
}
