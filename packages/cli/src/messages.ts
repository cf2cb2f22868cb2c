/**
 * Values as they cross a process or thread boundary (the studio's job processes, the pipeline's guide worker):
 * tensors as shape + Float32Array (structured clone keeps it), errors as class name + message + key path / file, so
 * the receiving side throws the same diff2s error class.
 */
import { CancelledError, ConfigError, Diff2sError, InputError, ModelError, ModelFileError, Tensor4 } from '@diff2s/core';

/** A tensor as it crosses the process boundary (structured clone keeps the Float32Array). */
export interface PlainTensor {
  shape: [number, number, number, number];
  data: Float32Array;
}

/** An error as it crosses the process boundary: its class name, message and the key path / file it names. */
export interface PlainError {
  name: string;
  message: string;
  path?: string;
  file?: string;
  stack?: string;
}

/** A tensor's shape and data for a message (the data is copied when the message is sent). */
export function plainTensor(t: Tensor4): PlainTensor {
  return { shape: [t.n, t.c, t.h, t.w], data: t.data };
}

/** The tensor a {@link PlainTensor} describes (checked: four dimensions, data of the right length). */
export function tensorOf(p: PlainTensor): Tensor4 {
  return new Tensor4(p.shape, p.data instanceof Float32Array ? p.data : new Float32Array(p.data));
}

/** An error's class name, message, key path and file, for a message. */
export function plainError(err: unknown): PlainError {
  if (err instanceof Error) {
    return {
      name: err.name || 'Error',
      message: err.message,
      ...(err instanceof ConfigError && err.path ? { path: err.path } : {}),
      ...(err instanceof InputError && err.file ? { file: err.file } : {}),
      ...(err.stack ? { stack: err.stack } : {}),
    };
  }
  return { name: 'Error', message: String(err) };
}

/**
 * The error a {@link PlainError} describes, of the same diff2s class where it is one (so the studio treats a config
 * error from the job process as one: no stack trace in the log, the message to the page). The message is kept as is.
 */
export function reviveError(p: PlainError): Error {
  let err: Error;
  switch (p.name) {
    case 'ConfigError':
    case 'UnknownNameError':
      err = new ConfigError(p.message);
      if (p.path) Object.defineProperty(err, 'path', { value: p.path });
      break;
    case 'InputError':
      err = new InputError(p.message, p.file);
      break;
    case 'ModelFileError':
      err = new ModelFileError(p.message, p.file);
      break;
    case 'ModelError':
      err = new ModelError(p.message);
      break;
    case 'CancelledError':
      err = new CancelledError(p.message);
      break;
    default:
      err = p.name.endsWith('Error') && p.name !== 'Error' && p.name.length < 40 ? new Diff2sError(p.message) : new Error(p.message);
      err.name = p.name;
  }
  if (p.stack) err.stack = p.stack;
  return err;
}

