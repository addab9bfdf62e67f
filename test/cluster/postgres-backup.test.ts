import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { migratePostgres, postgresMigrations } from '../../gateway/store/postgres/migrate.ts';
import { makeEnterpriseNumber, makeWorkerNumber } from '../../shared/identifiers/make.ts';
import { postgresBinDir, serviceMissing, startPostgres, type LocalPostgres } from '../../simulator/services/local-services.ts';
import { waitUntil } from '../gateway/helpers/wait.ts';
import { shellBlockAfter } from '../support/docs-recipes.ts';

/**
 * docs/cluster.md, "Backing up and restoring PostgreSQL", run as written as a restore drill: each `sh` block
 * of the section with only its first line (the settings the reader sets: server, role, directories, archive,
 * database names) set to the test's, against a real PostgreSQL started here.
 *
 * The database is migrated by migratePostgres and filled by SQL with a small, realistic site (companies, a
 * site, a declaration, workers and an agency placement, badges, terminals, a night shift of registrations
 * through the `registrations` view, held and quarantined taps, forwarding state, journals). The backup
 * recipe runs while a second connection keeps committing taps; the test makes the overlap certain without
 * timing: it holds a lock on a table the writer never touches, so `pg_dump` (which takes its snapshot before
 * locking the tables) waits on it while taps are committed, then lets it go. The archive must hold exactly
 * the writer's transactions committed before its snapshot, each whole, and none after.
 *
 * Then the restore recipe makes a new database, and the test checks it against the database backed up: every
 * table's row count as of the snapshot and the rows themselves, the triggers (present, enabled, the guards
 * still refusing to change or delete a stored registration, the counters not bumped by the restore), the
 * identities going on, `schema_migrations`, and migratePostgres applying nothing. The doc's check recipe
 * must pass, and fail when a row is missing; the restore recipe must refuse an existing database; the
 * switch recipe must give the restored database the old one's name.
 */

const noPostgres = serviceMissing('postgresql');
if (noPostgres) console.warn(`\n!!! SKIPPING the PostgreSQL backup and restore drill: PostgreSQL is ${noPostgres}. It runs (and must pass) under CI=true. !!!\n`);

const DOC = 'docs/cluster.md';

interface Run { code: number | null; stdout: string; stderr: string }

/** A recipe of the section with its first line (settings) replaced: the same names, in the doc's order. */
function recipe(heading: string, settings: Array<[string, string]>): string {
  const [first, ...rest] = shellBlockAfter(DOC, heading).split('\n');
  const documented = first!.split(' ').map((kv) => kv.split('=')[0]);
  expect(settings.map(([k]) => k), `the settings line of "${heading}"`).toEqual(documented);
  const quoted = settings.map(([k, v]) => `${k}='${v.replaceAll("'", "'\\''")}'`).join(' ');
  return [quoted, ...rest].join('\n');
}

