import type { SqlStore } from '../store/sql-store.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import { decodeTap, type RejectReason, type Tap } from '../../shared/mqtt/payloads.ts';
import { Enricher, type EnrichmentResult, type EnrichmentStatus } from './enrich.ts';
import { BadgeSecurityCheck, type BadgeCheckOptions } from './badge-check.ts';
import { ShiftTracker } from './shift-tracker.ts';
import type { ShiftChange } from '../shifts/change.ts';
import { TapTimeCheck } from './time-check.ts';
import { terminalOutages } from '../status/outage-journal.ts';
import { ReleaseWrites, settleBadgeChecks } from '../site-data/held-tap-release.ts';
import { RegistrationRows } from '../store/registration-rows.ts';
import { lockTapWriters } from '../store/tap-writer-lock.ts';
import { BatchRows, storedAmong } from './batch-rows.ts';
import { insertRows } from '../store/multi-row.ts';
import { applyForwardWrite, type ForwardWrite } from '../forward/forward-writes.ts';

/**
 * One group-commit transaction: every item of a batch written together (taps, their enrichment and
 * registrations, quarantined payloads, measured clock skew), one COMMIT, one fsync. On the storage port
 * (gateway/store/sql-store.ts): every statement goes through the transaction's `tx`, the same SQL on SQLite
 * and PostgreSQL. It runs either on the gateway's thread or on a writer thread of its own (see writers.ts).
 */
export type IngestItem =
  | PayloadItem
  | { kind: 'tap'; terminalId: string; tap: Tap; receivedAt: string; receivedMs: number; arrivedPerf: number }
  | { kind: 'reject'; terminalId: string; tapId?: string; reason: RejectReason; problems: FieldProblem[]; payload: Uint8Array; receivedAt: string; receivedMs: number; arrivedPerf: number }
  | StatusItem
  | BadgeChecksItem
  | ForwardItem;

/**
 * A change of the forwarder's state (gateway/forward/forward-writes.ts), committed with the batch: the
 * gateway's single writer writes it, so the forwarder never competes with ingest for the write lock.
 */
export interface ForwardItem {
  kind: 'forward';
  change: ForwardWrite;
}

/**
 * A tap as it arrived (the MQTT payload's bytes): decoded and validated by the writer, off the broker's
 * thread, then stored as a tap or quarantined as a reject. Its result says which, with the tap's id.
 */
export interface PayloadItem {
  kind: 'payload';
  terminalId: string;
  payload: Uint8Array;
  receivedAt: string;
  receivedMs: number;
  arrivedPerf: number;
}

/**
 * Held taps a release handed to the badge check (a badge now enrolled as secure) are waiting: settle them in
 * this transaction, where the keys and the read counters are (gateway/site-data/held-tap-release.ts).
 */
export interface BadgeChecksItem {
  kind: 'badge-checks';
  /** Gateway clock (ISO). */
  at: string;
}

/**
 * A terminal came online, went offline, or reported its status: written with the next batch. In a cluster,
 * `instance-gone` marks offline every terminal still recorded as connected to an instance that stopped
 * answering (`instance`; `terminalId` is empty).
 */
export interface StatusItem {
  kind: 'status';
  terminalId: string;
  change: 'online' | 'offline' | 'report' | 'instance-gone';
  /** Gateway clock. */
  at: string;
  /** The cluster instance the terminal connected to (`online`), or the one gone (`instance-gone`). */
  instance?: string;
  report?: { state: 'online' | 'offline'; at: string; version?: string; queued?: number; clockSkewMs?: number; configVersion?: number; cannotRegister?: readonly string[] };
}

/**
 * What happened to each item, in the order of the batch. `noted` carries what a forwarder change returns
 * (a new outage's id); `failed`: a forwarder change that failed on its own and was undone alone.
 */
export type ItemResult =
  | {
    status: 'stored'; duplicate: boolean; enrichment?: EnrichmentStatus; tapId?: string;
    /** An unknown badge tapped at a terminal in enrolment mode when it arrived: the ack says "enrol", not "review". */
    enrolling?: boolean;
  }
  | { status: 'rejected'; tapId?: string; reason?: RejectReason; problems?: FieldProblem[] }
  | { status: 'noted'; value?: number }
  | { status: 'failed'; error: { message: string; code?: string } };

