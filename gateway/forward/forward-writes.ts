import type { Db } from '../../shared/sqlite.ts';
import { PENDING_VALIDITY } from './schema.ts';
import { ShortWrites, type LockHoldSummary } from './short-writes.ts';
import { SqliteStore } from '../store/sqlite-store.ts';

/**
 * The forwarder's state changes, as data. Each one is applied in one transaction (all or nothing) by
 * whichever connection writes the gateway database:
 * - in the gateway, the commit writer thread: a change rides the next group commit with the taps, under the
 *   same COMMIT and fsync (`synchronous=FULL`), so the tap writer and the forwarder never wait on each other
 *   for the write lock (gateway/ingest/commit-queue.ts);
 * - alone (tests, the backlog benchmark), a DirectForwardWriter: one short IMMEDIATE transaction each.
 * Either way the promise resolves once the change is durable: a batch is marked in flight before its call
 * leaves, and an answer is recorded before the forwarder moves on.
 */
export type Answer =
  | {
    seq: number; kind: 'created'; onssId: string;
    /** ONSS's validity once it has run its checks; `pending` until then (PENDING_VALIDITY). */
    validity: string; remarks: string[]; outageId?: number; duplicates?: number;
  }
  | { seq: number; kind: 'not-created'; errors: unknown[]; outageId?: number };

export interface ValidityUpdate {
  seq: number;
  /** Set once ONSS has settled it; absent: still pending, asked again an interval later. */
  validity?: string;
  remarks?: string[];
}

export type ForwardWrite =
  | {
    kind: 'in-flight'; rows: Array<{ seq: number; tapId: string; clientReference: string; known: boolean }>; at: string;
    /** The forwarder lease as this process holds it, when it lives in this database: checked in the transaction. */
    lease?: { holder: string; nowMs: number };
  }
  | { kind: 'answers'; answers: Answer[]; at: string; delayed?: { outageId: number; count: number }; nowMs: number }
  | { kind: 'retry'; seqs: number[]; cause: string }
  | { kind: 'failure-noted'; seqs: number[]; cause: string }
  | { kind: 'validity'; updates: ValidityUpdate[]; at: number }
  | { kind: 'outage-opened'; startedAt: string; cause: string }
  | { kind: 'outage-failure'; id: number; cause: string }
  | { kind: 'outage-closed'; id: number; endedAt: string };

/** What an `in-flight` change returns when the lease row says another process holds the lease: nothing was marked. */
export const FENCED_OUT = 0;

/** Where the forwarder's changes go; resolves once committed (with the new outage's id for `outage-opened`). */
export interface ForwardWriter {
  write(change: ForwardWrite): Promise<number | undefined>;
  /** How long this writer's own transactions held the write lock (nothing when it shares ingest's commits). */
  lockHold(): LockHoldSummary;
}

/** The statements of the forwarder's changes on one connection; `apply` runs inside the caller's transaction. */
export class ForwardStatements {
  private readonly insertInFlight;
  private readonly updateInFlight;
  private readonly setCreated;
  private readonly setNotCreated;
  private readonly setRetry;
  private readonly setFailure;
  private readonly addDelayed;
  private readonly setValidity;
  private readonly touchValidity;
  private readonly openOutage;
  private readonly bumpOutage;
  private readonly closeOutage;
  private leaseRow: ReturnType<Db['prepare']> | undefined;

