import type { SqlStore } from '../store/sql-store.ts';
import type { AdvisoryLockHeld } from './lease.ts';
import { PENDING_VALIDITY } from './schema.ts';
import { ShortWrites, type LockHoldSummary } from './short-writes.ts';

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
    /**
     * The forwarder lease as this process holds it, when it lives in this database: checked in the transaction.
     * A row of SQLite's `forwarder_lease`, or an advisory lock of this PostgreSQL database and its holding backend.
     */
    lease?: { holder: string; nowMs: number } | { advisory: AdvisoryLockHeld };
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

const INSERT_IN_FLIGHT = `INSERT INTO forward_state (seq, tap_id, client_reference, state, attempts, first_sent_at, last_sent_at)
  VALUES ($1, $2, $3, 'in_flight', 1, $4, $4)`;
const UPDATE_IN_FLIGHT = `UPDATE forward_state SET state = 'in_flight', attempts = attempts + 1, last_sent_at = $1 WHERE seq = $2 AND state = 'retry'`;
// A pending validity is first asked about one poll interval after creation (validity_checked_at = now).
const SET_CREATED = `UPDATE forward_state SET state = 'created', onss_id = $1, validity = $2, remarks = $3, answered_at = $4,
  outage_id = $5, duplicates_at_onss = $6, last_failure = NULL, validity_checked_at = $7 WHERE seq = $8`;
const SET_NOT_CREATED = `UPDATE forward_state SET state = 'not_created', errors = $1, answered_at = $2, outage_id = $3 WHERE seq = $4`;
const SET_RETRY = `UPDATE forward_state SET state = 'retry', last_failure = $1 WHERE seq = $2 AND state = 'in_flight'`;
const SET_FAILURE = 'UPDATE forward_state SET last_failure = $1 WHERE seq = $2';
const ADD_DELAYED = 'UPDATE outage_journal SET registrations_delayed = registrations_delayed + $1 WHERE id = $2';
const SET_VALIDITY = 'UPDATE forward_state SET validity = $1, remarks = $2, validity_checked_at = $3 WHERE seq = $4';
const TOUCH_VALIDITY = 'UPDATE forward_state SET validity_checked_at = $1 WHERE seq = $2';
const OPEN_OUTAGE = 'INSERT INTO outage_journal (started_at, cause, last_cause) VALUES ($1, $2, $2) RETURNING id';
const BUMP_OUTAGE = 'UPDATE outage_journal SET failures = failures + 1, last_cause = $1 WHERE id = $2';
const CLOSE_OUTAGE = 'UPDATE outage_journal SET ended_at = $1 WHERE id = $2';
// Only where the SQLite lease is in use has the database this table.
const LEASE_ROW = 'SELECT holder, expires_at_ms FROM forwarder_lease WHERE name = $1';
// Only where the lease is an advisory lock of this PostgreSQL database: is it still held by that backend?
const ADVISORY_LOCK_HELD = `SELECT 1 AS held FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::int::oid AND objid = $2::int::oid
  AND objsubid = 2 AND pid = $3 AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`;

/**
 * Applies one forwarder change through `tx`, inside the caller's transaction (the writer thread's batch, or
 * a short transaction of its own); resolves with the new outage's id for `outage-opened`.
 */
export async function applyForwardWrite(tx: SqlStore, w: ForwardWrite): Promise<number | undefined> {
  switch (w.kind) {
    case 'in-flight':
      if (w.lease && 'advisory' in w.lease) {
        const { classId, lockId, pid } = w.lease.advisory;
        if (!(await tx.one(ADVISORY_LOCK_HELD, [classId, lockId, pid]))) return FENCED_OUT;
      } else if (w.lease) {
        const row = await tx.one<{ holder: string; expires_at_ms: number }>(LEASE_ROW, ['onss']);
        if (!row || row.holder !== w.lease.holder || row.expires_at_ms <= w.lease.nowMs) return FENCED_OUT;
      }
      for (const r of w.rows) {
        if (r.known) await tx.run(UPDATE_IN_FLIGHT, [w.at, r.seq]);
        else await tx.run(INSERT_IN_FLIGHT, [r.seq, r.tapId, r.clientReference, w.at]);
      }
      return undefined;
    case 'answers':
      for (const a of w.answers) {
        if (a.kind === 'created') {
          await tx.run(SET_CREATED, [a.onssId, a.validity, JSON.stringify(a.remarks), w.at, a.outageId ?? null, a.duplicates ?? 0, a.validity === PENDING_VALIDITY ? w.nowMs : null, a.seq]);
        } else await tx.run(SET_NOT_CREATED, [JSON.stringify(a.errors), w.at, a.outageId ?? null, a.seq]);
      }
      if (w.delayed && w.delayed.count > 0) await tx.run(ADD_DELAYED, [w.delayed.count, w.delayed.outageId]);
      return undefined;
    case 'retry':
      for (const s of w.seqs) await tx.run(SET_RETRY, [w.cause, s]);
      return undefined;
    case 'failure-noted':
      for (const s of w.seqs) await tx.run(SET_FAILURE, [w.cause, s]);
      return undefined;
    case 'validity':
      for (const u of w.updates) {
        if (u.validity !== undefined) await tx.run(SET_VALIDITY, [u.validity, JSON.stringify(u.remarks ?? []), w.at, u.seq]);
        else await tx.run(TOUCH_VALIDITY, [w.at, u.seq]);
      }
      return undefined;
    case 'outage-opened':
      return Number((await tx.one<{ id: number }>(OPEN_OUTAGE, [w.startedAt, w.cause]))!.id);
    case 'outage-failure':
      await tx.run(BUMP_OUTAGE, [w.cause, w.id]);
      return undefined;
    case 'outage-closed':
      await tx.run(CLOSE_OUTAGE, [w.endedAt, w.id]);
      return undefined;
  }
}

/** Each change in a short IMMEDIATE transaction of its own, on the forwarder's connection. */
export class DirectForwardWriter implements ForwardWriter {
  private readonly writes: ShortWrites;

  constructor(store: SqlStore) {
    this.writes = new ShortWrites(store);
  }

  write(change: ForwardWrite): Promise<number | undefined> {
    return this.writes.run((tx) => applyForwardWrite(tx, change));
  }

  lockHold(): LockHoldSummary {
    return this.writes.summary();
  }
}
