import type { Logger } from '../../shared/logging.ts';
import { openDatabase, type Db } from '../../shared/sqlite.ts';
import { openGatewayDatabase } from './database.ts';
import { SqliteStore } from './sqlite-store.ts';
import type { SqlStore } from './sql-store.ts';

/**
 * Where the gateway keeps its data, as the config says (`store.kind`): the embedded SQLite file of
 * `database`, or a PostgreSQL server shared by a cluster's instances. It is plain data, so it crosses to the
 * writer and forwarder threads, which open their own connection to the same place.
 */
export type StoreLocation = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string; maxConnections: number };

export function storeLocationOf(config: { database: string; store: { kind: 'sqlite' | 'postgres'; url?: string; maxConnections: number } }): StoreLocation {
  if (config.store.kind === 'postgres') return { kind: 'postgres', url: config.store.url!, maxConnections: config.store.maxConnections };
  return { kind: 'sqlite', file: config.database };
}

/** A store opened by its user, with the SQLite connection under it when there is one (WAL chores, tests). */
export interface OpenedStore {
  store: SqlStore;
  /** The SQLite connection the store runs on; absent on PostgreSQL. */
  db?: Db;
  /** Waits for what runs, then closes the store and its connection or pool. */
  close(): Promise<void>;
}

export interface OpenStoreOptions {
  /** SQLite: how long a statement waits for another connection's write lock. */
  busyTimeoutMs?: number;
  /**
   * Bring the schema up to date (the gateway's main thread, `ciao admin`). The threads the gateway starts
   * afterwards open the store already migrated and skip it.
   */
  migrate: boolean;
  /** PostgreSQL: who this pool is in `pg_stat_activity` (the instance and the part of it). */
  applicationName?: string;
  /** PostgreSQL: connections of this pool (the location's `maxConnections` by default). */
  maxConnections?: number;
  logger?: Logger;
}

/**
 * Opens the store at `where`. PostgreSQL's adapter is loaded only here, so a gateway on SQLite never loads
 * the `pg` driver.
 */
export async function openGatewayStore(where: StoreLocation, o: OpenStoreOptions): Promise<OpenedStore> {
  if (where.kind === 'sqlite') {
    const busy = o.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: o.busyTimeoutMs };
    const db = o.migrate ? openGatewayDatabase(where.file, busy) : openDatabase(where.file, busy);
    const store = SqliteStore.of(db);
    return {
      store,
      db,
      close: async () => {
        await store.close();
        db.close();
      },
    };
  }
  const { openPostgresStore } = await import('./postgres/postgres-store.ts');
  const store = await openPostgresStore({
    url: where.url,
    maxConnections: o.maxConnections ?? where.maxConnections,
    migrate: o.migrate,
    ...(o.applicationName ? { applicationName: o.applicationName } : {}),
    ...(o.logger ? { logger: o.logger } : {}),
  });
  return { store, close: () => store.close() };
}

/** Whether a thread can open its own connection to `where` (an in-memory SQLite database is the connection's alone). */
export function shareableWithThreads(where: StoreLocation): boolean {
  return where.kind === 'postgres' || where.file !== ':memory:';
}

/** What an operator sees in PostgreSQL's `pg_stat_activity` for each pool of an instance. */
export function applicationName(instance: string | undefined, part: 'main' | 'writer' | 'forwarder'): string {
  return `ciao-gateway${instance ? ` ${instance}` : ''} ${part}`.slice(0, 63);
}
