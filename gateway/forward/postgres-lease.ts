import type { Client, ClientConfig } from 'pg';
import type { Logger } from '../../shared/logging.ts';
import { LeaseLostError, ownHolderId, type AdvisoryLockHeld, type ForwarderLease, type LeaseHolder, type LeaseTiming } from './lease.ts';
import { postgresDatabaseKey } from '../store/postgres/database-key.ts';

/**
 * The forwarder lease as a PostgreSQL session-level advisory lock (`pg_try_advisory_lock`), for gateways
 * that share a PostgreSQL server. The lock lives as long as the holder's connection: PostgreSQL frees it the
 * moment that connection ends (process killed, connection terminated), and a standby's next attempt, at most
 * `renewMs` later, takes it.
 *
 * A holder that cannot be heard (its machine gone, the network cut, so no FIN ever arrives) is dropped by the
 * server's TCP keepalives after about `ttlMs`; the holder itself stops forwarding earlier, once half of
 * `ttlMs` passed without its renewal confirming the lock (`assertHeld`), and ends its connection when a
 * renewal fails or hangs. So the old holder has stopped before a standby can take over.
 *
 * Each holder names itself in `application_name` (`ciao-fwd <holder id>`), which is how `holder()` and an
 * operator (`pg_stat_activity`) see who forwards.
 */
export interface PostgresLeaseOptions {
  /** `postgres://user@host:port/database`; a password is best left to PGPASSWORD or ~/.pgpass. */
  url: string;
  /** The second key of the advisory lock: gateways of separate deployments on one server use different ones. */
  lockId: number;
  timing: LeaseTiming;
  logger: Logger;
  holderId?: string;
}

/** The first key of the advisory lock: "CIAB" in ASCII, so the product's locks are recognisable in pg_locks. */
export const ADVISORY_LOCK_CLASS = 0x43494142;
const APP_PREFIX = 'ciao-fwd ';

type PgModule = typeof import('pg');

export class PostgresForwarderLease implements ForwarderLease {
  readonly store = 'postgres' as const;
  readonly holderId: string;
  private client: Client | undefined;
  private connecting: Promise<Client> | undefined;
  private held = false;
  /** The backend of the session that took the lock (`pg_backend_pid()`), while held. */
  private backendPid: number | undefined;
  /** Real time (ms) the lock was last confirmed held. */
  private confirmedAt = 0;

  constructor(private readonly o: PostgresLeaseOptions, private readonly pg: PgModule) {
    this.holderId = o.holderId ?? ownHolderId();
  }

  /** Loads the pg driver only when a PostgreSQL lease is configured. */
  static async open(o: PostgresLeaseOptions): Promise<PostgresForwarderLease> {
    const mod = (await import('pg')) as PgModule & { default?: PgModule };
    return new PostgresForwarderLease(o, mod.default ?? mod);
  }

  private config(): ClientConfig {
    const { ttlMs, renewMs } = this.o.timing;
    const halfTtlSeconds = Math.max(1, Math.round(ttlMs / 2000));
    return {
      connectionString: this.o.url,
      application_name: `${APP_PREFIX}${this.holderId}`.slice(0, 63),
      connectionTimeoutMillis: Math.max(1000, Math.round(ttlMs / 2)),
      // A renewal that does not come back within this is taken as a lost lock (the connection is ended).
      query_timeout: Math.max(500, Math.min(renewMs * 2, Math.round(ttlMs / 3))),
      keepAlive: true,
      keepAliveInitialDelayMillis: 1000,
      // The server's side: a silent holder's connection (and with it the lock) is dropped after about ttlMs.
      options: `-c tcp_keepalives_idle=${halfTtlSeconds} -c tcp_keepalives_interval=1 -c tcp_keepalives_count=${halfTtlSeconds} -c tcp_user_timeout=${ttlMs}`,
    };
  }

