import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Opens a SQLite file the way every durable store of the product needs it: WAL, `synchronous=FULL`
 * (a commit survives power loss once the call returns), and the file private to its user (0600),
 * because the gateway's database holds NISS numbers.
 */
export type Db = Database.Database;

export interface OpenOptions {
  /** FULL for anything acked to someone; NORMAL only for caches that can be rebuilt. */
  synchronous?: 'FULL' | 'NORMAL' | 'OFF';
  readonly?: boolean;
  busyTimeoutMs?: number;
}

export function openDatabase(path: string, options: OpenOptions = {}): Db {
  if (path !== ':memory:' && !options.readonly) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // Create the file ourselves with 0600 before SQLite opens it, so there is no moment it is world-readable.
    if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
    chmodSync(path, 0o600);
  }
  const db = new Database(path, { readonly: options.readonly ?? false });
  db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
  if (!options.readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
    db.pragma('foreign_keys = ON');
    for (const suffix of ['-wal', '-shm']) {
      if (existsSync(path + suffix)) chmodSync(path + suffix, 0o600);
    }
  }
  return db;
}

/** Applies numbered migrations once each, recorded in `schema_migrations` under a component name. */
export function migrate(db: Db, component: string, migrations: string[]): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, version INTEGER NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (component, version))');
  const applied = new Set(
    (db.prepare('SELECT version FROM schema_migrations WHERE component = ?').all(component) as Array<{ version: number }>).map((r) => r.version),
  );
  const record = db.prepare('INSERT INTO schema_migrations (component, version, applied_at) VALUES (?, ?, ?)');
  migrations.forEach((sql, i) => {
    const version = i + 1;
    if (applied.has(version)) return;
    db.transaction(() => {
      db.exec(sql);
      record.run(component, version, new Date().toISOString());
    })();
  });
}
