import { migrate, type Db } from '../../shared/sqlite.ts';
import { holderIsGone, LeaseLostError, ownHolderId, type ForwarderLease, type LeaseHolder, type LeaseTiming } from './lease.ts';

/**
 * The forwarder lease as a row of the gateway database (the default): holder, expiry, renewed on a timer.
 * A process takes it when there is no row, when the row's lease expired, or when its holder is a process of
 * this machine that no longer exists (a gateway killed and started again does not wait for the expiry).
 * Every change is one IMMEDIATE transaction, so two processes deciding at once are serialised by SQLite's
 * write lock; `assertHeld` reads the row inside the forwarder's own transaction, so the check and the
 * batch it guards commit together.
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

export class SqliteForwarderLease implements ForwarderLease {
  readonly store = 'sqlite' as const;
  private readonly select;
  private readonly take;
  private readonly extend;
  private readonly drop;
  /** Our own record of the expiry of the lease we hold (0: not held). */
  private heldUntil = 0;

  constructor(
    private readonly db: Db,
    private readonly timing: LeaseTiming,
    readonly holderId: string = ownHolderId(),
    private readonly now: () => number = Date.now,
  ) {
    migrate(db, 'forward-lease', LEASE_MIGRATIONS);
    this.select = db.prepare('SELECT holder, expires_at_ms FROM forwarder_lease WHERE name = ?');
    this.take = db.prepare(`INSERT INTO forwarder_lease (name, holder, acquired_at, renewed_at, expires_at_ms) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, acquired_at = excluded.acquired_at, renewed_at = excluded.renewed_at, expires_at_ms = excluded.expires_at_ms`);
    this.extend = db.prepare('UPDATE forwarder_lease SET renewed_at = ?, expires_at_ms = ? WHERE name = ? AND holder = ?');
    this.drop = db.prepare('DELETE FROM forwarder_lease WHERE name = ? AND holder = ?');
  }

  acquire(): Promise<boolean> {
    const at = this.now();
    try {
      const held = this.db.transaction(() => {
        const row = this.select.get(NAME) as LeaseRow | undefined;
        const iso = new Date(at).toISOString();
        if (row && row.holder === this.holderId) {
          this.extend.run(iso, at + this.timing.ttlMs, NAME, this.holderId);
          return true;
        }
        if (row && row.expires_at_ms > at && !holderIsGone(row.holder, this.holderId)) return false;
        this.take.run(NAME, this.holderId, iso, iso, at + this.timing.ttlMs);
        return true;
      }).immediate();
      this.heldUntil = held ? at + this.timing.ttlMs : 0;
      return Promise.resolve(held);
    } catch (err) {
      // Busy: the store could not say; a holder keeps its lease until its own expiry, a standby stays one.
      if (isBusy(err)) return Promise.resolve(this.heldUntil > this.now());
      return Promise.reject(err);
    }
  }

  renew(): Promise<boolean> {
    if (this.heldUntil === 0) return Promise.resolve(false);
    const at = this.now();
    try {
      const changed = this.db.transaction(() => {
        const row = this.select.get(NAME) as LeaseRow | undefined;
        if (!row || row.holder !== this.holderId) return false;
        this.extend.run(new Date(at).toISOString(), at + this.timing.ttlMs, NAME, this.holderId);
        return true;
      }).immediate();
      this.heldUntil = changed ? at + this.timing.ttlMs : 0;
      return Promise.resolve(changed);
    } catch (err) {
      if (!isBusy(err)) return Promise.reject(err);
      if (this.heldUntil <= this.now()) this.heldUntil = 0;
      return Promise.resolve(this.heldUntil > 0);
    }
  }

  release(): Promise<void> {
    if (this.heldUntil === 0) return Promise.resolve();
    this.heldUntil = 0;
    try {
      this.drop.run(NAME, this.holderId);
    } catch (err) {
      // A lease that could not be dropped simply expires.
      if (!isBusy(err)) return Promise.reject(err);
    }
    return Promise.resolve();
  }

  holder(): Promise<LeaseHolder | undefined> {
    const row = this.select.get(NAME) as LeaseRow | undefined;
    if (!row || row.expires_at_ms <= this.now()) return Promise.resolve(undefined);
    return Promise.resolve({ holder: row.holder, expiresAt: new Date(row.expires_at_ms) });
  }

  assertHeld(): void {
    const row = this.select.get(NAME) as LeaseRow | undefined;
    if (!row || row.holder !== this.holderId) throw new LeaseLostError(row ? `the forwarder lease is held by ${row.holder}` : 'the forwarder lease is not held');
    if (row.expires_at_ms <= this.now()) throw new LeaseLostError('the forwarder lease expired before it was renewed');
  }

  close(): Promise<void> {
    return this.release();
  }
}
