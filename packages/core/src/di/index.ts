export * from './tokens';
export * from './registry';
export * from './container';
