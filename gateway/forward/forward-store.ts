import { migrate, type Db } from '../../shared/sqlite.ts';
import type { RegistrationRow } from '../store/registrations-schema.ts';
import { FORWARD_MIGRATIONS, PENDING_VALIDITY } from './schema.ts';
import type { ShortWrites } from './short-writes.ts';

/**
 * The forwarder's reads and writes on the gateway database. Every read is bounded by a LIMIT, so memory
 * does not grow with the backlog; every state change is one short IMMEDIATE transaction (ShortWrites).
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

/** Rows per validity transaction: a round of thousands is written as several short ones. */
const VALIDITY_ROWS_PER_WRITE = 500;

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
  private readonly addDelayed;
  private readonly selectPendingValidity;
  private readonly setValidity;
  private readonly touchValidity;

  /**
   * `fence` runs inside the transaction that marks a batch in flight and throws when this process may not
   * send (the forwarder lease is held elsewhere): the batch is then neither marked nor sent.
   */
  constructor(readonly db: Db, private readonly writes: ShortWrites, private readonly referenceFor: (tapId: string) => string, private readonly fence: () => void = () => {}) {
    migrate(db, 'forward', FORWARD_MIGRATIONS);
    this.selectRetry = db.prepare(`SELECT r.*, f.client_reference FROM forward_state f JOIN registrations r ON r.seq = f.seq
      WHERE f.state = 'retry' ORDER BY f.seq LIMIT ?`);
    this.selectNew = db.prepare(`SELECT * FROM registrations WHERE seq > (SELECT COALESCE(MAX(seq), 0) FROM forward_state) ORDER BY seq LIMIT ?`);
    this.insertInFlight = db.prepare(`INSERT INTO forward_state (seq, tap_id, client_reference, state, attempts, first_sent_at, last_sent_at)
      VALUES (?, ?, ?, 'in_flight', 1, ?, ?)`);
    this.updateInFlight = db.prepare(`UPDATE forward_state SET state = 'in_flight', attempts = attempts + 1, last_sent_at = ? WHERE seq = ? AND state = 'retry'`);
    this.selectInFlight = db.prepare(`SELECT f.seq, f.client_reference, f.last_sent_at, r.received_at, r.at_utc FROM forward_state f JOIN registrations r ON r.seq = f.seq
      WHERE f.state = 'in_flight' ORDER BY f.seq LIMIT ?`);
    // A pending validity is first asked about one poll interval after creation (validity_checked_at = now).
    this.setCreated = db.prepare(`UPDATE forward_state SET state = 'created', onss_id = ?, validity = ?, remarks = ?, answered_at = ?,
      outage_id = ?, duplicates_at_onss = ?, last_failure = NULL, validity_checked_at = ? WHERE seq = ?`);
    this.setNotCreated = db.prepare(`UPDATE forward_state SET state = 'not_created', errors = ?, answered_at = ?, outage_id = ? WHERE seq = ?`);
    this.setRetry = db.prepare(`UPDATE forward_state SET state = 'retry', last_failure = ? WHERE seq = ? AND state = 'in_flight'`);
    this.setFailure = db.prepare(`UPDATE forward_state SET last_failure = ? WHERE seq = ?`);
    this.addDelayed = db.prepare('UPDATE outage_journal SET registrations_delayed = registrations_delayed + ? WHERE id = ?');
    this.selectPendingValidity = db.prepare(`SELECT f.seq, f.onss_id, r.at_utc FROM forward_state f JOIN registrations r ON r.seq = f.seq
      WHERE f.state = 'created' AND f.validity = '${PENDING_VALIDITY}' AND (f.validity_checked_at IS NULL OR f.validity_checked_at <= ?)
      ORDER BY f.validity_checked_at, f.seq LIMIT ?`);
    this.setValidity = db.prepare(`UPDATE forward_state SET validity = ?, remarks = ?, validity_checked_at = ? WHERE seq = ?`);
    this.touchValidity = db.prepare(`UPDATE forward_state SET validity_checked_at = ? WHERE seq = ?`);
  }

  /** In-flight registrations, oldest first: they must be reconciled before anything is sent. */
  inFlight(limit: number): InFlightRow[] {
    return this.selectInFlight.all(limit) as InFlightRow[];
  }

  /** The next batch in `seq` order: registrations to retry first, then new ones. */
  nextBatch(limit: number): BatchRow[] {
    const retry = (this.selectRetry.all(limit) as Array<RegistrationRow & { client_reference: string }>).map((r) => ({ ...r, known: true }));
    if (retry.length >= limit) return retry;
    const fresh = (this.selectNew.all(limit - retry.length) as RegistrationRow[]).map((r) => ({ ...r, client_reference: this.referenceFor(r.tap_id), known: false }));
    return [...retry, ...fresh];
  }

  /** Committed before the call goes out: after a crash, these are the registrations ONSS may hold. */
  markInFlight(rows: BatchRow[], at: string): void {
    this.writes.run(() => {
      this.fence();
      for (const r of rows) {
        if (r.known) this.updateInFlight.run(at, r.seq);
        else this.insertInFlight.run(r.seq, r.tap_id, r.client_reference, at, at);
      }
    });
  }

  /** What ONSS answered, and how many of them an outage delayed, in one transaction. */
  recordAnswers(answers: Answer[], at: string, delayed?: { outageId: number; count: number }, nowMs = Date.now()): void {
    if (answers.length === 0) return;
    this.writes.run(() => {
      for (const a of answers) {
        if (a.kind === 'created') {
          this.setCreated.run(a.onssId, a.validity, JSON.stringify(a.remarks), at, a.outageId ?? null, a.duplicates ?? 0, a.validity === PENDING_VALIDITY ? nowMs : null, a.seq);
        } else this.setNotCreated.run(JSON.stringify(a.errors), at, a.outageId ?? null, a.seq);
      }
      if (delayed && delayed.count > 0) this.addDelayed.run(delayed.count, delayed.outageId);
    });
  }

  /** Certainly not at ONSS: may be sent again. */
  markRetry(seqs: number[], cause: string): void {
    if (seqs.length === 0) return;
    this.writes.run(() => {
      for (const s of seqs) this.setRetry.run(cause, s);
    });
  }

  noteFailure(seqs: number[], cause: string): void {
    if (seqs.length === 0) return;
    this.writes.run(() => {
      for (const s of seqs) this.setFailure.run(cause, s);
    });
  }

  /** Created registrations still pending at ONSS, not asked about since `checkedBefore` (ms), with their date. */
  pendingValidity(checkedBefore: number, limit: number): Array<{ seq: number; onss_id: string; at_utc: string }> {
    return this.selectPendingValidity.all(checkedBefore, limit) as Array<{ seq: number; onss_id: string; at_utc: string }>;
  }

  recordValidity(updates: ValidityUpdate[], at = Date.now()): void {
    for (let i = 0; i < updates.length; i += VALIDITY_ROWS_PER_WRITE) {
      const chunk = updates.slice(i, i + VALIDITY_ROWS_PER_WRITE);
      this.writes.run(() => {
        for (const u of chunk) {
          if (u.validity !== undefined) this.setValidity.run(u.validity, JSON.stringify(u.remarks ?? []), at, u.seq);
          else this.touchValidity.run(at, u.seq);
        }
      });
    }
  }
}
