import { describe, expect, it } from 'vitest';
import { decodeRecent, encodeRecent, judgeCounter, READ_WINDOW, withRead, type SunState } from '../../gateway/ingest/sun-counters.ts';

/** The read-counter rule of the gateway's badge check, on the state it keeps per badge. */
const T0 = Date.parse('2026-03-02T08:00:00+01:00');
const min = (m: number) => T0 + m * 60_000;
const TOLERANCE = 120_000;

function accepted(...reads: Array<[counter: number, atMinute: number]>): SunState {
  let s: SunState | undefined;
  for (const [counter, m] of reads) s = withRead(s, { counter, atS: Math.floor(min(m) / 1000) });
  return s!;
}

describe('read counters of a secure badge', () => {
  it('takes the first counter, and any counter above all those accepted', () => {
    expect(judgeCounter(undefined, 7, min(0), TOLERANCE)).toEqual({ fresh: true });
    expect(judgeCounter(accepted([7, 0]), 8, min(-600), TOLERANCE)).toEqual({ fresh: true });
  });

  it('calls a counter accepted before a replay, wherever it is in the window', () => {
    const s = accepted([5, 0], [6, 10], [7, 20]);
    expect(judgeCounter(s, 7, min(30), TOLERANCE)).toMatchObject({ fresh: false, why: 'replayed', earlier: { counter: 7 } });
    expect(judgeCounter(s, 5, min(1), TOLERANCE)).toMatchObject({ fresh: false, why: 'replayed', earlier: { counter: 5, atS: Math.floor(min(0) / 1000) } });
  });

  it('takes a lower counter made before the next higher one (a late tap), up to the tolerance, and not after', () => {
    const s = accepted([5, 0], [8, 60]); // 6 and 7 were read at doors whose terminals were offline
    expect(judgeCounter(s, 6, min(20), TOLERANCE)).toEqual({ fresh: true });
    expect(judgeCounter(s, 7, min(61), TOLERANCE)).toEqual({ fresh: true }); // a terminal clock a minute fast
    expect(judgeCounter(s, 7, min(63), TOLERANCE)).toMatchObject({ fresh: false, why: 'lower-counter', later: { counter: 8 } });
    // The next higher counter decides, not the highest: a message read before 6's tap, played after it.
    const later = withRead(s, { counter: 6, atS: Math.floor(min(20) / 1000) });
    expect(judgeCounter(later, 3, min(40), TOLERANCE)).toMatchObject({ fresh: false, why: 'lower-counter', later: { counter: 5 } });
  });

  it('keeps the last reads only; a counter below a full window cannot be judged and is held', () => {
    let s: SunState | undefined;
    for (let c = 1; c <= READ_WINDOW + 10; c++) s = withRead(s, { counter: c * 2, atS: Math.floor(min(c) / 1000) });
    expect(decodeRecent(s!.recent)).toHaveLength(READ_WINDOW);
    expect(s!.highest).toBe((READ_WINDOW + 10) * 2);
    const oldest = decodeRecent(s!.recent).at(-1)!.counter;
    expect(judgeCounter(s, oldest + 1, min(0), TOLERANCE)).toEqual({ fresh: true });
    expect(judgeCounter(s, oldest - 1, min(0), TOLERANCE)).toMatchObject({ fresh: false, why: 'counter-too-old', oldest: { counter: oldest } });
  });

  it('stores the window in 8 bytes a read, highest first, and reads it back', () => {
    const s = accepted([9, 0], [3, 5], [12, 7]);
    const reads = decodeRecent(s.recent);
    expect(reads.map((r) => r.counter)).toEqual([12, 9, 3]);
    expect(s.recent).toHaveLength(24);
    expect(encodeRecent(reads).equals(s.recent)).toBe(true);
    expect(reads[0]).toEqual({ counter: 12, atS: Math.floor(min(7) / 1000) });
  });
});