  private connection(): Promise<Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= (async () => {
      const client = new this.pg.Client(this.config());
      // A connection that dies between queries says so here; without a listener the process would crash.
      client.on('error', (err) => this.lost(client, err.message));
      try {
        await client.connect();
      } catch (err) {
        await client.end().catch(() => undefined);
        throw err;
      }
      this.client = client;
      return client;
    })().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private lost(client: Client, why: string): void {
    if (client !== this.client) return;
    if (this.held) this.o.logger.warn({ why }, 'forwarder lease lost: its PostgreSQL connection ended');
    this.held = false;
    this.client = undefined;
    void client.end().catch(() => undefined);
  }

  async acquire(): Promise<boolean> {
    if (this.held) return this.renew();
    let client: Client;
    try {
      client = await this.connection();
    } catch (err) {
      this.o.logger.warn({ err: (err as Error).message }, 'cannot reach PostgreSQL for the forwarder lease');
      return false;
    }
    try {
      const r = await client.query<{ ok: boolean; pid: number }>('SELECT pg_try_advisory_lock($1, $2) AS ok, pg_backend_pid() AS pid', [ADVISORY_LOCK_CLASS, this.o.lockId]);
      this.held = r.rows[0]?.ok === true;
      this.backendPid = this.held ? r.rows[0]!.pid : undefined;
      if (this.held) this.confirmedAt = Date.now();
      return this.held;
    } catch (err) {
      this.lost(client, (err as Error).message);
      return false;
    }
  }

  async renew(): Promise<boolean> {
    const client = this.client;
    if (!this.held || !client) return false;
    try {
      const r = await client.query<{ ok: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
          AND classid = $1::int::oid AND objid = $2::int::oid AND objsubid = 2 AND granted) AS ok`,
        [ADVISORY_LOCK_CLASS, this.o.lockId],
      );
      if (r.rows[0]?.ok === true) {
        this.confirmedAt = Date.now();
        return true;
      }
      this.lost(client, 'the advisory lock is no longer held by this session');
      return false;
    } catch (err) {
      // Failed or hung: end the connection, which frees the lock for certain, rather than hold it unconfirmed.
      this.lost(client, (err as Error).message);
      return false;
    }
  }

  async release(): Promise<void> {
    const client = this.client;
    if (!this.held || !client) return;
    this.held = false;
    try {
      await client.query('SELECT pg_advisory_unlock($1, $2)', [ADVISORY_LOCK_CLASS, this.o.lockId]);
    } catch {
      // Ending the connection (close) frees it anyway.
    }
  }

  async holder(): Promise<LeaseHolder | undefined> {
    const client = await this.connection();
    const r = await client.query<{ application_name: string; pid: number }>(
      `SELECT a.application_name, a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.classid = $1::int::oid AND l.objid = $2::int::oid AND l.objsubid = 2 AND l.granted`,
      [ADVISORY_LOCK_CLASS, this.o.lockId],
    );
    const row = r.rows[0];
    if (!row) return undefined;
    const name = row.application_name.startsWith(APP_PREFIX) ? row.application_name.slice(APP_PREFIX.length) : `backend ${row.pid} (${row.application_name || 'unnamed'})`;
    return { holder: name };
  }

  /** The lock and the backend holding it, while this process believes it holds it (for the in-flight fence). */
  heldLock(): AdvisoryLockHeld | undefined {
    return this.held && this.backendPid !== undefined ? { classId: ADVISORY_LOCK_CLASS, lockId: this.o.lockId, pid: this.backendPid } : undefined;
  }

  /** The database the lock is taken on (postgresDatabaseKey: no password). */
  get databaseKey(): string {
    return postgresDatabaseKey(this.o.url);
  }

  // Asks nothing of the server: the lock is held as long as its connection, which renewals keep confirming.
  async assertHeld(): Promise<void> {
    if (!this.held) throw new LeaseLostError('the forwarder lease (PostgreSQL advisory lock) is not held');
    if (Date.now() - this.confirmedAt > this.o.timing.ttlMs / 2) throw new LeaseLostError('the forwarder lease was not confirmed for half its ttl');
  }

  async close(): Promise<void> {
    await this.release();
    const client = this.client;
    this.client = undefined;
    if (client) await client.end().catch(() => undefined);
  }
}
