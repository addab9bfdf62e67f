import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { openGatewayDatabase, type Db } from '../../gateway/store/database.ts';
import { migrate } from '../../shared/sqlite.ts';
import { FORWARD_MIGRATIONS } from '../../gateway/forward/schema.ts';
import { MIGRATION_LOCK_KEY, migratePostgres, postgresMigrations, ROWID_COLUMN_TABLES } from '../../gateway/store/postgres/migrate.ts';
import { serviceMissing, startPostgres, type LocalPostgres } from '../../simulator/services/local-services.ts';

/**
 * The gateway's schema on PostgreSQL (gateway/store/postgres/) against SQLite's, both read from the
 * databases themselves: SQLite's built by openGatewayDatabase (and the forwarder's migrations, which run on
 * the same file), PostgreSQL's by migratePostgres on a real server.
 *
 * The rules the comparison holds (docs/cluster.md, "The schema on PostgreSQL"):
 * - the same tables and view, except the bookkeeping ones (`schema_migrations` on both, SQLite's own
 *   `sqlite_sequence`) and SQLite's `forwarder_lease`, which the forwarder does not create there;
 * - per table the same columns in the same order, with compatible types (INTEGER: smallint, integer or
 *   bigint; TEXT: text; REAL: double precision; BLOB: bytea), the same NOT NULL (a primary-key column counts
 *   as NOT NULL on SQLite, which lets some hold NULL by an old bug, as it must on PostgreSQL), the same
 *   defaults, primary key, unique constraints, foreign keys and number of CHECK constraints; plus a `rowid`
 *   identity column in the tables whose SQLite rowid the gateway reads (ROWID_COLUMN_TABLES);
 * - the same named indexes: table, columns in order, uniqueness and partial WHERE;
 * - for every SQLite trigger, a PostgreSQL trigger of the same name on the same table or view, row-level,
 *   with the same timing, event, UPDATE OF columns, and a WHEN condition where SQLite has one; PostgreSQL
 *   has two more, which refuse a TRUNCATE (SQLite has none) that would take registrations with it;
 * - the triggers behave the same, and the constraints refuse the same: the cases below run the same statements
 *   on both, a trigger's refusal compared by its message, a constraint's by its kind (check, foreign key,
 *   unique, not null), each database wording its own.
 */

const noPostgres = serviceMissing('postgresql');
if (noPostgres) console.warn(`\n!!! SKIPPING the PostgreSQL schema tests: PostgreSQL is ${noPostgres}. They run (and must pass) under CI=true. !!!\n`);

type Row = Record<string, unknown>;

const dir = mkdtempSync(join(tmpdir(), 'ciao-pg-schema-'));
/** SQLite's schema as the gateway and its forwarder make it. */
function openReference(file: string): Db {
  const db = openGatewayDatabase(join(dir, file));
  migrate(db, 'forward', FORWARD_MIGRATIONS);
  return db;
}
const lite = openReference('gateway.db');
afterAll(() => {
  lite.close();
  rmSync(dir, { recursive: true, force: true });
});

const BOOKKEEPING = new Set(['schema_migrations', 'sqlite_sequence']);

// ---------------------------------------------------------------------------------------------------------
// Reading SQLite's schema

interface Column { name: string; family: string; notNull: boolean; dflt: string | null }
interface TableShape { columns: Column[]; primaryKey: string[]; unique: string[]; foreignKeys: string[]; checks: number }
interface IndexShape { table: string; unique: boolean; columns: string[]; where: string | null }
interface TriggerShape { table: string; timing: string; event: string; updateOf: string[]; when: boolean }

function familyOf(declared: string): string {
  const t = declared.toLowerCase();
  if (['integer', 'bigint', 'smallint'].includes(t)) return 'integer';
  if (t === 'text') return 'text';
  if (['real', 'double precision'].includes(t)) return 'real';
  if (['blob', 'bytea'].includes(t)) return 'blob';
  return `unmapped:${t}`;
}

/** A default or a predicate as either database writes it, without casts, parentheses, case or spacing. */
function normalise(expr: string | null): string | null {
  if (expr === null) return null;
  return expr.replace(/::[a-z ]+(\[\])?/g, '').replace(/[()]/g, '').replace(/\s+/g, ' ').trim().toLowerCase();
}

const ON_DELETE: Record<string, string> = { 'NO ACTION': 'no action', CASCADE: 'cascade', RESTRICT: 'restrict', 'SET NULL': 'set null', 'SET DEFAULT': 'set default' };

function sqliteTables(db: Db): Map<string, TableShape> {
  const names = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[]).filter((n) => !BOOKKEEPING.has(n));
  const out = new Map<string, TableShape>();
  for (const name of names) {
    const info = db.prepare(`PRAGMA table_info(${name})`).all() as Array<{ name: string; type: string; notnull: number; dflt_value: string | null; pk: number }>;
    const columns = info.map((c) => ({ name: c.name, family: familyOf(c.type), notNull: c.notnull === 1 || c.pk > 0, dflt: normalise(c.dflt_value) }));
    const primaryKey = info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
    const indexes = db.prepare(`PRAGMA index_list(${name})`).all() as Array<{ name: string; origin: string }>;
    const unique = indexes
      .filter((i) => i.origin === 'u')
      .map((i) => (db.prepare(`PRAGMA index_info(${i.name})`).all() as Array<{ seqno: number; name: string }>).sort((a, b) => a.seqno - b.seqno).map((c) => c.name).join(','))
      .sort();
    const fkRows = db.prepare(`PRAGMA foreign_key_list(${name})`).all() as Array<{ id: number; seq: number; table: string; from: string; to: string; on_delete: string }>;
    const foreignKeys = [...new Set(fkRows.map((f) => f.id))]
      .map((id) => {
        const parts = fkRows.filter((f) => f.id === id).sort((a, b) => a.seq - b.seq);
        return `(${parts.map((p) => p.from).join(',')}) -> ${parts[0]!.table}(${parts.map((p) => p.to).join(',')}) on delete ${ON_DELETE[parts[0]!.on_delete]}`;
      })
      .sort();
    const sql = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").pluck().get(name) as string;
    const checks = (sql.match(/\bCHECK\s*\(/gi) ?? []).length;
    out.set(name, { columns, primaryKey, unique, foreignKeys, checks });
  }
  return out;
}

function sqliteIndexes(db: Db): Map<string, IndexShape> {
  // Named indexes only: the automatic ones of a PRIMARY KEY or UNIQUE are compared as those constraints.
  const rows = db.prepare("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name").all() as Array<{ name: string; tbl_name: string; sql: string }>;
  return new Map(rows.map((r) => {
    const columns = (db.prepare(`PRAGMA index_info(${r.name})`).all() as Array<{ seqno: number; name: string }>).sort((a, b) => a.seqno - b.seqno).map((c) => c.name);
    const where = /\bWHERE\b([\s\S]*)$/i.exec(r.sql)?.[1] ?? null;
    return [r.name, { table: r.tbl_name, unique: /^CREATE\s+UNIQUE\b/i.test(r.sql), columns, where: normalise(where) }];
  }));
}

