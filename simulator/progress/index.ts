export { createProgress, formatProgressLine, formatDuration } from './progress.ts';
export type { Progress, ProgressOptions, ProgressOutput, ProgressSnapshot } from './progress.ts';
