import pg from 'pg';
import type { Logger } from '../../../shared/logging.ts';
import { migratePostgres } from './migrate.ts';
import { redactedUrl } from '../../../shared/redacted-url.ts';
import { postgresDatabaseKey } from './database-key.ts';
import { bindable, type SqlParams, type SqlStore } from '../sql-store.ts';

/**
 * The storage port (gateway/store/sql-store.ts) on a PostgreSQL server, for gateways in a cluster: a pool
 * of connections (`pg`), the gateway's schema brought up to date when the store opens (migratePostgres).
 *
 * Rows come back as SQLite gives them: int8 (a `bigint` column, `count(*)`) and numeric as JS numbers,
 * booleans as 1 and 0. These parsers belong to this pool, not to `pg` as a whole, so nothing else in the
 * process (the forwarder lease, a test reading the database) sees its numbers change.
 *
 * A transaction holds one pooled connection and is SERIALIZABLE, as SQLite's are: when the server refuses
 * it for a conflict with a concurrent one (serialization failure, deadlock), the callback runs again, up to
 * `maxAttempts` times in all, after a short random pause.
 */
export interface PostgresStoreOptions {
  /** `postgres://user[:password]@host:port/database`; a password is best given in CIAO_GATEWAY_DATABASE_URL. */
  url: string;
  /** Connections in the pool. */
  maxConnections?: number;
  /** How long opening a connection may take. */
  connectTimeoutMs?: number;
  /** Runs of a transaction's callback at most, the first included. */
  maxAttempts?: number;
  /** The connections' `application_name`, which an operator sees in `pg_stat_activity`. */
  applicationName?: string;
  /**
   * Apply the migrations this gateway has and the database not yet (default true). The threads a gateway
   * starts after its main thread migrated skip it; a schema they do not know is then met as SQL errors.
   */
  migrate?: boolean;
  logger?: Logger;
}

const INT8 = 20;
const NUMERIC = 1700;
const BOOL = 16;
/** Serialization failure, deadlock detected: the transaction may succeed when run again. */
const RETRYABLE = new Set(['40001', '40P01']);

/** Type parsers of this pool only: numbers and booleans as SQLite gives them. */
const SQLITE_LIKE_TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (format !== 'binary') {
      if (oid === INT8 || oid === NUMERIC) return (v: string) => Number(v);
      if (oid === BOOL) return (v: string) => (v === 't' ? 1 : 0);
    }
    return pg.types.getTypeParser(oid, format);
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/** A PostgreSQL URL without its password, for messages and logs. */
export const redactedPostgresUrl = (url: string): string => redactedUrl(url, 'postgres');

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' ? code : undefined;
}

function values(params: SqlParams | undefined): unknown[] | undefined {
  return params && params.length > 0 ? params.map(bindable) : undefined;
}

/** Opens the pool, checks a connection and applies the migrations this gateway has and the database not yet. */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const where = redactedPostgresUrl(options.url);
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    application_name: options.applicationName ?? 'ciao-gateway',
    types: SQLITE_LIKE_TYPES,
  });
  // An idle connection the server dropped is an 'error' on the pool; without a listener it would end the process.
  pool.on('error', (err) => options.logger?.warn({ err: { message: err.message, code: errorCode(err) }, database: where }, 'PostgreSQL dropped an idle connection; the pool opens a new one when needed'));
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new Error(`PostgreSQL store at ${where}: cannot connect: ${(err as Error).message}`, { cause: err });
  }
  try {
    if (options.migrate !== false) {
      const outcome = await migratePostgres(client);
      if (outcome.applied.length) options.logger?.info({ applied: outcome.applied, database: where }, 'PostgreSQL schema brought up to date');
    }
  } catch (err) {
    client.release();
    await pool.end().catch(() => undefined);
    throw new Error(`PostgreSQL store at ${where}: ${(err as Error).message}`, { cause: err });
  }
  client.release();
  return new PostgresStore(pool, where, options.maxAttempts ?? 5, postgresDatabaseKey(options.url));
}

export class PostgresStore implements SqlStore {
  readonly dialect = 'postgres' as const;
  private closed = false;
  private readonly running = new Set<Promise<unknown>>();

  /** `databaseKey`: which database this is (postgresDatabaseKey), to tell whether a lease is taken on it. */
  constructor(private readonly pool: pg.Pool, readonly where: string, private readonly maxAttempts: number, readonly databaseKey: string) {}

