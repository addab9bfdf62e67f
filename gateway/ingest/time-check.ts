import { fromLocal, offsetMinutesAt, toOffsetIso } from '../../shared/time.ts';

/**
 * What a tap's time says about its terminal's clock, checked at ingest (time truth):
 * - `future`: the tap is dated more than the allowed skew after its arrival. No registration can carry a
 *   time that has not come yet (ONSS refuses it) and none is made up: the tap is held (`future-dated`);
 * - `offset`: the tap names a true instant, but with an offset that is not Europe/Brussels' at that instant
 *   (`+05:30`, or `+01:00` on a summer day), or with a wall time that does not exist in Brussels
 *   (`2026-03-29T02:30`, in the hour the clocks skip). The instant is kept (registered at its true time, with
 *   the Brussels offset) and the site manager is told the terminal's clock or time-zone setting is wrong.
 *
 * Brussels' offset changes only on whole UTC hours, so it is looked up once per hour of the taps seen.
 */
export type TimeVerdict =
  | { kind: 'ok' }
  | { kind: 'future'; aheadMs: number }
  | { kind: 'offset'; problem: 'wrong-offset' | 'nonexistent-wall-time'; given: string; expected: string; trueAt: string };

const OFFSET = /(Z|([+-])(\d{2}):(\d{2}))$/;

function offsetOf(at: string): number | undefined {
  const m = OFFSET.exec(at);
  if (!m) return undefined;
  if (m[1] === 'Z') return 0;
  const minutes = Number(m[3]) * 60 + Number(m[4]);
  return m[2] === '-' ? -minutes : minutes;
}

function formatOffset(minutes: number): string {
  const a = Math.abs(minutes);
  return `${minutes < 0 ? '-' : '+'}${String(Math.trunc(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

/** Whether the wall time written in `at` (before its offset) exists in Brussels. */
function wallTimeExists(at: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(at);
  if (!m) return true;
  try {
    fromLocal({ year: +m[1]!, month: +m[2]!, day: +m[3]!, hour: +m[4]!, minute: +m[5]! });
    return true;
  } catch {
    return false;
  }
}

export class TapTimeCheck {
  private readonly offsets = new Map<number, number>();

  constructor(private readonly maxFutureMs: number) {}

  private brusselsOffset(atMs: number): number {
    const hour = Math.floor(atMs / 3_600_000);
    let o = this.offsets.get(hour);
    if (o === undefined) {
      if (this.offsets.size > 10_000) this.offsets.clear();
      o = offsetMinutesAt(new Date(atMs));
      this.offsets.set(hour, o);
    }
    return o;
  }

  check(at: string, atMs: number, receivedMs: number): TimeVerdict {
    const ahead = atMs - receivedMs;
    if (ahead > this.maxFutureMs) return { kind: 'future', aheadMs: ahead };
    const given = offsetOf(at);
    const expected = this.brusselsOffset(atMs);
    if (given === undefined || given === expected) return { kind: 'ok' };
    return {
      kind: 'offset',
      problem: given === 0 || wallTimeExists(at) ? 'wrong-offset' : 'nonexistent-wall-time',
      given: at.endsWith('Z') ? 'Z' : formatOffset(given),
      expected: formatOffset(expected),
      trueAt: toOffsetIso(new Date(atMs)),
    };
  }
}
