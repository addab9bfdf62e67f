import type { SqlStore } from '../store/sql-store.ts';
import { stateAfterTap } from '../shifts/fold.ts';
import type { ShiftChange } from '../shifts/change.ts';
import { insertRows, selectIn } from '../store/multi-row.ts';

/**
 * Each worker's shift state (gateway/shifts/fold.ts), kept in `worker_shifts` in the transaction that stores
 * the tap: the state the worker's latest attributed tap implies, by instant then tap id, with a revision that
 * grows with every change. A tap older than the latest (a terminal replaying its outbox after a cut) leaves
 * the state as it is, which is what folding every tap in the order of their instants gives: the state after
 * a tap does not depend on what came before it. At the transaction's end, for each worker's latest tap in it:
 * the row is written only when that tap is later than the row's, and then its new revision comes back.
 *
 * Used by ingest (writer thread) and by the release of held taps (the site-data transaction); the table is
 * the only copy, so neither needs to tell the other.
 */
export interface AttributedTap {
  tapId: string;
  atMs: number;
  direction: 'IN' | 'OUT';
  reason: 'work' | 'break';
  siteId: string;
}

// Decided in memory from the rows read first (one read and one upsert per chunk of workers, not a statement
// per worker: each is a round trip on PostgreSQL), with the same comparison `apply` makes, so both databases
// order tap ids alike whatever PostgreSQL's collation. The transaction is serializable (SQLite's write lock,
// or PostgreSQL's SERIALIZABLE), so the rows read are those the upsert changes. No RETURNING: SQLite runs a
// statement with one to completion into a temporary table first, which made the upsert five times as costly.
const CURRENT = 'SELECT worker_id, last_ms, last_tap_id, rev FROM worker_shifts WHERE worker_id IN';
const UPSERT_HEAD = 'INSERT INTO worker_shifts (worker_id, state, site_id, last_ms, last_tap_id, rev)';
const UPSERT_TAIL = `ON CONFLICT (worker_id) DO UPDATE SET state = excluded.state, site_id = excluded.site_id, last_ms = excluded.last_ms,
    last_tap_id = excluded.last_tap_id, rev = worker_shifts.rev + 1`;

/** A tap comes after the one a state was made from: later, or at the same instant with a higher tap id. */
function isAfter(tap: { atMs: number; tapId: string }, than: { atMs: number; tapId: string }): boolean {
  return tap.atMs > than.atMs || (tap.atMs === than.atMs && tap.tapId > than.tapId);
}

export class ShiftTracker {
  private changes = new Map<string, ShiftChange>();
  /**
   * The latest tap of each worker in the running transaction, written at its end: the state after a tap does
   * not depend on the taps before it, so only the latest counts, and a busy batch writes one row per worker
   * instead of one per tap (the revision then grows once per transaction).
   */
  private latest = new Map<string, AttributedTap>();

  /** A new transaction: nothing of a failed one is reported. */
  beginBatch(): void {
    this.changes = new Map();
    this.latest = new Map();
  }

  /** Folds a stored tap attributed to `workerId` into the worker's state (written with `takeChanges`). */
  apply(workerId: string, tap: AttributedTap): void {
    const seen = this.latest.get(workerId);
    if (!seen || isAfter(tap, seen)) this.latest.set(workerId, tap);
  }

  /**
   * Writes the transaction's states through its `tx` (still inside it) and returns those that changed (the
   * last one per worker), for the terminals once it committed.
   */
  async takeChanges(tx: SqlStore): Promise<ShiftChange[]> {
    const latest = this.latest;
    this.latest = new Map();
    const current = new Map<string, { last_ms: number; last_tap_id: string; rev: number }>();
    for (const row of await selectIn<{ worker_id: string; last_ms: number; last_tap_id: string; rev: number }>(tx, CURRENT, [...latest.keys()])) current.set(row.worker_id, row);
    const writes: Array<[string, string, string, number, string, number]> = [];
    for (const [workerId, tap] of latest) {
      const was = current.get(workerId);
      // A tap older than the state's own (an outbox replayed after a cut) leaves the state as it is.
      if (was && !isAfter(tap, { atMs: was.last_ms, tapId: was.last_tap_id })) continue;
      const state = stateAfterTap(tap);
      writes.push([workerId, state, tap.siteId, tap.atMs, tap.tapId, 1]);
      this.changes.set(workerId, { workerId, state, sinceMs: tap.atMs, siteId: tap.siteId, rev: (was?.rev ?? 0) + 1 });
    }
    await insertRows(tx, UPSERT_HEAD, 6, writes, UPSERT_TAIL);
    const out = [...this.changes.values()];
    this.changes = new Map();
    return out;
  }
}