export interface BatchResult {
  results: ItemResult[];
  registrations: number;
  durationMs: number;
  /** Workers' shift states this commit changed (gateway/ingest/shift-tracker.ts), for the terminals. */
  shifts: ShiftChange[];
}

export interface BatchWriterOptions extends BadgeCheckOptions {
  /** A tap dated further than this after its arrival is held as `future-dated` (the allowed clock skew). */
  maxFutureMs?: number;
}

const DEFAULT_MAX_FUTURE_MS = 120_000;

/** The registration columns of a tap that is not registered (held). */
const NO_REGISTRATION = { reg_seq: null, reg_at: null, at_s: null, ssin: null, limosa_id: null, capacity: null, context_id: null } as const;

/** How often, at most, a terminal's measured skew and last tap time are rewritten when the skew is steady. */
const SKEW_WRITE_INTERVAL_MS = 5000;

const ENROLMENT_UNTIL = 'SELECT enrolment_until FROM terminals WHERE id = $1';
const UPDATE_SKEW_HEAD = 'INSERT INTO terminal_status (terminal_id, state, measured_skew_ms, last_tap_at, updated_at)';
const UPDATE_SKEW_TAIL = `ON CONFLICT (terminal_id) DO UPDATE SET measured_skew_ms = excluded.measured_skew_ms, last_tap_at = excluded.last_tap_at, updated_at = excluded.updated_at`;
const CONNECTED = `INSERT INTO terminal_status (terminal_id, state, connected_at, updated_at, connected_via) VALUES ($1, 'online', $2, $2, $3)
  ON CONFLICT (terminal_id) DO UPDATE SET state = 'online', connected_at = excluded.connected_at, updated_at = excluded.updated_at, connected_via = excluded.connected_via`;
const DISCONNECTED = `INSERT INTO terminal_status (terminal_id, state, disconnected_at, updated_at) VALUES ($1, 'offline', $2, $2)
  ON CONFLICT (terminal_id) DO UPDATE SET state = 'offline', disconnected_at = excluded.disconnected_at, updated_at = excluded.updated_at, connected_via = NULL`;
const INSTANCE_GONE = `UPDATE terminal_status SET state = 'offline', disconnected_at = $1, updated_at = $1, connected_via = NULL
  WHERE connected_via = $2 AND state = 'online' RETURNING terminal_id`;
const REPORTED = `INSERT INTO terminal_status (terminal_id, state, reported_at, version, queued, reported_skew_ms, config_version, cannot_register, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
  ON CONFLICT (terminal_id) DO UPDATE SET state = excluded.state, reported_at = excluded.reported_at, cannot_register = excluded.cannot_register,
    version = COALESCE(excluded.version, terminal_status.version), queued = COALESCE(excluded.queued, terminal_status.queued),
    config_version = COALESCE(excluded.config_version, terminal_status.config_version),
    reported_skew_ms = COALESCE(excluded.reported_skew_ms, terminal_status.reported_skew_ms), updated_at = excluded.updated_at`;

/** A terminal's status change, with its outage journal entry, through the batch's `tx`. */
async function writeStatus(tx: SqlStore, item: StatusItem): Promise<void> {
  if (item.change === 'online') {
    await tx.run(CONNECTED, [item.terminalId, item.at, item.instance ?? null]);
    await terminalOutages.online(tx, item.terminalId, item.at);
  } else if (item.change === 'instance-gone') {
    for (const { terminal_id } of await tx.all<{ terminal_id: string }>(INSTANCE_GONE, [item.at, item.instance ?? ''])) {
      await terminalOutages.offline(tx, terminal_id, item.at, `the gateway instance it was connected to (${item.instance}) stopped answering`);
    }
  } else if (item.change === 'offline') {
    await tx.run(DISCONNECTED, [item.terminalId, item.at]);
    await terminalOutages.offline(tx, item.terminalId, item.at, 'connection to the gateway lost');
  } else if (item.report) {
    const r = item.report;
    const cannot = r.state === 'online' && r.cannotRegister?.length ? r.cannotRegister.join(',') : null;
    await tx.run(REPORTED, [item.terminalId, r.state, r.at, r.version ?? null, r.queued ?? null, r.clockSkewMs ?? null, r.configVersion ?? null, cannot, item.at]);
    // The terminal's own word (its status, or its last will when it went away without saying goodbye).
    if (r.state === 'offline') await terminalOutages.offline(tx, item.terminalId, item.at, 'the terminal reported itself offline (status or last will)');
    else if (cannot) await terminalOutages.cannotRegister(tx, item.terminalId, item.at, cannot);
    else await terminalOutages.online(tx, item.terminalId, item.at);
  }
}

