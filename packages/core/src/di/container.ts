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
  /**
   * The pipeline's model resolver, when the guide runs inside one: loads a model once per (path, format, engine) and
   * shares it with the refiner. Guides fall back to `container.modelLoaders` without it.
   */
  models?: ModelSource;
}

/** Where a pipeline's parts get their models: one load and one cache per pipeline runner. */
export interface ModelSource {
  /** Load (or reuse) the model `spec.path` with loader `spec.format` (default native) on `spec.engine` (default auto). */
  load(spec: { path: string; format?: string; engine?: string }, keyPath: string): Promise<unknown>;
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
 * The diff2s container: the registries and a token → value map (values or lazily built singletons), looked up in
 * the parent when a child container lacks a token. Everything is registered explicitly by modules and every
 * object is built with plain `new`, so no reflection-based injector is needed (see core's README).
 */
export class Diff2sContainer {
  private readonly entries = new Map<Token, () => unknown>();
  private readonly modules = new Set<string>();

  constructor(private readonly parent?: Diff2sContainer) {
    if (!parent) {
      this.registerInstance(Tokens.GuideRegistry, new Registry<Guide, GuideContext>('guide'));
      this.registerInstance(Tokens.SamplerRegistry, new Registry<Sampler>('sampler'));
      this.registerInstance(Tokens.ScheduleRegistry, new Registry<NoiseSchedule>('schedule'));
      this.registerInstance(Tokens.ModelLoaderRegistry, new Registry<Promise<unknown>, ModelLoaderContext>('model loader'));
      this.registerInstance(Tokens.Logger, consoleLogger);
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

  /** Register `value` under `token` (replacing what this container had there). */
  registerInstance<T>(token: Token, value: T): this {
    this.entries.set(token, () => value);
    return this;
  }

  /** Register a singleton built by `factory` on first {@link resolve}. */
  registerFactory<T>(token: Token, factory: (c: Diff2sContainer) => T): this {
    let cached: { v: T } | undefined;
    this.entries.set(token, () => (cached ??= { v: factory(this) }).v);
    return this;
  }

  /** The value under `token`, here or in a parent; throws naming the token when none has it. */
  resolve<T>(token: Token): T {
    const get = this.entries.get(token);
    if (get) return get() as T;
    if (this.parent) return this.parent.resolve<T>(token);
    throw new Error(`nothing is registered under ${token.description ?? String(token)}`);
  }

  /** Whether `token` is registered here or in a parent. */
  isRegistered(token: Token): boolean {
    return this.entries.has(token) || (this.parent?.isRegistered(token) ?? false);
  }
}
