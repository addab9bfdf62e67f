import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClientBase } from 'pg';

/**
 * The gateway's schema on PostgreSQL, for gateways in a cluster (docs/cluster.md): versioned SQL files in
 * `migrations/` (copied beside the compiled code by the build), applied in the order of their names, each
 * once, in a transaction of its own, recorded in `schema_migrations`. The tables, indexes, view and triggers
 * are SQLite's (gateway/store/database.ts and the forwarder's), held column for column by
 * test/cluster/postgres-schema.test.ts.
 *
 * Differences on purpose:
 * - `taps`, `worker_employers` and `agency_placements` have a `rowid` column (an identity): the gateway reads
 *   SQLite's implicit rowid of these three (the order taps were stored in, the order of a worker's employers
 *   and placements), which PostgreSQL has no equivalent of;
 * - no `forwarder_lease` table: on PostgreSQL the forwarder lease is an advisory lock;
 * - `schema_migrations` records a migration by its name and checksum, not by SQLite's component and number.
 */
export interface PostgresMigration {
  /** The file's name without `.sql`, e.g. `0001-site-data`: what `schema_migrations` records. */
  name: string;
  sql: string;
  /** SHA-256 of the SQL: a migration already applied may not be edited afterwards. */
  checksum: string;
}

export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

/** The tables that carry SQLite's implicit rowid as a column of that name, because the gateway reads it. */
export const ROWID_COLUMN_TABLES = ['taps', 'worker_employers', 'agency_placements'] as const;

/**
 * The session advisory lock every gateway instance takes while migrating: "CIABMIGR" in ASCII, a single
 * bigint key, so it can never be the forwarder lease's lock (two int keys, another key space).
 */
export const MIGRATION_LOCK_KEY = 0x434941424d494752n;

const FILE_NAME = /^(\d{4}-[a-z0-9-]+)\.sql$/;

/** The migrations in `dir`, in the order of their names (a four-digit number first). */
export function postgresMigrations(dir: string = MIGRATIONS_DIR): PostgresMigration[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((file) => {
      const name = FILE_NAME.exec(file)?.[1];
      if (!name) throw new Error(`PostgreSQL migration ${join(dir, file)}: a name must be four digits, a dash and lower-case words (0006-what-it-adds.sql)`);
      const sql = readFileSync(join(dir, file), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

export interface MigrationOutcome {
  /** Applied by this call, in order. */
  applied: string[];
  /** Found applied already. */
  present: string[];
  /** Recorded in the database but unknown to this gateway: applied by a newer version of it. */
  unknown: string[];
}

/**
 * Applies the migrations the database has not had yet, in order. The client must not be inside a
 * transaction. Several instances starting at once queue on the advisory lock: the first applies, the
 * others find everything applied. A migration that fails is rolled back and stops the rest (the error names
 * it), and so does one whose recorded checksum is not the file's: the schema it describes is not the one the
 * database has.
 */
export async function migratePostgres(client: ClientBase, migrations: PostgresMigration[] = postgresMigrations()): Promise<MigrationOutcome> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY.toString()]);
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      name        text PRIMARY KEY,
      checksum    text NOT NULL,
      applied_at  timestamptz NOT NULL DEFAULT now()
    )`);
    const recorded = new Map(
      (await client.query<{ name: string; checksum: string }>('SELECT name, checksum FROM schema_migrations')).rows.map((r) => [r.name, r.checksum]),
    );
    const outcome: MigrationOutcome = { applied: [], present: [], unknown: [] };
    const known = new Set(migrations.map((m) => m.name));
    outcome.unknown = [...recorded.keys()].filter((n) => !known.has(n)).sort();
    for (const m of migrations) {
      const checksum = recorded.get(m.name);
      if (checksum !== undefined) {
        if (checksum !== m.checksum) throw new Error(`PostgreSQL migration ${m.name} was applied with other SQL than this gateway's (checksum ${checksum}, file ${m.checksum}): a migration once applied is never edited; add a new one`);
        outcome.present.push(m.name);
        continue;
      }
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)', [m.name, m.checksum]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw new Error(`PostgreSQL migration ${m.name} failed and was rolled back: ${(err as Error).message}`, { cause: err });
      }
      outcome.applied.push(m.name);
    }
    return outcome;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY.toString()]).catch(() => undefined);
  }
}
