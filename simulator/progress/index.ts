export { createProgress, formatProgressLine, formatDuration, formatCount, formatRate } from './progress.ts';
export type { Progress, ProgressOptions, ProgressOutput, ProgressSnapshot } from './progress.ts';
