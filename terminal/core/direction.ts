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
 * A shift open at another site does not make a tap here an OUT: a worker cannot leave a site she never
 * entered. Still working at site A and tapping at site B, she is starting at B (IN); the OUT she forgot at A is
 * the gateway's missing-OUT remark, never made up here (FAQ 37), and an OUT at B would be a wrong registration
 * under B's declaration that nobody can cancel.
 * A pressed button always wins: IN, OUT, or BREAK (= OUT with reason `break`). A worker who forgot the IN and
 * presses OUT at the end gets that OUT and nothing else (FAQ 37).
 */
export interface HeardShift {
  state: ShiftStateName;
  /** The instant the state was set (ms since epoch). */
  sinceMs: number;
  /** The site where it was set. */
  site: string;
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
  /** The site where it was set (this terminal's own taps: its site); null when nothing is known. */
  site: string | null;
  /** True when a working or break state was older than the maximum shift length and counts as off. */
  lapsed: boolean;
}

/** The state a tap leaves a worker in (the gateway applies the same rule). */
function stateAfter(direction: Direction, reason: Reason): ShiftStateName {
  if (direction === 'IN') return 'working';
  return reason === 'break' ? 'break' : 'off';
}

/**
 * The worker's state as a terminal of `hereSite` knows it: the newer of what it heard from the gateway and its
 * own last tap (on a tie the gateway's word wins: it is the same tap, or the gateway knows more about that
 * instant), lapsed after `maxShiftHours`.
 */
export function workerShift(input: { heard?: HeardShift; own?: OwnTap; hereSite: string; nowMs: number; maxShiftHours: number }): WorkerShift {
  const { heard, own } = input;
  let state: ShiftStateName;
  let sinceMs: number;
  let from: WorkerShift['from'];
  let site: string;
  if (own && (!heard || own.atMs > heard.sinceMs)) {
    state = stateAfter(own.direction, own.reason);
    sinceMs = own.atMs;
    from = 'terminal';
    site = input.hereSite;
  } else if (heard) {
    state = heard.state;
    sinceMs = heard.sinceMs;
    from = 'gateway';
    site = heard.site;
  } else {
    return { state: 'off', sinceMs: null, from: 'none', site: null, lapsed: false };
  }
  if (state !== 'off' && input.nowMs - sinceMs > input.maxShiftHours * 3_600_000) {
    return { state: 'off', sinceMs, from, site, lapsed: true };
  }
  return { state, sinceMs, from, site, lapsed: false };
}

/** The state that decides a tap at `hereSite`: a shift open at another site counts as off here (see above). */
export function stateHere(shift: WorkerShift, hereSite: string): ShiftStateName {
  return shift.state !== 'off' && shift.site !== null && shift.site !== hereSite ? 'off' : shift.state;
}

/** The direction a tap takes: the pressed button, else the one that follows the worker's state here. */
export function proposeDirection(state: ShiftStateName, armed: PanelButton | null = null): { direction: Direction; reason: Reason } {
  if (armed === 'BREAK') return { direction: 'OUT', reason: 'break' };
  if (armed === 'OUT') return { direction: 'OUT', reason: 'work' };
  if (armed === 'IN') return { direction: 'IN', reason: state === 'break' ? 'break' : 'work' };
  if (state === 'working') return { direction: 'OUT', reason: 'work' };
  if (state === 'break') return { direction: 'IN', reason: 'break' };
  return { direction: 'IN', reason: 'work' };
}
