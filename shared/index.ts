export * from './problems.ts';
export * from './schema.ts';
export * from './identifiers/index.ts';
export * from './registration.ts';
export * from './time.ts';
export * from './mqtt/index.ts';