/** What one transaction wrote, before the writer tells the caller. */
interface Written {
  results: ItemResult[];
  registrations: number;
  written: Array<[string, number]>;
  shifts: ShiftChange[];
}

export class BatchWriter {
  private readonly skewWritten = new Map<string, { skewMs: number; atMs: number }>();
  private readonly enricher: Enricher;
  private readonly shifts = new ShiftTracker();
  private readonly timeCheck: TapTimeCheck;
  private readonly registrationRows = new RegistrationRows();
  private readonly releases: ReleaseWrites;
  private readonly maxFutureMs: number;

  private constructor(private readonly store: SqlStore, private readonly badgeCheck: BadgeSecurityCheck, maxFutureMs: number | undefined) {
    this.enricher = new Enricher(badgeCheck);
    this.maxFutureMs = maxFutureMs ?? DEFAULT_MAX_FUTURE_MS;
    this.timeCheck = new TapTimeCheck(this.maxFutureMs);
    this.releases = new ReleaseWrites(this.shifts, this.registrationRows);
  }

  /**
   * A writer on `store` (its SQLite connection's store, or PostgreSQL), its badge check loaded. `options`: the
   * key ring and reorder tolerance of the secure-badge check (without keys, secure badges' taps are held),
   * and the allowed clock skew into the future.
   */
  static async open(store: SqlStore, options: BatchWriterOptions = {}): Promise<BatchWriter> {
    const { maxFutureMs, ...badges } = options;
    const badgeCheck = new BadgeSecurityCheck(badges);
    await badgeCheck.load(store);
    return new BatchWriter(store, badgeCheck, maxFutureMs);
  }

  /** Writes the batch in one transaction; rejects (and writes nothing) if the transaction fails. */
  async write(received: IngestItem[]): Promise<BatchResult> {
    const started = performance.now();
    // Taps that came as bytes are decoded first, outside the transaction: a tap, or a reject to quarantine.
    const items = received.map(decodePayload);
    // On SQLite, BEGIN IMMEDIATE: the transaction takes the write lock before its first read, so it waits on
    // the busy timeout for a writer in another connection (the forwarder, `ciao admin`) instead of failing
    // with SQLITE_BUSY_SNAPSHOT when its read snapshot turns out stale at the first write.
    let r: Written;
    try {
      r = await this.store.transaction((tx) => this.writeIn(tx, items));
    } finally {
      this.enricher.endBatch();
    }
    this.badgeCheck.committed();
    this.registrationRows.committed();
    const atMs = Date.now();
    for (const [terminalId, skewMs] of r.written) this.skewWritten.set(terminalId, { skewMs, atMs });
    // What ingest acks with: the id of a tap that came as bytes, and why one was refused.
    const results = r.results.map((result, i) => {
      const item = items[i]!;
      if (received[i]!.kind !== 'payload') return result;
      if (item.kind === 'tap' && result.status === 'stored') return { ...result, tapId: item.tap.id };
      if (item.kind === 'reject' && result.status === 'rejected') return { ...result, ...(item.tapId !== undefined ? { tapId: item.tapId } : {}), reason: item.reason, problems: item.problems };
      return result;
    });
    return { results, registrations: r.registrations, durationMs: performance.now() - started, shifts: r.shifts };
  }

