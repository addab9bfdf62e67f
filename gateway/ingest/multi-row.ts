import type { SqlStore, SqlValue } from '../store/sql-store.ts';

/**
 * Statements over many rows for the group commit: on PostgreSQL every statement is a round trip, so a batch
 * writes its taps (and what goes with each) as a few `INSERT … VALUES (…), (…)` and reads by key as a few
 * `… IN (…)`, instead of one statement per tap.
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
  const per = rowsPerStatement(columns);
  let changes = 0;
  for (let at = 0; at < rows.length; at += per) {
    const chunk = rows.slice(at, at + per);
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
  const per = MAX_PARAMS - lead.length;
  for (let at = 0; at < keys.length; at += per) {
    const chunk = keys.slice(at, at + per);
    out.push(...(await tx.all<T>(`${select} (${chunk.map((_, i) => `$${lead.length + i + 1}`).join(', ')}) ${rest}`, [...lead, ...chunk])));
  }
  return out;
}
