/**
 * What a year of records weighs (docs/cluster.md, the sizing plan): taps go through a real gateway (`ciao
 * gateway` in its own process, real MQTT from the load generator, durable ingest), every registration is
 * forwarded to the ONSS emulator and its validity settled, the gateway stops cleanly; then the database is
 * measured table by table with SQLite's dbstat (pages of each table and its indexes, free pages apart):
 * bytes per tap (the `taps` table) and per registration (its context in `registration_contexts` plus the
 * forwarder's `forward_state`; the `registrations` view adds nothing). The same rows are then copied into a
 * real PostgreSQL (simulator/services/local-services.ts) in the gateway's PostgreSQL schema and measured with
 * pg_total_relation_size: what the PostgreSQL adapter will store.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { benchMain, type BenchSize } from '../lib/child-main.ts';
import type { BenchResult, Figure } from '../lib/result.ts';
import { prepareGatewayWorkspace, spawnGateway } from '../lib/targets.ts';
import { runLoad } from '../../simulator/load/index.ts';
import { startEmulator } from '../../simulator/emulator/index.ts';
import { loadOrCreateKeyPair } from '../../simulator/world/keys.ts';
import { createLogger } from '../../shared/logging.ts';
import { serviceMissing, startPostgres } from '../../simulator/services/local-services.ts';
import { migratePostgres, ROWID_COLUMN_TABLES } from '../../gateway/store/postgres/migrate.ts';

const SIZES: Record<BenchSize, { terminals: number; count: number }> = {
  quick: { terminals: 20, count: 20_000 },
  full: { terminals: 20, count: 100_000 },
};

/**
 * The tables a tap and a registration leave behind, with their indexes. A registration is a tap's row (the
 * `registrations` view reads `taps`), its context (shared by the taps of one worker, site and employer) and
 * the forwarder's state.
 */
const TAP_TABLES = ['taps'];
const REGISTRATION_TABLES = ['registration_contexts', 'forward_state'];

interface TableBytes {
  table: string;
  rows: number;
  bytes: number;
}

function sqliteFootprint(path: string, tables: string[]): { tables: TableBytes[]; fileBytes: number; freeBytes: number } {
  const db = new Database(path, { readonly: true });
  try {
    const owner = new Map((db.prepare("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')").all() as Array<{ name: string; tbl_name: string }>).map((r) => [r.name, r.tbl_name]));
    const perObject = db.prepare('SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name').all() as Array<{ name: string; bytes: number }>;
    const byTable = new Map<string, number>();
    for (const o of perObject) {
      // sqlite_autoindex_<table>_N belongs to its table too.
      const table = owner.get(o.name) ?? /^sqlite_autoindex_(.+)_\d+$/.exec(o.name)?.[1] ?? o.name;
      byTable.set(table, (byTable.get(table) ?? 0) + o.bytes);
    }
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    const pages = db.pragma('page_count', { simple: true }) as number;
    const free = db.pragma('freelist_count', { simple: true }) as number;
    return {
      tables: tables.map((t) => ({ table: t, rows: db.prepare(`SELECT COUNT(*) FROM ${t}`).pluck().get() as number, bytes: byTable.get(t) ?? 0 })),
      fileBytes: pages * pageSize,
      freeBytes: free * pageSize,
    };
  } finally {
    db.close();
  }
}

/**
 * The same rows in the gateway's own PostgreSQL schema (gateway/store/postgres/migrations, the schema the
 * PostgreSQL adapter will write): every table SQLite has is copied as it is (SQLite's rowid into the `rowid`
 * column of the three tables that carry one), with triggers and foreign keys off for the copy (replica
 * mode), then VACUUM ANALYZE and pg_total_relation_size (heap, TOAST and indexes) of each measured table.
 */
async function postgresFootprint(path: string, tables: string[]): Promise<TableBytes[]> {
  const server = await startPostgres();
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  const db = new Database(path, { readonly: true });
  try {
    await migratePostgres(client);
    await client.query("SET session_replication_role = 'replica'");
    const inSqlite = new Set((db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]));
    const pgTables = (await client.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations' ORDER BY table_name",
    )).rows.map((r) => r.table_name);
    for (const table of pgTables.filter((t) => inSqlite.has(t))) {
      const pgColumns = (await client.query<{ column_name: string }>("SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1", [table])).rows.map((r) => r.column_name);
      const sqliteColumns = new Set((db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name));
      const names = pgColumns.filter((c) => sqliteColumns.has(c) || (c === 'rowid' && (ROWID_COLUMN_TABLES as readonly string[]).includes(table)));
      const rows = db.prepare(`SELECT ${names.join(', ')} FROM ${table}`).raw().all() as unknown[][];
      // The rows the migrations themselves put in (a version counter, a snapshot marker) give way to SQLite's.
      await client.query(`DELETE FROM ${table}`);
      for (let i = 0; i < rows.length; i += 1000) {
        const chunk = rows.slice(i, i + 1000);
        const params: unknown[] = [];
        const values = chunk.map((r) => `(${r.map((v) => `$${params.push(v)}`).join(', ')})`);
        await client.query(`INSERT INTO ${table} (${names.join(', ')}) OVERRIDING SYSTEM VALUE VALUES ${values.join(', ')}`, params);
      }
    }
    const out: TableBytes[] = [];
    for (const table of tables) {
      await client.query(`VACUUM ANALYZE ${table}`);
      const size = await client.query<{ bytes: string; rows: string }>(`SELECT pg_total_relation_size($1::regclass) AS bytes, (SELECT COUNT(*) FROM ${table}) AS rows`, [table]);
      out.push({ table, rows: Number(size.rows[0]!.rows), bytes: Number(size.rows[0]!.bytes) });
    }
    return out;
  } finally {
    db.close();
    await client.end();
    await server.stop();
  }
}