const TRIGGER_HEAD = /^CREATE\s+TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)\s+(BEFORE|AFTER|INSTEAD\s+OF)\s+(INSERT|UPDATE|DELETE|TRUNCATE)(?:\s+OF\s+([\w,\s]+?))?\s+ON\s+(?:public\.)?(\w+)\s+([\s\S]*)$/i;

function parseTrigger(sql: string, whenBefore: RegExp): [string, TriggerShape] {
  const m = TRIGGER_HEAD.exec(sql.trim());
  if (!m) throw new Error(`cannot read the trigger ${sql}`);
  const [, name, timing, event, of, table, rest] = m;
  const head = rest!.split(whenBefore)[0]!;
  return [name!, {
    table: table!,
    timing: timing!.toUpperCase().replace(/\s+/g, ' '),
    event: event!.toUpperCase(),
    updateOf: of ? of.split(',').map((c) => c.trim()).sort() : [],
    when: /\bWHEN\b/i.test(head),
  }];
}

function sqliteTriggers(db: Db): Map<string, TriggerShape> {
  const sqls = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name").pluck().all() as string[];
  return new Map(sqls.map((s) => parseTrigger(s, /\bBEGIN\b/i)));
}

// ---------------------------------------------------------------------------------------------------------
// Reading PostgreSQL's schema

async function pgTables(c: pg.Client): Promise<{ tables: Map<string, TableShape>; rowid: Map<string, string> }> {
  const cols = await c.query<{ tbl: string; name: string; type: string; notnull: boolean; dflt: string | null; identity: string }>(`
    SELECT t.relname AS tbl, a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS notnull,
           pg_get_expr(d.adbin, d.adrelid) AS dflt, a.attidentity::text AS identity
      FROM pg_attribute a
      JOIN pg_class t ON t.oid = a.attrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE n.nspname = 'public' AND t.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
     ORDER BY t.relname, a.attnum`);
  const cons = await c.query<{ tbl: string; type: string; columns: string[]; ref_table: string | null; ref_columns: string[] | null; on_delete: string }>(`
    SELECT t.relname AS tbl, con.contype::text AS type,
           array(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
                   JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord) AS columns,
           r.relname::text AS ref_table,
           CASE WHEN con.contype = 'f' THEN array(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
                   JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord) END AS ref_columns,
           con.confdeltype::text AS on_delete
      FROM pg_constraint con
      JOIN pg_class t ON t.oid = con.conrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace
      LEFT JOIN pg_class r ON r.oid = con.confrelid
     WHERE n.nspname = 'public'`);
  const deleteRule: Record<string, string> = { a: 'no action', c: 'cascade', r: 'restrict', n: 'set null', d: 'set default' };
  const tables = new Map<string, TableShape>();
  const rowid = new Map<string, string>();
  for (const col of cols.rows) {
    if (BOOKKEEPING.has(col.tbl)) continue;
    let shape = tables.get(col.tbl);
    if (!shape) tables.set(col.tbl, (shape = { columns: [], primaryKey: [], unique: [], foreignKeys: [], checks: 0 }));
    if (col.name === 'rowid') {
      rowid.set(col.tbl, `${col.type} identity ${col.identity === 'a' ? 'always' : col.identity === 'd' ? 'by default' : 'none'}`);
      continue;
    }
    // An identity column's default is its sequence, which SQLite's rowid gives without one.
    shape.columns.push({ name: col.name, family: familyOf(col.type), notNull: col.notnull, dflt: normalise(col.dflt) });
  }
  for (const con of cons.rows) {
    const shape = tables.get(con.tbl);
    if (!shape) continue;
    if (con.type === 'p') shape.primaryKey = con.columns;
    else if (con.type === 'u') {
      if (con.columns.join(',') === 'rowid') rowid.set(con.tbl, `${rowid.get(con.tbl)} unique`);
      else shape.unique.push(con.columns.join(','));
    } else if (con.type === 'f') shape.foreignKeys.push(`(${con.columns.join(',')}) -> ${con.ref_table}(${con.ref_columns!.join(',')}) on delete ${deleteRule[con.on_delete]}`);
    else if (con.type === 'c') shape.checks += 1;
  }
  for (const shape of tables.values()) {
    shape.unique.sort();
    shape.foreignKeys.sort();
  }
  return { tables, rowid };
}

async function pgIndexes(c: pg.Client): Promise<Map<string, IndexShape>> {
  const r = await c.query<{ name: string; tbl: string; is_unique: boolean; columns: string[]; predicate: string | null }>(`
    SELECT i.relname::text AS name, t.relname::text AS tbl, ix.indisunique AS is_unique,
           array(SELECT a.attname::text FROM unnest(ix.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
                   JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum ORDER BY k.ord) AS columns,
           pg_get_expr(ix.indpred, ix.indrelid) AS predicate
      FROM pg_index ix
      JOIN pg_class i ON i.oid = ix.indexrelid
      JOIN pg_class t ON t.oid = ix.indrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace
     WHERE n.nspname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = ix.indexrelid)
     ORDER BY 1`);
  return new Map(r.rows.map((x) => [x.name, { table: x.tbl, unique: x.is_unique, columns: x.columns, where: normalise(x.predicate) }]));
}

async function pgTriggers(c: pg.Client): Promise<Map<string, TriggerShape & { rowLevel: boolean }>> {
  const r = await c.query<{ def: string }>(`
    SELECT pg_get_triggerdef(tg.oid) AS def FROM pg_trigger tg
      JOIN pg_class t ON t.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = t.relnamespace
     WHERE n.nspname = 'public' AND NOT tg.tgisinternal`);
  return new Map(r.rows.map((x) => {
    const [name, shape] = parseTrigger(x.def, /\bEXECUTE\b/i);
    return [name, { ...shape, rowLevel: /\bFOR EACH ROW\b/i.test(x.def) }];
  }));
}

async function viewColumns(c: pg.Client, view: string): Promise<string[]> {
  const r = await c.query<{ name: string }>('SELECT column_name::text AS name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position', ['public', view]);
  return r.rows.map((x) => x.name);
}

// ---------------------------------------------------------------------------------------------------------
// The same statements on both databases

/** int8 and numeric come back from PostgreSQL as strings, booleans as booleans: read both as SQLite gives them. */
function fromPg(result: pg.QueryResult<Row>): Row[] {
  const numeric = new Set(result.fields.filter((f) => f.dataTypeID === 20 || f.dataTypeID === 1700).map((f) => f.name));
  return result.rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => {
    if (v === null) return [k, v];
    if (numeric.has(k)) return [k, Number(v)];
    if (typeof v === 'boolean') return [k, v ? 1 : 0];
    return [k, v];
  })));
}