  constructor(private readonly db: Db) {
    this.insertInFlight = db.prepare(`INSERT INTO forward_state (seq, tap_id, client_reference, state, attempts, first_sent_at, last_sent_at)
      VALUES (?, ?, ?, 'in_flight', 1, ?, ?)`);
    this.updateInFlight = db.prepare(`UPDATE forward_state SET state = 'in_flight', attempts = attempts + 1, last_sent_at = ? WHERE seq = ? AND state = 'retry'`);
    // A pending validity is first asked about one poll interval after creation (validity_checked_at = now).
    this.setCreated = db.prepare(`UPDATE forward_state SET state = 'created', onss_id = ?, validity = ?, remarks = ?, answered_at = ?,
      outage_id = ?, duplicates_at_onss = ?, last_failure = NULL, validity_checked_at = ? WHERE seq = ?`);
    this.setNotCreated = db.prepare(`UPDATE forward_state SET state = 'not_created', errors = ?, answered_at = ?, outage_id = ? WHERE seq = ?`);
    this.setRetry = db.prepare(`UPDATE forward_state SET state = 'retry', last_failure = ? WHERE seq = ? AND state = 'in_flight'`);
    this.setFailure = db.prepare(`UPDATE forward_state SET last_failure = ? WHERE seq = ?`);
    this.addDelayed = db.prepare('UPDATE outage_journal SET registrations_delayed = registrations_delayed + ? WHERE id = ?');
    this.setValidity = db.prepare(`UPDATE forward_state SET validity = ?, remarks = ?, validity_checked_at = ? WHERE seq = ?`);
    this.touchValidity = db.prepare(`UPDATE forward_state SET validity_checked_at = ? WHERE seq = ?`);
    this.openOutage = db.prepare('INSERT INTO outage_journal (started_at, cause, last_cause) VALUES (?, ?, ?)');
    this.bumpOutage = db.prepare('UPDATE outage_journal SET failures = failures + 1, last_cause = ? WHERE id = ?');
    this.closeOutage = db.prepare('UPDATE outage_journal SET ended_at = ? WHERE id = ?');
  }

  apply(w: ForwardWrite): number | undefined {
    switch (w.kind) {
      case 'in-flight':
        if (w.lease) {
          // Prepared on first use: the lease table exists only where the SQLite lease is in use.
          this.leaseRow ??= this.db.prepare('SELECT holder, expires_at_ms FROM forwarder_lease WHERE name = ?');
          const row = this.leaseRow.get('onss') as { holder: string; expires_at_ms: number } | undefined;
          if (!row || row.holder !== w.lease.holder || row.expires_at_ms <= w.lease.nowMs) return FENCED_OUT;
        }
        for (const r of w.rows) {
          if (r.known) this.updateInFlight.run(w.at, r.seq);
          else this.insertInFlight.run(r.seq, r.tapId, r.clientReference, w.at, w.at);
        }
        return undefined;
      case 'answers':
        for (const a of w.answers) {
          if (a.kind === 'created') {
            this.setCreated.run(a.onssId, a.validity, JSON.stringify(a.remarks), w.at, a.outageId ?? null, a.duplicates ?? 0, a.validity === PENDING_VALIDITY ? w.nowMs : null, a.seq);
          } else this.setNotCreated.run(JSON.stringify(a.errors), w.at, a.outageId ?? null, a.seq);
        }
        if (w.delayed && w.delayed.count > 0) this.addDelayed.run(w.delayed.count, w.delayed.outageId);
        return undefined;
      case 'retry':
        for (const s of w.seqs) this.setRetry.run(w.cause, s);
        return undefined;
      case 'failure-noted':
        for (const s of w.seqs) this.setFailure.run(w.cause, s);
        return undefined;
      case 'validity':
        for (const u of w.updates) {
          if (u.validity !== undefined) this.setValidity.run(u.validity, JSON.stringify(u.remarks ?? []), w.at, u.seq);
          else this.touchValidity.run(w.at, u.seq);
        }
        return undefined;
      case 'outage-opened':
        return Number(this.openOutage.run(w.startedAt, w.cause, w.cause).lastInsertRowid);
      case 'outage-failure':
        this.bumpOutage.run(w.cause, w.id);
        return undefined;
      case 'outage-closed':
        this.closeOutage.run(w.endedAt, w.id);
        return undefined;
    }
  }
}

/** Each change in a short IMMEDIATE transaction of its own, on the forwarder's connection. */
export class DirectForwardWriter implements ForwardWriter {
  private readonly writes: ShortWrites;
  private statements: ForwardStatements | undefined;

  constructor(private readonly db: Db) {
    this.writes = new ShortWrites(SqliteStore.of(db));
  }

  write(change: ForwardWrite): Promise<number | undefined> {
    try {
      // Prepared at the first change: the forwarder's tables exist by then (ForwardStore migrates them).
      const statements = (this.statements ??= new ForwardStatements(this.db));
      return this.writes.run(() => statements.apply(change));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  lockHold(): LockHoldSummary {
    return this.writes.summary();
  }
}
