import type { SqlParams, SqlStore } from '../../gateway/store/sql-store.ts';

/**
 * The store with every statement run through it (its transactions' included) counted: how the suites of the
 * multi-row writes tell a few statements over many rows from one statement per row.
 */
export function counted(store: SqlStore): { store: SqlStore; statements: () => number } {
  let n = 0;
  const wrap = (inner: SqlStore): SqlStore => ({
    dialect: inner.dialect,
    all: <T,>(sql: string, params?: SqlParams) => (n++, inner.all<T>(sql, params)),
    one: <T,>(sql: string, params?: SqlParams) => (n++, inner.one<T>(sql, params)),
    run: (sql: string, params?: SqlParams) => (n++, inner.run(sql, params)),
    transaction: <T,>(fn: (tx: SqlStore) => Promise<T>) => inner.transaction((tx) => fn(wrap(tx))),
    close: () => inner.close(),
  });
  return { store: wrap(store), statements: () => n };
}
