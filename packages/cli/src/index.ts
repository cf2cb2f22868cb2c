/**
 * @diff2s/cli — the `diff2s` command. Library users mostly want {@link composePipeline} (the composition root that
 * turns a pipeline config into a guide + refiner) and the config schemas.
 */
export * from './config/schema';
export * from './config/load';
export * from './config/parse';
export * from './compose';
export * from './sheet';
export * from './inputs';
export { main, buildProgram } from './bin';
export * from './eval';
export { evalCommand, evalSchemaCommand, type EvalFlags, type EvalResult } from './commands/eval';
export * from './studio-backend';
