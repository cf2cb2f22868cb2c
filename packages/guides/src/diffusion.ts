/**
 * `diffusion` guide: a trained diffusion inpainting model + any registered sampler (DDPM, DDIM, RePaint, …)
 * run from pure noise. The model is loaded lazily (on the first `inpaint`) through the container's model-loader
 * registry; its noise schedule comes from its model card unless the config overrides it.
 * Images whose sides are not a multiple of the network's downsampling factor are padded (edge replication, padding
 * marked known) and cropped back.
 */
import * as path from 'path';
import { z } from 'zod';
import {
  ConfigError, Denoiser, Diff2sContainer, Guide, GuideContext, GuideOptions, NoiseSchedule, RegistryEntry, Sampler,
  Tensor4, parseConfig, toChannels,
} from '@diff2s/core';
import { runPerImage } from './common';
import { cropRect, padToMultiple } from './resize';

const PartRef = (def: string) => z.looseObject({ type: z.string().default(def) });

export const DiffusionGuideConfig = z
  .object({
    /** Model folder (relative to the config's folder). */
    model: z.string().min(1),
    /** Model loader name (registry `modelLoaders`). */
    format: z.string().default('native'),
    /** Inference engine of the model: the fastest available (`auto`), tfjs or onnxruntime. */
    engine: z.enum(['auto', 'tfjs', 'onnx']).default('auto'),
    /** Sampler and its options (default ddpm from T). */
    sampler: PartRef('ddpm').default({ type: 'ddpm' }),
    /** Override the model card's schedule (`{ type: linear, T, betaStart, betaEnd }`). */
    schedule: PartRef('linear').optional(),
  })
  .strict();
export type DiffusionGuideConfig = z.infer<typeof DiffusionGuideConfig>;

/** What a loaded model must offer this guide: a Denoiser with a model card naming its schedule. */
interface LoadedDiffusionModel extends Denoiser {
  card?: { schedule?: Record<string, unknown> };
  config?: { channelMults?: number[]; layout?: string; imageChannels?: number };
}

export class DiffusionGuide implements Guide {
  readonly name = 'diffusion';
  readonly sizes = { min: 1, max: 4096, multiple: 1, fullMask: true };
  private loaded?: Promise<{ model: LoadedDiffusionModel; schedule: NoiseSchedule }>;
  private readonly sampler: Sampler;

  constructor(private readonly config: DiffusionGuideConfig, private readonly ctx: GuideContext) {
    const { type, ...rest } = config.sampler;
    this.sampler = ctx.container.samplers.create(type, rest, undefined, 'guide.sampler');
  }

  private load(): Promise<{ model: LoadedDiffusionModel; schedule: NoiseSchedule }> {
    return (this.loaded ??= (async () => {
      const { container, baseDir } = this.ctx;
      const spec = { path: path.resolve(baseDir, this.config.model), format: this.config.format, engine: this.config.engine };
      // inside a pipeline the runner's resolver loads it (shared with the refiner); standalone, the registry does
      const model = (this.ctx.models
        ? await this.ctx.models.load(spec, 'guide.model')
        : await container.modelLoaders.create(spec.format, { path: spec.path, ...(spec.engine !== 'auto' ? { engine: spec.engine } : {}) }, this.ctx, 'guide.model')) as LoadedDiffusionModel;
      const sc = this.config.schedule ?? model.card?.schedule;
      if (!sc || typeof sc.type !== 'string') throw new ConfigError('the model card has no schedule; give guide.schedule', 'guide.schedule');
      const { type, ...rest } = sc as { type: string };
      return { model, schedule: scheduleOf(container, type, rest) };
    })());
  }

  async inpaint(image: Tensor4, mask: Tensor4, options: GuideOptions): Promise<Tensor4> {
    const { model, schedule } = await this.load();
    const factor = downsamplingFactor(model);
    return runPerImage(image, mask, options, { guide: this.name, fullMask: true, sizes: this.sizes }, async (img, m, _i, progress) => {
      // the model's channel count: grey images are repeated to RGB (and RGB reduced to luma) on the way in and back
      const modelC = model.config?.imageChannels ?? img.c;
      // padded bottom/right by edge replication; padded pixels are known (mask 0)
      const pi = padToMultiple(toChannels(img, modelC), factor, 'edge'), pm = padToMultiple(m, factor, 'zero');
      const total = this.sampler.plannedSteps(this.sampler.defaultStartStep?.(schedule) ?? schedule.T, schedule);
      const out = await this.sampler.sample({
        denoiser: model,
        schedule,
        image: pi,
        mask: pm,
        rng: options.rng.split(),
        signal: options.signal,
        onStep: (s) => progress(s.index / total, `step ${s.index}/${total}`),
      });
      return toChannels(cropRect(out, { x0: 0, y0: 0, x1: img.w, y1: img.h }), img.c);
    });
  }

  async dispose(): Promise<void> {
    // a model from the pipeline's resolver belongs to the resolver
    if (this.loaded && !this.ctx.models) (await this.loaded.catch(() => undefined))?.model.dispose?.();
  }
}

function scheduleOf(container: Diff2sContainer, type: string, rest: Record<string, unknown>): NoiseSchedule {
  return container.schedules.create(type, rest, undefined, 'guide.schedule');
}

/** The factor image sides must be a multiple of: 2^levels (a safe bound for both UNet layouts). */
function downsamplingFactor(model: LoadedDiffusionModel): number {
  const levels = model.config?.channelMults?.length ?? 0;
  return 2 ** levels;
}

export const diffusionGuideEntry: RegistryEntry<Guide, DiffusionGuideConfig, GuideContext> = {
  name: 'diffusion',
  description: 'a trained diffusion inpainting model (model folder) + a registered sampler, from pure noise',
  configSchema: DiffusionGuideConfig,
  create: (config, ctx) => new DiffusionGuide(parseConfig(DiffusionGuideConfig, config, 'guide'), ctx),
};
