import type { SqlStore } from '../store/sql-store.ts';
import { stateAfterTap } from '../shifts/fold.ts';
import type { ShiftChange } from '../shifts/change.ts';

/**
 * Each worker's shift state (gateway/shifts/fold.ts), kept in `worker_shifts` in the transaction that stores
 * the tap: the state the worker's latest attributed tap implies, by instant then tap id, with a revision that
 * grows with every change. A tap older than the latest (a terminal replaying its outbox after a cut) leaves
 * the state as it is, which is what folding every tap in the order of their instants gives: the state after
 * a tap does not depend on what came before it. One statement per worker and transaction, at its end, for
 * the worker's latest tap in it: the row is written only when that tap is the latest, and then its new
 * revision comes back.
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

// No RETURNING: SQLite runs a statement with one to completion into a temporary table first, which made
// this upsert five times as costly (it was the writer thread's largest cost per tap). The revision is read
// by key instead, and only for a row the upsert changed.
const UPSERT = `INSERT INTO worker_shifts (worker_id, state, site_id, last_ms, last_tap_id, rev) VALUES ($1, $2, $3, $4, $5, 1)
  ON CONFLICT (worker_id) DO UPDATE SET state = excluded.state, site_id = excluded.site_id, last_ms = excluded.last_ms,
    last_tap_id = excluded.last_tap_id, rev = worker_shifts.rev + 1
  WHERE excluded.last_ms > worker_shifts.last_ms OR (excluded.last_ms = worker_shifts.last_ms AND excluded.last_tap_id > worker_shifts.last_tap_id)`;
const REV_OF = 'SELECT rev FROM worker_shifts WHERE worker_id = $1';

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
    if (!seen || tap.atMs > seen.atMs || (tap.atMs === seen.atMs && tap.tapId > seen.tapId)) this.latest.set(workerId, tap);
  }

  /**
   * Writes the transaction's states through its `tx` (still inside it) and returns those that changed (the
   * last one per worker), for the terminals once it committed.
   */
  async takeChanges(tx: SqlStore): Promise<ShiftChange[]> {
    for (const [workerId, tap] of this.latest) {
      const state = stateAfterTap(tap);
      if ((await tx.run(UPSERT, [workerId, state, tap.siteId, tap.atMs, tap.tapId])).changes === 0) continue;
      const rev = (await tx.one<{ rev: number }>(REV_OF, [workerId]))!.rev;
      this.changes.set(workerId, { workerId, state, sinceMs: tap.atMs, siteId: tap.siteId, rev });
    }
    this.latest = new Map();
    const out = [...this.changes.values()];
    this.changes = new Map();
    return out;
  }
}