/** The kind of constraint that refused a statement, as either database names it. */
type Rule = 'check' | 'foreign key' | 'unique' | 'not null' | 'other';
const SQLITE_RULES: Record<string, Rule> = {
  SQLITE_CONSTRAINT_CHECK: 'check', SQLITE_CONSTRAINT_FOREIGNKEY: 'foreign key', SQLITE_CONSTRAINT_UNIQUE: 'unique',
  SQLITE_CONSTRAINT_PRIMARYKEY: 'unique', SQLITE_CONSTRAINT_NOTNULL: 'not null',
};
const PG_RULES: Record<string, Rule> = { 23514: 'check', 23503: 'foreign key', 23505: 'unique', 23502: 'not null' };

/** What a statement did: it ran, or it was refused with this message by this kind of constraint. */
type Outcome = 'ran' | { message: string; rule: Rule };

/** What a case expects of its last statement: it runs, a trigger refuses it with this message, or a constraint of this kind. */
type Expected = 'ran' | { refused: string } | { violates: Rule };

/** An outcome as a case compares it: the message of a trigger's refusal (the same text on both), the kind of a constraint's. */
function asExpected(o: Outcome, expected: Expected): Expected {
  if (o === 'ran') return 'ran';
  return typeof expected === 'object' && 'violates' in expected ? { violates: o.rule } : { refused: o.message };
}

interface Side {
  run(sql: string): Promise<Outcome>;
  read(sql: string): Promise<Row[]>;
}

function sqliteSide(db: Db): Side {
  return {
    run(sql) {
      db.exec('SAVEPOINT act');
      try {
        db.prepare(sql).run();
        db.exec('RELEASE act');
        return Promise.resolve('ran');
      } catch (err) {
        db.exec('ROLLBACK TO act');
        db.exec('RELEASE act');
        const e = err as Error & { code?: string };
        return Promise.resolve({ message: e.message, rule: SQLITE_RULES[e.code ?? ''] ?? 'other' });
      }
    },
    read: (sql) => Promise.resolve(db.prepare(sql).all() as Row[]),
  };
}

function pgSide(c: pg.Client): Side {
  return {
    async run(sql) {
      await c.query('SAVEPOINT act');
      try {
        await c.query(sql);
        await c.query('RELEASE act');
        return 'ran';
      } catch (err) {
        await c.query('ROLLBACK TO act');
        await c.query('RELEASE act');
        const e = err as Error & { code?: string };
        return { message: e.message, rule: PG_RULES[e.code ?? ''] ?? 'other' };
      }
    },
    read: async (sql) => fromPg(await c.query<Row>(sql)),
  };
}

/** One query after the other: a pg client runs one at a time. */
async function readAll(side: Side, queries: string[]): Promise<Row[][]> {
  const out: Row[][] = [];
  for (const q of queries) out.push(await side.read(q));
  return out;
}

const T0 = '2026-12-01T08:00:00.000Z';

/** Committed on both before the cases: what the rows of the cases refer to. */
const FIXTURE = [
  `INSERT INTO companies (id, kind, name, created_at) VALUES ('0123456789', 'enterprise', 'Net et Propre', '${T0}'), ('0987654321', 'enterprise', 'Interim Plus', '${T0}')`,
  `INSERT INTO sites (id, name, language, post_code, created_at) VALUES ('site-1', 'Gare du Nord', 'fr', '1210', '${T0}')`,
  `INSERT INTO declarations (number, site_id, valid_from, created_at) VALUES ('D000000000001', 'site-1', '2026-12-01', '${T0}')`,
  `INSERT INTO terminals (id, site_id, secret_hash, created_at, secret_rotated_at) VALUES ('term-1', 'site-1', 'scrypt$1', '${T0}', '${T0}'), ('term-2', 'site-1', 'scrypt$2', '${T0}', '${T0}')`,
  `INSERT INTO workers (id, ssin, name, capacity, created_at) VALUES ('w-1', '90010100012', 'Worker One', 'employee', '${T0}')`,
  `INSERT INTO releases (version, sha256, size, signed, key_id, file, uploaded_at, uploaded_by) VALUES ('1.2.0', 'ab12', 1048576, '{}', 'k1', 'ciao-1.2.0.tgz', '${T0}', 'admin')`,
];

function registration(tapId: string, more: { seq?: number; at?: string; atUtc?: string; employer?: string } = {}): string {
  const at = more.at ?? '2026-12-02T07:59:58+01:00';
  const atUtc = more.atUtc ?? '2026-12-02T06:59:58Z';
  return `INSERT INTO registrations (${more.seq === undefined ? '' : 'seq, '}tap_id, terminal_id, site_id, worker_id, type, reason, at, at_utc, ssin, limosa_id, capacity,
      employer_kind, employer_id, declaration, place_of_work, received_at)
    VALUES (${more.seq === undefined ? '' : `${more.seq}, `}'${tapId}', 'term-1', 'site-1', 'w-1', 'IN', 'work', '${at}', '${atUtc}', '90010100012', NULL, 'employee',
      'enterprise', '${more.employer ?? '0123456789'}', 'D000000000001', '{"address":{"street":"Rue du Progres"}}', '2026-12-02T07:00:01.125Z')`;
}

const HELD_TAP = `INSERT INTO taps (tap_id, terminal_id, site_id, seq, badge, direction, reason, at, received_at, enrichment, worker_id)
  VALUES ('tap-held', 'term-1', 'site-1', 7, '04A1B2C3D4E5F6', 'IN', 'work', '2026-12-02T08:00:00+01:00', '2026-12-02T07:00:02.500Z', 'unknown-badge', NULL)`;

const tapColumns = (lite.prepare('PRAGMA table_info(taps)').all() as Array<{ name: string }>).map((c) => c.name).join(', ');
const READ_TAPS = `SELECT ${tapColumns} FROM taps ORDER BY tap_id`;
const READ_REGISTRATIONS = 'SELECT * FROM registrations ORDER BY seq';
const READ_CONTEXTS = 'SELECT * FROM registration_contexts ORDER BY id';
const READ_VERSION = 'SELECT version FROM site_data_version';
const READ_CERTIFICATES = `SELECT serial, revoked_reason,
  CASE WHEN revoked_at LIKE '____-__-__T__:__:__.___Z' THEN 'a UTC time in ms' ELSE revoked_at END AS revoked_at
  FROM terminal_certificates ORDER BY serial`;

/**
 * A case: `setup` runs on both and must run; then each statement of `act` runs on both and must have the
 * same outcome on both; the last one's outcome is `expect`'s. `read` gives the same rows on both afterwards;
 * `writes` says whether those rows changed from what they were before `act` (on SQLite), so a case proves it
 * exercised something.
 */
interface TriggerCase {
  name: string;
  triggers: string[];
  setup?: string[];
  act: string[];
  expect: Expected;
  writes: boolean;
  read: string[];
}

const TAP_READS = [READ_TAPS, READ_REGISTRATIONS, READ_CONTEXTS];