  /**
   * The transaction's body: everything through `tx`. On PostgreSQL it may run again (a serialization retry).
   * The batch is gone through in order, deciding each item in memory; the taps' rows and what goes with them
   * are gathered and written as a few multi-row statements (batch-rows.ts): on PostgreSQL every statement is
   * a round trip. They are written before an item that may read them (a forwarder change, held taps' badge
   * checks), and at the end.
   */
  private async writeIn(tx: SqlStore, items: DecodedItem[]): Promise<Written> {
    const { enricher, shifts, badgeCheck, registrationRows, timeCheck } = this;
    // First, before anything is read: the batch numbers registrations (tap-writer-lock.ts).
    await lockTapWriters(tx);
    await enricher.beginBatch(tx);
    shifts.beginBatch();
    registrationRows.beginTransaction(tx, { locked: true });
    const rows = new BatchRows();
    // A tap id stored before, or met earlier in this batch, is a duplicate: acked again, stored once, and
    // neither enriched nor numbered.
    const taps = items.filter((item) => item.kind === 'tap');
    const stored = await storedAmong(tx, taps.map((item) => item.tap.id));
    // What enrichment will look up for the new taps, read at once where the memo does not hold it.
    await enricher.prefetch(taps.filter((item) => !stored.has(item.tap.id)));
    const results: ItemResult[] = [];
    const skew = new Map<string, { skewMs: number; at: string }>();
    let registrations = 0;
    const enrolment = new Map<string, string>();
    const enrolmentUntil = async (terminalId: string): Promise<string> => {
      let until = enrolment.get(terminalId);
      if (until === undefined) enrolment.set(terminalId, (until = (await tx.one<{ enrolment_until: string | null }>(ENROLMENT_UNTIL, [terminalId]))?.enrolment_until ?? ''));
      return until;
    };
    for (const item of items) {
      if (item.kind === 'status') {
        await writeStatus(tx, item);
        results.push({ status: 'noted' });
        continue;
      }
      if (item.kind === 'forward') {
        await rows.flush(tx);
        // Each change on a savepoint of its own: one that fails is undone alone, the batch's taps still commit.
        try {
          const value = await tx.transaction((sp) => applyForwardWrite(sp, item.change));
          results.push(value === undefined ? { status: 'noted' } : { status: 'noted', value });
        } catch (err) {
          results.push({ status: 'failed', error: { message: (err as Error).message, ...((err as { code?: string }).code ? { code: (err as { code: string }).code } : {}) } });
        }
        continue;
      }
      if (item.kind === 'badge-checks') {
        await rows.flush(tx);
        registrations += (await settleBadgeChecks(tx, enricher, badgeCheck, this.releases, new Date(item.at))).registrations;
        results.push({ status: 'noted' });
        continue;
      }
      if (item.kind === 'reject') {
        const payload = Buffer.from(item.payload.buffer, item.payload.byteOffset, item.payload.byteLength);
        rows.quarantined([item.terminalId, item.tapId ?? null, item.reason, JSON.stringify(item.problems), payload.subarray(0, 4096), payload.byteLength, item.receivedAt]);
        results.push({ status: 'rejected' });
        continue;
      }
      const { tap } = item;
      // Terminal clock minus gateway clock at arrival; transit and queueing only lower it, so the
      // highest value in a batch is the best estimate.
      const atMs = Date.parse(tap.at);
      const tapSkew = atMs - item.receivedMs;
      const prev = skew.get(item.terminalId);
      if (!prev || tapSkew > prev.skewMs) skew.set(item.terminalId, { skewMs: tapSkew, at: item.receivedAt });
      if (stored.has(tap.id)) {
        results.push({ status: 'stored', duplicate: true });
        continue;
      }
      stored.add(tap.id);
      // Time truth first: a tap dated in the future of its arrival is held, never registered with a
      // made-up time; a wrong offset keeps the true instant and is noted for the site manager.
      const time = timeCheck.check(tap.at, atMs, item.receivedMs);
      let e: EnrichmentResult;
      if (time.kind === 'future') {
        e = { status: 'future-dated', siteId: await enricher.siteOf(item.terminalId), detail: `the tap is dated ${Math.round(time.aheadMs / 1000)} s after it reached the gateway (more than the ${Math.round(this.maxFutureMs / 1000)} s allowed): the terminal's clock is ahead` };
      } else {
        e = await enricher.enrich(item.terminalId, tap, item.receivedAt);
        // Registered at its true instant, written with the Brussels offset of that instant.
        if (time.kind === 'offset' && e.status === 'enriched') e.registration.at = time.trueAt;
      }
      const registered = e.status === 'enriched' ? await registrationRows.columns(e.registration, tap.at, atMs) : NO_REGISTRATION;
      rows.tap([
        tap.id,
        item.terminalId,
        e.siteId,
        tap.seq,
        tap.badge,
        tap.direction,
        tap.reason,
        tap.at,
        tap.localAt ?? null,
        tap.employer ? ('enterpriseNumber' in tap.employer ? tap.employer.enterpriseNumber : tap.employer.foreignVatNumber) : null,
        item.receivedAt,
        e.status,
        e.status === 'enriched' ? null : e.detail,
        // A secure badge's accepted read counter, committed with its tap: what makes a replay known after any crash.
        e.badgeCheck?.result === 'verified' ? e.badgeCheck.counter : null,
        e.workerId ?? null,
        registered.reg_seq,
        registered.reg_at,
        registered.at_s,
        registered.ssin,
        registered.limosa_id,
        registered.capacity,
        registered.context_id,
      ]);
      if (time.kind === 'offset') rows.timeCheck(tap.id, time.problem, JSON.stringify({ at: tap.at, given: time.given, expected: time.expected, trueAt: time.trueAt, terminalId: item.terminalId }));
      // The worker did tap: the tap counts for their shift state, registered or held for missing site data.
      if (e.workerId && e.siteId) shifts.apply(e.workerId, { tapId: tap.id, atMs, direction: tap.direction, reason: tap.reason, siteId: e.siteId });
      // Kept for the badge check, should the badge be enrolled later as a secure badge.
      if (e.status === 'unknown-badge' && tap.sun) rows.heldSunMessage(tap.id, tap.sun.picc, tap.sun.mac);
      // Why the badge check failed or flagged the tap goes with it; an accepted counter is the badge's new
      // state, against which the batch's next taps are judged.
      const checked = e.badgeCheck && badgeCheck.take(tap, e.badgeCheck);
      if (checked) rows.badgeCheck(checked);
      if (registered.reg_seq !== null) registrations++;
      // Read here, in the transaction, so the ack loop never waits on the database: a mode turned on applies
      // from the next batch.
      const enrolling = e.status === 'unknown-badge' && (await enrolmentUntil(item.terminalId)) > item.receivedAt;
      results.push({ status: 'stored', duplicate: false, enrichment: e.status, ...(enrolling ? { enrolling } : {}) });
    }
    await rows.flush(tx);
    await badgeCheck.endBatch();
    const nowMs = Date.now();
    const now = new Date(nowMs).toISOString();
    const written: Array<[string, number]> = [];
    const skewRows: Array<[string, string, number, string, string]> = [];
    for (const [terminalId, v] of skew) {
      // One row write per terminal per batch would cost as much as the taps: write when the skew moved
      // by a second or more, or every few seconds.
      const last = this.skewWritten.get(terminalId);
      const skewMs = Math.round(v.skewMs);
      if (last && Math.abs(last.skewMs - skewMs) < 1000 && nowMs - last.atMs < SKEW_WRITE_INTERVAL_MS) continue;
      skewRows.push([terminalId, 'online', skewMs, v.at, now]);
      written.push([terminalId, skewMs]);
    }
    await insertRows(tx, UPDATE_SKEW_HEAD, 5, skewRows, UPDATE_SKEW_TAIL);
    return { results, registrations, written, shifts: await shifts.takeChanges(tx) };
  }
}

type DecodedItem = Exclude<IngestItem, PayloadItem>;

function decodePayload(item: IngestItem): DecodedItem {
  if (item.kind !== 'payload') return item;
  const { terminalId, payload, receivedAt, receivedMs, arrivedPerf } = item;
  const decoded = decodeTap(payload);
  if (decoded.ok) return { kind: 'tap', terminalId, tap: decoded.value, receivedAt, receivedMs, arrivedPerf };
  return { kind: 'reject', terminalId, ...(decoded.id !== undefined ? { tapId: decoded.id } : {}), reason: decoded.reason, problems: decoded.problems, payload, receivedAt, receivedMs, arrivedPerf };
}
