import { migrate, type Db } from '../../shared/sqlite.ts';
import type { RegistrationRow } from '../store/registrations-schema.ts';
import type { OnssError } from '../onss/shapes.ts';
import { clientReferenceFor } from '../onss/client-reference.ts';
import { FORWARD_MIGRATIONS, type ForwardStateRow } from './schema.ts';

/**
 * The forwarder's reads and writes on the gateway database. Every read is bounded by a LIMIT, so memory
 * does not grow with the backlog; every state change is one committed transaction.
 */
export interface BatchRow extends RegistrationRow {
  client_reference: string;
  /** true when the row already has forwarding state (a retry), false when it is picked up now. */
  known: boolean;
}

export type Answer =
  | { seq: number; kind: 'created'; onssId: string; validity: string; remarks: string[]; outageId?: number; duplicates?: number }
  | { seq: number; kind: 'not-created'; errors: OnssError[]; outageId?: number };

export class ForwardStore {
  private readonly selectRetry;
  private readonly selectNew;
  private readonly insertInFlight;
  private readonly updateInFlight;
  private readonly selectInFlight;
  private readonly setCreated;
  private readonly setNotCreated;
  private readonly setRetry;
  private readonly setFailure;
  private readonly selectPendingValidity;
  private readonly setValidity;
  private readonly touchValidity;

  constructor(readonly db: Db) {
    migrate(db, 'forward', FORWARD_MIGRATIONS);
    this.selectRetry = db.prepare(`SELECT r.*, f.client_reference FROM forward_state f JOIN registrations r ON r.seq = f.seq
      WHERE f.state = 'retry' ORDER BY f.seq LIMIT ?`);
    this.selectNew = db.prepare(`SELECT * FROM registrations WHERE seq > (SELECT COALESCE(MAX(seq), 0) FROM forward_state) ORDER BY seq LIMIT ?`);
    this.insertInFlight = db.prepare(`INSERT INTO forward_state (seq, tap_id, client_reference, state, attempts, first_sent_at, last_sent_at)
      VALUES (?, ?, ?, 'in_flight', 1, ?, ?)`);
    this.updateInFlight = db.prepare(`UPDATE forward_state SET state = 'in_flight', attempts = attempts + 1, last_sent_at = ? WHERE seq = ? AND state = 'retry'`);
    this.selectInFlight = db.prepare(`SELECT f.*, r.received_at FROM forward_state f JOIN registrations r ON r.seq = f.seq
      WHERE f.state = 'in_flight' ORDER BY f.seq LIMIT ?`);
    this.setCreated = db.prepare(`UPDATE forward_state SET state = 'created', onss_id = ?, validity = ?, remarks = ?, answered_at = ?,
      outage_id = ?, duplicates_at_onss = ?, last_failure = NULL WHERE seq = ?`);
    this.setNotCreated = db.prepare(`UPDATE forward_state SET state = 'not_created', errors = ?, answered_at = ?, outage_id = ? WHERE seq = ?`);
    this.setRetry = db.prepare(`UPDATE forward_state SET state = 'retry', last_failure = ? WHERE seq = ? AND state = 'in_flight'`);
    this.setFailure = db.prepare(`UPDATE forward_state SET last_failure = ? WHERE seq = ?`);
    this.selectPendingValidity = db.prepare(`SELECT seq, onss_id FROM forward_state WHERE state = 'created' AND validity = 'pending'
      AND (validity_checked_at IS NULL OR validity_checked_at <= ?) ORDER BY validity_checked_at, seq LIMIT ?`);
    this.setValidity = db.prepare(`UPDATE forward_state SET validity = ?, remarks = ?, validity_checked_at = ? WHERE seq = ?`);
    this.touchValidity = db.prepare(`UPDATE forward_state SET validity_checked_at = ? WHERE seq = ?`);
  }

  /** In-flight registrations, oldest first: they must be reconciled before anything is sent. */
  inFlight(limit: number): Array<ForwardStateRow & { received_at: string }> {
    return this.selectInFlight.all(limit) as Array<ForwardStateRow & { received_at: string }>;
  }

  /** The next batch in `seq` order: registrations to retry first, then new ones. */
  nextBatch(limit: number): BatchRow[] {
    const retry = (this.selectRetry.all(limit) as Array<RegistrationRow & { client_reference: string }>).map((r) => ({ ...r, known: true }));
    if (retry.length >= limit) return retry;
    const fresh = (this.selectNew.all(limit - retry.length) as RegistrationRow[]).map((r) => ({ ...r, client_reference: clientReferenceFor(r.tap_id), known: false }));
    return [...retry, ...fresh];
  }

  /** Committed before the call goes out: after a crash, these are the registrations ONSS may hold. */
  markInFlight(rows: BatchRow[], at = new Date().toISOString()): void {
    this.db.transaction(() => {
      for (const r of rows) {
        if (r.known) this.updateInFlight.run(at, r.seq);
        else this.insertInFlight.run(r.seq, r.tap_id, r.client_reference, at, at);
      }
    })();
  }

  recordAnswers(answers: Answer[], at = new Date().toISOString()): void {
    this.db.transaction(() => {
      for (const a of answers) {
        if (a.kind === 'created') this.setCreated.run(a.onssId, a.validity, JSON.stringify(a.remarks), at, a.outageId ?? null, a.duplicates ?? 0, a.seq);
        else this.setNotCreated.run(JSON.stringify(a.errors), at, a.outageId ?? null, a.seq);
      }
    })();
  }

  /** Certainly not at ONSS: may be sent again. */
  markRetry(seqs: number[], cause: string): void {
    this.db.transaction(() => {
      for (const s of seqs) this.setRetry.run(cause, s);
    })();
  }

  noteFailure(seqs: number[], cause: string): void {
    this.db.transaction(() => {
      for (const s of seqs) this.setFailure.run(cause, s);
    })();
  }

  pendingValidity(checkedBefore: number, limit: number): Array<{ seq: number; onss_id: string }> {
    return this.selectPendingValidity.all(checkedBefore, limit) as Array<{ seq: number; onss_id: string }>;
  }

  recordValidity(updates: Array<{ seq: number; validity?: string; remarks?: string[] }>, at = Date.now()): void {
    this.db.transaction(() => {
      for (const u of updates) {
        if (u.validity !== undefined) this.setValidity.run(u.validity, JSON.stringify(u.remarks ?? []), at, u.seq);
        else this.touchValidity.run(at, u.seq);
      }
    })();
  }
}
