/**
 * How long the gateway link waits before its next connection attempt: exponential growth from `minMs`,
 * capped at `maxMs`, with "equal jitter" (half the step fixed, half random). The cap bounds how long a
 * terminal stays away once the gateway is back; the jitter spreads a site's terminals so they do not all
 * knock at the same instant after a gateway restart.
 */
export interface BackoffLimits {
  minMs: number;
  maxMs: number;
}

/** The delay before attempt `failures + 1`, after `failures` consecutive failed attempts (0 = the first retry). */
export function reconnectDelayMs(failures: number, limits: BackoffLimits, random: () => number = Math.random): number {
  const min = Math.min(limits.minMs, limits.maxMs);
  const step = Math.min(limits.maxMs, min * 2 ** Math.min(failures, 30));
  return Math.round(step / 2 + random() * (step / 2));
}
