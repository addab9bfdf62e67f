import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromLocal, localParts, toOffsetIso, useProcessTimeZone, type LocalParts } from '../../shared/time.ts';

/**
 * A terminal keeps its process's local time in Europe/Brussels (`useProcessTimeZone`) and takes wall-clock
 * parts from Date's getters instead of Intl.DateTimeFormat (which costs it about 8 MB). Both must give the
 * same answer for every instant: this file computes each instant through Intl first, then switches the
 * process's zone and compares. (A file of its own: the switch is for the whole process.)
 */
const HOUR = 3_600_000;

/** Every 15 minutes through the DST change days of Belgium's history of summer time, and beyond. */
function transitionInstants(): Date[] {
  const out: Date[] = [];
  for (let year = 1977; year <= 2045; year++) {
    for (const month of [2, 3, 8, 9, 10]) {
      // The last Sunday of the month (EU rule) and the days around it cover every rule Belgium used.
      const last = new Date(Date.UTC(year, month + 1, 0));
      const sunday = last.getTime() - last.getUTCDay() * 24 * HOUR;
      for (let t = sunday - 24 * HOUR; t <= sunday + 24 * HOUR; t += HOUR / 4) out.push(new Date(t));
    }
  }
  return out;
}

describe('wall-clock parts from the process time zone', () => {
  it('are those of Intl for every instant: DST change days since 1977, random instants 1970-2100, odd milliseconds', () => {
    const random = fc.sample(fc.integer({ min: 0, max: Date.UTC(2100, 0, 1) }), { numRuns: 20_000, seed: 16 }).map((t) => new Date(t));
    const instants = [...transitionInstants(), ...random, new Date(Date.UTC(2026, 2, 29, 0, 59, 59, 999)), new Date(Date.UTC(2026, 9, 25, 0, 59, 59, 999))];
    const viaIntl: LocalParts[] = instants.map((i) => localParts(i));
    const isoViaIntl = instants.slice(0, 2000).map((i) => toOffsetIso(i));
    const autumnHour = [fromLocal({ year: 2026, month: 10, day: 25, hour: 2, minute: 30 }), fromLocal({ year: 2026, month: 10, day: 25, hour: 2, minute: 30 }, { choose: 'later' })];

    useProcessTimeZone('Europe/Brussels');
    expect(new Date(Date.UTC(2026, 6, 1, 12)).getHours()).toBe(14); // the switch took effect

    const mismatches = instants.map((i, k) => [i.toISOString(), viaIntl[k], localParts(i)] as const).filter(([, a, b]) => JSON.stringify(a) !== JSON.stringify(b));
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(instants.slice(0, 2000).map((i) => toOffsetIso(i))).toEqual(isoViaIntl);
    expect([fromLocal({ year: 2026, month: 10, day: 25, hour: 2, minute: 30 }), fromLocal({ year: 2026, month: 10, day: 25, hour: 2, minute: 30 }, { choose: 'later' })]).toEqual(autumnHour);
    expect(() => fromLocal({ year: 2026, month: 3, day: 29, hour: 2, minute: 30 })).toThrow(/does not exist/);
    // Another zone still goes through Intl.
    expect(localParts(new Date(Date.UTC(2026, 6, 1, 12)), 'America/New_York').hour).toBe(8);
  });
});
