import type { SqlStore } from '../store/sql-store.ts';
import type { Tap } from '../../shared/mqtt/payloads.ts';
import { toOffsetIso } from '../../shared/time.ts';
import { SunVerifier, type SunCheckFailure } from '../badge-security/sun-verifier.ts';
import { EMPTY_KEY_RING, type BadgeKeyRing } from '../badge-security/key-ring.ts';
import { judgeCounter, withRead, type SunState } from './sun-counters.ts';
import type { BadgeKind } from '../site-data/badges.ts';
import { insertRows } from '../store/multi-row.ts';

/**
 * The badge check of ingest, inside the group-commit transaction: a secure badge's tap must carry a SUN
 * message that verifies with the key ring, names the badge that was read, and has a read counter the
 * gateway has not accepted before. What fails is held (stored, acked `stored` for review, never turned
 * into a registration); a UID-only badge on a site that requires secure badges is registered and flagged.
 *
 * Counters, and why a crash can never accept a replay: the counter of every accepted message is written in
 * the tap's own row (`taps.sun_counter`), in the tap's transaction. The check itself reads the badges'
 * counter states (sun-counters.ts) from memory, so a tap costs no extra read or write: the states are folded
 * at start from their last snapshot (`badge_sun_state`, with `badge_sun_snapshot` saying up to which tap it
 * goes) and the taps committed since, and a new snapshot is written now and then inside a batch's
 * transaction. A change is taken into memory only once its transaction committed. Whatever crashed, the
 * taps hold every accepted counter, and the next start knows them all.
 *
 * The rule: a counter above all those seen is fresh. A lower one is still a genuine tap when it was made
 * before the tap of the next higher counter (up to the reorder tolerance, for terminal clocks): a terminal
 * that was offline sends its taps late, after the same badge was used at another door. A lower counter made
 * after a higher one can only be a message read from the badge beforehand; a counter already accepted is a
 * replay.
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
  /** A secure tap that verified: its counter (for the tap's row) and the badge's state once it is committed. */
  | { result: 'verified'; counter: number; version: number; state: SunState }
  /** Registered, with the flag recorded. */
  | { result: 'flagged'; record: BadgeCheckRecord }
  /** Held: the enrichment status and its sentence, and what the remark needs. */
  | { result: 'held'; status: 'possible-copy' | 'badge-key-missing'; detail: string; record: BadgeCheckRecord };

export interface BadgeCheckOptions {
  keys?: BadgeKeyRing;
  /** How much later than the next higher counter's tap a lower counter's tap may be (terminal clocks). */
  reorderToleranceMs?: number;
  /** How often the counter states are written as a snapshot (the fold at start covers the taps since). */
  snapshotEveryMs?: number;
}

const DEFAULT_SNAPSHOT_EVERY_MS = 5000;
const DEFAULT_REORDER_TOLERANCE_MS = 120_000;

const isoOf = (seconds: number) => toOffsetIso(new Date(seconds * 1000));

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

const SITE_RULE = 'SELECT require_secure_badges FROM sites WHERE id = $1';
const SAVE_STATE_HEAD = 'INSERT INTO badge_sun_state (uid, highest, recent)';
const SAVE_STATE_TAIL = 'ON CONFLICT (uid) DO UPDATE SET highest = excluded.highest, recent = excluded.recent';
const SAVE_SNAPSHOT = 'UPDATE badge_sun_snapshot SET taps_rowid = $1, taken_at = $2 WHERE id = 1';
const LAST_TAP_ROWID = 'SELECT COALESCE(MAX(rowid), 0) AS n FROM taps';
const INSERT_CHECK = 'INSERT INTO tap_badge_checks (tap_id, outcome, details) VALUES ($1, $2, $3) ON CONFLICT (tap_id) DO NOTHING';

/**
 * On the storage port: `load` once before the first batch, then each transaction hands its `tx` to
 * `beginBatch` and every statement of the check runs through it.
 */
export class BadgeSecurityCheck {
  private readonly verifier: SunVerifier;
  private readonly toleranceMs: number;
  private readonly snapshotEveryMs: number;
  private siteMemo = new Map<string, boolean>();
  /** The committed counter state of every secure badge seen (see above). */
  private readonly states = new Map<string, SunState>();
  /** Changed by the running transaction; into `states` once it committed. */
  private pending = new Map<string, SunState>();
  /** Badges whose state changed since the last snapshot. */
  private readonly unsaved = new Set<string>();
  private snapshotInBatch = false;
  private lastSnapshotAt: number;
  private tx: SqlStore | undefined;

