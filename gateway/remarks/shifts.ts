import { fromLocal, localDate, parseInstant } from '../../shared/time.ts';
import type { RegistrationFact } from './model.ts';

/**
 * How a worker's registrations pair up into work and breaks.
 *
 * The rule (documented in docs/site-manager.md): registrations of one worker are taken in the order of their
 * instant (then arrival). An OUT closes the worker's open IN when it comes at most `windowHours` after it,
 * whatever the calendar day: a night shift IN 22:00, OUT 06:00 is one shift, belonging to the day of its IN.
 * An OUT with no IN open within the window is an OUT without IN. An IN while another IN is open within the
 * window is a double IN (the later IN becomes the open one). An IN that nothing closes within the window is
 * missing its OUT; that shows once the IN's own site day is over and the window has passed, so a shift that
 * runs past midnight is not flagged while it may still be going on.
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
  /** INs no OUT closed within the window, with the instant from which the remark shows. */
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

export function sortByInstant<T extends { at: string; seq: number }>(rows: T[]): T[] {
  return [...rows].sort((a, b) => instantOf(a) - instantOf(b) || a.seq - b.seq);
}

/** Pairs one worker's registrations (any order) under the shift rule above. */
export function pairWorkerRegistrations(registrations: RegistrationFact[], windowHours: number): PairingFindings {
  const windowMs = windowHours * 3_600_000;
  const findings: PairingFindings = { segments: [], doubleIns: [], outsWithoutIn: [], unclosedIns: [] };
  let open: RegistrationFact | null = null;
  let lastBreakOut: RegistrationFact | null = null;
  const unclosed = (r: RegistrationFact) => {
    findings.segments.push({ kind: 'work', from: r, to: null });
    const visibleFrom = new Date(Math.max(instantOf(r) + windowMs, endOfSiteDay(r.at).getTime()));
    findings.unclosedIns.push({ registration: r, visibleFrom });
  };
  for (const r of sortByInstant(registrations)) {
    const t = instantOf(r);
    const openWithinWindow = open !== null && t - instantOf(open) <= windowMs;
    if (r.type === 'IN') {
      if (lastBreakOut && t - instantOf(lastBreakOut) <= windowMs) findings.segments.push({ kind: 'break', from: lastBreakOut, to: r });
      lastBreakOut = null;
      if (open && openWithinWindow) {
        findings.doubleIns.push({ registration: r, openIn: open });
        // The earlier IN's segment ends where the worker registered again.
        findings.segments.push({ kind: 'work', from: open, to: null, cutBy: r });
      } else if (open) {
        unclosed(open);
      }
      open = r;
    } else {
      if (open && openWithinWindow) {
        findings.segments.push({ kind: 'work', from: open, to: r });
      } else {
        if (open) unclosed(open);
        findings.outsWithoutIn.push(r);
      }
      open = null;
      lastBreakOut = r.reason === 'break' ? r : null;
    }
  }
  if (open) unclosed(open);
  return findings;
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
