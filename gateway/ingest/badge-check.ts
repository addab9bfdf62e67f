import type { Db } from '../../shared/sqlite.ts';
import type { Tap } from '../../shared/mqtt/payloads.ts';
import { toOffsetIso } from '../../shared/time.ts';
import { SunVerifier, type SunCheckFailure } from '../badge-security/sun-verifier.ts';
import { EMPTY_KEY_RING, type BadgeKeyRing } from '../badge-security/key-ring.ts';
import { judgeCounter, withRead, type SunState } from './sun-counters.ts';

const isoOf = (seconds: number) => toOffsetIso(new Date(seconds * 1000));
import type { BadgeKind } from '../site-data/badges.ts';

/**
 * The badge check of ingest, inside the group-commit transaction: a secure badge's tap must carry a SUN
 * message that verifies with the key ring, names the badge that was read, and has a read counter the
 * gateway has not accepted before. What fails is held (stored, acked `stored` for review, never turned
 * into a registration); a UID-only badge on a site that requires secure badges is registered and flagged.
 *
 * Counters: the badge's accepted read counters are kept in one row per badge (`badge_sun_state`, rule and
 * layout in sun-counters.ts), rewritten in the same transaction as the tap, so a replay is refused whatever
 * crashed in between. A counter above all those seen is fresh. A lower one is still a genuine tap when it was
 * made before the tap of the next higher counter (up to the reorder tolerance, for terminal clocks): a
 * terminal that was offline sends its taps late, after the same badge was used at another door. A lower
 * counter made after a higher one can only be a message read from the badge beforehand; a counter already
 * accepted is a replay.
 */
export type HoldCause = 'uid-only-read' | 'replayed' | 'lower-counter' | 'counter-too-old' | SunCheckFailure;

/** What `tap_badge_checks.outcome` says: why a tap was held, or that it was flagged. */
export type BadgeCheckOutcome = HoldCause | 'uid-only-on-secure-site';

export interface BadgeCheckRecord {
  outcome: BadgeCheckOutcome;
  /** For the remark: the badge, counters, the earlier or later tap involved, the UID inside the message. */
  details: Record<string, string | number | null>;
}

export type BadgeCheckResult =
  /** Nothing to record: a UID-only badge where that is allowed. */
  | { result: 'none' }
  /** A secure tap that verified: the badge's counter state, to be rewritten with the tap. */
  | { result: 'verified'; counter: number; version: number; state: SunState }
  /** Registered, with the flag recorded. */
  | { result: 'flagged'; record: BadgeCheckRecord }
  /** Held: the enrichment status and its sentence, and what the remark needs. */
  | { result: 'held'; status: 'possible-copy' | 'badge-key-missing'; detail: string; record: BadgeCheckRecord };

export interface BadgeCheckOptions {
  keys?: BadgeKeyRing;
  /** How much later than the next higher counter's tap a lower counter's tap may be (terminal clocks). */
  reorderToleranceMs?: number;
}

export const DEFAULT_REORDER_TOLERANCE_MS = 120_000;


const CAUSE_TEXT: Record<HoldCause, string> = {
  'uid-only-read': 'the badge answered without its SUN message (a UID-only copy of a secure badge)',
  replayed: 'its SUN message had been accepted before (a replayed message)',
  'lower-counter': 'its read counter is lower than that of a tap made before it (a message read from the badge beforehand)',
  'counter-too-old': 'its read counter is older than the last reads of the badge the gateway keeps, so a late tap cannot be told from a message read beforehand',
  'uid-mismatch': "its SUN message is another badge's",
  'bad-mac': 'its SUN message has a wrong MAC (a forged or altered message)',
  undecryptable: "its SUN message does not decrypt with this gateway's keys (a card personalised with other keys)",
  'no-key': 'the gateway holds no key of its key version',
};

export class BadgeSecurityCheck {
  private readonly verifier: SunVerifier;
  private readonly toleranceMs: number;
  private readonly stateOf;
  private readonly siteRule;
  private readonly saveState;
  private readonly insertCheck;
  private siteMemo = new Map<string, boolean>();
  /** Counter states changed in this transaction, written once per badge by `endBatch` (still inside it). */
  private pending = new Map<string, SunState>();

  constructor(db: Db, o: BadgeCheckOptions = {}) {
    this.verifier = SunVerifier.fromKeyRing(o.keys ?? EMPTY_KEY_RING);
    this.toleranceMs = o.reorderToleranceMs ?? DEFAULT_REORDER_TOLERANCE_MS;
    this.stateOf = db.prepare('SELECT highest, recent FROM badge_sun_state WHERE uid = ?');
    this.siteRule = db.prepare('SELECT require_secure_badges FROM sites WHERE id = ?').pluck();
    this.saveState = db.prepare('INSERT INTO badge_sun_state (uid, highest, recent) VALUES (?, ?, ?) ON CONFLICT (uid) DO UPDATE SET highest = excluded.highest, recent = excluded.recent');
    this.insertCheck = db.prepare('INSERT INTO tap_badge_checks (tap_id, outcome, details) VALUES (?, ?, ?) ON CONFLICT (tap_id) DO NOTHING');
  }

  /** A new transaction: site rules may have changed since the last one; nothing of a failed one is pending. */
  beginBatch(): void {
    this.siteMemo = new Map();
    this.pending = new Map();
  }

  /**
   * Writes the counter states this transaction changed, one row per badge however many of its taps came in
   * the batch. Called at the end of the transaction, before COMMIT: the states commit with their taps or not at all.
   */
  endBatch(): void {
    for (const [uid, state] of this.pending) this.saveState.run(uid, state.highest, state.recent);
    this.pending.clear();
  }