const REGISTRATION_CASES: TriggerCase[] = [
  {
    name: 'registrations of taps never stored get rows of their own, numbered in order; a known context is reused, a new one numbered next',
    triggers: ['registrations_insert'],
    act: [registration('tap-1'), registration('tap-2', { at: '2026-12-02T08:10:00+01:00', atUtc: '2026-12-02T07:10:00Z' }), registration('tap-3', { employer: '0987654321' })],
    expect: 'ran', writes: true, read: TAP_READS,
  },
  {
    name: 'a held tap gets its registration in its own row, with a given number, its true time kept apart when it differs from the tap\'s',
    triggers: ['registrations_insert'],
    setup: [HELD_TAP],
    act: [registration('tap-held', { seq: 41, at: '2026-12-02T07:00:00+01:00', atUtc: '2026-12-02T06:00:00.750Z' })],
    expect: 'ran', writes: true, read: TAP_READS,
  },
  {
    name: 'a second registration of the same tap is refused',
    triggers: ['registrations_insert'],
    setup: [registration('tap-1')],
    act: [registration('tap-1', { employer: '0987654321' })],
    expect: { refused: 'UNIQUE constraint failed: registrations.tap_id' }, writes: false, read: TAP_READS,
  },
  {
    name: 'a registration context cannot be deleted',
    triggers: ['registration_contexts_kept'],
    setup: [registration('tap-1')],
    act: ["DELETE FROM registration_contexts WHERE employer_id = '0123456789'"],
    expect: { refused: 'a registration context cannot be deleted' }, writes: false, read: TAP_READS,
  },
  {
    name: 'a registration context cannot be changed',
    triggers: ['registration_contexts_frozen'],
    setup: [registration('tap-1')],
    act: ["UPDATE registration_contexts SET declaration = 'D000000000009'"],
    expect: { refused: 'a registration context cannot be changed' }, writes: false, read: TAP_READS,
  },
  {
    name: 'a registered tap cannot be deleted',
    triggers: ['taps_registration_kept'],
    setup: [registration('tap-1')],
    act: ["DELETE FROM taps WHERE tap_id = 'tap-1'"],
    expect: { refused: 'a registration cannot be deleted' }, writes: false, read: TAP_READS,
  },
  {
    name: 'a held tap can be deleted',
    triggers: ['taps_registration_kept'],
    setup: [registration('tap-1'), HELD_TAP],
    act: ["DELETE FROM taps WHERE tap_id = 'tap-held'"],
    expect: 'ran', writes: true, read: TAP_READS,
  },
  {
    name: 'a registered tap\'s columns outside its registration can change',
    triggers: ['taps_registration_frozen'],
    setup: [registration('tap-1')],
    act: ["UPDATE taps SET enrichment_detail = 'checked', badge = '04FFEEDDCCBBAA', local_at = '2026-12-02T07:59:58' WHERE tap_id = 'tap-1'"],
    expect: 'ran', writes: true, read: TAP_READS,
  },
  {
    name: 'a registered tap\'s registration columns may be written with the values they have',
    triggers: ['taps_registration_frozen'],
    setup: [registration('tap-1')],
    act: ["UPDATE taps SET at = at, reg_seq = reg_seq, ssin = ssin, reg_at = NULL WHERE tap_id = 'tap-1'"],
    expect: 'ran', writes: false, read: TAP_READS,
  },
  {
    name: 'a held tap\'s columns can all change',
    triggers: ['taps_registration_frozen'],
    setup: [HELD_TAP],
    act: ["UPDATE taps SET at = '2026-12-02T08:00:01+01:00', worker_id = 'w-1', site_id = NULL, direction = 'OUT' WHERE tap_id = 'tap-held'"],
    expect: 'ran', writes: true, read: TAP_READS,
  },
];

/** One case per column SQLite's taps_registration_frozen guards (its UPDATE OF list, read from SQLite). */
function frozenColumnCases(): TriggerCase[] {
  const sql = lite.prepare("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'taps_registration_frozen'").pluck().get() as string;
  const types = new Map((lite.prepare('PRAGMA table_info(taps)').all() as Array<{ name: string; type: string }>).map((c) => [c.name, c.type]));
  return parseTrigger(sql, /\bBEGIN\b/i)[1].updateOf.map((column) => ({
    name: `a registered tap's ${column} cannot change`,
    triggers: ['taps_registration_frozen'],
    setup: [registration('tap-1')],
    act: [`UPDATE taps SET ${column} = ${types.get(column) === 'INTEGER' ? '987' : "'changed'"} WHERE tap_id = 'tap-1'`],
    expect: { refused: 'a registration cannot be changed' }, writes: false, read: TAP_READS,
  }));
}

const CERTIFICATE = (serial: string, terminal: string, revoked: string | null) =>
  `INSERT INTO terminal_certificates (serial, terminal_id, fingerprint, not_before, not_after, issued_at, issued_for, revoked_at, revoked_reason)
   VALUES ('${serial}', '${terminal}', 'f${serial}', '${T0}', '2027-12-01T08:00:00.000Z', '${T0}', 'pairing', ${revoked ? `'${revoked}', 'renewed'` : 'NULL, NULL'})`;

const FLEET_CASES: TriggerCase[] = [
  {
    name: 'disabling a terminal revokes its certificates not yet revoked, and no other terminal\'s',
    triggers: ['terminal_certificates_revoke_on_disable'],
    setup: [CERTIFICATE('A1', 'term-1', null), CERTIFICATE('A2', 'term-1', '2026-11-30T10:00:00.000Z'), CERTIFICATE('B1', 'term-2', null)],
    act: ["UPDATE terminals SET disabled = 1 WHERE id = 'term-1'"],
    expect: 'ran', writes: true, read: [READ_CERTIFICATES, READ_VERSION],
  },
  {
    name: 'a terminal disabled already, or a change of another setting, revokes nothing',
    triggers: ['terminal_certificates_revoke_on_disable'],
    setup: ["UPDATE terminals SET disabled = 1 WHERE id = 'term-1'", CERTIFICATE('A3', 'term-1', null), CERTIFICATE('B2', 'term-2', null)],
    act: ["UPDATE terminals SET disabled = 1 WHERE id = 'term-1'", "UPDATE terminals SET debounce_seconds = 30 WHERE id = 'term-2'"],
    expect: 'ran', writes: true, read: [READ_CERTIFICATES, READ_VERSION],
  },
];

/**
 * Two rows of each table whose writes bump site_data_version: inserted, updated, deleted in one statement
 * each, so a row-level trigger bumps twice where a statement-level one would bump once.
 */
