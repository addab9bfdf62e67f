export * from './normalize.ts';
export * from './national-number.ts';
export * from './company.ts';
export * from './declaration.ts';
export * from './make.ts';
export * from './badge.ts';
