/**
 * Injection tokens, all in one place. Values registered under them:
 * the four registries, the logger, and anything a module adds under its own token.
 */
export const Tokens = {
  GuideRegistry: Symbol.for('diff2s.GuideRegistry'),
  SamplerRegistry: Symbol.for('diff2s.SamplerRegistry'),
  ScheduleRegistry: Symbol.for('diff2s.ScheduleRegistry'),
  ModelLoaderRegistry: Symbol.for('diff2s.ModelLoaderRegistry'),
  Logger: Symbol.for('diff2s.Logger'),
} as const;

export type Token = symbol;
