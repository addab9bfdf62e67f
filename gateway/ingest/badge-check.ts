import type { Db } from '../../shared/sqlite.ts';
import type { Tap } from '../../shared/mqtt/payloads.ts';
import { toOffsetIso } from '../../shared/time.ts';
import { SunVerifier, type SunCheckFailure } from '../badge-security/sun-verifier.ts';
import { EMPTY_KEY_RING, type BadgeKeyRing } from '../badge-security/key-ring.ts';
import type { BadgeKind } from '../site-data/badges.ts';

/**
 * The badge check of ingest, inside the group-commit transaction: a secure badge's tap must carry a SUN
 * message that verifies with the key ring, names the badge that was read, and has a read counter the
 * gateway has not accepted before. What fails is held (stored, acked `stored` for review, never turned
 * into a registration); a UID-only badge on a site that requires secure badges is registered and flagged.
 *
 * Counters: every accepted counter is written to `badge_sun_reads` in the same transaction as its tap, so
 * a replay is refused whatever crashed in between. A counter above all those seen is fresh. A lower one is
 * still a genuine tap when it was made before the tap of the next higher counter (up to the reorder
 * tolerance, for terminal clocks): a terminal that was offline sends its taps late, after the same badge
 * was used at another door. A lower counter made after a higher one can only be a message read from the
 * badge beforehand; a counter already accepted is a replay.
 */
export type HoldCause = 'uid-only-read' | 'replayed' | 'lower-counter' | SunCheckFailure;

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
  /** A secure tap that verified: its counter is recorded with the tap. */
  | { result: 'verified'; counter: number; version: number; atMs: number }
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

interface ReadRow {
  counter: number;
  at_ms: number;
  tap_id: string;
}

const CAUSE_TEXT: Record<HoldCause, string> = {
  'uid-only-read': 'the badge answered without its SUN message (a UID-only copy of a secure badge)',
  replayed: 'its SUN message had been accepted before (a replayed message)',
  'lower-counter': 'its read counter is lower than that of a tap made before it (a message read from the badge beforehand)',
  'uid-mismatch': "its SUN message is another badge's",
  'bad-mac': 'its SUN message has a wrong MAC (a forged or altered message)',
  undecryptable: "its SUN message does not decrypt with this gateway's keys (a card personalised with other keys)",
  'no-key': 'the gateway holds no key of its key version',
};

export class BadgeSecurityCheck {
  private readonly verifier: SunVerifier;
  private readonly toleranceMs: number;
  private readonly nextRead;
  private readonly tapOf;
  private readonly siteRule;
  private readonly insertRead;
  private readonly insertCheck;
  private siteMemo = new Map<string, boolean>();

  constructor(db: Db, o: BadgeCheckOptions = {}) {
    this.verifier = SunVerifier.fromKeyRing(o.keys ?? EMPTY_KEY_RING);
    this.toleranceMs = o.reorderToleranceMs ?? DEFAULT_REORDER_TOLERANCE_MS;
    // The same counter (a replay) or the next higher one (a late tap, or a message read beforehand): one seek.
    this.nextRead = db.prepare('SELECT counter, at_ms, tap_id FROM badge_sun_reads WHERE uid = ? AND counter >= ? ORDER BY counter LIMIT 1');
    this.tapOf = db.prepare('SELECT terminal_id, at FROM taps WHERE tap_id = ?');
    this.siteRule = db.prepare('SELECT require_secure_badges FROM sites WHERE id = ?').pluck();
    this.insertRead = db.prepare('INSERT INTO badge_sun_reads (uid, counter, at_ms, tap_id) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING');
    this.insertCheck = db.prepare('INSERT INTO tap_badge_checks (tap_id, outcome, details) VALUES (?, ?, ?) ON CONFLICT (tap_id) DO NOTHING');
  }

  /** A new transaction: site rules may have changed since the last one. */
  beginBatch(): void {
    this.siteMemo = new Map();
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
    const next = this.nextRead.get(tap.badge, verdict.counter) as ReadRow | undefined;
    if (next) {
      // The same tap sent again (its ack was lost): ingest stores it once and acks it again.
      if (next.tap_id === tap.id) return { result: 'none' };
      const other = this.describeTap(next);
      if (next.counter === verdict.counter) return this.hold('replayed', { ...base, counter: verdict.counter, earlierTapId: next.tap_id, ...other });
      if (atMs > next.at_ms + this.toleranceMs) {
        return this.hold('lower-counter', { ...base, counter: verdict.counter, laterCounter: next.counter, laterTapId: next.tap_id, ...other });
      }
    }
    return { result: 'verified', counter: verdict.counter, version: verdict.version, atMs };
  }

  /** Writes what the check found, after the tap itself was inserted (not for a duplicate). */
  record(tap: Tap, r: BadgeCheckResult): void {
    if (r.result === 'verified') this.insertRead.run(tap.badge, r.counter, r.atMs, tap.id);
    else if (r.result === 'held' || r.result === 'flagged') this.insertCheck.run(tap.id, r.record.outcome, JSON.stringify(r.record.details));
  }

  private describeTap(read: ReadRow): { otherAt: string; otherTerminal: string | null } {
    const t = this.tapOf.get(read.tap_id) as { terminal_id: string; at: string } | undefined;
    return { otherAt: t?.at ?? toOffsetIso(new Date(read.at_ms)), otherTerminal: t?.terminal_id ?? null };
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
