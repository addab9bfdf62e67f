/**
 * The gateway's storage port: one asynchronous way to run SQL, with an adapter per database, so that an area
 * of the gateway moved onto it runs unchanged on the embedded SQLite file (gateway/store/sqlite-store.ts) and
 * on a PostgreSQL server shared by a cluster's instances (gateway/store/postgres/postgres-store.ts).
 * docs/cluster.md ("The storage port") says which areas are on it so far.
 *
 * SQL is written once, in the subset both databases take the same way:
 * - parameters are numbered, PostgreSQL's way: `$1, $2, …`, one may be used several times, and exactly as
 *   many are given as the highest number used. The SQLite adapter rewrites them to `?` (string literals,
 *   quoted names and comments untouched); a `?` in the SQL is refused;
 * - a parameter whose type PostgreSQL cannot infer from where it stands (a bare `SELECT $1`, or one used
 *   twice in places of different types) is cast: `CAST($1 AS bigint)`, `CAST($1 AS text)`;
 * - values are numbers, text, null (booleans are bound as 1 and 0, as SQLite stores them). Rows come back as
 *   SQLite gives them: integers (int8 and numeric included) and booleans as numbers, NULL as null;
 * - `INSERT … ON CONFLICT (columns) DO NOTHING / DO UPDATE SET c = excluded.c` for upserts (never
 *   `INSERT OR IGNORE` / `OR REPLACE`), `RETURNING` for what an insert made;
 * - no function or catalogue of one database only (`sqlite_master`, `pluck`, `datetime()`, `now()`,
 *   `GROUP_CONCAT`, `string_agg`, `ILIKE`); instants are ISO text, compared as text; `LIKE` only on text
 *   whose case is known (SQLite's LIKE ignores ASCII case, PostgreSQL's does not);
 * - flags are integers 0 and 1, compared as `= 1`, not `TRUE`.
 *
 * Transactions are serializable on both: SQLite's `BEGIN IMMEDIATE` holds the file's write lock, PostgreSQL
 * runs `SERIALIZABLE` and runs the whole callback again (a bounded number of times) when the server refuses
 * the commit for a conflict with another instance's. So a transaction's callback only reads and writes
 * through its `tx`, has no other effect, and awaits nothing else: it may run more than once, and on SQLite
 * anything else awaited would let other code on the same connection run inside the transaction.
 */
export type SqlValue = string | number | boolean | null | undefined | Buffer;
export type SqlParams = readonly SqlValue[];

export interface SqlStore {
  readonly dialect: 'sqlite' | 'postgres';
  /** Every row of a query. */
  all<T = Record<string, unknown>>(sql: string, params?: SqlParams): Promise<T[]>;
  /** The first row of a query, if any. */
  one<T = Record<string, unknown>>(sql: string, params?: SqlParams): Promise<T | undefined>;
  /** A statement run for its effect: how many rows it inserted, changed or deleted. */
  run(sql: string, params?: SqlParams): Promise<{ changes: number }>;
  /**
   * Runs `fn` in a transaction: committed when it resolves, rolled back when it throws (the error is passed
   * on). On the `tx` it is given, `transaction` is a savepoint: a nested callback that throws undoes its own
   * statements alone. Statements of other callers wait until the transaction ends.
   */
  transaction<T>(fn: (tx: SqlStore) => Promise<T>): Promise<T>;
  /** Waits for what is running, then refuses further statements. */
  close(): Promise<void>;
}

/** Booleans as SQLite stores them, undefined as NULL: the same values reach both databases. */
export function bindable(value: SqlValue): string | number | null | Buffer {
  if (value === undefined) return null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value;
}
