/**
 * Time on the site and at ONSS. A tap is an instant on the terminal's clock, kept with the UTC offset that
 * was in force in Europe/Brussels at that instant (`2026-10-25T02:30:00.000+02:00`), so the local wall time
 * a worker saw is never lost; ONSS takes the same instant in UTC with a `Z`.
 * Offsets come from the platform's time-zone database (Intl), so DST changes are exact.
 */
const SITE_TIME_ZONE = 'Europe/Brussels';

const ISO_WITH_OFFSET = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

const partFormatters = new Map<string, Intl.DateTimeFormat>();
function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = partFormatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    partFormatters.set(timeZone, f);
  }
  return f;
}

export interface LocalParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/**
 * The zone this process keeps its local time in, when it said so with `useProcessTimeZone`; null otherwise.
 * For that zone, wall-clock parts come from Date's local getters: the same zone data as Intl (V8 takes local
 * time from ICU's time zones), without ICU's date formatting, which costs a small terminal about 8 MB of
 * memory and is slower.
 */
let processTimeZone: string | null = null;

/** Makes the process's local time `timeZone` (a long-running process that works on one zone: the terminal). */
export function useProcessTimeZone(timeZone = SITE_TIME_ZONE): void {
  process.env.TZ = timeZone;
  processTimeZone = timeZone;
}

/** Wall-clock parts of an instant in a time zone. */
export function localParts(instant: Date, timeZone = SITE_TIME_ZONE): LocalParts {
  if (timeZone === processTimeZone) {
    return { year: instant.getFullYear(), month: instant.getMonth() + 1, day: instant.getDate(), hour: instant.getHours(), minute: instant.getMinutes(), second: instant.getSeconds() };
  }
  const parts: Record<string, number> = {};
  for (const p of formatterFor(timeZone).formatToParts(instant)) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  return { year: parts.year!, month: parts.month!, day: parts.day!, hour: parts.hour!, minute: parts.minute!, second: parts.second! };
}

/**
 * The site zone's offset per UTC hour, for instants since 1977: Brussels has changed its offset only on
 * whole UTC hours since then (test/shared/process-time-zone.test.ts walks every change), so one lookup
 * serves a whole hour of acks, rosters and shift messages. Bounded: a day's worth of hours is plenty.
 */
const siteOffsets = new Map<number, number>();
const SINCE_1977_MS = 220_924_800_000;

/** The zone's UTC offset at an instant, in minutes east of UTC (+60 in winter, +120 in summer for Brussels). */
export function offsetMinutesAt(instant: Date, timeZone = SITE_TIME_ZONE): number {
  const ms = instant.getTime();
  if (timeZone !== SITE_TIME_ZONE || !(ms >= SINCE_1977_MS)) return offsetFromParts(instant, timeZone);
  const hour = Math.floor(ms / 3_600_000);
  let offset = siteOffsets.get(hour);
  if (offset === undefined) {
    if (siteOffsets.size >= 1024) siteOffsets.clear();
    offset = offsetFromParts(instant, timeZone);
    siteOffsets.set(hour, offset);
  }
  return offset;
}

function offsetFromParts(instant: Date, timeZone: string): number {
  const p = localParts(instant, timeZone);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  const whole = Math.floor(instant.getTime() / 1000) * 1000;
  return Math.round((asUtc - whole) / 60_000);
}

function pad(n: number, width = 2): string {
  return String(Math.abs(n)).padStart(width, '0');
}

function formatOffset(minutes: number): string {
  const sign = minutes < 0 ? '-' : '+';
  return `${sign}${pad(Math.trunc(Math.abs(minutes) / 60))}:${pad(Math.abs(minutes) % 60)}`;
}

/** An instant as local ISO 8601 with its offset: `2026-03-29T03:30:00.000+02:00`. */
export function toOffsetIso(instant: Date, timeZone = SITE_TIME_ZONE): string {
  const offset = offsetMinutesAt(instant, timeZone);
  const local = new Date(instant.getTime() + offset * 60_000);
  const ms = pad(local.getUTCMilliseconds(), 3);
  return (
    `${local.getUTCFullYear()}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}` +
    `T${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}.${ms}${formatOffset(offset)}`
  );
}

