import { timeOrderedUuid } from '../../shared/ids.ts';
import type { Direction } from '../../shared/registration.ts';
import type { TapMessage, TapSun } from '../../shared/mqtt/payloads.ts';
import { toOffsetIso } from '../../shared/time.ts';

/**
 * The taps one simulated terminal publishes: valid v1 taps with a fresh UUID, a per-terminal sequence
 * number, a badge from a small pool that alternates IN and OUT like a worker coming and going, and the
 * terminal's clock with its Brussels offset.
 */
export interface TapSourceOptions {
  /** Index of the terminal in the run: keeps badge UIDs distinct between terminals. */
  terminalIndex: number;
  /** Badges to tap (hex UIDs); by default 16 made-up 4-byte UIDs per terminal. */
  badges?: string[];
  /** First sequence number (default 0). */
  seqStart?: number;
  /** Every Nth tap is deliberately malformed (a badge that is not hex), to exercise the reject path. */
  invalidEvery?: number;
  /** Clock, for tests. */
  now?: () => Date;
  /** Secure badges: the badges tapped and, for each tap, the SUN message the badge gave that read. */
  sun?: SunSupply;
}

/**
 * SUN messages for the taps of secure badges, supplied from outside: a load run measures the gateway, so the
 * generator only takes each badge's next message (computed beforehand) and computes no cryptography itself.
 */
export interface SunSupply {
  /** The badges a terminal taps (instead of the made-up UID-only ones). */
  badges(terminalIndex: number): string[];
  /** The badge's next message, in the order the badge signed them. */
  next(badge: string): TapSun;
}

export interface GeneratedTap {
  message: TapMessage;
  /** True when this tap was made malformed on purpose (invalidEvery). */
  invalid: boolean;
}

export function defaultBadges(terminalIndex: number, count = 16): string[] {
  const out: string[] = [];
  for (let b = 0; b < count; b++) {
    // 4-byte UID: 0xC1A0 marks simulated badges, then the terminal (12 bits) and the badge (4 bits).
    const low = ((terminalIndex & 0xfff) << 4) | (b & 0xf);
    out.push(`C1A0${low.toString(16).toUpperCase().padStart(4, '0')}`);
  }
  return out;
}

// Many taps share a millisecond under load; formatting the offset time once per millisecond keeps the
// generator's own cost out of the measurement.
let cachedMs = -1;
let cachedIso = '';
function offsetIsoNow(now: () => Date): string {
  const d = now();
  const ms = d.getTime();
  if (ms !== cachedMs) {
    cachedMs = ms;
    cachedIso = toOffsetIso(d);
  }
  return cachedIso;
}

export class TapSource {
  private seq: number;
  private produced = 0;
  private readonly badges: string[];
  private readonly nextDirection = new Map<string, Direction>();
  private readonly now: () => Date;

  constructor(private readonly options: TapSourceOptions) {
    this.seq = options.seqStart ?? 0;
    this.badges = options.badges && options.badges.length > 0 ? options.badges : options.sun ? options.sun.badges(options.terminalIndex) : defaultBadges(options.terminalIndex);
    this.now = options.now ?? (() => new Date());
  }

  next(): GeneratedTap {
    const badge = this.badges[this.produced % this.badges.length]!;
    this.produced++;
    const direction = this.nextDirection.get(badge) ?? 'IN';
    this.nextDirection.set(badge, direction === 'IN' ? 'OUT' : 'IN');
    const invalid = this.options.invalidEvery !== undefined && this.options.invalidEvery > 0 && this.produced % this.options.invalidEvery === 0;
    const message: TapMessage = {
      v: 1,
      // As the product's terminals make them: time-ordered (shared/ids.ts).
      id: timeOrderedUuid(),
      seq: this.seq++,
      badge: invalid ? 'NOT-A-BADGE' : badge,
      direction,
      reason: 'work',
      at: offsetIsoNow(this.now),
      ...(this.options.sun && !invalid ? { sun: this.options.sun.next(badge) } : {}),
    };
    return { message, invalid };
  }
}
