import { z } from 'zod';

/**
 * Faults the emulator injects at run time (admin endpoint `PUT /admin/faults`, or `--fault` at start).
 * Each "rate" is a probability per request; each "count" affects that many next requests, which makes
 * tests deterministic. Windows (`unavailableForMs`, `rateLimitForMs`) run from the moment they are set.
 */
export const faultSettingsSchema = z
  .object({
    /** Added delay before every /REST request is handled. */
    latencyMs: z.number().int().min(0).max(600_000).optional(),
    /** Probability of an immediate 500 or 503 problem answer (nothing processed). */
    errorRate: z.number().min(0).max(1).optional(),
    /** Answer every /REST request with this status during the window (nothing processed). */
    unavailableStatus: z.union([z.literal(500), z.literal(503)]).optional(),
    unavailableForMs: z.number().int().min(0).optional(),
    /** Answer 429 with Retry-After during the window. */
    rateLimitForMs: z.number().int().min(0).optional(),
    retryAfterSeconds: z.number().int().min(0).max(3600).optional(),
    /** Connection reset before the request is processed. */
    resetRate: z.number().min(0).max(1).optional(),
    resetCount: z.number().int().min(0).optional(),
    /** registerInBulk: process and commit, then hang up without answering (the case that makes duplicates). */
    hangUpAfterProcessingRate: z.number().min(0).max(1).optional(),
    hangUpAfterProcessingCount: z.number().int().min(0).optional(),
    /** Expire every access token issued so far. */
    expireTokensNow: z.boolean().optional(),
  })
  .strict();
export type FaultSettings = z.infer<typeof faultSettingsSchema>;

export interface FaultState {
  latencyMs: number;
  errorRate: number;
  unavailableStatus: 500 | 503;
  unavailableUntil: number;
  rateLimitUntil: number;
  retryAfterSeconds: number;
  resetRate: number;
  resetCount: number;
  hangUpAfterProcessingRate: number;
  hangUpAfterProcessingCount: number;
}

export function noFaults(): FaultState {
  return {
    latencyMs: 0, errorRate: 0, unavailableStatus: 503, unavailableUntil: 0, rateLimitUntil: 0, retryAfterSeconds: 1,
    resetRate: 0, resetCount: 0, hangUpAfterProcessingRate: 0, hangUpAfterProcessingCount: 0,
  };
}

/** Merges settings into the state; returns whether tokens must expire now. */
export function applyFaults(state: FaultState, s: FaultSettings, now = Date.now()): { expireTokens: boolean } {
  if (s.latencyMs !== undefined) state.latencyMs = s.latencyMs;
  if (s.errorRate !== undefined) state.errorRate = s.errorRate;
  if (s.unavailableStatus !== undefined) state.unavailableStatus = s.unavailableStatus;
  if (s.unavailableForMs !== undefined) state.unavailableUntil = s.unavailableForMs === 0 ? 0 : now + s.unavailableForMs;
  if (s.rateLimitForMs !== undefined) state.rateLimitUntil = s.rateLimitForMs === 0 ? 0 : now + s.rateLimitForMs;
  if (s.retryAfterSeconds !== undefined) state.retryAfterSeconds = s.retryAfterSeconds;
  if (s.resetRate !== undefined) state.resetRate = s.resetRate;
  if (s.resetCount !== undefined) state.resetCount = s.resetCount;
  if (s.hangUpAfterProcessingRate !== undefined) state.hangUpAfterProcessingRate = s.hangUpAfterProcessingRate;
  if (s.hangUpAfterProcessingCount !== undefined) state.hangUpAfterProcessingCount = s.hangUpAfterProcessingCount;
  return { expireTokens: s.expireTokensNow === true };
}

export function describeFaults(state: FaultState, now = Date.now()): Record<string, unknown> {
  return {
    latencyMs: state.latencyMs,
    errorRate: state.errorRate,
    unavailableStatus: state.unavailableStatus,
    unavailableForMs: Math.max(0, state.unavailableUntil - now),
    rateLimitForMs: Math.max(0, state.rateLimitUntil - now),
    retryAfterSeconds: state.retryAfterSeconds,
    resetRate: state.resetRate,
    resetCount: state.resetCount,
    hangUpAfterProcessingRate: state.hangUpAfterProcessingRate,
    hangUpAfterProcessingCount: state.hangUpAfterProcessingCount,
  };
}

function takeCount(state: FaultState, key: 'resetCount' | 'hangUpAfterProcessingCount'): boolean {
  if (state[key] > 0) {
    state[key]--;
    return true;
  }
  return false;
}

export function shouldReset(state: FaultState): boolean {
  return takeCount(state, 'resetCount') || (state.resetRate > 0 && Math.random() < state.resetRate);
}

export function shouldHangUpAfterProcessing(state: FaultState): boolean {
  return takeCount(state, 'hangUpAfterProcessingCount') || (state.hangUpAfterProcessingRate > 0 && Math.random() < state.hangUpAfterProcessingRate);
}

const DURATION = /^(\d+)(ms|s|m)?$/;
function parseDuration(text: string, key: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) throw new Error(`--fault ${key}: '${text}' is not a duration (e.g. 500ms, 30s, 2m)`);
  const n = Number(m[1]);
  return m[2] === 'm' ? n * 60_000 : m[2] === 's' ? n * 1000 : n;
}
function parseRate(text: string, key: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new Error(`--fault ${key}: '${text}' must be a probability between 0 and 1`);
  return n;
}
function parseCount(text: string, key: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--fault ${key}: '${text}' must be a whole number`);
  return n;
}

const FAULT_FLAG_HELP = `latency=DURATION, error-rate=P, unavailable=DURATION[:500|503], rate-limit=DURATION[:RETRY_AFTER_S],
reset-rate=P, reset-count=N, hangup-rate=P, hangup-count=N, expire-tokens (DURATION: 500ms, 30s, 2m; P: 0..1)`;

/** Parses the `--fault key=value` command-line flags into settings. */
export function parseFaultFlags(flags: string[]): FaultSettings {
  const s: FaultSettings = {};
  for (const flag of flags) {
    const [key, value = ''] = flag.split('=', 2) as [string, string?];
    switch (key) {
      case 'latency': s.latencyMs = parseDuration(value, key); break;
      case 'error-rate': s.errorRate = parseRate(value, key); break;
      case 'unavailable': {
        const [d, status] = value.split(':');
        s.unavailableForMs = parseDuration(d ?? '', key);
        if (status !== undefined) {
          if (status !== '500' && status !== '503') throw new Error(`--fault unavailable: status must be 500 or 503, got '${status}'`);
          s.unavailableStatus = Number(status) as 500 | 503;
        }
        break;
      }
      case 'rate-limit': {
        const [d, ra] = value.split(':');
        s.rateLimitForMs = parseDuration(d ?? '', key);
        if (ra !== undefined) s.retryAfterSeconds = parseCount(ra, key);
        break;
      }
      case 'reset-rate': s.resetRate = parseRate(value, key); break;
      case 'reset-count': s.resetCount = parseCount(value, key); break;
      case 'hangup-rate': s.hangUpAfterProcessingRate = parseRate(value, key); break;
      case 'hangup-count': s.hangUpAfterProcessingCount = parseCount(value, key); break;
      case 'expire-tokens': s.expireTokensNow = true; break;
      default: throw new Error(`--fault: unknown fault '${key}' (known: ${FAULT_FLAG_HELP})`);
    }
  }
  return s;
}
