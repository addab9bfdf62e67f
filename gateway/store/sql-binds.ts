import type { SqlValue } from '../store/sql-store.ts';

/**
 * The parameters of a statement built piece by piece (filters that may or may not apply), numbered as the
 * storage port takes them: each value added gives back its `$n`.
 */
export class Binds {
  readonly values: SqlValue[] = [];

  add(value: SqlValue): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }

  /** `column IN (...)` over the values; over none, a condition no row meets. */
  in(column: string, values: readonly SqlValue[]): string {
    return `${column} IN (${values.map((v) => this.add(v)).join(', ') || 'NULL'})`;
  }
}

/**
 * Text in the order SQLite's default collation gives it (its UTF-8 bytes, i.e. code points), whatever the
 * database: a PostgreSQL server orders text by the collation it was created with.
 */
export function byCodePoint(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
