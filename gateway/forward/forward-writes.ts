import type { SqlStore } from '../store/sql-store.ts';
import type { AdvisoryLockHeld } from './lease.ts';
import { insertRows, runIn, updateFromValues } from '../store/multi-row.ts';
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

// Each statement over the rows of a change (gateway/store/multi-row.ts): on PostgreSQL every statement is a
// round trip, and a forwarder change of 200 registrations rides a tap batch's transaction.
const INSERT_IN_FLIGHT = 'INSERT INTO forward_state (seq, tap_id, client_reference, state, attempts, first_sent_at, last_sent_at)';
const UPDATE_IN_FLIGHT = `UPDATE forward_state SET state = 'in_flight', attempts = attempts + 1, last_sent_at = $1 WHERE state = 'retry' AND seq IN`;
// A pending validity is first asked about one poll interval after creation (validity_checked_at = now).
const CREATED_TYPES = ['bigint', 'text', 'text', 'text', 'text', 'bigint', 'integer', 'bigint'];
const SET_CREATED = `state = 'created', onss_id = v.column2, validity = v.column3, remarks = v.column4, answered_at = v.column5,
  outage_id = v.column6, duplicates_at_onss = v.column7, last_failure = NULL, validity_checked_at = v.column8`;
const NOT_CREATED_TYPES = ['bigint', 'text', 'text', 'bigint'];
const SET_NOT_CREATED = "state = 'not_created', errors = v.column2, answered_at = v.column3, outage_id = v.column4";
const SET_RETRY = "UPDATE forward_state SET state = 'retry', last_failure = $1 WHERE state = 'in_flight' AND seq IN";
const SET_FAILURE = 'UPDATE forward_state SET last_failure = $1 WHERE seq IN';
const ADD_DELAYED = 'UPDATE outage_journal SET registrations_delayed = registrations_delayed + $1 WHERE id = $2';
const VALIDITY_TYPES = ['bigint', 'text', 'text', 'bigint'];
const SET_VALIDITY = 'validity = v.column2, remarks = v.column3, validity_checked_at = v.column4';
const TOUCH_VALIDITY = 'UPDATE forward_state SET validity_checked_at = $1 WHERE seq IN';
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
      await runIn(tx, UPDATE_IN_FLIGHT, w.rows.filter((r) => r.known).map((r) => r.seq), [w.at]);
      await insertRows(tx, INSERT_IN_FLIGHT, 7, w.rows.filter((r) => !r.known).map((r) => [r.seq, r.tapId, r.clientReference, 'in_flight', 1, w.at, w.at]));
      return undefined;
    case 'answers':
      await updateFromValues(tx, 'forward_state', 'seq', CREATED_TYPES, SET_CREATED, w.answers.flatMap((a) =>
        a.kind === 'created' ? [[a.seq, a.onssId, a.validity, JSON.stringify(a.remarks), w.at, a.outageId ?? null, a.duplicates ?? 0, a.validity === PENDING_VALIDITY ? w.nowMs : null]] : []));
      await updateFromValues(tx, 'forward_state', 'seq', NOT_CREATED_TYPES, SET_NOT_CREATED, w.answers.flatMap((a) =>
        a.kind === 'created' ? [] : [[a.seq, JSON.stringify(a.errors), w.at, a.outageId ?? null]]));
      if (w.delayed && w.delayed.count > 0) await tx.run(ADD_DELAYED, [w.delayed.count, w.delayed.outageId]);
      return undefined;
    case 'retry':
      await runIn(tx, SET_RETRY, w.seqs, [w.cause]);
      return undefined;
    case 'failure-noted':
      await runIn(tx, SET_FAILURE, w.seqs, [w.cause]);
      return undefined;
    case 'validity':
      await updateFromValues(tx, 'forward_state', 'seq', VALIDITY_TYPES, SET_VALIDITY, w.updates.flatMap((u) =>
        u.validity !== undefined ? [[u.seq, u.validity, JSON.stringify(u.remarks ?? []), w.at]] : []));
      await runIn(tx, TOUCH_VALIDITY, w.updates.filter((u) => u.validity === undefined).map((u) => u.seq), [w.at]);
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
