import type { SqlStore } from './sql-store.ts';

/**
 * One writer of taps at a time, whatever the database: registrations are numbered from the highest number
 * stored plus one (gateway/store/registration-rows.ts), so two transactions numbering at once would both
 * take the same numbers.
 *
 * - SQLite: every write transaction of the port begins `BEGIN IMMEDIATE` and holds the database's one write
 *   lock from its start: nothing to do.
 * - PostgreSQL: the transaction locks the `taps` table in SHARE ROW EXCLUSIVE mode, which waits for any other
 *   transaction writing taps (its ROW EXCLUSIVE lock) and lets readers (the forwarder, the console) read on.
 *   Taken as a transaction's first statement, it comes before its serializable snapshot, so the highest
 *   number it reads next is the last one committed. Taken later (a site-data change that releases held taps
 *   reads and writes before it numbers), the snapshot may be older: PostgreSQL then refuses one of the two
 *   transactions as a serialization failure, and the adapter runs it again.
 *
 * The second statement of the port written per dialect (after the catalogue's in tables.ts).
 */
export async function lockTapWriters(tx: SqlStore): Promise<void> {
  if (tx.dialect === 'postgres') await tx.run('LOCK TABLE taps IN SHARE ROW EXCLUSIVE MODE');
}
