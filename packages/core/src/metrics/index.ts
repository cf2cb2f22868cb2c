export * from './metrics';
export * from './classifier';
