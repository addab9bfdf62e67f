import type { SqlStore, SqlValue } from './sql-store.ts';

/**
 * Statements over many rows for the group commit: on PostgreSQL every statement is a round trip, so a batch
 * writes its taps (and what goes with each) as a few `INSERT … VALUES (…), (…)`, reads by key as a few
 * `… IN (…)` and updates many rows by key as a few `UPDATE … FROM (VALUES …)`, instead of one statement per
 * tap or per registration (the forwarder's changes ride the same commits).
 *
 * A statement holds at most MAX_PARAMS parameters: SQLite's limit as better-sqlite3 builds it
 * (SQLITE_MAX_VARIABLE_NUMBER = 32766), below PostgreSQL's 65535, so the same chunks run on both. Larger
 * inputs are cut into statements of as many whole rows as fit.
 */
export const MAX_PARAMS = 32_766;

/** How many rows of `columns` values one statement takes. */
export function rowsPerStatement(columns: number): number {
  return Math.max(1, Math.floor(MAX_PARAMS / columns));
}

/**
 * How many rows each statement for `n` rows takes, at most `per`. On SQLite the rest below `per` goes in
 * pieces of powers of two: the adapter keeps a prepared statement per SQL text in a bounded cache (500 texts,
 * the oldest out first), and a text per row count of every batch would fill it with statements used once,
 * each as long as its parameters, pushing out those used all the time. So a table's inserts have at most a
 * dozen texts. PostgreSQL parses each statement anew whatever its text: one statement per `per` rows, the
 * fewest round trips.
 */
export function statementSizes(n: number, per: number, dialect: SqlStore['dialect']): number[] {
  const sizes: number[] = [];
  let left = n;
  while (left >= per) {
    sizes.push(per);
    left -= per;
  }
  if (dialect === 'postgres') return left > 0 ? [...sizes, left] : sizes;
  for (let piece = 2 ** Math.floor(Math.log2(Math.max(left, 1))); left > 0; piece /= 2) {
    if (left >= piece) {
      sizes.push(piece);
      left -= piece;
    }
  }
  return sizes;
}

function placeholders(rows: number, columns: number): string {
  const out: string[] = [];
  let n = 0;
  for (let r = 0; r < rows; r++) {
    const row: string[] = [];
    for (let c = 0; c < columns; c++) row.push(`$${++n}`);
    out.push(`(${row.join(', ')})`);
  }
  return out.join(', ');
}

/**
 * Inserts `rows` (each `columns` values, in the order of `head`'s column list) as `head VALUES (…), (…) tail`;
 * returns how many rows the statements changed. `tail`: `ON CONFLICT …`, or empty.
 */
export async function insertRows(tx: SqlStore, head: string, columns: number, rows: readonly (readonly SqlValue[])[], tail = ''): Promise<number> {
  let changes = 0;
  let at = 0;
  for (const size of statementSizes(rows.length, rowsPerStatement(columns), tx.dialect)) {
    const chunk = rows.slice(at, (at += size));
    const params: SqlValue[] = [];
    for (const row of chunk) {
      if (row.length !== columns) throw new Error(`a row of ${head.slice(0, 40)}… has ${row.length} values, the statement ${columns} columns`);
      params.push(...row);
    }
    changes += (await tx.run(`${head} VALUES ${placeholders(chunk.length, columns)} ${tail}`, params)).changes;
  }
  return changes;
}

/**
 * The rows of `select` (which ends in `WHERE … column IN`) for every key in `keys`, read a chunk of keys per
 * statement; `rest` follows the list (never an ORDER BY meant across chunks); `lead`: values of `$1…` used in
 * `select` before the list, whose own parameters come after them.
 */
export async function selectIn<T>(tx: SqlStore, select: string, keys: readonly SqlValue[], rest = '', lead: readonly SqlValue[] = []): Promise<T[]> {
  const out: T[] = [];
  let at = 0;
  for (const size of statementSizes(keys.length, MAX_PARAMS - lead.length, tx.dialect)) {
    const chunk = keys.slice(at, (at += size));
    out.push(...(await tx.all<T>(`${select} (${chunk.map((_, i) => `$${lead.length + i + 1}`).join(', ')}) ${rest}`, [...lead, ...chunk])));
  }
  return out;
}

/**
 * Runs `statement` (which ends in `… column IN`) for every key in `keys`, a chunk of keys per statement;
 * `lead`: values of `$1…` used before the list. Returns how many rows the statements changed.
 */
export async function runIn(tx: SqlStore, statement: string, keys: readonly SqlValue[], lead: readonly SqlValue[] = []): Promise<number> {
  let changes = 0;
  let at = 0;
  for (const size of statementSizes(keys.length, MAX_PARAMS - lead.length, tx.dialect)) {
    const chunk = keys.slice(at, (at += size));
    changes += (await tx.run(`${statement} (${chunk.map((_, i) => `$${lead.length + i + 1}`).join(', ')})`, [...lead, ...chunk])).changes;
  }
  return changes;
}

/**
 * Updates many rows by key, each with values of its own: `UPDATE table SET … FROM (VALUES (…), (…)) AS v
 * WHERE table.key = v.column1`, a form both databases take (SQLite names a VALUES list's columns column1,
 * column2, … as PostgreSQL does). `types` are the SQL types of the row's values, key first: PostgreSQL cannot
 * infer a type for a parameter in a VALUES list, so each is cast. `set` uses `v.column2`, `v.column3`, …
 */
export async function updateFromValues(tx: SqlStore, table: string, key: string, types: readonly string[], set: string, rows: readonly (readonly SqlValue[])[]): Promise<number> {
  let changes = 0;
  let at = 0;
  const columns = types.length;
  for (const size of statementSizes(rows.length, rowsPerStatement(columns), tx.dialect)) {
    const chunk = rows.slice(at, (at += size));
    const params: SqlValue[] = [];
    const values: string[] = [];
    for (const row of chunk) {
      if (row.length !== columns) throw new Error(`a row for ${table} has ${row.length} values, the update ${columns}`);
      const base = params.length;
      values.push(`(${types.map((t, i) => `CAST($${base + i + 1} AS ${t})`).join(', ')})`);
      params.push(...row);
    }
    changes += (await tx.run(`UPDATE ${table} SET ${set} FROM (VALUES ${values.join(', ')}) AS v WHERE ${table}.${key} = v.column1`, params)).changes;
  }
  return changes;
}
