import { fromLocal, localDate, parseInstant } from '../../shared/time.ts';
import type { RegistrationFact } from './model.ts';
import { lapsed, maxShiftMs, OFF, step, type FoldState, type FoldTap } from '../shifts/fold.ts';

/**
 * How a worker's registrations pair up into work and breaks: the shift fold of gateway/shifts/fold.ts, the
 * same notion ingest keeps each worker's state with (no rule of the remarks' own).
 *
 * The rule (documented in docs/site-manager.md): registrations of one worker, on every site, are taken in
 * the order of their instant (then tap id). An IN opens a shift; an OUT closes it whatever the calendar day:
 * a night shift IN 22:00, OUT 06:00 is one shift, belonging to the day of its IN. A break is an OUT with
 * reason `break` and the next IN. An OUT with no IN open is an OUT without IN (the IN is not made up,
 * FAQ 37). An IN while another is open is a double IN (the later IN becomes the open one). A shift whose
 * state was last set more than `maxShiftHours` ago has lapsed: an IN it left open is missing its OUT, shown
 * from the lapse on (the OUT is never made up, FAQ 37).
 * Days are Europe/Brussels site days: 23 hours on the last Sunday of March, 25 on the last Sunday of October.
 */

export interface Segment {
  kind: 'work' | 'break';
  from: RegistrationFact;
  /** null: still open, or never closed. */
  to: RegistrationFact | null;
  /** For an IN followed by another IN: the registration that cut it short (it has no OUT of its own). */
  cutBy?: RegistrationFact;
}

export interface PairingFindings {
  segments: Segment[];
  doubleIns: Array<{ registration: RegistrationFact; openIn: RegistrationFact }>;
  outsWithoutIn: RegistrationFact[];
  /** INs no OUT closed before their shift lapsed, with the instant from which the remark shows (the lapse). */
  unclosedIns: Array<{ registration: RegistrationFact; visibleFrom: Date }>;
}

const instantCache = new WeakMap<object, number>();

/** The instant of a registration (cached per object: sorting and pairing ask for it many times). */
export function instantOf(r: { at: string }): number {
  let t = instantCache.get(r);
  if (t === undefined) {
    t = parseInstant(r.at).getTime();
    instantCache.set(r, t);
  }
  return t;
}

/** The first instant of the next site day after the day of `instant`. */
export function endOfSiteDay(instant: Date | string): Date {
  const day = localDate(instant);
  const next = new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000);
  return fromLocal({ year: next.getUTCFullYear(), month: next.getUTCMonth() + 1, day: next.getUTCDate(), hour: 0, minute: 0 });
}

/** The first instant of a site day `YYYY-MM-DD`. */
export function startOfSiteDay(day: string): Date {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  return fromLocal({ year: y, month: m, day: d, hour: 0, minute: 0 });
}

/** The fold's order: instant, then tap id (the same order ingest folds taps in). */
function sortByInstant<T extends { at: string; tapId: string }>(rows: T[]): T[] {
  return [...rows].sort((a, b) => instantOf(a) - instantOf(b) || (a.tapId < b.tapId ? -1 : a.tapId > b.tapId ? 1 : 0));
}

function foldTapOf(r: RegistrationFact): FoldTap {
  return { atMs: instantOf(r), tapId: r.tapId, direction: r.type, reason: r.reason, siteId: r.siteId };
}

/** Pairs one worker's registrations (any order) under the shift rule above. */
export function pairWorkerRegistrations(registrations: RegistrationFact[], maxShiftHours: number): PairingFindings {
  const maxMs = maxShiftMs(maxShiftHours);
  const findings: PairingFindings = { segments: [], doubleIns: [], outsWithoutIn: [], unclosedIns: [] };
  let state: FoldState = OFF;
  let openIn: RegistrationFact | null = null;
  let openBreak: RegistrationFact | null = null;
  const unclosed = (r: RegistrationFact, lapseAtMs: number) => {
    findings.segments.push({ kind: 'work', from: r, to: null });
    findings.unclosedIns.push({ registration: r, visibleFrom: new Date(lapseAtMs) });
  };
  for (const r of sortByInstant(registrations)) {
    const res = step(state, foldTapOf(r), maxMs);
    if (res.lapse) {
      if (res.lapse.from === 'working' && openIn) unclosed(openIn, res.lapse.atMs);
      openIn = null;
      openBreak = null;
    }
    const e = res.event;
    switch (e.kind) {
      case 'opened':
        openIn = r;
        break;
      case 'break-ended':
        if (openBreak) findings.segments.push({ kind: 'break', from: openBreak, to: r });
        openBreak = null;
        openIn = r;
        break;
      case 'double-in':
        if (openIn) {
          findings.doubleIns.push({ registration: r, openIn });
          // The earlier IN's segment ends where the worker registered again.
          findings.segments.push({ kind: 'work', from: openIn, to: null, cutBy: r });
        }
        openIn = r;
        break;
      case 'break-started':
        if (openIn) findings.segments.push({ kind: 'work', from: openIn, to: r });
        openIn = null;
        openBreak = r;
        break;
      case 'closed':
        if (openIn) findings.segments.push({ kind: 'work', from: openIn, to: r });
        openIn = null;
        break;
      case 'out-without-in':
        findings.outsWithoutIn.push(r);
        openBreak = r.reason === 'break' ? r : null;
        break;
    }
    state = res.state;
  }
  if (state.state === 'working' && openIn) unclosed(openIn, state.sinceMs + maxMs);
  return findings;
}

/** A worker's state after their registrations, at `now` (lapses applied), with the registration that set it. */
export function workerStateAt(registrations: RegistrationFact[], now: Date, maxShiftHours: number): { state: FoldState; setBy: RegistrationFact | null } {
  const maxMs = maxShiftMs(maxShiftHours);
  let state: FoldState = OFF;
  let setBy: RegistrationFact | null = null;
  for (const r of sortByInstant(registrations)) {
    if (instantOf(r) > now.getTime()) break;
    state = step(state, foldTapOf(r), maxMs).state;
    setBy = r;
  }
  const l = lapsed(state, now.getTime(), maxMs);
  return { state: l.state, setBy: l.lapse ? null : setBy };
}

export function groupByWorker(registrations: RegistrationFact[]): Map<string, RegistrationFact[]> {
  const byWorker = new Map<string, RegistrationFact[]>();
  for (const r of registrations) {
    const list = byWorker.get(r.workerId);
    if (list) list.push(r);
    else byWorker.set(r.workerId, [r]);
  }
  return byWorker;
}
