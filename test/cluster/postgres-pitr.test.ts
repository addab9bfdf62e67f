import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { migratePostgres, postgresMigrations } from '../../gateway/store/postgres/migrate.ts';
import { postgresBinDir, postgresServerUser, serviceMissing, startPostgres, type LocalPostgres } from '../../simulator/services/local-services.ts';
import { freePort } from '../../simulator/world/free-port.ts';
import { waitUntil } from '../gateway/helpers/wait.ts';
import { NIGHT, NIGHT_REGISTRATIONS, SITE, WRITER_ROWS, recipe, refusal, rowCounts, runScript, writerTransaction, type Run } from './postgres-drill.ts';

/**
 * docs/cluster.md, "Point-in-time recovery", run as written as a restore drill: the archive command, the base
 * backup, the restore to an instant and the check, each `sh` block with only its first line (the settings)
 * set to the test's, against a real PostgreSQL started here with WAL archiving on through the doc's archive
 * command. PostgreSQL's programs refuse root: as root the recipes run as the user the server runs as.
 *
 * The database is migrated and filled with the site of postgres-drill.ts. Two base backups are taken (the
 * second prunes the first and the archived WAL only it needed), then taps are committed in three groups,
 * with the server's clock read between the second and the third: the instant to restore to. No time passes
 * on purpose: the segments are switched (`pg_switch_wal()`) and archived, and the test waits for the
 * archiver, not for a clock. The restored server must hold the first two groups exactly and none of the
 * third, as a promoted server whose guards still refuse to change a registration and to which
 * migratePostgres applies nothing; restored to the end of the archive, it holds the third too; restored to an
 * instant the archive does not reach, the recipe fails. The archive
 * command must refuse to overwrite a segment; a base backup damaged on its way to disk must be refused by
 * pg_verifybackup, the recipe failing and leaving no backup named as whole.
 */

const noPostgres = serviceMissing('postgresql');
if (noPostgres) console.warn(`\n!!! SKIPPING the PostgreSQL point-in-time recovery drill: PostgreSQL is ${noPostgres}. It runs (and must pass) under CI=true. !!!\n`);

/** Transactions per group: each a registered tap and a held tap with its badge check, as writerTransaction. */
const GROUP = 5;
const group = (g: number) => Array.from({ length: GROUP }, (_, i) => g * GROUP + i + 1);

