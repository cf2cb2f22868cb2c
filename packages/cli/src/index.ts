/**
 * @diff2s/cli — the `diff2s` command and the pipeline runner. Library users mostly want {@link createPipeline} (a
 * pipeline config → a running guide → refiner pipeline, the same runner the CLI, eval and the studio use) and the
 * config schemas.
 */
export * from './config/schema';
export * from './config/load';
export * from './config/parse';
export * from './pipeline';
export * from './models';
export * from './fit';
export * from './sheet';
export * from './inputs';
export { main, buildProgram } from './bin';
export * from './eval';
export { evalCommand, evalSchemaCommand, type EvalFlags, type EvalResult } from './commands/eval';
export * from './studio-backend';
export { ProcessStudioBackend, jobProcessScript } from './studio-process';
export type { ProcessStudioBackendOptions } from './studio-process';