  constructor(o: BadgeCheckOptions = {}) {
    this.verifier = SunVerifier.fromKeyRing(o.keys ?? EMPTY_KEY_RING);
    this.toleranceMs = o.reorderToleranceMs ?? DEFAULT_REORDER_TOLERANCE_MS;
    this.snapshotEveryMs = o.snapshotEveryMs ?? DEFAULT_SNAPSHOT_EVERY_MS;
    this.lastSnapshotAt = Date.now();
  }

  /** The snapshot, then every counter accepted since (in commit order), as the start of this writer. */
  async load(store: SqlStore): Promise<void> {
    await store.transaction(async (tx) => {
      this.states.clear();
      this.unsaved.clear();
      for (const row of await tx.all<{ uid: string; highest: number; recent: Uint8Array }>('SELECT uid, highest, recent FROM badge_sun_state')) {
        this.states.set(row.uid, { highest: row.highest, recent: Buffer.from(row.recent) });
      }
      const upto = (await tx.one<{ taps_rowid: number }>('SELECT taps_rowid FROM badge_sun_snapshot WHERE id = 1'))!.taps_rowid;
      const since = await tx.all<{ badge: string; sun_counter: number; at: string }>('SELECT badge, sun_counter, at FROM taps WHERE rowid > $1 AND sun_counter IS NOT NULL ORDER BY rowid', [upto]);
      for (const t of since) {
        this.states.set(t.badge, withRead(this.states.get(t.badge), { counter: t.sun_counter, atS: Math.floor(Date.parse(t.at) / 1000) }));
        this.unsaved.add(t.badge);
      }
    });
  }

  private inBatch(): SqlStore {
    if (!this.tx) throw new Error('the badge check runs inside a transaction: call beginBatch(tx) first');
    return this.tx;
  }

  /** A new transaction (`tx`): site rules may have changed since the last one; nothing of a failed one is pending. */
  beginBatch(tx: SqlStore): void {
    this.tx = tx;
    this.siteMemo = new Map();
    this.pending = new Map();
    this.snapshotInBatch = false;
  }

  /**
   * At the end of the transaction, before COMMIT: every few seconds, the states changed since the last
   * snapshot (this batch's included) are written, with the last tap they cover, in this transaction.
   */
  async endBatch(now = Date.now()): Promise<void> {
    if (now - this.lastSnapshotAt < this.snapshotEveryMs || (this.unsaved.size === 0 && this.pending.size === 0)) return;
    const tx = this.inBatch();
    const rows: Array<[string, number, Buffer]> = [];
    for (const uid of new Set([...this.unsaved, ...this.pending.keys()])) {
      const state = this.pending.get(uid) ?? this.states.get(uid);
      if (state) rows.push([uid, state.highest, state.recent]);
    }
    await insertRows(tx, SAVE_STATE_HEAD, 3, rows, SAVE_STATE_TAIL);
    const last = (await tx.one<{ n: number }>(LAST_TAP_ROWID))!.n;
    await tx.run(SAVE_SNAPSHOT, [last, new Date(now).toISOString()]);
    this.snapshotInBatch = true;
  }

  /** The transaction committed: its states are the badges' states now. */
  committed(now = Date.now()): void {
    this.tx = undefined;
    for (const [uid, state] of this.pending) {
      this.states.set(uid, state);
      this.unsaved.add(uid);
    }
    this.pending.clear();
    if (this.snapshotInBatch) {
      this.unsaved.clear();
      this.lastSnapshotAt = now;
      this.snapshotInBatch = false;
    }
  }