const sum = (t: TableBytes[]) => t.reduce((n, x) => n + x.bytes, 0);
const perRow = (t: TableBytes[], rows: number) => Math.round(sum(t) / rows);

export async function runStorageFootprint(sizeName: BenchSize): Promise<Omit<BenchResult, 'id' | 'title'>> {
  const size = SIZES[sizeName];
  const ws = await prepareGatewayWorkspace(size.terminals);
  const keys = await loadOrCreateKeyPair(join(ws.dir, 'onss-key.pem'), join(ws.dir, 'onss-key.pub.pem'));
  const emulator = await startEmulator({ host: '127.0.0.1', port: 0, dbPath: join(ws.dir, 'emulator.db'), clients: [{ clientId: 'bench', publicKeyPem: keys.publicKeyPem }], remarksDelayMs: 0, logger: createLogger('emulator', { level: 'silent' }) });
  try {
    const config = JSON.parse(readFileSync(ws.configPath, 'utf8')) as Record<string, unknown>;
    config.onss = { baseUrl: emulator.url, clientId: 'bench', privateKey: join(ws.dir, 'onss-key.pem'), idlePollMs: 50, validityPollIntervalMs: 500 };
    writeFileSync(ws.configPath, JSON.stringify(config));
    const gw = await spawnGateway(ws.configPath);
    const load = await runLoad({ url: `mqtt://127.0.0.1:${gw.mqttPort}`, terminals: ws.terminals, count: size.count, progress: { label: 'storage footprint' } });
    if (load.unacked > 0) throw new Error(`${load.unacked} taps were not acked`);
    // Every registration created at ONSS and its validity settled: the rows as they stay for years.
    const reader = new Database(ws.databasePath, { readonly: true });
    try {
      for (;;) {
        const s = reader.prepare(`SELECT (SELECT COUNT(*) FROM registrations) AS regs,
          (SELECT COUNT(*) FROM forward_state WHERE state = 'created' AND validity <> 'pending') AS settled`).get() as { regs: number; settled: number };
        if (s.regs >= size.count && s.settled === s.regs) break;
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      reader.close();
    }
    await gw.process.stop(15_000);

    const sqlite = sqliteFootprint(ws.databasePath, [...TAP_TABLES, ...REGISTRATION_TABLES]);
    const taps = sqlite.tables.find((t) => t.table === 'taps')!.rows;
    const counter = new Database(ws.databasePath, { readonly: true });
    const regs = counter.prepare('SELECT COUNT(*) FROM registrations').pluck().get() as number;
    counter.close();
    const tapTables = sqlite.tables.filter((t) => TAP_TABLES.includes(t.table));
    const regTables = sqlite.tables.filter((t) => REGISTRATION_TABLES.includes(t.table));
    const figures: Figure[] = [
      { name: 'SQLite bytes per tap (taps table and indexes)', value: perRow(tapTables, taps), unit: 'B', note: `${taps.toLocaleString('en-US')} taps through a real gateway` },
      { name: 'SQLite bytes per registration (its context and forward_state, indexes)', value: perRow(regTables, regs), unit: 'B', note: `${regs.toLocaleString('en-US')} registrations, each created at the emulator and its validity settled` },
      { name: 'SQLite database file per tap (everything)', value: Math.round(sqlite.fileBytes / taps), unit: 'B', note: `${sqlite.fileBytes.toLocaleString('en-US')} bytes after a clean stop, ${sqlite.freeBytes.toLocaleString('en-US')} of them free pages` },
    ];
    const missing = serviceMissing('postgresql');
    let postgres: TableBytes[] | undefined;
    if (missing) {
      figures.push({ name: 'PostgreSQL bytes per tap (same rows and indexes)', value: null, unit: 'B', note: missing });
      figures.push({ name: 'PostgreSQL bytes per registration (same rows and indexes)', value: null, unit: 'B', note: missing });
    } else {
      postgres = await postgresFootprint(ws.databasePath, [...TAP_TABLES, ...REGISTRATION_TABLES]);
      figures.push({ name: 'PostgreSQL bytes per tap (same rows and indexes)', value: perRow(postgres.filter((t) => TAP_TABLES.includes(t.table)), taps), unit: 'B', note: "pg_total_relation_size after VACUUM ANALYZE, in the gateway's PostgreSQL schema" });
      figures.push({ name: 'PostgreSQL bytes per registration (same rows and indexes)', value: perRow(postgres.filter((t) => REGISTRATION_TABLES.includes(t.table)), regs), unit: 'B', note: 'registration_contexts and forward_state, with their keys and indexes' });
    }
    return { status: 'ok', figures, details: { sqlite, postgres, load: { acked: load.stored, tapsPerSecond: load.storedPerSecond } } };
  } finally {
    await emulator.stop();
    await ws.remove();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchMain('storage-footprint', 'what a tap and a registration weigh on disk', runStorageFootprint);
}
