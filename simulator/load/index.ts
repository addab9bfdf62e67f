export { runLoad } from './run-load.ts';
export type { RunLoadOptions, LoadResult } from './run-load.ts';
export { readCredentialsFile, parseCredentials, resolveTerminals } from './credentials.ts';
export type { TerminalCredentials, TerminalSource } from './credentials.ts';
export { LatencyRecorder, summarise, percentileOfSorted } from './latency.ts';
export type { LatencySummary } from './latency.ts';
export { TapSource, defaultBadges, type SunSupply } from './tap-source.ts';
export { formatLoadResult } from './report.ts';