/** Runs a script with bash, PostgreSQL's own client programs first on the PATH (as Debian's wrappers would pick). */
function runScript(script: string, cwd: string): { done: Promise<Run>; exited: () => boolean } {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${postgresBinDir()}:${process.env.PATH ?? ''}` };
  for (const k of ['PGHOST', 'PGPORT', 'PGUSER', 'PGDATABASE', 'PGPASSWORD', 'PGSERVICE']) delete env[k];
  const child = spawn('bash', ['-c', script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let over = false;
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
  const done = new Promise<Run>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      over = true;
      resolve({ code, stdout, stderr });
    });
  });
  return { done, exited: () => over };
}

const T0 = '2026-11-02T07:30:00.000Z';
const EMPLOYER = makeEnterpriseNumber('04030192');
const AGENCY = makeEnterpriseNumber('04567891');
const ANA = makeWorkerNumber({ year: 1985, month: 7, day: 30 }, 33);
const BRAM = makeWorkerNumber({ year: 1992, month: 3, day: 14 }, 61);
const DECLARATION = '1Y102M7NZF7PZ';
const PLACE = '{"address":{"street":"Rue Neuve","houseNumber":"1","postCode":"1000","municipality":"Bruxelles","country":"BE"}}';

/** The site data and a night across midnight, as the gateway and its console would have written them. */
const SITE = [
  `INSERT INTO companies (id, kind, name, created_at) VALUES ('${EMPLOYER}', 'enterprise', 'Net & Clean', '${T0}'), ('${AGENCY}', 'enterprise', 'Interim Plus', '${T0}')`,
  `INSERT INTO sites (id, name, language, post_code, municipality, street, house_number, created_at)
     VALUES ('site-a', 'Résidence Les Tilleuls', 'fr', '1000', 'Bruxelles', 'Rue Neuve', '1', '${T0}')`,
  `INSERT INTO declarations (number, site_id, valid_from, created_at) VALUES ('${DECLARATION}', 'site-a', '2026-01-01', '${T0}')`,
  `INSERT INTO declaration_companies (declaration, company_id, rank) VALUES ('${DECLARATION}', '${EMPLOYER}', 0)`,
  `INSERT INTO workers (id, ssin, name, capacity, created_at) VALUES ('w-ana', '${ANA}', 'Ana Peeters', 'employee', '${T0}'), ('w-bram', '${BRAM}', 'Bram Dubois', 'agency-worker', '${T0}')`,
  `INSERT INTO worker_employers (worker_id, company_id) VALUES ('w-ana', '${EMPLOYER}'), ('w-bram', '${AGENCY}')`,
  `INSERT INTO agency_placements (id, worker_id, agency_id, user_company_id, valid_from, created_at) VALUES ('pl-1', 'w-bram', '${AGENCY}', '${EMPLOYER}', '2026-11-01', '${T0}')`,
  `INSERT INTO badges (uid, worker_id, valid_from, created_at, kind, key_version) VALUES
     ('04A1B2C3D4E5F6', 'w-ana', '2026-01-01', '${T0}', 'uid-only', NULL), ('04B2C3D4E5F6A1', 'w-bram', '2026-11-01', '${T0}', 'secure', 1)`,
  `INSERT INTO terminals (id, site_id, secret_hash, created_at, secret_rotated_at) VALUES
     ('tilleuls-entrance', 'site-a', 'scrypt$16384$8$1$c2FsdA==$aGFzaA==', '${T0}', '${T0}'), ('tilleuls-garage', 'site-a', 'scrypt$16384$8$1$c2FsdB==$aGFzaB==', '${T0}', '${T0}')`,
  `INSERT INTO terminal_certificates (serial, terminal_id, fingerprint, not_before, not_after, issued_at, issued_for)
     VALUES ('5A1F', 'tilleuls-entrance', 'ab12cd34', '${T0}', '2027-11-02T07:30:00.000Z', '${T0}', 'pairing')`,
  `INSERT INTO terminal_pairings (code_hash, terminal_id, created_by, created_at, expires_at, used_at, used_from)
     VALUES ('9f86d081884c7d65', 'tilleuls-entrance', 'u-marie', '${T0}', '2026-11-02T07:45:00.000Z', '2026-11-02T07:31:10.000Z', '192.0.2.10')`,
  `INSERT INTO terminal_status (terminal_id, state, reported_at, version, queued, updated_at, connected_via)
     VALUES ('tilleuls-entrance', 'online', '2026-12-01T06:00:00+01:00', '1.4.0', 0, '2026-12-01T05:00:01.000Z', 'gw-1'),
            ('tilleuls-garage', 'offline', '2026-11-30T23:10:00+01:00', '1.4.0', 2, '2026-11-30T22:12:00.000Z', NULL)`,
  `INSERT INTO siteman_users (id, name, role, company_id, token_hash, created_at) VALUES ('u-marie', 'Marie', 'site-manager', '${EMPLOYER}', 'e3b0c44298fc1c14', '${T0}')`,
  `INSERT INTO audit_log (at, actor_kind, actor_id, actor_name, action, entity, entity_id, site_id, after) VALUES
     ('${T0}', 'user', 'u-marie', 'Marie', 'create', 'worker', 'w-bram', 'site-a', '{"name":"Bram Dubois","niss":"******"}')`,
  `INSERT INTO audit_log (at, actor_kind, actor_id, actor_name, action, entity, entity_id, site_id, cause_id) VALUES
     ('2026-11-30T22:05:00.000Z', 'system', 'gateway', 'gateway', 'release', 'tap', 'tap-held-1', 'site-a', 1)`,
  `INSERT INTO gateway_settings (key, value) VALUES ('heartbeat:gw-1', '2026-12-01T05:00:00.000Z')`,
  `INSERT INTO releases (version, sha256, size, signed, key_id, file, uploaded_at, uploaded_by) VALUES ('1.4.0', 'c0ffee', 1048576, '{}', 'k1', 'ciao-terminal-1.4.0.tgz', '${T0}', 'u-marie')`,
  `INSERT INTO release_rollouts (version, created_at, created_by) VALUES ('1.4.0', '${T0}', 'u-marie')`,
  `INSERT INTO release_targets (terminal_id, version, rollout, assigned_at, assigned_by) VALUES ('tilleuls-entrance', '1.4.0', 1, '${T0}', 'u-marie')`,
  `INSERT INTO terminal_update_reports (terminal_id, version, rollout, state, reported_at) VALUES ('tilleuls-entrance', '1.4.0', 1, 'applied', '2026-11-02T08:00:00+01:00')`,
];

/** A tap as the ingest stores it, then its registration through the view (the tap's row gets it). */
function registeredTap(tapId: string, t: { terminal: string; seq: number; badge: string; worker: string; ssin: string; capacity: string; direction: string; reason: string; at: string; atUtc: string }): string[] {
  return [
    `INSERT INTO taps (tap_id, terminal_id, site_id, seq, badge, direction, reason, at, local_at, employer, received_at, enrichment, worker_id)
       VALUES ('${tapId}', '${t.terminal}', 'site-a', ${t.seq}, '${t.badge}', '${t.direction}', '${t.reason}', '${t.at}', '${t.at.slice(0, 19)}', '${EMPLOYER}', '${t.atUtc.replace('Z', '.250Z')}', 'enriched', '${t.worker}')`,
    `INSERT INTO registrations (tap_id, terminal_id, site_id, worker_id, type, reason, at, at_utc, ssin, limosa_id, capacity, employer_kind, employer_id, declaration, place_of_work, received_at)
       VALUES ('${tapId}', '${t.terminal}', 'site-a', '${t.worker}', '${t.direction}', '${t.reason}', '${t.at}', '${t.atUtc}', '${t.ssin}', NULL, '${t.capacity}',
               'enterprise', '${EMPLOYER}', '${DECLARATION}', '${PLACE}', '${t.atUtc.replace('Z', '.250Z')}')`,
  ];
}

const ana = { terminal: 'tilleuls-entrance', badge: '04A1B2C3D4E5F6', worker: 'w-ana', ssin: ANA, capacity: 'employee' };
const bram = { terminal: 'tilleuls-garage', badge: '04B2C3D4E5F6A1', worker: 'w-bram', ssin: BRAM, capacity: 'agency-worker' };
const NIGHT = [
  ...registeredTap('tap-ana-in', { ...ana, seq: 41, direction: 'IN', reason: 'work', at: '2026-11-30T22:01:12+01:00', atUtc: '2026-11-30T21:01:12Z' }),
  ...registeredTap('tap-bram-in', { ...bram, seq: 7, direction: 'IN', reason: 'work', at: '2026-11-30T22:03:40+01:00', atUtc: '2026-11-30T21:03:40Z' }),
  ...registeredTap('tap-ana-break-out', { ...ana, seq: 42, direction: 'OUT', reason: 'break', at: '2026-12-01T01:30:05+01:00', atUtc: '2026-12-01T00:30:05Z' }),
  ...registeredTap('tap-ana-break-in', { ...ana, seq: 43, direction: 'IN', reason: 'break', at: '2026-12-01T02:00:11+01:00', atUtc: '2026-12-01T01:00:11Z' }),
  ...registeredTap('tap-bram-out', { ...bram, seq: 8, direction: 'OUT', reason: 'work', at: '2026-12-01T05:58:02+01:00', atUtc: '2026-12-01T04:58:02Z' }),
  ...registeredTap('tap-ana-out', { ...ana, seq: 44, direction: 'OUT', reason: 'work', at: '2026-12-01T06:02:30+01:00', atUtc: '2026-12-01T05:02:30Z' }),
  // A tap held (its badge was not known yet) with its SUN message, and one whose terminal's clock was wrong.
  `INSERT INTO taps (tap_id, terminal_id, site_id, seq, badge, direction, reason, at, received_at, enrichment)
     VALUES ('tap-held-1', 'tilleuls-garage', 'site-a', 9, '04C3D4E5F6A1B2', 'IN', 'work', '2026-11-30T22:04:00+01:00', '2026-11-30T21:04:00.500Z', 'unknown-badge')`,
  `INSERT INTO held_tap_sun (tap_id, picc, mac) VALUES ('tap-held-1', 'EF963FF7828658A599F3041510671E88', '94EED9EE65337086')`,
  `INSERT INTO tap_time_checks (tap_id, problem, details) VALUES ('tap-ana-in', 'wrong-offset', '{"sent":"2026-11-30T22:01:12+02:00","expected":"+01:00"}')`,
  `INSERT INTO tap_badge_checks (tap_id, outcome, details) VALUES ('tap-bram-in', 'uid-only-on-secure-site', '{"badge":"04B2C3D4E5F6A1"}')`,
  `INSERT INTO tap_releases (tap_id, outcome, held_as, cause_audit_id, because, requested_at) VALUES ('tap-held-1', 'badge-check', 'unknown-badge', 2, '{"badge":"04C3D4E5F6A1B2"}', '2026-11-30T22:05:00.000Z')`,
  `INSERT INTO quarantine (terminal_id, tap_id, reason, problems, payload, payload_size, received_at)
     VALUES ('tilleuls-entrance', NULL, 'malformed', '[{"field":"at","rule":"iso-8601","message":"at is not a time"}]', '\\x7b2276223a312c226174223a2231227d'::bytea, 16, '2026-11-30T21:10:00.000Z')`,
  `INSERT INTO badge_sun_state (uid, highest, recent) VALUES ('04B2C3D4E5F6A1', 12, '\\x0000000c674b8a540000000b674b8a1c'::bytea)`,
  `UPDATE badge_sun_snapshot SET taps_rowid = 4, taken_at = '2026-12-01T05:00:00.000Z' WHERE id = 1`,
  `INSERT INTO worker_shifts (worker_id, state, site_id, last_ms, last_tap_id, rev) VALUES ('w-ana', 'off', 'site-a', 1764565350000, 'tap-ana-out', 4), ('w-bram', 'off', 'site-a', 1764565082000, 'tap-bram-out', 2)`,
  `INSERT INTO outage_journal (started_at, ended_at, cause, last_cause, failures, registrations_delayed) VALUES ('2026-12-01T00:40:00.000Z', '2026-12-01T00:52:00.000Z', 'HTTP 503', 'HTTP 503', 14, 2)`,
  `INSERT INTO forward_state (seq, tap_id, client_reference, state, attempts, first_sent_at, answered_at, onss_id, validity, remarks)
     SELECT seq, tap_id, 'ciao-' || tap_id, 'created', 1, received_at, received_at, 'onss-' || seq, 'valid', '[]' FROM registrations WHERE seq <= 2`,
  `INSERT INTO forward_state (seq, tap_id, client_reference, state, attempts, first_sent_at, last_failure, outage_id)
     SELECT seq, tap_id, 'ciao-' || tap_id, 'retry', 3, received_at, 'HTTP 503', 1 FROM registrations WHERE seq IN (3, 4)`,
  `INSERT INTO forward_state (seq, tap_id, client_reference, state, attempts, first_sent_at)
     SELECT seq, tap_id, 'ciao-' || tap_id, 'in_flight', 1, received_at FROM registrations WHERE seq = 5`,
  `INSERT INTO siteman_corrections (seq, tap_id, site_id, field, current_value, requested_value, reason, state, deadline, created_at, created_by, history)
     VALUES (2, 'tap-bram-in', 'site-a', 'employer', '${EMPLOYER}', '${AGENCY}', 'agency worker', 'draft', '2026-12-30', '2026-12-01T07:00:00.000Z', 'u-marie', '[]')`,
  `INSERT INTO outage_events (scope, terminal_id, site_id, started_at, ended_at, cause) VALUES ('terminal:tilleuls-garage', 'tilleuls-garage', 'site-a', '2026-11-30T22:12:00.000Z', NULL, 'connection lost')`,
];

const NIGHT_REGISTRATIONS = 6;

/**
 * What the writer commits in each transaction, as a gateway would: a tap with its registration, and a tap
 * held by the badge check with what the check found. Tap ids carry the transaction's number.
 */
function writerTransaction(n: number): string[] {
  const atUtc = new Date(Date.UTC(2026, 11, 1, 6, 0, 0) + n * 1000).toISOString().replace('.000Z', 'Z');
  const at = atUtc.replace('Z', '+00:00');
  return [
    ...registeredTap(`live-${n}`, { ...ana, seq: 1000 + n, direction: n % 2 ? 'IN' : 'OUT', reason: 'work', at, atUtc }),
    `INSERT INTO taps (tap_id, terminal_id, site_id, seq, badge, direction, reason, at, received_at, enrichment, worker_id)
       VALUES ('live-${n}-held', 'tilleuls-garage', 'site-a', ${5000 + n}, '04B2C3D4E5F6A1', 'IN', 'work', '${at}', '${atUtc}', 'possible-copy', 'w-bram')`,
    `INSERT INTO tap_badge_checks (tap_id, outcome, details) VALUES ('live-${n}-held', 'replayed', '{"counter":${n},"highest":${n + 1}}')`,
  ];
}
/** Rows one writer transaction adds, per table. */
const WRITER_ROWS: Record<string, number> = { taps: 2, tap_badge_checks: 1 };

/** Every table of the public schema and its row count. */
async function rowCounts(c: pg.Client): Promise<Record<string, number>> {
  const tables = (await c.query<{ t: string }>("SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")).rows.map((r) => r.t);
  const out: Record<string, number> = {};
  for (const t of tables) out[t] = (await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t}`)).rows[0]!.n;
  return out;
}

