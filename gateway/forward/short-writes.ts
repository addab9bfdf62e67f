import { performance } from 'node:perf_hooks';
import type { SqlStore } from '../store/sql-store.ts';

/**
 * Every write of the forwarder goes through here: one short transaction that takes the write lock up front
 * (`BEGIN IMMEDIATE`). A deferred transaction would read first and ask for the lock later, and could then
 * find the database changed by the gateway's tap writer (SQLITE_BUSY_SNAPSHOT); taking the lock first means
 * the forwarder either waits its turn before doing anything or holds the lock only for its few statements
 * and the commit. How long each one held the lock is kept, so the claim can be checked (bench/backlog-drain.ts).
 *
 * The transaction is the storage port's (gateway/store/sql-store.ts), so on SQLite it queues with the
 * forwarder's reads and its lease's transactions on the same connection instead of running inside one of
 * them; its statements go through its `tx` (applyForwardWrite, shared with the writer thread's batch).
 */
export interface LockHoldSummary {
  /** Write transactions since start. */
  transactions: number;
  /** Over the most recent ones (up to SAMPLES), in milliseconds. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

const SAMPLES = 10_000;

export class ShortWrites {
  private readonly held = new Float64Array(SAMPLES);
  private count = 0;
  private max = 0;

  constructor(private readonly store: SqlStore) {}

  /** Runs `fn` in one IMMEDIATE transaction; keep `fn` to a few statements (bounded by the caller). */
  async run<T>(fn: (tx: SqlStore) => Promise<T>): Promise<T> {
    let locked = 0;
    const result = await this.store.transaction(async (tx) => {
      // From here the write lock is ours: the time to COMMIT's return is what the tap writer may wait.
      locked = performance.now();
      return fn(tx);
    });
    const ms = performance.now() - locked;
    this.held[this.count % SAMPLES] = ms;
    this.count++;
    if (ms > this.max) this.max = ms;
    return result;
  }

  summary(): LockHoldSummary {
    const n = Math.min(this.count, SAMPLES);
    const sorted = Array.from(this.held.subarray(0, n)).sort((a, b) => a - b);
    const at = (q: number) => (n === 0 ? 0 : sorted[Math.min(n - 1, Math.ceil(q * n) - 1)]!);
    const round = (x: number) => Math.round(x * 1000) / 1000;
    return { transactions: this.count, p50Ms: round(at(0.5)), p99Ms: round(at(0.99)), maxMs: round(this.max) };
  }
}
