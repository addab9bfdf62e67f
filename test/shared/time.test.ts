import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  calendarDaysInclusive,
  fromLocal,
  isOffsetIso,
  localDate,
  localParts,
  offsetMinutesAt,
  parseInstant,
  parseLocalDateTime,
  toOffsetIso,
  toOnssUtc,
} from '../../shared/time.ts';

describe('site time (Europe/Brussels)', () => {
  it('uses +01:00 in winter and +02:00 in summer', () => {
    expect(toOffsetIso(new Date('2026-01-15T07:00:00Z'))).toBe('2026-01-15T08:00:00.000+01:00');
    expect(toOffsetIso(new Date('2026-07-15T07:00:00Z'))).toBe('2026-07-15T09:00:00.000+02:00');
  });

  it('switches exactly at the spring change (2026-03-29, 01:00 UTC)', () => {
    expect(toOffsetIso(new Date('2026-03-29T00:59:59.999Z'))).toBe('2026-03-29T01:59:59.999+01:00');
    expect(toOffsetIso(new Date('2026-03-29T01:00:00.000Z'))).toBe('2026-03-29T03:00:00.000+02:00');
  });

  it('refuses a wall time inside the spring gap instead of guessing', () => {
    expect(() => parseLocalDateTime('2026-03-29T02:30')).toThrow(/does not exist/);
    expect(parseLocalDateTime('2026-03-29T01:59').toISOString()).toBe('2026-03-29T00:59:00.000Z');
    expect(parseLocalDateTime('2026-03-29T03:00').toISOString()).toBe('2026-03-29T01:00:00.000Z');
  });

  it('keeps both instants of the repeated autumn hour (2026-10-25) apart by their offset', () => {
    const first = fromLocal({ year: 2026, month: 10, day: 25, hour: 2, minute: 30 });
    const second = fromLocal({ year: 2026, month: 10, day: 25, hour: 2, minute: 30 }, { choose: 'later' });
    expect(first.toISOString()).toBe('2026-10-25T00:30:00.000Z');
    expect(second.toISOString()).toBe('2026-10-25T01:30:00.000Z');
    expect(toOffsetIso(first)).toBe('2026-10-25T02:30:00.000+02:00');
    expect(toOffsetIso(second)).toBe('2026-10-25T02:30:00.000+01:00');
    expect(toOnssUtc(toOffsetIso(first))).toBe('2026-10-25T00:30:00Z');
    expect(toOnssUtc(toOffsetIso(second))).toBe('2026-10-25T01:30:00Z');
  });

  it('round-trips any instant through its offset form and back (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2040, 0, 1) }), (ms) => {
        const text = toOffsetIso(new Date(ms));
        expect(isOffsetIso(text)).toBe(true);
        expect(parseInstant(text).getTime()).toBe(ms);
        expect([60, 120]).toContain(offsetMinutesAt(new Date(ms)));
        expect(toOnssUtc(text)).toBe(new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z'));
      }),
      { numRuns: 2000 },
    );
  });

  it('gives the offset of the instant itself, whichever instant of its hour asked first (DST change days 1977-2045)', () => {
    const HOUR = 3_600_000;
    const instants: number[] = [];
    for (let year = 1977; year <= 2045; year++) {
      for (const month of [2, 3, 8, 9, 10]) {
        const last = new Date(Date.UTC(year, month + 1, 0));
        const sunday = last.getTime() - last.getUTCDay() * 24 * HOUR;
        for (let t = sunday - 24 * HOUR; t <= sunday + 24 * HOUR; t += HOUR / 4) instants.push(t + 7 * 60_000 + 13_000);
      }
    }
    // The offset from the wall-clock parts of the instant (no memory of other instants).
    const direct = (ms: number) => {
      const p = localParts(new Date(ms));
      return Math.round((Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(ms / 1000) * 1000) / 60_000);
    };
    const shuffled = fc.sample(fc.shuffledSubarray(instants, { minLength: instants.length }), { numRuns: 1, seed: 29 })[0]!;
    const wrong = shuffled.filter((ms) => offsetMinutesAt(new Date(ms)) !== direct(ms)).map((ms) => new Date(ms).toISOString());
    expect(wrong).toEqual([]);
  });

  it('gives the site calendar day, not the UTC one', () => {
    expect(localDate('2026-06-30T23:30:00Z')).toBe('2026-07-01');
    expect(localDate('2026-12-31T23:30:00+00:00')).toBe('2027-01-01');
    expect(localDate('2026-07-01T00:30:00+02:00')).toBe('2026-07-01');
  });

  it('accepts only ISO 8601 with an explicit offset', () => {
    expect(isOffsetIso('2026-03-02T07:15:00+01:00')).toBe(true);
    expect(isOffsetIso('2026-03-02T07:15:00.123Z')).toBe(true);
    expect(isOffsetIso('2026-03-02T07:15:00')).toBe(false);
    expect(isOffsetIso('2026-02-30T07:15:00+01:00')).toBe(false);
    expect(isOffsetIso('2026-03-02 07:15:00+01:00')).toBe(false);
    expect(() => parseInstant('yesterday')).toThrow(/ISO 8601/);
  });

  it('counts calendar days across DST changes', () => {
    expect(calendarDaysInclusive('2026-03-01', '2026-03-31')).toBe(31);
    expect(calendarDaysInclusive('2026-10-01', '2026-10-31')).toBe(31);
    expect(calendarDaysInclusive('2026-01-01', '2026-04-10')).toBe(100);
  });
});