/** True when the text is ISO 8601 with a date, a time and an explicit offset (or Z), and is a real instant. */
export function isOffsetIso(text: string): boolean {
  const m = ISO_WITH_OFFSET.exec(text);
  if (!m) return false;
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[];
  if (mo! < 1 || mo! > 12 || d! < 1 || h! > 23 || mi! > 59 || s! > 59) return false;
  if (d! > new Date(Date.UTC(y!, mo!, 0)).getUTCDate()) return false;
  return !Number.isNaN(Date.parse(text));
}

/** The instant of an ISO 8601 text with offset; throws on anything else. */
export function parseInstant(text: string): Date {
  if (!isOffsetIso(text)) throw new RangeError(`not an ISO 8601 date-time with offset: ${JSON.stringify(text)}`);
  return new Date(Date.parse(text));
}

/** The UTC form ONSS takes: `2026-03-29T01:30:00Z` (seconds precision, as the web service shows it). */
export function toOnssUtc(text: string | Date): string {
  const instant = typeof text === 'string' ? parseInstant(text) : text;
  return `${instant.toISOString().slice(0, 19)}Z`;
}

/** The calendar day (`YYYY-MM-DD`) of an instant on the site's wall clock. */
export function localDate(instant: Date | string, timeZone = SITE_TIME_ZONE): string {
  const p = localParts(typeof instant === 'string' ? parseInstant(instant) : instant, timeZone);
  return `${p.year}-${pad(p.month)}-${pad(p.day)}`;
}

export type AmbiguityChoice = 'earlier' | 'later';

/**
 * The instant of a wall-clock time on the site. In the autumn repeated hour two instants share the wall
 * time: `choose` picks one (default the earlier, i.e. still summer time). In the spring gap the wall time
 * does not exist: a RangeError says so, because guessing would put a registration an hour off.
 */
export function fromLocal(
  local: { year: number; month: number; day: number; hour: number; minute: number; second?: number; millisecond?: number },
  options: { timeZone?: string; choose?: AmbiguityChoice } = {},
): Date {
  const timeZone = options.timeZone ?? SITE_TIME_ZONE;
  const naive = Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute, local.second ?? 0, local.millisecond ?? 0);
  const candidates = new Set<number>();
  // The offset can only be one of those in force within a day around the wall time.
  for (const probe of [naive - 86_400_000, naive, naive + 86_400_000]) {
    const off = offsetMinutesAt(new Date(probe), timeZone);
    const instant = naive - off * 60_000;
    if (offsetMinutesAt(new Date(instant), timeZone) === off) candidates.add(instant);
  }
  const sorted = [...candidates].sort((a, b) => a - b);
  if (sorted.length === 0) {
    throw new RangeError(`${pad(local.hour)}:${pad(local.minute)} on ${local.year}-${pad(local.month)}-${pad(local.day)} does not exist in ${timeZone} (clocks jump forward)`);
  }
  return new Date(options.choose === 'later' ? sorted[sorted.length - 1]! : sorted[0]!);
}

/** Parses `YYYY-MM-DDTHH:MM[:SS]` as a site wall-clock time. */
export function parseLocalDateTime(text: string, options: { timeZone?: string; choose?: AmbiguityChoice } = {}): Date {
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?$/.exec(text);
  if (!m) throw new RangeError(`not a local date-time (YYYY-MM-DDTHH:MM[:SS]): ${JSON.stringify(text)}`);
  const [, y, mo, d, h, mi, s] = m;
  return fromLocal({ year: +y!, month: +mo!, day: +d!, hour: +h!, minute: +mi!, second: s ? +s : 0 }, options);
}

/** Whole calendar days from one `YYYY-MM-DD` to another, inclusive of both (a single day counts 1). */
export function calendarDaysInclusive(from: string, to: string): number {
  const a = Date.parse(`${from}T00:00:00Z`);
  const b = Date.parse(`${to}T00:00:00Z`);
  return Math.round((b - a) / 86_400_000) + 1;
}