const VERSIONED_ROWS: Record<string, { insert: string; update: string; delete: string }> = {
  companies: {
    insert: `INSERT INTO companies (id, kind, name, created_at) VALUES ('0555555555', 'enterprise', 'A', '${T0}'), ('FR123', 'foreign', 'B', '${T0}')`,
    update: "UPDATE companies SET deactivated_at = '2026-12-02' WHERE id IN ('0555555555', 'FR123')",
    delete: "DELETE FROM companies WHERE id IN ('0555555555', 'FR123')",
  },
  sites: {
    insert: `INSERT INTO sites (id, name, language, post_code, latitude, longitude, created_at) VALUES ('site-2', 'A', 'nl', '2000', NULL, NULL, '${T0}'), ('site-3', 'B', 'de', NULL, 50.5, 4.25, '${T0}')`,
    update: "UPDATE sites SET require_secure_badges = 1 WHERE id IN ('site-2', 'site-3')",
    delete: "DELETE FROM sites WHERE id IN ('site-2', 'site-3')",
  },
  declarations: {
    insert: `INSERT INTO declarations (number, site_id, valid_from, created_at) VALUES ('D000000000002', 'site-1', '2026-12-01', '${T0}'), ('D000000000003', 'site-1', '2026-12-01', '${T0}')`,
    update: "UPDATE declarations SET valid_to = '2026-12-31' WHERE number IN ('D000000000002', 'D000000000003')",
    delete: "DELETE FROM declarations WHERE number IN ('D000000000002', 'D000000000003')",
  },
  declaration_companies: {
    insert: "INSERT INTO declaration_companies (declaration, company_id, rank) VALUES ('D000000000001', '0123456789', 0), ('D000000000001', '0987654321', 1)",
    update: "UPDATE declaration_companies SET rank = rank + 1 WHERE declaration = 'D000000000001'",
    delete: "DELETE FROM declaration_companies WHERE declaration = 'D000000000001'",
  },
  terminals: {
    insert: `INSERT INTO terminals (id, site_id, secret_hash, created_at, secret_rotated_at) VALUES ('term-3', 'site-1', 's', '${T0}', '${T0}'), ('term-4', NULL, 's', '${T0}', '${T0}')`,
    update: "UPDATE terminals SET config_version = config_version + 1, language = 'nl' WHERE id IN ('term-3', 'term-4')",
    delete: "DELETE FROM terminals WHERE id IN ('term-3', 'term-4')",
  },
  workers: {
    insert: `INSERT INTO workers (id, ssin, limosa_id, name, capacity, created_at) VALUES ('w-2', '91020200024', NULL, 'Two', 'employee', '${T0}'), ('w-3', NULL, 'L-2026-1', 'Three', 'self-employed', '${T0}')`,
    update: "UPDATE workers SET name = name || ' (corrected)' WHERE id IN ('w-2', 'w-3')",
    delete: "DELETE FROM workers WHERE id IN ('w-2', 'w-3')",
  },
  worker_employers: {
    insert: "INSERT INTO worker_employers (worker_id, company_id) VALUES ('w-1', '0987654321'), ('w-1', '0123456789')",
    update: "UPDATE worker_employers SET company_id = company_id WHERE worker_id = 'w-1'",
    delete: "DELETE FROM worker_employers WHERE worker_id = 'w-1'",
  },
  badges: {
    insert: `INSERT INTO badges (uid, worker_id, valid_from, created_at, kind, key_version) VALUES ('04AAAAAAAAAAAA', 'w-1', '2026-12-01', '${T0}', 'uid-only', NULL), ('04BBBBBBBBBBBB', 'w-1', '2026-12-01', '${T0}', 'secure', 1)`,
    update: "UPDATE badges SET revoked_at = '2026-12-02T09:00:00.000Z', revoked_reason = 'lost' WHERE worker_id = 'w-1'",
    delete: "DELETE FROM badges WHERE worker_id = 'w-1'",
  },
  agency_placements: {
    insert: `INSERT INTO agency_placements (id, worker_id, agency_id, user_company_id, valid_from, created_at) VALUES ('p-2', 'w-1', '0987654321', '0123456789', '2026-12-01', '${T0}'), ('p-1', 'w-1', '0987654321', '0123456789', '2026-11-01', '${T0}')`,
    update: "UPDATE agency_placements SET valid_to = '2026-12-31' WHERE worker_id = 'w-1'",
    delete: "DELETE FROM agency_placements WHERE worker_id = 'w-1'",
  },
  terminal_certificates: {
    insert: `${CERTIFICATE('C1', 'term-1', null)}, ('C2', 'term-2', 'fC2', '${T0}', '2027-12-01T08:00:00.000Z', '${T0}', 'renewal', NULL, NULL)`,
    update: "UPDATE terminal_certificates SET revoked_at = '2026-12-02T09:00:00.000Z', revoked_reason = 'operator' WHERE serial IN ('C1', 'C2')",
    delete: "DELETE FROM terminal_certificates WHERE serial IN ('C1', 'C2')",
  },
  release_targets: {
    insert: `INSERT INTO release_targets (terminal_id, version, rollout, assigned_at, assigned_by) VALUES ('term-1', '1.2.0', 1, '${T0}', 'admin'), ('term-2', '1.2.0', 1, '${T0}', 'admin')`,
    update: "UPDATE release_targets SET rollout = 2 WHERE version = '1.2.0'",
    delete: "DELETE FROM release_targets WHERE version = '1.2.0'",
  },
};

/** The rows of a table in the order the gateway reads them (its rowid where it reads that). */
function readOrdered(table: string): string {
  const columns = (lite.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name);
  const order = (ROWID_COLUMN_TABLES as readonly string[]).includes(table) ? 'rowid' : columns.join(', ');
  return `SELECT ${columns.join(', ')} FROM ${table} ORDER BY ${order}`;
}

/** One case per counter trigger SQLite has (`<table>_<insert|update|delete>_version`, read from SQLite). */
function versionCases(): TriggerCase[] {
  const names = lite.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%UPDATE site_data_version SET version = version + 1%' ORDER BY name").pluck().all() as string[];
  return names.map((trigger) => {
    const m = /^(\w+)_(insert|update|delete)_version$/.exec(trigger);
    if (!m) throw new Error(`the counter trigger ${trigger} does not follow <table>_<operation>_version`);
    const [, table, op] = m as unknown as [string, string, 'insert' | 'update' | 'delete'];
    const rows = VERSIONED_ROWS[table];
    if (!rows) throw new Error(`no rows to write in ${table} for its trigger ${trigger}: add them to VERSIONED_ROWS`);
    return {
      name: `${op === 'insert' ? 'inserting' : op === 'update' ? 'updating' : 'deleting'} two rows of ${table} bumps site_data_version twice`,
      triggers: [trigger],
      setup: op === 'insert' ? [] : [rows.insert],
      act: [rows[op]],
      expect: 'ran', writes: true, read: [READ_VERSION, readOrdered(table)],
    };
  });
}

