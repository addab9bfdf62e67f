import type { RegistrationFact } from '../remarks/model.ts';
import { groupByWorker, pairWorkerRegistrations, workerStateAt, type Segment } from '../remarks/shifts.ts';

/**
 * Who is on which site now: each worker's shift state (gateway/shifts/fold.ts) folded from their
 * registrations at every site, lapses applied: working or on break, at the site where it was set.
 */
export interface PresenceEntry {
  workerId: string;
  siteId: string;
  state: 'working' | 'on-break';
  since: string;
  seq: number;
}

export function presenceNow(registrations: RegistrationFact[], now: Date, maxShiftHours: number): PresenceEntry[] {
  const out: PresenceEntry[] = [];
  for (const regs of groupByWorker(registrations).values()) {
    const { state, setBy } = workerStateAt(regs, now, maxShiftHours);
    if (state.state === 'off' || !setBy || !state.siteId) continue;
    out.push({ workerId: setBy.workerId, siteId: state.siteId, state: state.state === 'working' ? 'working' : 'on-break', since: setBy.at, seq: setBy.seq });
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

export function timelineBars(registrations: RegistrationFact[], day: string, dayOf: (at: string) => string, maxShiftHours: number): TimelineBar[] {
  const segments: Segment[] = pairWorkerRegistrations(registrations, maxShiftHours).segments;
  return segments
    .filter((s) => dayOf(s.from.at) === day)
    .map((s) => ({ kind: s.kind, from: s.from.at, to: s.to?.at ?? null, cutAt: s.cutBy?.at ?? null, siteId: s.from.siteId, fromSeq: s.from.seq, toSeq: s.to?.seq ?? null }))
    .sort((a, b) => Date.parse(a.from) - Date.parse(b.from));
}
