import { migrate } from '../../shared/sqlite.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { SqliteStore } from '../store/sqlite-store.ts';
import type { RegistrationRow } from '../store/registrations-schema.ts';
import { FORWARD_MIGRATIONS, PENDING_VALIDITY } from './schema.ts';
import { FENCED_OUT, type Answer, type ForwardWriter, type ValidityUpdate } from './forward-writes.ts';
import { LeaseLostError, type ForwarderFence } from './lease.ts';

export type { Answer, ValidityUpdate } from './forward-writes.ts';

/**
 * The forwarder's reads and writes on the gateway database. Every read is bounded by a LIMIT, so memory
 * does not grow with the backlog, and goes through the storage port (SQL both databases take); every state
 * change is handed to the ForwardWriter (forward-writes.ts), which commits it in one transaction and resolves
 * once it is durable.
 */
export interface BatchRow extends RegistrationRow {
  client_reference: string;
  /** true when the row already has forwarding state (a retry), false when it is picked up now. */
  known: boolean;
}

/** A registration marked in flight: ONSS may or may not hold it. */
export interface InFlightRow {
  seq: number;
  client_reference: string;
  last_sent_at: string | null;
  received_at: string;
  at_utc: string;
}

/** Rows per validity transaction: a round of thousands is written as several short ones. */
const VALIDITY_ROWS_PER_WRITE = 500;

const SELECT_RETRY = `SELECT r.*, f.client_reference FROM forward_state f JOIN registrations r ON r.seq = f.seq
  WHERE f.state = 'retry' ORDER BY f.seq LIMIT $1`;
const SELECT_NEW = 'SELECT * FROM registrations WHERE seq > (SELECT COALESCE(MAX(seq), 0) FROM forward_state) ORDER BY seq LIMIT $1';
const SELECT_IN_FLIGHT = `SELECT f.seq, f.client_reference, f.last_sent_at, r.received_at, r.at_utc FROM forward_state f JOIN registrations r ON r.seq = f.seq
  WHERE f.state = 'in_flight' ORDER BY f.seq LIMIT $1`;
const SELECT_PENDING_VALIDITY = `SELECT f.seq, f.onss_id, r.at_utc FROM forward_state f JOIN registrations r ON r.seq = f.seq
  WHERE f.state = 'created' AND f.validity = '${PENDING_VALIDITY}' AND (f.validity_checked_at IS NULL OR f.validity_checked_at <= $1)
  ORDER BY f.validity_checked_at, f.seq LIMIT $2`;

/**
 * The forwarder's tables on a SQLite file are made by the forwarder at its first start (a gateway that never
 * forwards does not have them); PostgreSQL's schema has them from the start (gateway/store/postgres/).
 */
export function ensureForwardTables(store: SqlStore): void {
  if (store instanceof SqliteStore) migrate(store.db, 'forward', FORWARD_MIGRATIONS);
}

export class ForwardStore {
  /**
   * Reads through `store` (the storage port). `fence`, when this forwarder runs under a lease, is checked
   * before a batch is marked in flight, and, for a lease kept in this database, again inside the transaction
   * that marks it: a process that no longer holds the lease neither marks nor sends the batch.
   */
  constructor(readonly store: SqlStore, private readonly writer: ForwardWriter, private readonly referenceFor: (tapId: string) => string, private readonly fence?: ForwarderFence) {
    ensureForwardTables(store);
  }

  /** In-flight registrations, oldest first: they must be reconciled before anything is sent. */
  inFlight(limit: number): Promise<InFlightRow[]> {
    return this.store.all<InFlightRow>(SELECT_IN_FLIGHT, [limit]);
  }

  /** The next batch in `seq` order: registrations to retry first, then new ones. */
  async nextBatch(limit: number): Promise<BatchRow[]> {
    const retry = (await this.store.all<RegistrationRow & { client_reference: string }>(SELECT_RETRY, [limit])).map((r) => ({ ...r, known: true }));
    if (retry.length >= limit) return retry;
    const fresh = (await this.store.all<RegistrationRow>(SELECT_NEW, [limit - retry.length])).map((r) => ({ ...r, client_reference: this.referenceFor(r.tap_id), known: false }));
    return [...retry, ...fresh];
  }

  /** Committed before the call goes out: after a crash, these are the registrations ONSS may hold. */
  async markInFlight(rows: BatchRow[], at: string): Promise<void> {
    await this.fence?.assertHeld();
    const held = this.fence?.holderInDatabase;
    const advisory = this.fence?.advisoryLockInDatabase?.();
    // Believed held (assertHeld passed) yet no lock to show: lost between the two reads.
    if (this.fence?.advisoryLockInDatabase && !advisory) throw new LeaseLostError('the forwarder lease (PostgreSQL advisory lock) is not held: the batch was neither marked in flight nor sent');
    const marked = await this.writer.write({
      kind: 'in-flight',
      rows: rows.map((r) => ({ seq: r.seq, tapId: r.tap_id, clientReference: r.client_reference, known: r.known })),
      at,
      ...(held ? { lease: { holder: held, nowMs: Date.now() } } : advisory ? { lease: { advisory } } : {}),
    });
    if (marked === FENCED_OUT) throw new LeaseLostError('the forwarder lease is held elsewhere: the batch was neither marked in flight nor sent');
  }

  /** What ONSS answered, and how many of them an outage delayed, in one transaction. */
  async recordAnswers(answers: Answer[], at: string, delayed?: { outageId: number; count: number }, nowMs = Date.now()): Promise<void> {
    if (answers.length === 0) return;
    await this.writer.write({ kind: 'answers', answers, at, ...(delayed ? { delayed } : {}), nowMs });
  }

  /** Certainly not at ONSS: may be sent again. */
  async markRetry(seqs: number[], cause: string): Promise<void> {
    if (seqs.length === 0) return;
    await this.writer.write({ kind: 'retry', seqs, cause });
  }

  async noteFailure(seqs: number[], cause: string): Promise<void> {
    if (seqs.length === 0) return;
    await this.writer.write({ kind: 'failure-noted', seqs, cause });
  }

  /** Created registrations still pending at ONSS, not asked about since `checkedBefore` (ms), with their date. */
  pendingValidity(checkedBefore: number, limit: number): Promise<Array<{ seq: number; onss_id: string; at_utc: string }>> {
    return this.store.all<{ seq: number; onss_id: string; at_utc: string }>(SELECT_PENDING_VALIDITY, [checkedBefore, limit]);
  }

  /** One short transaction per few hundred rows, one after the other. */
  async recordValidity(updates: ValidityUpdate[], at = Date.now()): Promise<void> {
    for (let i = 0; i < updates.length; i += VALIDITY_ROWS_PER_WRITE) {
      await this.writer.write({ kind: 'validity', updates: updates.slice(i, i + VALIDITY_ROWS_PER_WRITE), at });
    }
  }
}
