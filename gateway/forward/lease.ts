import { randomBytes } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * The forwarder's lease: at most one process forwards to ONSS at a time, whatever the number of gateway
 * processes on one database (two started by mistake on one SQLite file, or the instances of a cluster). The
 * process holding it forwards; the others stand by and try again every `renewMs`, taking over when the
 * holder is gone (its lease expired, its process provably dead, its connection to PostgreSQL closed).
 *
 * Adapters: `sqlite-lease.ts` (a row with an expiry in the gateway database, the default) and
 * `postgres-lease.ts` (a session-level advisory lock). The lease alone does not keep delivery exactly once
 * across a takeover: the new holder reconciles what its predecessor left in flight before sending anything
 * (reconciler.ts), and marks a batch in flight only while `assertHeld()` passes.
 */
export interface LeaseHolder {
  holder: string;
  /** When the lease runs out unless renewed; absent when it is held as long as the holder's connection lives. */
  expiresAt?: Date;
}

export interface ForwarderLease {
  /** What kind of store keeps it (for logs and health). */
  readonly store: 'sqlite' | 'postgres';
  /** This lease's name as holder: `host:pid-namespace:pid:nonce` (each lease object has its own nonce). */
  readonly holderId: string;
  /** Takes the lease when it is free or its holder is gone, or extends it when this process holds it. True while held. */
  acquire(): Promise<boolean>;
  /**
   * Extends the lease this process holds: true while held, false once it is lost (taken over, or its
   * connection died). A renewal that could not be made (store busy) keeps the lease until its own expiry.
   */
  renew(): Promise<boolean>;
  /** Gives it up now (clean stop), so a standby takes over at its next attempt rather than at expiry. */
  release(): Promise<void>;
  /** Who holds it, as the store says now (undefined: nobody). */
  holder(): Promise<LeaseHolder | undefined>;
  /**
   * Rejects with LeaseLostError unless this process still holds the lease. The forwarder asks it before it
   * marks a batch in flight (a lease kept in the database is read again inside the transaction that marks
   * it): a process that lost the lease can no longer send anything.
   */
  assertHeld(): Promise<void>;
  /** Releases (if held) and frees what the adapter holds (its PostgreSQL connection). */
  close(): Promise<void>;
}

export class LeaseLostError extends Error {
  readonly code = 'ERR_CIAO_LEASE_LOST';
  constructor(message = 'the forwarder lease is held by another process') {
    super(message);
    this.name = 'LeaseLostError';
  }
}

export interface LeaseTiming {
  /** How long a lease lasts without renewal (SQLite), or how long a silent holder's connection is kept (PostgreSQL). */
  ttlMs: number;
  /** How often the holder renews and a standby tries to take over. */
  renewMs: number;
}

/**
 * The PID namespace this process lives in: two holder ids with the same host and namespace name processes
 * of one kernel's view, where a process id that no longer exists means that holder is dead.
 */
function pidNamespace(): string {
  try {
    return readlinkSync('/proc/self/ns/pid').replace(/^pid:\[(\d+)\]$/, '$1');
  } catch {
    return 'unknown';
  }
}

/** A fresh holder id for this process: two leases of one process (two gateways in one test) are two holders. */
export function ownHolderId(): string {
  return `${hostname()}:${pidNamespace()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/**
 * True only when `holder` is a process of this machine's kernel view (same host, same PID namespace) that no
 * longer exists: a gateway killed and started again takes over at once instead of waiting for the expiry.
 * Anything else (another machine, a process that exists, even a zombie or a reused id) counts as alive: the
 * error is only ever on the side of waiting.
 */
export function holderIsGone(holder: string, self = ownHolderId()): boolean {
  const theirs = holder.split(':');
  const ours = self.split(':');
  if (theirs.length !== 4 || ours.length !== 4 || theirs[0] !== ours[0] || theirs[1] !== ours[1] || theirs[1] === 'unknown') return false;
  const pid = Number(theirs[2]);
  if (!Number.isInteger(pid) || pid <= 0 || String(pid) === ours[2]) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * What the forwarder checks before it marks a batch in flight: the lease is still held here. For a lease kept
 * in the gateway database (`holderInDatabase`: this process's holder id), the transaction that marks the batch
 * reads the lease row again, so the check and the mark commit together (forward-writes.ts). For an advisory
 * lock of the PostgreSQL server the gateway's data is on (`advisoryLockInDatabase`: the lock and the backend
 * of the lease's session now), the transaction asks `pg_locks` whether that session still holds it: a holder
 * whose lease connection died a moment ago, before its own renewal noticed, marks nothing and sends nothing.
 */
export interface ForwarderFence {
  assertHeld(): Promise<void>;
  holderInDatabase?: string;
  advisoryLockInDatabase?: () => AdvisoryLockHeld | undefined;
}

/** A session-level advisory lock as `pg_locks` shows it while held: two int keys and the holding backend. */
export interface AdvisoryLockHeld {
  classId: number;
  lockId: number;
  pid: number;
}
