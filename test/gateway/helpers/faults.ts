import type { SqlStore } from '../../../gateway/store/sql-store.ts';

/**
 * A commit that fails inside the database, on either kind: a trigger refuses every insert into `table` with
 * `message`, as a full disk or an I/O error would fail the transaction there (the whole transaction is
 * rolled back, on any connection, the writer thread's included). Returns what takes the trigger away again.
 */
export async function failInsertsInto(store: SqlStore, table: string, message: string): Promise<() => Promise<void>> {
  const name = `fail_inserts_${table}`;
  const quoted = message.replaceAll("'", "''");
  if (store.dialect === 'sqlite') {
    await store.run(`CREATE TRIGGER ${name} BEFORE INSERT ON ${table} BEGIN SELECT RAISE(ABORT, '${quoted}'); END`);
    return async () => {
      await store.run(`DROP TRIGGER ${name}`);
    };
  }
  await store.run(`CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $body$ BEGIN RAISE EXCEPTION '${quoted}'; END $body$`);
  await store.run(`CREATE TRIGGER ${name} BEFORE INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION ${name}()`);
  return async () => {
    await store.run(`DROP TRIGGER ${name} ON ${table}`);
    await store.run(`DROP FUNCTION ${name}()`);
  };
}

/** The error a full disk gives on each kind, with the code the gateway's health and metrics report. */
export function diskFullError(dialect: SqlStore['dialect']): Error & { code: string } {
  return dialect === 'sqlite'
    ? Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })
    : Object.assign(new Error('could not extend file "base/16384/16402": No space left on device'), { code: '53100' });
}