  all<T = Record<string, unknown>>(sql: string, params?: SqlParams): Promise<T[]> {
    return this.track(async () => (await this.pool.query({ text: sql, values: values(params) })).rows as T[]);
  }

  one<T = Record<string, unknown>>(sql: string, params?: SqlParams): Promise<T | undefined> {
    return this.track(async () => (await this.pool.query({ text: sql, values: values(params) })).rows[0] as T | undefined);
  }

  run(sql: string, params?: SqlParams): Promise<{ changes: number }> {
    return this.track(async () => ({ changes: (await this.pool.query({ text: sql, values: values(params) })).rowCount ?? 0 }));
  }

  /** Transactions run again after a serialization failure or a deadlock, since the store opened. */
  get retries(): number {
    return this.retried;
  }

  private retried = 0;

  transaction<T>(fn: (tx: SqlStore) => Promise<T>): Promise<T> {
    return this.track(async () => {
      const client = await this.pool.connect();
      // A connection whose ROLLBACK failed is in an unknown state: it is closed, not given back to the pool.
      let broken: Error | undefined;
      try {
        for (let attempt = 1; ; attempt++) {
          await client.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
          const tx = new PostgresTransaction(client);
          try {
            const result = await fn(tx);
            await client.query('COMMIT');
            return result;
          } catch (err) {
            await client.query('ROLLBACK').catch((e: unknown) => {
              broken = e as Error;
            });
            const code = errorCode(err) ?? errorCode((err as { cause?: unknown })?.cause);
            if (broken || !code || !RETRYABLE.has(code) || attempt >= this.maxAttempts) throw err;
            this.retried++;
            await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * attempt));
          } finally {
            tx.end();
          }
        }
      } finally {
        client.release(broken);
      }
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.running]);
    await this.pool.end();
  }

  private track<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`the PostgreSQL store at ${this.where} is closed`));
    const p = work();
    this.running.add(p);
    const forget = () => this.running.delete(p);
    p.then(forget, forget);
    return p;
  }
}

/** The store as a transaction's callback sees it: statements on the transaction's connection. */
class PostgresTransaction implements SqlStore {
  readonly dialect = 'postgres' as const;
  private open = true;
  private inSavepoint = false;

  constructor(private readonly client: pg.PoolClient, private readonly parent?: PostgresTransaction, private readonly depth = 0) {}

  end(): void {
    this.open = false;
  }

  private ended(): boolean {
    return !this.open || (this.parent?.ended() ?? false);
  }

  private async query(sql: string, params: SqlParams | undefined): Promise<pg.QueryResult> {
    if (this.ended()) throw new Error('a transaction\'s statement came after the transaction ended: await every statement inside its callback');
    return this.client.query({ text: sql, values: values(params) });
  }

  async all<T = Record<string, unknown>>(sql: string, params?: SqlParams): Promise<T[]> {
    return (await this.query(sql, params)).rows as T[];
  }

  async one<T = Record<string, unknown>>(sql: string, params?: SqlParams): Promise<T | undefined> {
    return (await this.query(sql, params)).rows[0] as T | undefined;
  }

  async run(sql: string, params?: SqlParams): Promise<{ changes: number }> {
    return { changes: (await this.query(sql, params)).rowCount ?? 0 };
  }

  /** A savepoint: what `fn` did is undone alone when it throws; the transaction goes on. */
  async transaction<T>(fn: (tx: SqlStore) => Promise<T>): Promise<T> {
    if (this.inSavepoint) throw new Error('one savepoint at a time: await a nested transaction before starting the next');
    const name = `port_sp_${this.depth + 1}`;
    await this.query(`SAVEPOINT ${name}`, undefined);
    this.inSavepoint = true;
    const inner = new PostgresTransaction(this.client, this, this.depth + 1);
    try {
      const result = await fn(inner);
      await this.client.query(`RELEASE SAVEPOINT ${name}`);
      return result;
    } catch (err) {
      await this.client.query(`ROLLBACK TO SAVEPOINT ${name}`);
      await this.client.query(`RELEASE SAVEPOINT ${name}`);
      throw err;
    } finally {
      inner.end();
      this.inSavepoint = false;
    }
  }

  close(): Promise<void> {
    return Promise.reject(new Error('a transaction cannot close its store'));
  }
}