  check(tap: Tap, badge: { kind: BadgeKind; key_version: number | null }, siteId: string): BadgeCheckResult {
    if (badge.kind !== 'secure') {
      let required = this.siteMemo.get(siteId);
      if (required === undefined) this.siteMemo.set(siteId, (required = this.siteRule.get(siteId) === 1));
      return required ? { result: 'flagged', record: { outcome: 'uid-only-on-secure-site', details: { badge: tap.badge, siteId } } } : { result: 'none' };
    }
    const base = { badge: tap.badge, keyVersion: badge.key_version };
    if (!tap.sun) return this.hold('uid-only-read', base);
    const verdict = this.verifier.verify(tap.badge, badge.key_version, Buffer.from(tap.sun.picc, 'hex'), Buffer.from(tap.sun.mac, 'hex'));
    if (!verdict.ok) {
      return this.hold(verdict.why, { ...base, counter: verdict.counter ?? null, ...(verdict.messageUid ? { messageUid: verdict.messageUid } : {}) });
    }
    const atMs = Date.parse(tap.at);
    const state = this.pending.get(tap.badge) ?? this.stored(tap.badge);
    const judged = judgeCounter(state, verdict.counter, atMs, this.toleranceMs);
    if (!judged.fresh) {
      const counter = verdict.counter;
      if (judged.why === 'replayed') return this.hold('replayed', { ...base, counter, otherAt: isoOf(judged.earlier.atS) });
      if (judged.why === 'lower-counter') return this.hold('lower-counter', { ...base, counter, laterCounter: judged.later.counter, otherAt: isoOf(judged.later.atS) });
      return this.hold('counter-too-old', { ...base, counter, oldestCounter: judged.oldest.counter });
    }
    return { result: 'verified', counter: verdict.counter, version: verdict.version, state: withRead(state, { counter: verdict.counter, atS: Math.floor(atMs / 1000) }) };
  }

  /** Takes what the check found, after the tap itself was inserted (not for a duplicate): the flag or hold now, the counter state at `endBatch`. */
  record(tap: Tap, r: BadgeCheckResult): void {
    if (r.result === 'verified') this.pending.set(tap.badge, r.state);
    else if (r.result === 'held' || r.result === 'flagged') this.insertCheck.run(tap.id, r.record.outcome, JSON.stringify(r.record.details));
  }

  private stored(uid: string): SunState | undefined {
    const row = this.stateOf.get(uid) as { highest: number; recent: Uint8Array } | undefined;
    return row ? { highest: row.highest, recent: Buffer.from(row.recent) } : undefined;
  }

  private hold(cause: HoldCause, details: Record<string, string | number | null>): BadgeCheckResult {
    if (cause === 'no-key') {
      return {
        result: 'held',
        status: 'badge-key-missing',
        detail: `badge ${details.badge} is a secure badge of key version ${details.keyVersion ?? '?'}, which the gateway's badge key ring does not hold`,
        record: { outcome: cause, details },
      };
    }
    return { result: 'held', status: 'possible-copy', detail: `possible copy of badge ${details.badge}: ${CAUSE_TEXT[cause]}`, record: { outcome: cause, details } };
  }
}

/** Records a read accepted outside ingest (the personalisation's check read), as ingest records its own. */
export function recordSunRead(db: Db, uid: string, counter: number, atMs: number): void {
  const row = db.prepare('SELECT highest, recent FROM badge_sun_state WHERE uid = ?').get(uid) as { highest: number; recent: Uint8Array } | undefined;
  const state = withRead(row ? { highest: row.highest, recent: Buffer.from(row.recent) } : undefined, { counter, atS: Math.floor(atMs / 1000) });
  db.prepare('INSERT INTO badge_sun_state (uid, highest, recent) VALUES (?, ?, ?) ON CONFLICT (uid) DO UPDATE SET highest = excluded.highest, recent = excluded.recent').run(uid, state.highest, state.recent);
}

/**
 * Health's view of the keys: secure badges (not revoked) whose key version the ring does not hold have
 * every tap held. That is said at start in the log and, while it lasts, by /health (degraded). Looked up
 * again at most every few seconds, so enrolments and revocations show without a restart.
 */
export class BadgeKeyHealth {
  private checkedAt = Number.NEGATIVE_INFINITY;
  private last: string | undefined;
  private readonly versions;

  constructor(db: Db, private readonly keys: BadgeKeyRing, logger?: { warn(o: object, msg: string): void }, private readonly everyMs = 5000) {
    this.versions = db.prepare("SELECT key_version AS version, COUNT(*) AS badges FROM badges WHERE kind = 'secure' AND revoked_at IS NULL GROUP BY key_version ORDER BY key_version");
    const problem = this.problem();
    if (problem) logger?.warn({ problem }, 'secure badges whose taps will be held');
  }

  problem(now = Date.now()): string | undefined {
    if (now - this.checkedAt < this.everyMs) return this.last;
    this.checkedAt = now;
    const missing = (this.versions.all() as Array<{ version: number | null; badges: number }>).filter((r) => r.version === null || !this.keys.versions.has(r.version));
    this.last = missing.length
      ? `${missing.reduce((n, r) => n + r.badges, 0)} secure badge(s) of key version ${missing.map((r) => r.version ?? '?').join(', ')} cannot be verified: the badge key ring (badgeSecurity.keyFile) does not hold that version, so their taps are held`
      : undefined;
    return this.last;
  }
}
