import type { Db } from '../../shared/sqlite.ts';
import type { ShiftStateName } from '../../shared/mqtt/payloads.ts';
import { stateAfterTap } from '../shifts/fold.ts';

/**
 * Each worker's shift state (gateway/shifts/fold.ts), kept in `worker_shifts` in the transaction that stores
 * the tap: the state the worker's latest attributed tap implies, by instant then tap id, with a revision that
 * grows with every change. A tap older than the latest (a terminal replaying its outbox after a cut) leaves
 * the state as it is, which is what folding every tap in the order of their instants gives: the state after
 * a tap does not depend on what came before it. One statement per tap: the row is written only when the
 * tap is the latest, and then its new revision comes back.
 *
 * Used by ingest (writer thread) and by the release of held taps (the site-data transaction); the table is
 * the only copy, so neither needs to tell the other.
 */
export interface ShiftChange {
  workerId: string;
  state: ShiftStateName;
  /** The instant the state was set (ms). */
  sinceMs: number;
  siteId: string;
  rev: number;
}

export interface AttributedTap {
  tapId: string;
  atMs: number;
  direction: 'IN' | 'OUT';
  reason: 'work' | 'break';
  siteId: string;
}

export class ShiftTracker {
  private readonly upsert;
  private changes = new Map<string, ShiftChange>();

  constructor(db: Db) {
    this.upsert = db
      .prepare(
        `INSERT INTO worker_shifts (worker_id, state, site_id, last_ms, last_tap_id, rev) VALUES (?, ?, ?, ?, ?, 1)
         ON CONFLICT (worker_id) DO UPDATE SET state = excluded.state, site_id = excluded.site_id, last_ms = excluded.last_ms,
           last_tap_id = excluded.last_tap_id, rev = worker_shifts.rev + 1
         WHERE excluded.last_ms > worker_shifts.last_ms OR (excluded.last_ms = worker_shifts.last_ms AND excluded.last_tap_id > worker_shifts.last_tap_id)
         RETURNING rev`,
      )
      .pluck();
  }

  /** A new transaction: nothing of a failed one is reported. */
  beginBatch(): void {
    this.changes = new Map();
  }

  /** Folds a stored tap attributed to `workerId` into the worker's state. */
  apply(workerId: string, tap: AttributedTap): void {
    const state = stateAfterTap(tap);
    const rev = this.upsert.get(workerId, state, tap.siteId, tap.atMs, tap.tapId) as number | undefined;
    if (rev !== undefined) this.changes.set(workerId, { workerId, state, sinceMs: tap.atMs, siteId: tap.siteId, rev });
  }

  /** The states this transaction changed (the last one per worker), for the terminals once it committed. */
  takeChanges(): ShiftChange[] {
    const out = [...this.changes.values()];
    this.changes = new Map();
    return out;
  }
}