describe.skipIf(noPostgres !== undefined)(`docs/cluster.md: point-in-time recovery of PostgreSQL, as a drill${noPostgres ? ` (skipped: ${noPostgres})` : ''}`, () => {
  const as = postgresServerUser();
  const dir = mkdtempSync(join(tmpdir(), 'ciao-pg-pitr-'));
  const walArchive = join(dir, 'wal');
  const baseBackups = join(dir, 'base');
  const archiveScript = join(dir, 'ciao-archive-wal');
  const restoreConf = join(dir, 'restore.conf');
  const restoredData: string[] = [];
  let server: LocalPostgres;
  let live: pg.Client;
  const clients: pg.Client[] = [];
  let seedCounts: Record<string, number> = {};
  let firstBackup = '';
  let backup = '';
  let instant = '';

  const run = (script: string, options: { pathFirst?: string } = {}): Promise<Run> => runScript(script, dir, { ...options, ...(as ? { as } : {}) }).done;
  const ownDir = (d: string) => {
    mkdirSync(d, { recursive: true });
    if (as) chownSync(d, as.uid, as.gid);
  };
  async function connect(port: number): Promise<pg.Client> {
    const c = new pg.Client({ host: server.host, port, user: server.user, database: server.database });
    await c.connect();
    clients.push(c);
    return c;
  }
  async function commitGroup(g: number): Promise<void> {
    for (const n of group(g)) {
      await live.query('BEGIN');
      for (const s of writerTransaction(n)) await live.query(s);
      await live.query('COMMIT');
    }
  }
  /** Switches to a new segment and waits until the archiver has copied the one just closed. */
  async function archiveCurrentSegment(): Promise<string> {
    const closed = (await live.query<{ f: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS f')).rows[0]!.f;
    await waitUntil(async () => {
      const s = (await live.query<{ last: string | null; failed: number }>('SELECT last_archived_wal AS last, failed_count::int AS failed FROM pg_stat_archiver')).rows[0]!;
      if (s.failed > 0) throw new Error(`the archive command failed: ${server.log().slice(-2000)}`);
      return s.last !== null && s.last >= closed ? true : undefined;
    }, { what: `segment ${closed} archived`, timeoutMs: 60_000 });
    return closed;
  }
  const baseBackupRecipe = (keep: number) => recipe('#### Taking a base backup', [
    ['PGHOST', server.host], ['PGPORT', String(server.port)], ['PGUSER', 'ciao_replication'],
    ['BASE_BACKUPS', baseBackups], ['WAL_ARCHIVE', walArchive], ['KEEP', String(keep)],
  ]);
  const restoreRecipe = (target: string, newdata: string, port: number) => recipe('#### Restoring to an instant', [
    ['BASE_BACKUPS', baseBackups], ['WAL_ARCHIVE', walArchive], ['TARGET_TIME', target], ['NEWDATA', newdata], ['NEWPORT', String(port)], ['CONF', restoreConf],
  ]);
  const wholeBackups = () => readdirSync(baseBackups).sort();
  const segments = () => readdirSync(walArchive).filter((f) => /^[0-9A-F]{24}$/.test(f)).sort();
  const liveIds = async (c: pg.Client) =>
    (await c.query<{ n: number }>("SELECT substring(tap_id from '^live-(\\d+)$')::int AS n FROM taps WHERE tap_id ~ '^live-\\d+$' ORDER BY 1")).rows.map((r) => r.n);

  beforeAll(async () => {
    if (as) chownSync(dir, as.uid, as.gid);
    ownDir(walArchive);
    ownDir(baseBackups);
    // The archive command as the doc gives it, installed where the server runs it from.
    writeFileSync(archiveScript, recipe('#### Archiving each WAL segment', [['WAL_ARCHIVE', walArchive]]));
    chmodSync(archiveScript, 0o755);
    server = await startPostgres({
      settings: { fsync: 'off', wal_level: 'replica', archive_mode: 'on', archive_command: `bash ${archiveScript} %p %f` },
    });
    // What the restored server reads as its configuration: the test server's own, which it takes on its command
    // line (no port, no archiving: the recipe sets those).
    writeFileSync(restoreConf, `listen_addresses = '${server.host}'\nunix_socket_directories = '${dir}'\nmax_connections = 100\nfsync = off\n`);
    live = await connect(server.port);
    await live.query("SET TIME ZONE 'UTC'");
    await migratePostgres(live);
    for (const s of [...SITE, ...NIGHT]) await live.query(s);
    await live.query('CREATE ROLE ciao_replication LOGIN REPLICATION');
    seedCounts = await rowCounts(live);
  });

  afterAll(async () => {
    for (const c of clients) await c.end().catch(() => undefined);
    // The restored servers the recipe started (pg_ctl, as the user it ran as).
    for (const data of restoredData) {
      if (existsSync(join(data, 'postmaster.pid'))) {
        spawnSync(join(postgresBinDir()!, 'pg_ctl'), ['stop', `--pgdata=${data}`, '--mode=fast', '--wait'], { encoding: 'utf8', ...(as ?? {}) });
      }
    }
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the server archives each segment through the archive command, mode 0600, and the command never overwrites one', async () => {
    const closed = await archiveCurrentSegment();
    const archived = join(walArchive, closed);
    expect(statSync(archived).mode & 0o777).toBe(0o600);
    expect(readdirSync(walArchive).filter((f) => f.endsWith('.part'))).toEqual([]);
    const original = readFileSync(archived);

    // Other bytes under an archived segment's name: refused, the archived copy untouched.
    const other = join(dir, 'other-segment');
    writeFileSync(other, Buffer.alloc(original.length, 7));
    if (as) chownSync(other, as.uid, as.gid);
    const refused = await run(`bash ${archiveScript} ${other} ${closed}`);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`${archived} exists and differs from ${other}: not overwritten`);
    expect(readFileSync(archived).equals(original)).toBe(true);

    // The same bytes again (the server retrying a segment whose success it did not see): a success.
    const same = join(dir, 'same-segment');
    writeFileSync(same, original);
    if (as) chownSync(same, as.uid, as.gid);
    const again = await run(`bash ${archiveScript} ${same} ${closed}`);
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(archived).equals(original)).toBe(true);
  });

  it('takes a base backup with the recipe, checked by pg_verifybackup; the next one prunes it and the WAL only it needed', async () => {
    const first = await run(baseBackupRecipe(1));
    expect(first.code, first.stderr).toBe(0);
    firstBackup = first.stdout.trim().split('\n').pop()!;
    expect(firstBackup).toMatch(new RegExp(`^${baseBackups}/base-\\d{8}T\\d{6}Z$`));
    expect(statSync(firstBackup).mode & 0o777).toBe(0o700);
    expect(existsSync(join(firstBackup, 'backup_manifest'))).toBe(true);
    expect(readFileSync(join(firstBackup, 'backup_manifest'), 'utf8')).toContain('"Checksum-Algorithm": "SHA256"');

    // Taps between the two base backups: the restore must bring them back from the second one's files.
    await commitGroup(0);
    const beforeSecond = segments();
    // Names are to the second: the second backup must not share the first one's (its run takes longer anyway).
    const firstStarted = Date.parse(firstBackup.replace(/^.*base-(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));
    await waitUntil(() => (Date.now() >= firstStarted + 1000 ? true : undefined), { what: 'the second the first backup was named after to be over' });
    const second = await run(baseBackupRecipe(1));
    expect(second.code, second.stderr).toBe(0);
    backup = second.stdout.trim().split('\n').pop()!;
    expect(backup).not.toBe(firstBackup);
    expect(wholeBackups()).toEqual([backup.slice(baseBackups.length + 1)]);
    // The archive keeps every segment from the one the kept backup starts in, and none before it.
    const start = /^START WAL LOCATION: .* \(file ([0-9A-F]{24})\)$/m.exec(readFileSync(join(backup, 'backup_label'), 'utf8'))![1]!;
    expect(beforeSecond.some((s) => s < start)).toBe(true);
    expect(segments().every((s) => s >= start)).toBe(true);
    expect(segments()).toEqual(expect.arrayContaining(beforeSecond.filter((s) => s >= start)));
  });

  it('commits three groups of taps, the instant to restore to read from the server between the second and the third', async () => {
    await commitGroup(1);
    await commitGroup(2);
    instant = (await live.query<{ t: string }>('SELECT clock_timestamp()::text AS t')).rows[0]!.t;
    await commitGroup(3);
    // The segment holding the third group, archived: replay reaches past the instant, and stops there.
    await archiveCurrentSegment();
    expect(await liveIds(live)).toEqual([...group(0), ...group(1), ...group(2), ...group(3)]);
  });

  let restored: pg.Client;
  let restoredPort = 0;

  it('restores with the recipe to the instant: a new data directory, replayed, promoted, on its own port', async () => {
    const newdata = join(dir, 'restored');
    restoredData.push(newdata);
    const port = await freePort();
    const r = await run(restoreRecipe(instant, newdata, port));
    expect(r.code, `${r.stderr}\n${existsSync(`${newdata}.log`) ? readFileSync(`${newdata}.log`, 'utf8') : ''}`).toBe(0);
    expect(r.stdout.trim().split('\n').pop()).toBe(`${newdata}: ${backup.slice(baseBackups.length + 1)} replayed to ${instant}, promoted, on port ${port}`);
    const log = readFileSync(`${newdata}.log`, 'utf8');
    expect(log).toContain('recovery stopping before commit of transaction');
    restored = await connect(port).catch((err: Error) => {
      throw new Error(`${err.message}\n${readFileSync(`${newdata}.log`, 'utf8')}`);
    });
    restoredPort = port;
    expect((await restored.query('SELECT pg_is_in_recovery() AS r')).rows[0].r).toBe(false);
  });

  it('the restored server holds the groups committed before the instant exactly, and none after', async () => {
    expect(await liveIds(restored)).toEqual([...group(0), ...group(1), ...group(2)]);
    const k = 3 * GROUP;
    const expected = Object.fromEntries(Object.entries(seedCounts).map(([t, n]) => [t, n + (WRITER_ROWS[t] ?? 0) * k]));
    expect(await rowCounts(restored)).toEqual(expected);
    // Each transaction whole: its held tap and badge check came with its registration.
    const held = await restored.query<{ n: number }>("SELECT count(*)::int AS n FROM taps t JOIN tap_badge_checks b USING (tap_id) WHERE t.tap_id ~ '^live-\\d+-held$'");
    expect(held.rows[0]!.n).toBe(k);
    const regs = await restored.query<{ n: number }>('SELECT count(*)::int AS n FROM registrations');
    expect(regs.rows[0]!.n).toBe(NIGHT_REGISTRATIONS + k);
  });

  it('the guards still refuse to change or delete a stored registration, and migratePostgres applies nothing', async () => {
    expect(await refusal(restored, "UPDATE taps SET at_s = at_s + 1 WHERE tap_id = 'tap-ana-in'")).toBe('a registration cannot be changed');
    expect(await refusal(restored, `UPDATE taps SET worker_id = 'w-bram' WHERE tap_id = 'live-${GROUP * 2 + 1}'`)).toBe('a registration cannot be changed');
    expect(await refusal(restored, "DELETE FROM taps WHERE tap_id = 'tap-bram-out'")).toBe('a registration cannot be deleted');
    expect(await refusal(restored, 'TRUNCATE taps')).toBe('a registration cannot be deleted');
    expect(await refusal(restored, "UPDATE taps SET enrichment = 'badge-check' WHERE tap_id = 'tap-held-1'")).toBe('accepted');
    const names = postgresMigrations().map((m) => m.name);
    expect(await migratePostgres(restored)).toEqual({ applied: [], present: names, unknown: [] });
  });

  it('the check recipe reports the restored server: promoted, its last registration, migrations, triggers, guarded', async () => {
    const check = await run(recipe('#### Checking the recovered server', [['PGHOST', server.host], ['PGPORT', String(restoredPort)], ['PGUSER', server.user], ['PGDATABASE', server.database]]));
    expect(check.code, check.stderr).toBe(0);
    const last = (await restored.query<{ seq: string; tap_id: string; received_at: string }>('SELECT seq, tap_id, received_at FROM registrations ORDER BY seq DESC LIMIT 1')).rows[0]!;
    expect(last.tap_id).toBe(`live-${3 * GROUP}`);
    const taps = seedCounts.taps! + 2 * 3 * GROUP;
    expect(check.stdout.trim().split('\n')).toEqual([
      `last registration: ${last.seq} ${last.tap_id} ${last.received_at}`,
      `taps: ${taps} registrations: ${NIGHT_REGISTRATIONS + 3 * GROUP}`,
      `migrations: ${postgresMigrations().length}`,
      'triggers enabled: 40',
      'registrations guarded',
    ]);
  });

  it('restored to the end of the archive (latest), the server holds the third group too', async () => {
    const newdata = join(dir, 'restored-latest');
    restoredData.push(newdata);
    const port = await freePort();
    const r = await run(restoreRecipe('latest', newdata, port));
    expect(r.code, `${r.stderr}\n${existsSync(`${newdata}.log`) ? readFileSync(`${newdata}.log`, 'utf8') : ''}`).toBe(0);
    const latest = await connect(port);
    expect(await liveIds(latest)).toEqual([...group(0), ...group(1), ...group(2), ...group(3)]);
  });

  it('the restore recipe refuses a data directory that exists, and an instant before every base backup', async () => {
    const existing = join(dir, 'restored');
    const before = readdirSync(existing).sort();
    const over = await run(restoreRecipe(instant, existing, await freePort()));
    expect(over.code).not.toBe(0);
    expect(over.stderr).toContain(`${existing} exists: not restoring over it`);
    expect(readdirSync(existing).sort()).toEqual(before);

    const tooOld = await run(restoreRecipe('2026-01-01 00:00:00+00', join(dir, 'restored-too-old'), await freePort()));
    expect(tooOld.code).not.toBe(0);
    expect(tooOld.stderr).toContain(`no base backup in ${baseBackups} started before 2026-01-01 00:00:00+00`);
    expect(existsSync(join(dir, 'restored-too-old'))).toBe(false);
  });

  it('an instant the archive does not reach stops the restored server, and the recipe fails', async () => {
    const newdata = join(dir, 'restored-future');
    restoredData.push(newdata);
    const future = (await live.query<{ t: string }>("SELECT (clock_timestamp() + interval '1 hour')::text AS t")).rows[0]!.t;
    const r = await run(restoreRecipe(future, newdata, await freePort()));
    expect(r.code).not.toBe(0);
    // Stopped before pg_ctl saw it consistent (pg_ctl fails), or after (the recipe's wait fails): either way, non-zero.
    expect(r.stderr).toMatch(new RegExp(`pg_ctl: could not start server|the restored server stopped: see ${newdata}\\.log`));
    expect(readFileSync(`${newdata}.log`, 'utf8')).toContain('recovery ended before configured recovery target was reached');
  });

  it('a base backup damaged on its way to disk is refused by pg_verifybackup: the recipe fails and leaves no backup named as whole', async () => {
    // pg_basebackup as the recipe runs it, then one file of what it wrote cut short, as a full or failing
    // disk would leave it.
    const wrappers = join(dir, 'damaging-bin');
    ownDir(wrappers);
    writeFileSync(join(wrappers, 'pg_basebackup'), [
      '#!/bin/bash',
      'set -euo pipefail',
      `"${postgresBinDir()}/pg_basebackup" "$@"`,
      'for a in "$@"; do case "$a" in --pgdata=*) data="${a#--pgdata=}";; esac; done',
      'truncate --size=-100 "$data/global/pg_control"',
    ].join('\n'));
    chmodSync(join(wrappers, 'pg_basebackup'), 0o755);
    const kept = wholeBackups();
    const keptSegments = segments();
    const broken = await run(baseBackupRecipe(1), { pathFirst: wrappers });
    expect(broken.code).not.toBe(0);
    expect(broken.stderr).toMatch(/pg_verifybackup: error: "global\/pg_control" has size \d+ on disk but size \d+ in the manifest/);
    // Nothing left under the temporary name, nothing new under a whole one, nothing pruned.
    expect(wholeBackups()).toEqual(kept);
    expect(segments()).toEqual(expect.arrayContaining(keptSegments));
  });
});
