import type { RegistrationFact } from '../remarks/model.ts';
import { groupByWorker, pairWorkerRegistrations, type Segment } from '../remarks/shifts.ts';

/**
 * Who is on which site now: a worker whose last work segment is open (an IN no OUT closed, within the shift
 * window) is present; one whose last registration is an OUT for a break, within the window, is on break.
 */
export interface PresenceEntry {
  workerId: string;
  siteId: string;
  state: 'working' | 'on-break';
  since: string;
  seq: number;
}

export function presenceNow(registrations: RegistrationFact[], now: Date, windowHours: number): PresenceEntry[] {
  const out: PresenceEntry[] = [];
  const nowMs = now.getTime();
  const windowMs = windowHours * 3_600_000;
  for (const regs of groupByWorker(registrations).values()) {
    const past = regs.filter((r) => Date.parse(r.at) <= nowMs);
    if (past.length === 0) continue;
    const sorted = [...past].sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || a.seq - b.seq);
    const last = sorted[sorted.length - 1]!;
    if (nowMs - Date.parse(last.at) > windowMs) continue;
    if (last.type === 'IN') out.push({ workerId: last.workerId, siteId: last.siteId, state: 'working', since: last.at, seq: last.seq });
    else if (last.reason === 'break') out.push({ workerId: last.workerId, siteId: last.siteId, state: 'on-break', since: last.at, seq: last.seq });
  }
  return out.sort((a, b) => a.siteId.localeCompare(b.siteId) || Date.parse(a.since) - Date.parse(b.since));
}

/** A worker's day as bars: work and breaks, for the timeline (a night shift shows on the day of its IN). */
export interface TimelineBar {
  kind: 'work' | 'break';
  from: string;
  to: string | null;
  /** For an IN without OUT cut short by the next IN: where to draw its end. */
  cutAt: string | null;
  siteId: string;
  fromSeq: number;
  toSeq: number | null;
}

export function timelineBars(registrations: RegistrationFact[], day: string, dayOf: (at: string) => string, windowHours: number): TimelineBar[] {
  const segments: Segment[] = pairWorkerRegistrations(registrations, windowHours).segments;
  return segments
    .filter((s) => dayOf(s.from.at) === day)
    .map((s) => ({ kind: s.kind, from: s.from.at, to: s.to?.at ?? null, cutAt: s.cutBy?.at ?? null, siteId: s.from.siteId, fromSeq: s.from.seq, toSeq: s.to?.seq ?? null }))
    .sort((a, b) => Date.parse(a.from) - Date.parse(b.from));
}
