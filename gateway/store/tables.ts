import type { SqlStore } from './sql-store.ts';

/**
 * The tables and views a database has, for the areas that read a table some gateways lack (the forwarder's,
 * made when a forwarder first starts on the SQLite file). Each database keeps its catalogue its own way, so
 * this is one of the two statements of the port written per dialect (the other: tap-writer-lock.ts); on
 * PostgreSQL the whole schema is applied when the store opens, so every table is there from the start.
 */
export async function tableNames(store: SqlStore): Promise<Set<string>> {
  const rows = store.dialect === 'sqlite'
    ? await store.all<{ name: string }>("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
    : await store.all<{ name: string }>('SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()');
  return new Set(rows.map((r) => r.name));
}

/**
 * Whether the database has a table, read from the catalogue again only while it lacks one: a table once
 * there stays (nothing drops them), one missing may appear when a forwarder starts.
 */
export function tableCheck(store: SqlStore): (name: string) => Promise<boolean> {
  let known: Set<string> | undefined;
  return async (name) => {
    if (known?.has(name)) return true;
    known = await tableNames(store);
    return known.has(name);
  };
}