  async check(tap: Tap, badge: { kind: BadgeKind; key_version: number | null }, siteId: string): Promise<BadgeCheckResult> {
    if (badge.kind !== 'secure') {
      let required = this.siteMemo.get(siteId);
      if (required === undefined) this.siteMemo.set(siteId, (required = (await this.inBatch().one<{ require_secure_badges: number }>(SITE_RULE, [siteId]))?.require_secure_badges === 1));
      return required ? { result: 'flagged', record: { outcome: 'uid-only-on-secure-site', details: { badge: tap.badge, siteId } } } : { result: 'none' };
    }
    const base = { badge: tap.badge, keyVersion: badge.key_version };
    if (!tap.sun) return this.hold('uid-only-read', base);
    const verdict = this.verifier.verify(tap.badge, badge.key_version, Buffer.from(tap.sun.picc, 'hex'), Buffer.from(tap.sun.mac, 'hex'));
    if (!verdict.ok) {
      return this.hold(verdict.why, { ...base, counter: verdict.counter ?? null, ...(verdict.messageUid ? { messageUid: verdict.messageUid } : {}) });
    }
    const atMs = Date.parse(tap.at);
    const state = this.pending.get(tap.badge) ?? this.states.get(tap.badge);
    const judged = judgeCounter(state, verdict.counter, atMs, this.toleranceMs);
    if (!judged.fresh) {
      const counter = verdict.counter;
      if (judged.why === 'replayed') return this.hold('replayed', { ...base, counter, otherAt: isoOf(judged.earlier.atS) });
      if (judged.why === 'lower-counter') return this.hold('lower-counter', { ...base, counter, laterCounter: judged.later.counter, otherAt: isoOf(judged.later.atS) });
      return this.hold('counter-too-old', { ...base, counter, oldestCounter: judged.oldest.counter });
    }
    return { result: 'verified', counter: verdict.counter, version: verdict.version, state: withRead(state, { counter: verdict.counter, atS: Math.floor(atMs / 1000) }) };
  }

  /** Takes what the check found, after the tap itself was inserted (not for a duplicate; its counter went in the tap's row). */
  async record(tap: Tap, r: BadgeCheckResult): Promise<void> {
    const row = this.take(tap, r);
    if (row) await this.inBatch().run(INSERT_CHECK, row);
  }

  /**
   * `record` without its statement, for a writer that inserts many taps' rows at once: an accepted counter
   * becomes the badge's state in this transaction at once (the batch's next taps are judged against it), and
   * the `tap_badge_checks` row (tap_id, outcome, details) to insert after the tap's own, if any, is returned.
   */
  take(tap: Tap, r: BadgeCheckResult): [string, BadgeCheckOutcome, string] | undefined {
    if (r.result === 'verified') this.pending.set(tap.badge, r.state);
    else if (r.result === 'held' || r.result === 'flagged') return [tap.id, r.record.outcome, JSON.stringify(r.record.details)];
    return undefined;
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
  private looking = false;

  private constructor(private readonly store: SqlStore, private readonly keys: BadgeKeyRing, private readonly everyMs: number) {}

  /** Looked up once before it is asked (and said in the log when there is a problem). */
  static async open(store: SqlStore, keys: BadgeKeyRing, logger?: { warn(o: object, msg: string): void }, everyMs = 5000): Promise<BadgeKeyHealth> {
    const health = new BadgeKeyHealth(store, keys, everyMs);
    await health.lookUp(Date.now());
    if (health.last) logger?.warn({ problem: health.last }, 'secure badges whose taps will be held');
    return health;
  }

  /**
   * What /health says, at once (it never waits on the database): the last answer, looked up again in the
   * background when it is older than `everyMs`.
   */
  problem(now = Date.now()): string | undefined {
    if (now - this.checkedAt >= this.everyMs && !this.looking) void this.lookUp(now).catch(() => undefined);
    return this.last;
  }

  private async lookUp(now: number): Promise<void> {
    this.looking = true;
    try {
      const rows = await this.store.all<{ version: number | null; badges: number }>("SELECT key_version AS version, COUNT(*) AS badges FROM badges WHERE kind = 'secure' AND revoked_at IS NULL GROUP BY key_version ORDER BY key_version");
      const missing = rows.filter((r) => r.version === null || !this.keys.versions.has(r.version));
      this.last = missing.length
        ? `${missing.reduce((n, r) => n + r.badges, 0)} secure badge(s) of key version ${missing.map((r) => r.version ?? '?').join(', ')} cannot be verified: the badge key ring (badgeSecurity.keyFile) does not hold that version, so their taps are held`
        : undefined;
      this.checkedAt = now;
    } finally {
      this.looking = false;
    }
  }
}