/** Deleting a declaration or a worker takes their chain or employers with it (ON DELETE CASCADE), each row counted. */
const CASCADE_CASES: TriggerCase[] = [
  {
    name: 'deleting a declaration deletes its contractor chain, and every row deleted bumps site_data_version',
    triggers: ['declarations_delete_version', 'declaration_companies_delete_version'],
    setup: [
      `INSERT INTO declarations (number, site_id, valid_from, created_at) VALUES ('D000000000004', 'site-1', '2026-12-01', '${T0}')`,
      "INSERT INTO declaration_companies (declaration, company_id, rank) VALUES ('D000000000004', '0123456789', 0), ('D000000000004', '0987654321', 1)",
    ],
    act: ["DELETE FROM declarations WHERE number = 'D000000000004'"],
    expect: 'ran', writes: true, read: [READ_VERSION, 'SELECT declaration, company_id, rank FROM declaration_companies ORDER BY declaration, company_id'],
  },
  {
    name: 'deleting a worker deletes their employers, and every row deleted bumps site_data_version',
    triggers: ['workers_delete_version', 'worker_employers_delete_version'],
    setup: [
      `INSERT INTO workers (id, ssin, name, capacity, created_at) VALUES ('w-9', '92030300036', 'Nine', 'employee', '${T0}')`,
      "INSERT INTO worker_employers (worker_id, company_id) VALUES ('w-9', '0987654321'), ('w-9', '0123456789')",
    ],
    act: ["DELETE FROM workers WHERE id = 'w-9'"],
    expect: 'ran', writes: true, read: [READ_VERSION, 'SELECT worker_id, company_id FROM worker_employers ORDER BY rowid'],
  },
];

/**
 * A statement each CHECK, and some foreign keys, unique keys and NOT NULLs, refuse: refused on both by the
 * same kind of constraint (each database words its own message).
 */
const CONSTRAINTS: Array<{ name: string; violates: Rule; setup?: string[]; statement: string }> = [
  { name: 'a second site_data_version row', violates: 'check', statement: 'INSERT INTO site_data_version (id, version) VALUES (2, 0)' },
  { name: 'a company of an unknown kind', violates: 'check', statement: `INSERT INTO companies (id, kind, name, created_at) VALUES ('X1', 'public', 'X', '${T0}')` },
  { name: 'a site in Italian', violates: 'check', statement: "UPDATE sites SET language = 'it' WHERE id = 'site-1'" },
  { name: 'a site requiring secure badges with a 2', violates: 'check', statement: "UPDATE sites SET require_secure_badges = 2 WHERE id = 'site-1'" },
  { name: 'a site with neither post code nor coordinates', violates: 'check', statement: "UPDATE sites SET post_code = NULL WHERE id = 'site-1'" },
  { name: 'a terminal in Italian', violates: 'check', statement: "UPDATE terminals SET language = 'it' WHERE id = 'term-1'" },
  { name: 'a worker with neither NISS nor Limosa id', violates: 'check', statement: "UPDATE workers SET ssin = NULL WHERE id = 'w-1'" },
  { name: 'a badge of an unknown kind', violates: 'check', statement: `INSERT INTO badges (uid, worker_id, valid_from, created_at, kind) VALUES ('04CC', 'w-1', '2026-12-01', '${T0}', 'nfc')` },
  { name: 'a badge key version beyond 255', violates: 'check', statement: `INSERT INTO badges (uid, worker_id, valid_from, created_at, kind, key_version) VALUES ('04CC', 'w-1', '2026-12-01', '${T0}', 'secure', 256)` },
  { name: 'a registration context of an unknown employer kind', violates: 'check', statement: "INSERT INTO registration_contexts (employer_kind, employer_id, declaration, place_of_work) VALUES ('person', '1', 'D1', '{}')" },
  {
    name: 'a registered tap without NISS or Limosa id', violates: 'check',
    statement: `INSERT INTO taps (tap_id, terminal_id, site_id, seq, badge, direction, reason, at, received_at, enrichment, reg_seq, at_s, capacity, context_id)
      VALUES ('tap-x', 'term-1', 'site-1', 1, '04', 'IN', 'work', '2026-12-02T08:00:00+01:00', '${T0}', 'enriched', 1, 1796194800, 'employee', 1)`,
  },
  { name: 'a shift state of an unknown kind', violates: 'check', statement: "INSERT INTO worker_shifts (worker_id, state, site_id, last_ms, last_tap_id, rev) VALUES ('w-1', 'sleeping', 'site-1', 0, 't', 1)" },
  { name: 'a time check of an unknown problem', violates: 'check', statement: "INSERT INTO tap_time_checks (tap_id, problem, details) VALUES ('t', 'late', '{}')" },
  { name: 'a release of an unknown outcome', violates: 'check', statement: `INSERT INTO tap_releases (tap_id, outcome, held_as, cause_audit_id, because, requested_at) VALUES ('t', 'lost', 'unknown-badge', 1, '{}', '${T0}')` },
  { name: 'a second badge counter snapshot', violates: 'check', statement: 'INSERT INTO badge_sun_snapshot (id, taps_rowid) VALUES (2, 0)' },
  { name: 'a certificate issued for an unknown reason', violates: 'check', statement: `INSERT INTO terminal_certificates (serial, terminal_id, fingerprint, not_before, not_after, issued_at, issued_for) VALUES ('D1', 'term-1', 'f', '${T0}', '${T0}', '${T0}', 'manual')` },
  { name: 'a console user with the former role admin', violates: 'check', statement: `INSERT INTO siteman_users (id, name, role, token_hash, created_at) VALUES ('u1', 'U', 'admin', 'h1', '${T0}')` },
  {
    name: 'a correction of another field', violates: 'check',
    statement: `INSERT INTO siteman_corrections (seq, tap_id, site_id, field, current_value, requested_value, reason, state, deadline, created_at, created_by, history)
      VALUES (1, 't', 'site-1', 'site', 'a', 'b', 'r', 'draft', '2027-01-01', '${T0}', 'u1', '[]')`,
  },
  {
    name: 'a correction in an unknown state', violates: 'check',
    statement: `INSERT INTO siteman_corrections (seq, tap_id, site_id, field, current_value, requested_value, reason, state, deadline, created_at, created_by, history)
      VALUES (1, 't', 'site-1', 'employer', 'a', 'b', 'r', 'pending', '2027-01-01', '${T0}', 'u1', '[]')`,
  },
  { name: 'an audit entry by an unknown kind of actor', violates: 'check', statement: `INSERT INTO audit_log (at, actor_kind, actor_id, actor_name, action, entity, entity_id) VALUES ('${T0}', 'robot', 'r', 'R', 'create', 'site', 'site-1')` },
  { name: 'a forwarding state of an unknown kind', violates: 'check', statement: "INSERT INTO forward_state (seq, tap_id, client_reference, state) VALUES (1, 't', 'c', 'sent')" },
  { name: 'a badge of an unknown worker', violates: 'foreign key', statement: `INSERT INTO badges (uid, worker_id, valid_from, created_at) VALUES ('04DD', 'w-404', '2026-12-01', '${T0}')` },
  { name: 'a company still in a worker\'s employers', violates: 'foreign key', setup: ["INSERT INTO worker_employers (worker_id, company_id) VALUES ('w-1', '0987654321')"], statement: "DELETE FROM companies WHERE id = '0987654321'" },
  { name: 'an audit entry caused by an unknown one', violates: 'foreign key', statement: `INSERT INTO audit_log (at, actor_kind, actor_id, actor_name, action, entity, entity_id, cause_id) VALUES ('${T0}', 'system', 's', 'S', 'release', 'tap', 't', 404)` },
  { name: 'a forwarding state in an unknown outage', violates: 'foreign key', statement: "INSERT INTO forward_state (seq, tap_id, client_reference, state, outage_id) VALUES (1, 't', 'c', 'retry', 404)" },
  { name: 'a second worker with the same NISS', violates: 'unique', statement: `INSERT INTO workers (id, ssin, name, capacity, created_at) VALUES ('w-5', '90010100012', 'Five', 'employee', '${T0}')` },
  { name: 'a second user with the same token', violates: 'unique', setup: [`INSERT INTO siteman_users (id, name, role, token_hash, created_at) VALUES ('u1', 'U', 'payroll', 'h1', '${T0}')`], statement: `INSERT INTO siteman_users (id, name, role, token_hash, created_at) VALUES ('u2', 'V', 'read-only', 'h1', '${T0}')` },
  { name: 'a second registration with the same number', violates: 'unique', setup: [registration('tap-1', { seq: 5 })], statement: registration('tap-2', { seq: 5 }) },
  { name: 'a tap without its terminal', violates: 'not null', statement: `INSERT INTO taps (tap_id, terminal_id, seq, badge, direction, reason, at, received_at, enrichment) VALUES ('t', NULL, 1, '04', 'IN', 'work', '${T0}', '${T0}', 'x')` },
];

