import {
  ConfigError, Diff2sContainer, Guide, GuideContext, Logger, NoiseSchedule, createContainer,
} from '@diff2s/core';
import { engineModule, type AnyLoadedModel as LoadedModel } from '@diff2s/engine';
import { guidesModule } from '@diff2s/guides';
import { checkRefinerSampler, type RefinerSpec } from '@diff2s/refiner';
import { ConfigErrors } from './config/load';
import type { PipelineConfig } from './config/schema';

/** The container every CLI command uses: core + engine + guides modules. */
export function cliContainer(logger?: Logger): Diff2sContainer {
  const c = createContainer(engineModule, guidesModule);
  if (logger) c.registerInstance(Symbol.for('diff2s.Logger'), logger);
  return c;
}

/** A pipeline built from a validated config. */
export interface ComposedPipeline {
  guide: Guide;
  refiner?: RefinerSpec;
  model?: LoadedModel;
  /** Image channels the pipeline works in (the model's, else 'keep'). */
  channels: 1 | 3 | 'keep';
  /** One line describing the pipeline, for logs. */
  summary: string;
  dispose(): Promise<void>;
}

/** Build the model's noise schedule from its card (`schedule: { type, ... }`). */
export function scheduleFromCard(container: Diff2sContainer, model: LoadedModel): NoiseSchedule {
  const sc = model.card.schedule;
  if (!sc || typeof sc.type !== 'string') {
    throw new ConfigError(`model card has no schedule (expected { type: linear|cosine|quad|explicit, ... })`, 'model.schedule');
  }
  const { type, ...rest } = sc as { type: string };
  return container.schedules.create(type, rest, undefined, 'model.schedule');
}

/**
 * The composition root: turns a validated pipeline config into objects through the registries.
 * Every config problem found is collected and thrown together (one line each).
 */
export async function composePipeline(cfg: PipelineConfig, baseDir: string, container: Diff2sContainer): Promise<ComposedPipeline> {
  const errors: ConfigError[] = [];
  const attempt = <T>(f: () => T): T | undefined => {
    try {
      return f();
    } catch (e) {
      if (e instanceof ConfigErrors) errors.push(...e.errors);
      else if (e instanceof ConfigError) errors.push(e);
      else throw e;
      return undefined;
    }
  };
  const ctx: GuideContext = { container, baseDir, logger: container.logger };
  const refinerOn = !!cfg.refiner && cfg.refiner.enabled;
  let model: LoadedModel | undefined;
  if (refinerOn && !cfg.model) errors.push(new ConfigError('the refiner needs a model (a trained model folder)', 'model'));
  let sampler;
  if (refinerOn) {
    const { type, ...rest } = cfg.refiner!.sampler;
    attempt(() => checkRefinerSampler(type, 'refiner.sampler.type'));
    sampler = attempt(() => container.samplers.create(type, rest, undefined, 'refiner.sampler'));
  }
  const { type: guideType, ...guideRest } = cfg.guide;
  const guide = attempt(() => container.guides.create(guideType, guideRest, ctx, 'guide'));
  if (errors.length) throw new ConfigErrors(errors);
  if (refinerOn && cfg.model) {
    const { path: p, format } = cfg.model;
    model = (await container.modelLoaders.create(format, { path: p }, ctx, 'model')) as LoadedModel;
  }
  let schedule: NoiseSchedule | undefined;
  if (model) schedule = attempt(() => scheduleFromCard(container, model!));
  if (model && schedule && cfg.refiner!.strategy === 'middle' && cfg.refiner!.tk > schedule.T) {
    errors.push(new ConfigError(`T_k = ${cfg.refiner!.tk} exceeds the model's schedule length T = ${schedule.T}`, 'refiner.tk'));
  }
  if (errors.length) {
    await model?.dispose();
    throw new ConfigErrors(errors);
  }
  const { enabled: _e, sampler: _s, ...options } = cfg.refiner ?? { enabled: false, sampler: { type: 'ddpm' } };
  const refiner: RefinerSpec | undefined = model && sampler && schedule ? { network: model, schedule, sampler, options } : undefined;
  const summary = `guide ${guideType}` + (refiner ? ` → refiner (${cfg.refiner!.sampler.type}, T_k ${cfg.refiner!.strategy === 'start' ? schedule!.T : cfg.refiner!.tk}, model ${cfg.model!.path})` : '');
  return {
    guide: guide!,
    refiner,
    model,
    channels: model ? (model.config.imageChannels as 1 | 3) : 'keep',
    summary,
    dispose: async () => {
      await guide?.dispose?.();
      await model?.dispose();
    },
  };
}
