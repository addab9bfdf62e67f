import { migrate } from '../../shared/sqlite.ts';
import type { SqliteStore } from '../store/sqlite-store.ts';
import { holderIsGone, LeaseLostError, ownHolderId, type ForwarderLease, type LeaseHolder, type LeaseTiming } from './lease.ts';

/**
 * The forwarder lease as a row of the gateway database (the default): holder, expiry, renewed on a timer.
 * A process takes it when there is no row, when the row's lease expired, or when its holder is a process of
 * this machine that no longer exists (a gateway killed and started again does not wait for the expiry).
 * Every change is one IMMEDIATE transaction of the storage port's SQLite store, so two processes deciding at
 * once are serialised by SQLite's write lock; `assertHeld` reads the row before a batch is marked, and the
 * transaction that marks it reads the row again (forward-writes.ts), so the check and the batch it guards
 * commit together.
 */
export const LEASE_MIGRATIONS = [
  `
  CREATE TABLE forwarder_lease (
    name          TEXT PRIMARY KEY,
    holder        TEXT NOT NULL,
    acquired_at   TEXT NOT NULL,
    renewed_at    TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL
  );
  `,
];

const NAME = 'onss';

interface LeaseRow {
  holder: string;
  expires_at_ms: number;
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  return code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED');
}

const SELECT = 'SELECT holder, expires_at_ms FROM forwarder_lease WHERE name = $1';
const TAKE = `INSERT INTO forwarder_lease (name, holder, acquired_at, renewed_at, expires_at_ms) VALUES ($1, $2, $3, $3, $4)
  ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, acquired_at = excluded.acquired_at, renewed_at = excluded.renewed_at, expires_at_ms = excluded.expires_at_ms`;
const EXTEND = 'UPDATE forwarder_lease SET renewed_at = $1, expires_at_ms = $2 WHERE name = $3 AND holder = $4';
const DROP = 'DELETE FROM forwarder_lease WHERE name = $1 AND holder = $2';

export class SqliteForwarderLease implements ForwarderLease {
  readonly store = 'sqlite' as const;
  /** Our own record of the expiry of the lease we hold (0: not held). */
  private heldUntil = 0;

  /** `db`: the storage port on the SQLite connection (SqliteStore.of(db)), which every statement goes through. */
  constructor(
    private readonly db: SqliteStore,
    private readonly timing: LeaseTiming,
    readonly holderId: string = ownHolderId(),
    private readonly now: () => number = Date.now,
  ) {
    migrate(db.db, 'forward-lease', LEASE_MIGRATIONS);
  }

  async acquire(): Promise<boolean> {
    const at = this.now();
    try {
      const held = await this.db.transaction(async (tx) => {
        const row = await tx.one<LeaseRow>(SELECT, [NAME]);
        const iso = new Date(at).toISOString();
        if (row && row.holder === this.holderId) {
          await tx.run(EXTEND, [iso, at + this.timing.ttlMs, NAME, this.holderId]);
          return true;
        }
        if (row && row.expires_at_ms > at && !holderIsGone(row.holder, this.holderId)) return false;
        await tx.run(TAKE, [NAME, this.holderId, iso, at + this.timing.ttlMs]);
        return true;
      });
      this.heldUntil = held ? at + this.timing.ttlMs : 0;
      return held;
    } catch (err) {
      // Busy: the store could not say; a holder keeps its lease until its own expiry, a standby stays one.
      if (isBusy(err)) return this.heldUntil > this.now();
      throw err;
    }
  }

  async renew(): Promise<boolean> {
    if (this.heldUntil === 0) return false;
    const at = this.now();
    try {
      const changed = await this.db.transaction(async (tx) => {
        const row = await tx.one<LeaseRow>(SELECT, [NAME]);
        if (!row || row.holder !== this.holderId) return false;
        await tx.run(EXTEND, [new Date(at).toISOString(), at + this.timing.ttlMs, NAME, this.holderId]);
        return true;
      });
      this.heldUntil = changed ? at + this.timing.ttlMs : 0;
      return changed;
    } catch (err) {
      if (!isBusy(err)) throw err;
      if (this.heldUntil <= this.now()) this.heldUntil = 0;
      return this.heldUntil > 0;
    }
  }

  async release(): Promise<void> {
    if (this.heldUntil === 0) return;
    this.heldUntil = 0;
    try {
      await this.db.run(DROP, [NAME, this.holderId]);
    } catch (err) {
      // A lease that could not be dropped simply expires.
      if (!isBusy(err)) throw err;
    }
  }

  async holder(): Promise<LeaseHolder | undefined> {
    const row = await this.db.one<LeaseRow>(SELECT, [NAME]);
    if (!row || row.expires_at_ms <= this.now()) return undefined;
    return { holder: row.holder, expiresAt: new Date(row.expires_at_ms) };
  }

  async assertHeld(): Promise<void> {
    const row = await this.db.one<LeaseRow>(SELECT, [NAME]);
    if (!row || row.holder !== this.holderId) throw new LeaseLostError(row ? `the forwarder lease is held by ${row.holder}` : 'the forwarder lease is not held');
    if (row.expires_at_ms <= this.now()) throw new LeaseLostError('the forwarder lease expired before it was renewed');
  }

  close(): Promise<void> {
    return this.release();
  }
}
