/**
 * The diff2s error hierarchy. The CLI maps these to exit codes:
 * {@link ConfigError} and {@link InputError} exit 2 (the user can fix them), everything else exits 1.
 */
export class Diff2sError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A configuration value is missing, of the wrong type or out of range. `path` is the key path, e.g. `refiner.tk`. */
export class ConfigError extends Diff2sError {
  readonly path: string;
  constructor(message: string, path = '', options?: { cause?: unknown }) {
    super(path ? `${message} (at ${path})` : message, options);
    this.path = path;
  }
}

/** A user-supplied input (image, mask, model file) is missing, corrupt, too large or inconsistent. `file` names it. */
export class InputError extends Diff2sError {
  readonly file?: string;
  constructor(message: string, file?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.file = file;
  }
}

/** A model failed at run time (engine or session problem). The CLI exits 1. */
export class ModelError extends Diff2sError {}

/**
 * A model file the user supplied is unreadable, corrupt, or does not have the expected shapes / signature
 * (an input error: the CLI exits 2). `file` names it.
 */
export class ModelFileError extends InputError {}

/** A name asked of a registry is not registered; the message lists what is. */
export class UnknownNameError extends ConfigError {
  readonly kind: string;
  readonly known: readonly string[];
  constructor(kind: string, name: string, known: readonly string[], path = '') {
    super(`unknown ${kind} "${name}"; registered: ${known.length ? known.join(', ') : '(none)'}`, path);
    this.kind = kind;
    this.known = known;
  }
}

/** The operation was cancelled through an AbortSignal. */
export class CancelledError extends Diff2sError {
  constructor(message = 'cancelled') {
    super(message);
  }
}

/** Exit code the CLI uses for an error: 2 for config/input errors, 1 otherwise. */
export function exitCodeFor(err: unknown): number {
  return err instanceof ConfigError || err instanceof InputError ? 2 : 1;
}
