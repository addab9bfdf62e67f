import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { migratePostgres, postgresMigrations } from '../../gateway/store/postgres/migrate.ts';
import { serviceMissing, startPostgres, type LocalPostgres } from '../../simulator/services/local-services.ts';
import { waitUntil } from '../gateway/helpers/wait.ts';
import {
  ANA, DECLARATION, EMPLOYER, NIGHT, NIGHT_REGISTRATIONS, PLACE, SITE, T0, WRITER_ROWS,
  digest, recipe, refusal, rowCounts, runScript, triggers, writerTransaction,
} from './postgres-drill.ts';

/**
 * docs/cluster.md, "Backing up and restoring PostgreSQL", run as written as a restore drill: each `sh` block
 * of the section with only its first line (the settings the reader sets: server, role, directories, archive,
 * database names) set to the test's, against a real PostgreSQL started here.
 *
 * The database is migrated by migratePostgres and filled by SQL with a small, realistic site (postgres-drill.ts: companies,
 * a site, a declaration, workers and an agency placement, badges, terminals, a night shift of registrations
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
