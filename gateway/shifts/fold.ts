import { DEFAULT_MAX_SHIFT_HOURS, type ShiftStateName } from '../../shared/mqtt/payloads.ts';

/**
 * A worker's shift, folded from the worker's taps in the order of their instants: the one notion the gateway
 * has of "working", "on break" and "off", for every door of every site and across midnight (FAQ 28: one
 * state per worker, whatever the site). Ingest keeps each worker's state with it (gateway/ingest/
 * shift-tracker.ts), the remarks engine pairs registrations with it, presence and the timeline read it.
 *
 * The rule (the contract of docs/mqtt-api.md):
 * - a work IN opens a shift (working); an IN of any reason while off or on break -> working;
 * - a break OUT while working -> break; a work OUT closes the shift (off);
 * - an IN while working is a double IN: the later IN is the open one (working since it);
 * - an OUT while off, or while on break, is an OUT without its IN: nothing is made up (FAQ 37); a work OUT
 *   leaves the worker off since it, a break OUT on break since it;
 * - a `working` or `break` state whose `since` is more than `maxShiftHours` before the next tap (or now)
 *   has lapsed: the worker is off from `since + maxShiftHours`. A lapsed working state is a missing OUT; the
 *   OUT is never made up afterwards (FAQ 37). A lapsed break (the worker went on break and never came back)
 *   raises nothing: its last registration is an OUT.
 *
 * Taps are ordered by instant, then by tap id (a total order: the same taps folded in any order of arrival
 * give the same state).
 */
export interface FoldTap {
  /** The tap's instant (ms since the epoch). */
  atMs: number;
  tapId: string;
  direction: 'IN' | 'OUT';
  reason: 'work' | 'break';
  siteId: string;
}

export interface FoldState {
  state: ShiftStateName;
  /** Since when (ms): the instant of the tap that set the state, or the lapse. */
  sinceMs: number;
  /** Where the state was last set (the site of that tap); null only before any tap. */
  siteId: string | null;
}

export const OFF: FoldState = { state: 'off', sinceMs: 0, siteId: null };

/** What one step of the fold found, beside the new state. */
export type FoldEvent =
  | { kind: 'opened' }
  | { kind: 'closed' }
  | { kind: 'break-started' }
  | { kind: 'break-ended' }
  /** An IN while working: the open IN (the tap that set `working`) had no OUT. */
  | { kind: 'double-in'; openSinceMs: number }
  /** An OUT while off or on break: no IN open before it. */
  | { kind: 'out-without-in'; onBreak: boolean };

export type Lapse = { from: ShiftStateName; sinceMs: number; atMs: number } | null;

export function maxShiftMs(hours: number = DEFAULT_MAX_SHIFT_HOURS): number {
  return hours * 3_600_000;
}

/** The state at `atMs` once lapses are applied (no tap in between). */
export function lapsed(s: FoldState, atMs: number, maxMs: number): { state: FoldState; lapse: Lapse } {
  if (s.state !== 'off' && atMs - s.sinceMs > maxMs) {
    return { state: { state: 'off', sinceMs: s.sinceMs + maxMs, siteId: s.siteId }, lapse: { from: s.state, sinceMs: s.sinceMs, atMs: s.sinceMs + maxMs } };
  }
  return { state: s, lapse: null };
}

/** One tap folded into the state: the state after it, what it meant, and the lapse it found first (if any). */
export function step(before: FoldState, tap: FoldTap, maxMs: number): { state: FoldState; event: FoldEvent; lapse: Lapse } {
  const { state: s, lapse } = lapsed(before, tap.atMs, maxMs);
  const at = (state: ShiftStateName): FoldState => ({ state, sinceMs: tap.atMs, siteId: tap.siteId });
  if (tap.direction === 'IN') {
    if (s.state === 'working') return { state: at('working'), event: { kind: 'double-in', openSinceMs: s.sinceMs }, lapse };
    return { state: at('working'), event: { kind: s.state === 'break' ? 'break-ended' : 'opened' }, lapse };
  }
  if (s.state === 'working') {
    return tap.reason === 'break' ? { state: at('break'), event: { kind: 'break-started' }, lapse } : { state: at('off'), event: { kind: 'closed' }, lapse };
  }
  // No IN open: the OUT is what the worker registered, no more (FAQ 37). It still says where and when the
  // worker was last seen, so a work OUT leaves the same state whatever came before it.
  return { state: at(tap.reason === 'break' ? 'break' : 'off'), event: { kind: 'out-without-in', onBreak: s.state === 'break' }, lapse };
}

/** The fold's order: instant, then tap id. */
function compareTaps(a: { atMs: number; tapId: string }, b: { atMs: number; tapId: string }): number {
  return a.atMs - b.atMs || (a.tapId < b.tapId ? -1 : a.tapId > b.tapId ? 1 : 0);
}

/** Folds taps (any order) from `start` (off by default). */
export function foldTaps(taps: FoldTap[], maxMs: number, start: FoldState = OFF): FoldState {
  let s = start;
  for (const t of [...taps].sort(compareTaps)) s = step(s, t, maxMs).state;
  return s;
}

/**
 * The state right after a tap, whatever came before it (`step` gives the same for every earlier state):
 * IN -> working, break OUT -> on break, work OUT -> off, since the tap, at its site. So a worker's current
 * state is the one their latest tap implies (lapses aside), and a tap that arrives late changes it only if
 * it is the latest one.
 */
export function stateAfterTap(tap: { direction: 'IN' | 'OUT'; reason: 'work' | 'break' }): ShiftStateName {
  return tap.direction === 'IN' ? 'working' : tap.reason === 'break' ? 'break' : 'off';
}
