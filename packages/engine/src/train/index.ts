export * from './config';
export * from './adam';
export * from './data';
export * from './checkpoint';
export * from './trainer';
export * from './engine';
