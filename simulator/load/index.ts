export { runLoad } from './run-load.ts';
export type { RunLoadOptions, LoadResult } from './run-load.ts';
export { readCredentialsFile } from './credentials.ts';
export type { TerminalCredentials, TerminalSource } from './credentials.ts';
export type { LatencySummary } from './latency.ts';
export { type SunSupply } from './tap-source.ts';
