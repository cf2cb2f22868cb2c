import 'reflect-metadata';
import { container as rootContainer, DependencyContainer } from 'tsyringe';
import type { Guide } from '../guide';
import type { Logger } from '../logger';
import { consoleLogger } from '../logger';
import type { Sampler } from '../sampler';
import type { NoiseSchedule } from '../schedules/schedule';
import { Registry } from './registry';
import { Tokens, Token } from './tokens';

/** Runtime context a guide factory gets: the container (to find samplers, schedules, models), paths and logger. */
export interface GuideContext {
  container: Diff2sContainer;
  /** Folder that relative paths in the guide's config resolve against. */
  baseDir: string;
  logger: Logger;
}

/** Context for model loaders: as for guides. */
export type ModelLoaderContext = GuideContext;

/**
 * A module registers its parts (guides, samplers, schedules, model loaders, services) into a container.
 * Plugins are modules too.
 */
export interface Module {
  readonly name: string;
  register(container: Diff2sContainer): void;
}

/**
 * The diff2s container: a thin wrapper on a tsyringe child container (tsyringe stays inside core/di) that
 * holds the registries. Below the service layer objects are built with plain `new`.
 */
export class Diff2sContainer {
  private readonly inner: DependencyContainer;
  private readonly modules = new Set<string>();

  constructor(parent?: Diff2sContainer) {
    this.inner = (parent ? parent.inner : rootContainer).createChildContainer();
    if (!parent) {
      this.inner.registerInstance(Tokens.GuideRegistry, new Registry<Guide, GuideContext>('guide'));
      this.inner.registerInstance(Tokens.SamplerRegistry, new Registry<Sampler>('sampler'));
      this.inner.registerInstance(Tokens.ScheduleRegistry, new Registry<NoiseSchedule>('schedule'));
      this.inner.registerInstance(Tokens.ModelLoaderRegistry, new Registry<Promise<unknown>, ModelLoaderContext>('model loader'));
      this.inner.registerInstance(Tokens.Logger, consoleLogger);
    }
  }

  get guides(): Registry<Guide, GuideContext> { return this.resolve(Tokens.GuideRegistry); }
  get samplers(): Registry<Sampler> { return this.resolve(Tokens.SamplerRegistry); }
  get schedules(): Registry<NoiseSchedule> { return this.resolve(Tokens.ScheduleRegistry); }
  /** Model loaders by format name; each returns a promise of the loaded model (type defined by the engine). */
  get modelLoaders(): Registry<Promise<unknown>, ModelLoaderContext> { return this.resolve(Tokens.ModelLoaderRegistry); }
  get logger(): Logger { return this.resolve(Tokens.Logger); }

  /** Register a module once (a second `use` of the same module name is ignored). */
  use(module: Module): this {
    if (this.modules.has(module.name)) return this;
    this.modules.add(module.name);
    module.register(this);
    return this;
  }

  /** Names of the modules registered so far. */
  moduleNames(): string[] {
    return [...this.modules];
  }

  registerInstance<T>(token: Token, value: T): this {
    this.inner.registerInstance(token, value);
    return this;
  }

  registerFactory<T>(token: Token, factory: (c: Diff2sContainer) => T): this {
    let cached: { v: T } | undefined;
    this.inner.register(token, { useFactory: () => (cached ??= { v: factory(this) }).v });
    return this;
  }

  resolve<T>(token: Token): T {
    return this.inner.resolve<T>(token);
  }

  isRegistered(token: Token): boolean {
    return this.inner.isRegistered(token, true);
  }
}
