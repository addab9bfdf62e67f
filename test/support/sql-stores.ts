import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openGatewayDatabase } from '../../gateway/store/database.ts';
import type { SqlStore } from '../../gateway/store/sql-store.ts';
import type { StoreLocation } from '../../gateway/store/gateway-store.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { openPostgresStore } from '../../gateway/store/postgres/postgres-store.ts';
import { serviceMissing, startPostgres, type LocalPostgres } from '../../simulator/services/local-services.ts';

/**
 * The storage port's two adapters for tests that run the same cases on both (`describe.each(storeKinds())`):
 * each `fresh()` is a new gateway database with the gateway's whole schema, a SQLite file made by
 * openGatewayDatabase, or a new database on a real local PostgreSQL (one server per test file, started at the
 * first use) brought up to date by the store itself. Without PostgreSQL installed only SQLite runs, said
 * loudly; under CI=true its absence is an error (serviceMissing).
 */
export interface StoreKind {
  kind: 'sqlite' | 'postgres';
  /** A new, empty gateway database behind the port. */
  fresh(): Promise<SqlStore>;
  /** Another store on the database of `fresh()`'s store: a second connection, as a second instance has. */
  second(store: SqlStore): Promise<SqlStore>;
  /**
   * Where the database of `fresh()`'s store is, as a gateway's config gives it: what a writer thread or a
   * gateway started by the test opens its own connections to.
   */
  location(store: SqlStore): StoreLocation;
  /** Closes every store made and stops what was started. */
  cleanup(): Promise<void>;
}

const noPostgres = serviceMissing('postgresql');
if (noPostgres) console.warn(`\n!!! the storage port's tests run on SQLite only: PostgreSQL is ${noPostgres}. Under CI=true they run on both. !!!\n`);

function sqliteKind(): StoreKind {
  const dirs: string[] = [];
  const stores: SqlStore[] = [];
  const files = new WeakMap<SqlStore, string>();
  const open = (file: string) => {
    const store = new SqliteStore(openGatewayDatabase(file), { closeConnection: true });
    files.set(store, file);
    stores.push(store);
    return store;
  };
  return {
    kind: 'sqlite',
    async fresh() {
      const dir = mkdtempSync(join(tmpdir(), 'ciao-port-'));
      dirs.push(dir);
      return open(join(dir, 'gateway.db'));
    },
    async second(store) {
      return open(files.get(store)!);
    },
    location(store) {
      const file = files.get(store);
      if (!file) throw new Error('location(store): the store was not made by this kind\'s fresh()');
      return { kind: 'sqlite', file };
    },
    async cleanup() {
      for (const s of stores.splice(0)) await s.close();
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    },
  };
}

function postgresKind(): StoreKind {
  let server: LocalPostgres | undefined;
  let starting: Promise<LocalPostgres> | undefined;
  let n = 0;
  const stores: SqlStore[] = [];
  const urls = new WeakMap<SqlStore, string>();
  const open = async (url: string) => {
    const store = await openPostgresStore({ url, maxConnections: 4 });
    urls.set(store, url);
    stores.push(store);
    return store;
  };
  return {
    kind: 'postgres',
    async fresh() {
      server ??= await (starting ??= startPostgres({ settings: { fsync: 'off' } }));
      return open(await server.createDatabase(`ciao_port_${process.pid}_${++n}`));
    },
    async second(store) {
      return open(urls.get(store)!);
    },
    location(store) {
      const url = urls.get(store);
      if (!url) throw new Error('location(store): the store was not made by this kind\'s fresh()');
      return { kind: 'postgres', url, maxConnections: 4 };
    },
    async cleanup() {
      for (const s of stores.splice(0)) await s.close();
      await server?.stop();
      server = undefined;
      starting = undefined;
    },
  };
}

/** The adapters to run on this machine: SQLite always, PostgreSQL where it is installed. */
export function storeKinds(): StoreKind[] {
  return noPostgres ? [sqliteKind()] : [sqliteKind(), postgresKind()];
}
