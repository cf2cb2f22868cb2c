import type { z } from 'zod';
import { ConfigError, UnknownNameError } from '../errors';
import { formatZodIssue } from '../config';

/**
 * One registered implementation: a name, a zod config schema (the single source of truth for its options)
 * and a factory. `C` is the parsed config type, `X` the extra runtime context the factory needs.
 */
export interface RegistryEntry<T, C = unknown, X = unknown> {
  readonly name: string;
  readonly description: string;
  readonly configSchema: z.ZodType<C>;
  create(config: C, context: X): T;
}

/**
 * A name → entry map that configs and plugins use. Registering an existing name throws unless `replace` is set;
 * asking for an unknown name throws {@link UnknownNameError} listing the registered ones.
 */
export class Registry<T, X = unknown> {
  private readonly entries = new Map<string, RegistryEntry<T, any, X>>();

  /** @param kind what the registry holds, for messages ("sampler", "guide", …). */
  constructor(readonly kind: string) {}

  register<C>(entry: RegistryEntry<T, C, X>, options: { replace?: boolean } = {}): this {
    if (!entry.name || !/^[a-z][a-z0-9_-]*$/i.test(entry.name)) {
      throw new ConfigError(`${this.kind} name "${entry.name}" must start with a letter and use letters, digits, - or _`);
    }
    if (this.entries.has(entry.name) && !options.replace) {
      throw new ConfigError(`${this.kind} "${entry.name}" is already registered`);
    }
    this.entries.set(entry.name, entry);
    return this;
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** The entry for `name`; `path` is the config key path used in the error message. */
  get(name: string, path = ''): RegistryEntry<T, unknown, X> {
    const e = this.entries.get(name);
    if (!e) throw new UnknownNameError(this.kind, name, this.names(), path);
    return e;
  }

  /** Registered names, sorted. */
  names(): string[] {
    return [...this.entries.keys()].sort();
  }

  list(): RegistryEntry<T, unknown, X>[] {
    return this.names().map((n) => this.entries.get(n)!);
  }

  /**
   * Validate `config` against the entry's schema and build it. `path` is where the part sits in a config file
   * (e.g. `guide`): an unknown name is reported at `<path>.type`, option errors at `<path>.<key>`.
   */
  create(name: string, config: unknown, context: X, path = ''): T {
    const entry = this.get(name, path ? `${path}.type` : 'type');
    const parsed = entry.configSchema.safeParse(config ?? {}, { reportInput: true });
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw formatZodIssue(issue, path);
    }
    return entry.create(parsed.data, context);
  }
}
