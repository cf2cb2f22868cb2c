/** `diff2s eval`: config schema, sweep expansion, dataset, metrics, charts and report writers. */
export * from './schema';
export * from './parse';
export * from './dataset';
export * from './measure';
export * from './results';
export * from './grid';
export * from './svg';
export * from './report';
