import type { ShiftStateName } from '../../shared/mqtt/payloads.ts';
import type { Direction, Reason } from '../../shared/registration.ts';
import type { PanelButton } from './ports.ts';

/**
 * Which way a tap goes, decided from the worker's shift state rather than from what this door saw today.
 *
 * The gateway owns each worker's state (off, working, on break) across all doors and sites and across
 * midnight, and tells the terminals (the roster's `shift`, the `shifts` messages). A terminal also knows its
 * own taps, which the gateway may not have yet (offline). The newer of the two wins: what the terminal last
 * heard, as of its `since`, or its own last tap of that badge, as of the tap's instant. A state that was not
 * closed by a work OUT within `maxShiftHours` has lapsed: the worker is off (the gateway raises the missing-OUT
 * remark; nothing is made up here).
 *
 * off -> IN (work); working -> OUT (work); on break -> IN (end of break, reason `break`).
 * A pressed button always wins: IN, OUT, or BREAK (= OUT with reason `break`). A worker who forgot the IN and
 * presses OUT at the end gets that OUT and nothing else (FAQ 37).
 */
export interface HeardShift {
  state: ShiftStateName;
  /** The instant the state was set (ms since epoch). */
  sinceMs: number;
}

export interface OwnTap {
  direction: Direction;
  reason: Reason;
  /** The tap's instant as sent in `at` (ms since epoch). */
  atMs: number;
}

export interface WorkerShift {
  state: ShiftStateName;
  /** When that state began; null when nothing is known (off). */
  sinceMs: number | null;
  /** Where the state comes from: the gateway, this terminal's own last tap, or nothing known. */
  from: 'gateway' | 'terminal' | 'none';
  /** True when a working or break state was older than the maximum shift length and counts as off. */
  lapsed: boolean;
}

/** The state a tap leaves a worker in (the gateway applies the same rule). */
export function stateAfter(direction: Direction, reason: Reason): ShiftStateName {
  if (direction === 'IN') return 'working';
  return reason === 'break' ? 'break' : 'off';
}

export function workerShift(input: { heard?: HeardShift; own?: OwnTap; nowMs: number; maxShiftHours: number }): WorkerShift {
  const { heard, own } = input;
  let state: ShiftStateName;
  let sinceMs: number;
  let from: WorkerShift['from'];
  // On a tie the gateway's word wins: it is the same tap, or the gateway knows more about that instant.
  if (own && (!heard || own.atMs > heard.sinceMs)) {
    state = stateAfter(own.direction, own.reason);
    sinceMs = own.atMs;
    from = 'terminal';
  } else if (heard) {
    state = heard.state;
    sinceMs = heard.sinceMs;
    from = 'gateway';
  } else {
    return { state: 'off', sinceMs: null, from: 'none', lapsed: false };
  }
  if (state !== 'off' && input.nowMs - sinceMs > input.maxShiftHours * 3_600_000) {
    return { state: 'off', sinceMs, from, lapsed: true };
  }
  return { state, sinceMs, from, lapsed: false };
}

/** The direction a tap takes: the pressed button, else the one that follows the worker's state. */
export function proposeDirection(state: ShiftStateName, armed: PanelButton | null = null): { direction: Direction; reason: Reason } {
  if (armed === 'BREAK') return { direction: 'OUT', reason: 'break' };
  if (armed === 'OUT') return { direction: 'OUT', reason: 'work' };
  if (armed === 'IN') return { direction: 'IN', reason: state === 'break' ? 'break' : 'work' };
  if (state === 'working') return { direction: 'OUT', reason: 'work' };
  if (state === 'break') return { direction: 'IN', reason: 'break' };
  return { direction: 'IN', reason: 'work' };
}