/** A digest of a table's rows (every column, identities included), in an order that does not depend on storage. */
async function digest(c: pg.Client, table: string, where = 'true'): Promise<string> {
  return (await c.query<{ d: string }>(`SELECT md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) AS d FROM ${table} x WHERE ${where}`)).rows[0]!.d;
}

async function triggers(c: pg.Client): Promise<string[]> {
  return (await c.query<{ t: string }>(`SELECT c.relname || ' ' || t.tgname || ' ' || t.tgenabled::text || ' ' || pg_get_triggerdef(t.oid) AS t
      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal ORDER BY 1`)).rows.map((r) => r.t);
}

async function refusal(c: pg.Client, statement: string): Promise<string> {
  await c.query('BEGIN');
  try {
    await c.query(statement);
    return 'accepted';
  } catch (err) {
    return (err as Error).message;
  } finally {
    await c.query('ROLLBACK');
  }
}

describe.skipIf(noPostgres !== undefined)(`docs/cluster.md: backing up and restoring PostgreSQL, as a drill${noPostgres ? ` (skipped: ${noPostgres})` : ''}`, () => {
  let server: LocalPostgres;
  const clients: pg.Client[] = [];
  let live: pg.Client;
  let restored: pg.Client;
  const dir = mkdtempSync(join(tmpdir(), 'ciao-pg-backup-'));
  const backups = join(dir, 'backups');
  const NEWDB = 'ciao_restored';
  let archive = '';
  let seedCounts: Record<string, number> = {};
  /** The writer's transactions the archive holds (1..k). */
  let k = 0;
  let committedBeforeDump = 0;
  let committedWhileDumpWaited = 0;
  let committedInAll = 0;

  async function connect(database: string): Promise<pg.Client> {
    const c = new pg.Client({ host: server.host, port: server.port, user: server.user, database });
    await c.connect();
    clients.push(c);
    return c;
  }
  async function close(c: pg.Client): Promise<void> {
    clients.splice(clients.indexOf(c), 1);
    await c.end();
  }
  const connection = (user = server.user): Array<[string, string]> => [['PGHOST', server.host], ['PGPORT', String(server.port)], ['PGUSER', user]];

  beforeAll(async () => {
    server = await startPostgres({ settings: { fsync: 'off' } });
    live = await connect(server.database);
    await migratePostgres(live);
    for (const s of [...SITE, ...NIGHT]) await live.query(s);
    // The backup role the doc names: reading is all it may do.
    await live.query('CREATE ROLE ciao_backup LOGIN');
    await live.query('GRANT pg_read_all_data TO ciao_backup');
  });

  afterAll(async () => {
    for (const c of [...clients]) await c.end().catch(() => undefined);
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the data set is the one the drill needs: registrations through the view, a held tap, every table the site fills', async () => {
    seedCounts = await rowCounts(live);
    expect((await live.query('SELECT seq, tap_id, type, reason, at_utc FROM registrations ORDER BY seq')).rows).toEqual([
      { seq: '1', tap_id: 'tap-ana-in', type: 'IN', reason: 'work', at_utc: '2026-11-30T21:01:12Z' },
      { seq: '2', tap_id: 'tap-bram-in', type: 'IN', reason: 'work', at_utc: '2026-11-30T21:03:40Z' },
      { seq: '3', tap_id: 'tap-ana-break-out', type: 'OUT', reason: 'break', at_utc: '2026-12-01T00:30:05Z' },
      { seq: '4', tap_id: 'tap-ana-break-in', type: 'IN', reason: 'break', at_utc: '2026-12-01T01:00:11Z' },
      { seq: '5', tap_id: 'tap-bram-out', type: 'OUT', reason: 'work', at_utc: '2026-12-01T04:58:02Z' },
      { seq: '6', tap_id: 'tap-ana-out', type: 'OUT', reason: 'work', at_utc: '2026-12-01T05:02:30Z' },
    ]);
    expect(seedCounts.taps).toBe(7);
    expect(seedCounts.registration_contexts).toBe(1);
    const empty = Object.entries(seedCounts).filter(([, n]) => n === 0).map(([t]) => t);
    expect(empty).toEqual([]);
    expect(Number((await live.query('SELECT version FROM site_data_version')).rows[0].version)).toBeGreaterThan(0);
  });

  it('backs up with the recipe while a second connection keeps committing taps: the archive is the database at one instant', async () => {
    mkdirSync(backups);
    // Older archives for the recipe's cleanup: past KEEP_DAYS (35) and within it, and a file that is not an archive.
    const day = 86_400_000;
    const aged = (name: string, days: number) => {
      const f = join(backups, name);
      writeFileSync(f, 'old');
      const t = new Date(Date.now() - days * day);
      utimesSync(f, t, t);
    };
    aged('ciao-20251020T020000Z.dump', 40);
    aged('ciao-20261122T020000Z.dump', 10);
    aged('notes.txt', 40);

    const writerClient = await connect(server.database);
    let committed = 0;
    let stop = false;
    let writerFailed: Error | undefined;
    const writing = () => {
      if (writerFailed) throw writerFailed;
      return committed;
    };
    const writer = (async () => {
      while (!stop) {
        const n = committed + 1;
        await writerClient.query('BEGIN');
        for (const s of writerTransaction(n)) await writerClient.query(s);
        await writerClient.query('COMMIT');
        committed = n;
        // Paced, not timed: the writer leaves the two cores to pg_dump and the server.
        await new Promise((r) => setTimeout(r, 5));
      }
    })().catch((err: unknown) => {
      writerFailed = err as Error;
    });
    await waitUntil(() => writing() >= 3, { what: 'the writer to commit' });

    // pg_dump takes its snapshot, then locks every table it dumps: held here on one the writer never writes.
    const locker = await connect(server.database);
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE releases IN ACCESS EXCLUSIVE MODE');
    committedBeforeDump = committed;
    const script = recipe('### Taking a backup', [...connection('ciao_backup'), ['PGDATABASE', server.database], ['BACKUPS', backups], ['KEEP_DAYS', '35']]);
    const backup = runScript(script, dir);
    const waiting = await waitUntil(async () => {
      if (backup.exited()) return 'exited';
      const r = await live.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'pg_dump' AND wait_event_type = 'Lock'");
      return r.rows[0]!.n === 1 ? 'waiting' : undefined;
    }, { what: 'pg_dump to wait on the held lock', timeoutMs: 60_000 });
    if (waiting === 'exited') throw new Error(`the backup recipe ended before taking its locks: ${JSON.stringify(await backup.done)}`);
    committedWhileDumpWaited = committed;
    // Taps committed after pg_dump's snapshot, while it runs.
    await waitUntil(() => writing() >= committedWhileDumpWaited + 3, { what: 'the writer to commit while pg_dump waits' });
    await locker.query('COMMIT');
    const run = await backup.done;
    expect(run.code, run.stderr).toBe(0);
    await waitUntil(() => writing() >= committedWhileDumpWaited + 5, { what: 'the writer to commit after the backup' });
    stop = true;
    await writer;
    expect(writerFailed).toBeUndefined();
    committedInAll = committed;

    archive = run.stdout.trim().split('\n').pop()!;
    expect(archive).toMatch(new RegExp(`^${backups}/ciao-\\d{8}T\\d{6}Z\\.dump$`));
    // Mode 0600: it holds NISS.
    expect(statSync(archive).mode & 0o777).toBe(0o600);
    expect(readdirSync(backups).sort()).toEqual(['ciao-20261122T020000Z.dump', archive.slice(backups.length + 1), 'notes.txt'].sort());
  });

  it('restores with the recipe into a new database', async () => {
    const run = await runScript(recipe('### Restoring into a new database', [...connection(), ['ARCHIVE', archive], ['NEWDB', NEWDB]]), dir).done;
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    restored = await connect(NEWDB);
  });

  it('holds exactly the writer\'s transactions committed before the snapshot, each whole, and none after', async () => {
    const ids = (await restored.query<{ n: number }>("SELECT substring(tap_id from '^live-(\\d+)$')::int AS n FROM taps WHERE tap_id ~ '^live-\\d+$' ORDER BY 1")).rows.map((r) => r.n);
    k = ids.length;
    // A prefix of the writer's commits: no gap, nothing committed later.
    expect(ids).toEqual(Array.from({ length: k }, (_, i) => i + 1));
    expect(k).toBeGreaterThanOrEqual(committedBeforeDump);
    // At most one commit may have been on its way back to the writer when pg_dump was seen waiting.
    expect(k).toBeLessThanOrEqual(committedWhileDumpWaited + 1);
    // At least 3 transactions were committed while pg_dump ran, and are not in the archive.
    expect(committedInAll).toBeGreaterThanOrEqual(k + 4);
    // Each transaction whole: its held tap and badge check came with its registration.
    const held = await restored.query<{ n: number }>("SELECT count(*)::int AS n FROM taps t JOIN tap_badge_checks b USING (tap_id) WHERE t.tap_id ~ '^live-\\d+-held$'");
    expect(held.rows[0]!.n).toBe(k);
    const regs = await restored.query<{ n: number }>("SELECT count(*)::int AS n FROM registrations WHERE tap_id ~ '^live-'");
    expect(regs.rows[0]!.n).toBe(k);
  });

  it('every table has its row count as of the snapshot, and the same rows', async () => {
    const expected = Object.fromEntries(Object.entries(seedCounts).map(([t, n]) => [t, n + (WRITER_ROWS[t] ?? 0) * k]));
    expect(await rowCounts(restored)).toEqual(expected);
    // The database backed up has gone on: its counts are past the archive's.
    expect((await rowCounts(live)).taps).toBe(seedCounts.taps! + 2 * committedInAll);
    const asOfSnapshot: Record<string, string> = {
      taps: `tap_id !~ '^live-' OR substring(tap_id from '^live-(\\d+)')::int <= ${k}`,
      tap_badge_checks: `tap_id !~ '^live-' OR substring(tap_id from '^live-(\\d+)')::int <= ${k}`,
    };
    for (const table of Object.keys(seedCounts)) {
      expect(await digest(restored, table), table).toBe(await digest(live, table, asOfSnapshot[table]));
    }
    expect(await digest(restored, 'registrations')).toBe(await digest(live, 'registrations', `tap_id !~ '^live-' OR substring(tap_id from '^live-(\\d+)')::int <= ${k}`));
  });

  it('the triggers are all there and enabled, and the restore fired none of them', async () => {
    const original = await triggers(live);
    expect(original).toHaveLength(40);
    expect(await triggers(restored)).toEqual(original);
    expect(original.every((t) => t.split(' ')[2] === 'O')).toBe(true);
    // Neither the guards nor the counters fired while rows were copied: the counter is the one backed up
    // (nothing wrote site data after the seed), not bumped once per site-data row restored.
    const version = async (c: pg.Client) => Number((await c.query('SELECT version FROM site_data_version')).rows[0].version);
    expect(await version(restored)).toBe(await version(live));
    // And they work in the restored database.
    await restored.query('BEGIN');
    const before = await version(restored);
    await restored.query(`INSERT INTO companies (id, kind, name, created_at) VALUES ('FR40303265045', 'foreign', 'Propre SARL', '${T0}')`);
    expect(await version(restored)).toBe(before + 1);
    await restored.query('ROLLBACK');
  });

  it('the guards still refuse to change or delete a stored registration in the restored database', async () => {
    expect(await refusal(restored, "UPDATE taps SET at_s = at_s + 1 WHERE tap_id = 'tap-ana-in'")).toBe('a registration cannot be changed');
    expect(await refusal(restored, "UPDATE taps SET worker_id = 'w-bram' WHERE tap_id = 'tap-ana-out'")).toBe('a registration cannot be changed');
    expect(await refusal(restored, "DELETE FROM taps WHERE tap_id = 'tap-bram-out'")).toBe('a registration cannot be deleted');
    expect(await refusal(restored, 'TRUNCATE taps')).toBe('a registration cannot be deleted');
    expect(await refusal(restored, 'UPDATE registration_contexts SET declaration = declaration || \'X\'')).toBe('a registration context cannot be changed');
    // A held tap is no registration: it may still be completed.
    expect(await refusal(restored, "UPDATE taps SET enrichment = 'badge-check' WHERE tap_id = 'tap-held-1'")).toBe('accepted');
  });

  it('identities go on past the restored rows: no number is given twice', async () => {
    const liveMax = Number((await live.query('SELECT max(rowid) AS m FROM taps')).rows[0].m);
    await restored.query('BEGIN');
    try {
      const max = Number((await restored.query('SELECT max(rowid) AS m FROM taps')).rows[0].m);
      const tap = await restored.query(`INSERT INTO taps (tap_id, terminal_id, site_id, seq, badge, direction, reason, at, received_at, enrichment)
        VALUES ('after-restore', 'tilleuls-entrance', 'site-a', 99, '04A1B2C3D4E5F6', 'IN', 'work', '2026-12-02T06:00:00+01:00', '2026-12-02T05:00:00.100Z', 'enriched') RETURNING rowid`);
      // pg_dump reads a sequence when it dumps it, not as of its snapshot (sequences are not transactional):
      // the taps committed meanwhile took numbers the archive does not hold, so the next one may leave a gap,
      // never less than the highest restored, never past what the database backed up had given.
      const next = Number(tap.rows[0].rowid);
      expect(next).toBeGreaterThan(max);
      expect(next).toBeLessThanOrEqual(liveMax + 1);
      // Nothing else wrote quarantine rows: its identity goes on exactly.
      const q = await restored.query(`INSERT INTO quarantine (terminal_id, reason, problems, payload, payload_size, received_at)
        VALUES ('tilleuls-entrance', 'oversized', '[]', '\\x00'::bytea, 1, '2026-12-02T05:00:00.000Z') RETURNING id`);
      expect(Number(q.rows[0].id)).toBe(seedCounts.quarantine! + 1);
      // Registration numbers are the highest plus one, not a sequence: the next follows the archive's last.
      await restored.query(`INSERT INTO registrations (tap_id, terminal_id, site_id, worker_id, type, reason, at, at_utc, ssin, limosa_id, capacity, employer_kind, employer_id, declaration, place_of_work, received_at)
        VALUES ('after-restore', 'tilleuls-entrance', 'site-a', 'w-ana', 'IN', 'work', '2026-12-02T06:00:00+01:00', '2026-12-02T05:00:00Z', '${ANA}', NULL, 'employee',
                'enterprise', '${EMPLOYER}', '${DECLARATION}', '${PLACE}', '2026-12-02T05:00:00.100Z')`);
      const seq = await restored.query("SELECT seq FROM registrations WHERE tap_id = 'after-restore'");
      expect(Number(seq.rows[0].seq)).toBe(NIGHT_REGISTRATIONS + k + 1);
      expect(Number((await restored.query('SELECT count(*) AS n FROM registration_contexts')).rows[0].n)).toBe(seedCounts.registration_contexts);
    } finally {
      await restored.query('ROLLBACK');
    }
  });

  it('schema_migrations is the one backed up, and migratePostgres applies nothing to the restored database', async () => {
    const read = async (c: pg.Client) => (await c.query('SELECT name, checksum, applied_at FROM schema_migrations ORDER BY name')).rows;
    expect(await read(restored)).toEqual(await read(live));
    const names = postgresMigrations().map((m) => m.name);
    expect((await read(restored)).map((r) => (r as { name: string }).name)).toEqual(names);
    expect(await migratePostgres(restored)).toEqual({ applied: [], present: names, unknown: [] });
  });

  it('the check recipe finds the restore whole, and fails when a row is missing, a guard disabled or toothless', async () => {
    const check = () => runScript(recipe('### Checking the restore', [...connection(), ['ARCHIVE', archive], ['NEWDB', NEWDB]]), dir).done;
    const ok = await check();
    expect(ok.code, ok.stderr + ok.stdout).toBe(0);
    const tables = Object.keys(seedCounts).length;
    expect(ok.stdout.trim()).toBe(`restore of ${archive} into ${NEWDB}: ${tables} tables with the archive's rows, ${postgresMigrations().length} migrations, 40 triggers, registrations guarded`);

    // A row lost in the restore (the quarantine has no guard): the recipe says which table, and fails.
    const gone = await restored.query('DELETE FROM quarantine RETURNING *');
    expect(gone.rowCount).toBe(1);
    const missing = await check();
    expect(missing.code).not.toBe(0);
    expect(missing.stdout).toContain('< public.quarantine 1\n---\n> public.quarantine 0');
    const row = gone.rows[0] as Record<string, unknown>;
    await restored.query('INSERT INTO quarantine (id, terminal_id, tap_id, reason, problems, payload, payload_size, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
      [row.id, row.terminal_id, row.tap_id, row.reason, row.problems, row.payload, row.payload_size, row.received_at]);
    expect((await check()).code).toBe(0);

    // A guard missing: the recipe fails on it.
    await restored.query('ALTER TABLE taps DISABLE TRIGGER taps_registration_frozen');
    const unguarded = await check();
    expect(unguarded.code).not.toBe(0);
    expect(unguarded.stdout).toContain('< taps taps_registration_frozen');
    await restored.query('ALTER TABLE taps ENABLE TRIGGER taps_registration_frozen');
    expect((await check()).code).toBe(0);

    // Every trigger there and enabled, but the guard's function no longer refusing: the recipe's last step fails.
    const guard = (await restored.query<{ def: string }>("SELECT pg_get_functiondef('refuse_write'::regproc) AS def")).rows[0]!.def;
    await restored.query('CREATE OR REPLACE FUNCTION refuse_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END; $$');
    const toothless = await check();
    expect(toothless.code).not.toBe(0);
    expect(toothless.stdout).not.toContain('registrations guarded');
    await restored.query(guard);
    expect((await check()).code).toBe(0);
  });

  it('the restore recipe refuses a database that exists, and leaves it as it was', async () => {
    const before = await rowCounts(restored);
    const run = await runScript(recipe('### Restoring into a new database', [...connection(), ['ARCHIVE', archive], ['NEWDB', NEWDB]]), dir).done;
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(`database "${NEWDB}" already exists`);
    expect(await rowCounts(restored)).toEqual(before);
  });

  it('the switch recipe gives the restored database the gateways\' database name, and keeps the one it replaces', async () => {
    // The gateways are stopped: nothing is connected to either database.
    await close(live);
    await close(restored);
    for (const c of [...clients]) await close(c);
    const sw = (newdb: string) => runScript(recipe('### Pointing the gateways at it', [...connection(), ['DB', server.database], ['NEWDB', newdb]]), dir).done;
    // Both renames or neither: with no database to put in its place, the gateways' database keeps its name.
    const none = await sw('ciao_missing');
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain('database "ciao_missing" does not exist');
    const probe = await connect('postgres');
    expect((await probe.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'ciao%' ORDER BY 1")).rows.map((r) => r.datname)).toEqual([server.database, NEWDB]);
    await close(probe);

    const run = await sw(NEWDB);
    expect(run.code, run.stderr).toBe(0);
    const kept = /kept as (\S+)$/.exec(run.stdout.trim())?.[1];
    expect(kept).toMatch(/^ciao_before_restore_\d{8}T\d{6}Z$/);
    const admin = await connect('postgres');
    const names = (await admin.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'ciao%' ORDER BY 1")).rows.map((r) => r.datname);
    expect(names).toEqual([server.database, kept].sort());
    const now = await connect(server.database);
    const old = await connect(kept!);
    expect((await rowCounts(now)).taps).toBe(seedCounts.taps! + 2 * k);
    expect((await rowCounts(old)).taps).toBe(seedCounts.taps! + 2 * committedInAll);
  });
});