const CONSTRAINT_CASES: TriggerCase[] = CONSTRAINTS.map((k) => ({
  name: `refused on both by a ${k.violates} constraint: ${k.name}`,
  triggers: [],
  setup: k.setup,
  act: [k.statement],
  expect: { violates: k.violates },
  writes: false,
  read: [READ_VERSION, READ_TAPS],
}));

const CASES: TriggerCase[] = [...REGISTRATION_CASES, ...frozenColumnCases(), ...FLEET_CASES, ...versionCases(), ...CASCADE_CASES, ...CONSTRAINT_CASES];

// ---------------------------------------------------------------------------------------------------------

describe.skipIf(noPostgres !== undefined)(`the gateway schema on PostgreSQL${noPostgres ? ` (skipped: ${noPostgres})` : ''}`, () => {
  let server: LocalPostgres;
  let client: pg.Client;
  const clients: pg.Client[] = [];

  async function connect(database: string): Promise<pg.Client> {
    const c = new pg.Client({ host: server.host, port: server.port, user: server.user, database });
    await c.connect();
    clients.push(c);
    return c;
  }

  async function freshDatabase(name: string): Promise<pg.Client> {
    await client.query(`CREATE DATABASE ${name}`);
    return connect(name);
  }

  beforeAll(async () => {
    server = await startPostgres();
    client = await connect(server.database);
  });

  afterAll(async () => {
    for (const c of clients) await c.end().catch(() => undefined);
    await server?.stop();
  });

  describe('migrations', () => {
    const names = postgresMigrations().map((m) => m.name);

    it('applies every migration in order, records each, and applies nothing the second time', async () => {
      expect(names.length).toBeGreaterThan(0);
      expect(names).toEqual([...names].sort());
      const first = await migratePostgres(client);
      expect(first).toEqual({ applied: names, present: [], unknown: [] });
      const recorded = await client.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY name');
      expect(recorded.rows.map((r) => r.name)).toEqual(names);
      const second = await migratePostgres(client);
      expect(second).toEqual({ applied: [], present: names, unknown: [] });
      expect((await client.query('SELECT name FROM schema_migrations')).rowCount).toBe(names.length);
    });

    it('applies each migration once when two instances migrate the same database at once', async () => {
      const a = await freshDatabase('ciao_two_at_once');
      const b = await connect('ciao_two_at_once');
      const [ra, rb] = await Promise.all([migratePostgres(a), migratePostgres(b)]);
      expect([...ra.applied, ...rb.applied].sort()).toEqual(names);
      expect([...ra.present, ...rb.present].sort()).toEqual(names);
      const recorded = await a.query<{ name: string; n: string }>('SELECT name, count(*) AS n FROM schema_migrations GROUP BY name ORDER BY name');
      expect(recorded.rows).toEqual(names.map((name) => ({ name, n: '1' })));
    });

    it('waits for the migration lock: nothing is applied while another instance holds it', async () => {
      const holder = await freshDatabase('ciao_lock_held');
      const waiter = await connect('ciao_lock_held');
      const waiterPid = (await waiter.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      await holder.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY.toString()]);
      let finished = false;
      const migrating = migratePostgres(waiter).finally(() => {
        finished = true;
      });
      // Until the waiter is seen queued on the lock, or has finished without waiting (which fails below).
      let queued = false;
      while (!queued && !finished) {
        queued = (await holder.query("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND pid = $1", [waiterPid])).rowCount === 1;
        if (!queued) await new Promise((r) => setTimeout(r, 20));
      }
      expect(queued, 'the second instance queued on the migration lock').toBe(true);
      const table = await holder.query<{ t: string | null }>("SELECT to_regclass('public.schema_migrations')::text AS t");
      expect(table.rows[0]!.t).toBeNull();
      await holder.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY.toString()]);
      expect((await migrating).applied).toEqual(names);
    });

    it('rolls back a failing migration and names it; refuses a migration edited after it was applied', async () => {
      const c = await freshDatabase('ciao_bad_migrations');
      const good = postgresMigrations();
      const broken = { name: '9999-broken', sql: 'CREATE TABLE half_done (id bigint); SELECT no_such_function();', checksum: 'x' };
      await expect(migratePostgres(c, [...good, broken])).rejects.toThrow(/9999-broken failed and was rolled back: function no_such_function\(\) does not exist/);
      expect((await c.query("SELECT to_regclass('public.half_done')::text AS t")).rows[0]).toEqual({ t: null });
      expect((await c.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY name')).rows.map((r) => r.name)).toEqual(names);

      const edited = good.map((m, i) => (i === 0 ? { ...m, sql: `${m.sql}\n-- edited`, checksum: 'edited' } : m));
      await expect(migratePostgres(c, edited)).rejects.toThrow(/0001-site-data was applied with other SQL than this gateway's/);
      // The lock was released on the way out: the next instance migrates.
      expect((await migratePostgres(c, good)).present).toEqual(names);
    });
  });

  describe('the same schema as SQLite, read from both databases', () => {
    beforeAll(async () => {
      await migratePostgres(client);
    });

    it('has the same tables, and the same view with the same columns', async () => {
      const liteTables = [...sqliteTables(lite).keys()].sort();
      const { tables } = await pgTables(client);
      // The forwarder lease is an advisory lock on PostgreSQL; SQLite's table is made only where it is used.
      expect(liteTables).not.toContain('forwarder_lease');
      expect([...tables.keys()].sort()).toEqual(liteTables);
      const liteViews = lite.prepare("SELECT name FROM sqlite_master WHERE type = 'view' ORDER BY name").pluck().all() as string[];
      const views = await client.query<{ name: string }>("SELECT table_name::text AS name FROM information_schema.views WHERE table_schema = 'public' ORDER BY 1");
      expect(views.rows.map((v) => v.name)).toEqual(liteViews);
      for (const view of liteViews) {
        const liteColumns = (lite.prepare(`PRAGMA table_info(${view})`).all() as Array<{ name: string }>).map((c) => c.name);
        expect(await viewColumns(client, view), view).toEqual(liteColumns);
      }
    });

    it('has per table the same columns in order, types of the same family, NOT NULL, defaults, keys, foreign keys and checks', async () => {
      const liteTables = sqliteTables(lite);
      const { tables } = await pgTables(client);
      let columns = 0;
      for (const [name, shape] of liteTables) {
        expect(shape.columns.filter((c) => c.family.startsWith('unmapped')), `${name}: a SQLite type the comparison cannot place`).toEqual([]);
        expect(tables.get(name), name).toEqual(shape);
        columns += shape.columns.length;
      }
      expect(columns).toBeGreaterThan(0);
    });

    it('adds a rowid identity only to the tables whose SQLite rowid the gateway reads, and those have one in SQLite', async () => {
      const { rowid } = await pgTables(client);
      expect(Object.fromEntries(rowid)).toEqual(Object.fromEntries(ROWID_COLUMN_TABLES.map((t) => [t, 'bigint identity always unique'])));
      for (const t of ROWID_COLUMN_TABLES) {
        const sql = lite.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").pluck().get(t) as string;
        expect(sql, t).not.toMatch(/WITHOUT ROWID/i);
      }
    });

    it('has the same named indexes: table, columns in order, uniqueness and partial WHERE', async () => {
      const liteIndexes = sqliteIndexes(lite);
      const indexes = await pgIndexes(client);
      expect(Object.fromEntries(indexes)).toEqual(Object.fromEntries(liteIndexes));
      expect([...liteIndexes.values()].filter((i) => i.where !== null).length).toBeGreaterThan(10);
    });

    it('has a PostgreSQL trigger of the same name, table, timing, event and condition for every SQLite trigger', async () => {
      const liteTriggers = sqliteTriggers(lite);
      const triggers = await pgTriggers(client);
      for (const [name, shape] of liteTriggers) {
        expect(triggers.get(name), name).toEqual({ ...shape, rowLevel: true });
      }
      const extra = [...triggers.keys()].filter((n) => !liteTriggers.has(n)).sort();
      expect(extra).toEqual(['registration_contexts_kept_truncate', 'taps_registration_kept_truncate']);
      expect(liteTriggers.size).toBeGreaterThan(0);
    });
  });

  describe('triggers and constraints behave as SQLite\'s: the same statements on both', () => {
    const liteSide = sqliteSide(lite);
    let tc: pg.Client;
    let pgSideOf: Side;

    /** SQLite numbers rows max+1 again once a transaction is rolled back; an identity does not go back. */
    async function restartIdentities(): Promise<void> {
      const ids = await tc.query<{ tbl: string; col: string }>(`
        SELECT t.relname::text AS tbl, a.attname::text AS col FROM pg_attribute a JOIN pg_class t ON t.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = 'public' AND a.attidentity <> ''`);
      for (const { tbl, col } of ids.rows) {
        await tc.query(`SELECT setval(pg_get_serial_sequence('${tbl}', '${col}'), COALESCE((SELECT MAX(${col}) FROM ${tbl}), 0) + 1, false)`);
      }
    }

    beforeAll(async () => {
      tc = await freshDatabase('ciao_triggers');
      await migratePostgres(tc);
      pgSideOf = pgSide(tc);
      for (const sql of FIXTURE) {
        lite.prepare(sql).run();
        await tc.query(sql);
      }
    });

    it('covers every SQLite trigger with at least one case', () => {
      const covered = new Set(CASES.flatMap((c) => c.triggers));
      const all = lite.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name").pluck().all() as string[];
      expect(all.filter((t) => !covered.has(t))).toEqual([]);
      expect(all.length).toBeGreaterThan(0);
    });

    it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
      lite.exec('BEGIN');
      await tc.query('BEGIN');
      try {
        await restartIdentities();
        for (const sql of c.setup ?? []) {
          expect(await liteSide.run(sql), `setup on SQLite: ${sql}`).toBe('ran');
          expect(await pgSideOf.run(sql), `setup on PostgreSQL: ${sql}`).toBe('ran');
        }
        const before = await readAll(liteSide, c.read);
        let last: Outcome = 'ran';
        for (const sql of c.act) {
          const onLite = await liteSide.run(sql);
          const onPg = await pgSideOf.run(sql);
          expect(asExpected(onPg, c.expect), sql).toEqual(asExpected(onLite, c.expect));
          last = onLite;
        }
        expect(asExpected(last, c.expect)).toEqual(c.expect);
        const afterLite = await readAll(liteSide, c.read);
        const afterPg = await readAll(pgSideOf, c.read);
        expect(afterPg).toEqual(afterLite);
        if (c.writes) expect(afterLite).not.toEqual(before);
        else expect(afterLite).toEqual(before);
      } finally {
        lite.exec('ROLLBACK');
        await tc.query('ROLLBACK');
      }
    });

    it('refuses on PostgreSQL a TRUNCATE that would take registrations or their contexts with it', async () => {
      await tc.query('BEGIN');
      try {
        await tc.query(registration('tap-1'));
        await tc.query(HELD_TAP);
        for (const [table, message] of [['taps', 'a registration cannot be deleted'], ['registration_contexts', 'a registration context cannot be deleted']]) {
          expect(await pgSideOf.run(`TRUNCATE ${table}`), table).toMatchObject({ message });
        }
        expect((await tc.query('SELECT tap_id FROM taps ORDER BY tap_id')).rows).toEqual([{ tap_id: 'tap-1' }, { tap_id: 'tap-held' }]);
      } finally {
        await tc.query('ROLLBACK');
      }
      // Held taps only: nothing registered goes with them.
      await tc.query('BEGIN');
      try {
        await tc.query(HELD_TAP);
        expect(await pgSideOf.run('TRUNCATE taps')).toBe('ran');
        expect((await tc.query('SELECT count(*)::int AS n FROM taps')).rows).toEqual([{ n: 0 }]);
      } finally {
        await tc.query('ROLLBACK');
      }
    });
  });
});
