import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceMissing, startPostgres, type LocalPostgres } from '../../simulator/services/local-services.ts';
import { openPostgresStore, type PostgresStore } from '../../gateway/store/postgres/postgres-store.ts';
import { userForToken } from '../../gateway/access/users.ts';
import { ciao, type CliResult } from '../gateway/helpers/cli.ts';
import { appendRegistration, appendUnregisteredTap } from '../records/helpers/store-world.ts';
import { DECLARATION, EMPLOYER_A } from '../records/helpers/facts.ts';
import { NISS_W1 } from '../records/helpers/world.ts';
import { siteDay } from '../support/site-day.ts';

/**
 * `ciao admin` on a gateway whose store is PostgreSQL (`store.kind: "postgres"`): the real CLI, run as an
 * operator runs it (`--config FILE`, or the environment alone), against a real server; what it did is read
 * back from PostgreSQL through a store of the test's own.
 */

const noPostgres = serviceMissing('postgresql');
if (noPostgres) console.warn(`\n!!! SKIPPING the ciao admin on PostgreSQL tests: PostgreSQL is ${noPostgres}. They run (and must pass) under CI=true. !!!\n`);

/** A password the URL carries: the server trusts loopback and never asks for it, so it must only never show. */
const PASSWORD = 'Pw-never-shown-7Qx';

let pgServer: LocalPostgres;
let dir: string;
let config: string;
let store: PostgresStore | undefined;

function withPassword(url: string): string {
  const u = new URL(url);
  u.password = PASSWORD;
  return u.toString();
}

/** A gateway config on PostgreSQL whose SQLite `database` is NAME.db, which must never be created. */
function gatewayConfig(name: string, url: string): string {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ database: join(dir, `${name}.db`), store: { kind: 'postgres', url } }));
  return file;
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

/** Runs `ciao admin --config <gateway config> ...args`; the command must succeed. */
async function admin(...args: string[]): Promise<string> {
  const r = await ciao(['admin', '--config', config, ...args]);
  expect(r, `ciao admin ${args.join(' ')}`).toMatchObject({ code: 0 });
  expect(r.stdout + r.stderr).not.toContain(PASSWORD);
  return r.stdout;
}

/** The test's own view of the database, opened after the CLI made its schema. */
async function database(): Promise<PostgresStore> {
  store ??= await openPostgresStore({ url: pgServer.url, migrate: false, maxConnections: 2 });
  return store;
}

function noPassword(r: CliResult): void {
  expect(r.stdout).not.toContain(PASSWORD);
  expect(r.stderr).not.toContain(PASSWORD);
}

describe.skipIf(noPostgres !== undefined)(`ciao admin on a PostgreSQL store${noPostgres ? ` (skipped: ${noPostgres})` : ''}`, () => {
  beforeAll(async () => {
    pgServer = await startPostgres();
    dir = mkdtempSync(join(tmpdir(), 'ciao-admin-pg-'));
    config = gatewayConfig('gateway', pgServer.url);
  }, 60_000);

  afterAll(async () => {
    await store?.close();
    await pgServer?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('--config with store.kind "postgres": the site data, users, terminals, taps and records are on the server, not in the SQLite file', async () => {
    // A fresh database: the first command brings its schema up to date, as the gateway's start would.
    expect(await admin('company', 'add', EMPLOYER_A, '--name', 'Net & Propre')).toContain(`company ${EMPLOYER_A}`);
    await admin('site', 'add', 'S1', '--name', 'Tour Nord', '--post-code', '1000', '--municipality', 'Bruxelles', '--street', 'Rue Royale', '--house-number', '1');
    await admin('declaration', 'add', DECLARATION, '--site', 'S1', '--from', '2026-01-01', '--company', EMPLOYER_A);
    await admin('worker', 'add', '--id', 'W1', '--niss', NISS_W1, '--name', 'Amina Diallo', '--employer', EMPLOYER_A);
    await admin('badge', 'add', '04A1B2C3', '--worker', 'W1', '--from', '2026-01-01');
    const terminal = await admin('terminal', 'add', 'T1', '--site', 'S1');
    const secret = /^secret: (\S+)$/m.exec(terminal)![1]!;
    const user = await admin('user', 'add', '--name', 'Marie', '--role', 'site-manager', '--sites', 'S1');
    const token = /token \(shown once, keep it safe\): (\S+)/.exec(user)![1]!;

    const db = await database();
    expect(await db.one('SELECT id, name FROM companies')).toEqual({ id: EMPLOYER_A, name: 'Net & Propre' });
    expect(await db.one('SELECT id, name, post_code FROM sites')).toEqual({ id: 'S1', name: 'Tour Nord', post_code: '1000' });
    expect(await db.all('SELECT declaration, company_id FROM declaration_companies')).toEqual([{ declaration: DECLARATION, company_id: EMPLOYER_A }]);
    expect(await db.one('SELECT id, ssin FROM workers')).toEqual({ id: 'W1', ssin: NISS_W1 });
    expect(await db.one('SELECT uid, worker_id FROM badges')).toEqual({ uid: '04A1B2C3', worker_id: 'W1' });
    const storedTerminal = await db.one<{ id: string; site_id: string; secret_hash: string }>('SELECT id, site_id, secret_hash FROM terminals');
    expect(storedTerminal).toMatchObject({ id: 'T1', site_id: 'S1' });
    expect(storedTerminal!.secret_hash).not.toContain(secret);
    expect(await userForToken(db, token)).toMatchObject({ name: 'Marie', role: 'site-manager', sites: ['S1'] });
    // The audit trail names the operator's CLI, as on SQLite.
    expect((await db.all<{ actor_kind: string }>('SELECT actor_kind FROM audit_log')).map((r) => r.actor_kind)).toContain('cli');

    // Taps as the gateway stores them: two registered, one held for an unknown badge, one payload refused.
    const day = siteDay(1);
    await appendRegistration(db, { local: `${day}T08:00`, type: 'IN' });
    await appendRegistration(db, { local: `${day}T16:00`, type: 'OUT' });
    const held = await appendUnregisteredTap(db, { local: `${day}T09:00`, badge: '0A0B0C0D', status: 'unknown-badge', detail: 'badge 0A0B0C0D is not known' });
    await db.run("INSERT INTO quarantine (terminal_id, tap_id, reason, problems, payload, payload_size, received_at) VALUES ('T1', NULL, 'malformed', '[]', $1, 3, $2)", [Buffer.from('{x'), new Date().toISOString()]);

    const taps = JSON.parse(await admin('tap', 'list', '--json')) as Array<{ tap_id: string; enrichment: string }>;
    expect(taps).toEqual([expect.objectContaining({ tap_id: held, enrichment: 'unknown-badge' })]);
    expect(JSON.parse(await admin('tap', 'list', '--all', '--json'))).toHaveLength(3);
    expect(JSON.parse(await admin('tap', 'quarantine', '--json'))).toEqual([expect.objectContaining({ terminal_id: 'T1', reason: 'malformed', payload_size: 3 })]);
    const exportJson = await admin('export', '--from', day, '--to', day, '--format', 'json');
    expect((JSON.parse(exportJson) as { registrations: Array<{ type: string; workerId: string }> }).registrations.map((r) => [r.type, r.workerId])).toEqual([['IN', 'W1'], ['OUT', 'W1']]);
    expect(exportJson).not.toContain(NISS_W1);

    // Nothing went to the SQLite file of `database`: it was never even created.
    expect(existsSync(join(dir, 'gateway.db'))).toBe(false);
  }, 120_000);

  it('CIAO_GATEWAY_DATABASE_URL replaces the config\'s store.url, password included, and never shows it', async () => {
    const elsewhere = gatewayConfig('elsewhere', `postgres://ciao@127.0.0.1:${await closedPort()}/ciao`);
    const r = await ciao(['admin', '--config', elsewhere, 'company', 'list', '--json'], { CIAO_GATEWAY_DATABASE_URL: withPassword(pgServer.url) });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([expect.objectContaining({ id: EMPLOYER_A })]);
    noPassword(r);
    expect(existsSync(join(dir, 'elsewhere.db'))).toBe(false);
  }, 60_000);

  it('CIAO_GATEWAY_DATABASE_URL alone (no --config, no --db) is the PostgreSQL store', async () => {
    const r = await ciao(['admin', 'site', 'list', '--json'], { CIAO_GATEWAY_DATABASE_URL: withPassword(pgServer.url) });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([expect.objectContaining({ id: 'S1' })]);
    noPassword(r);
  }, 60_000);

  it('both CIAO_GATEWAY_DATABASE and CIAO_GATEWAY_DATABASE_URL without --config: refused, naming both, rather than guessed', async () => {
    const r = await ciao(['admin', 'site', 'list'], { CIAO_GATEWAY_DATABASE: join(dir, 'other.db'), CIAO_GATEWAY_DATABASE_URL: withPassword(pgServer.url) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/CIAO_GATEWAY_DATABASE .*CIAO_GATEWAY_DATABASE_URL.*--config/);
    noPassword(r);
    expect(existsSync(join(dir, 'other.db'))).toBe(false);
  }, 60_000);

  it('an unreachable server: a non-zero exit, a message naming the server, never the password', async () => {
    const port = await closedPort();
    const unreachable = gatewayConfig('unreachable', `postgres://ciao@127.0.0.1:${port}/ciao`);
    const r = await ciao(['admin', '--config', unreachable, 'company', 'list'], { CIAO_GATEWAY_DATABASE_URL: `postgres://ciao:${PASSWORD}@127.0.0.1:${port}/ciao` });
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBe(-1);
    expect(r.stderr).toContain(`PostgreSQL store at postgres://ciao:***@127.0.0.1:${port}/ciao`);
    expect(r.stderr).toMatch(/cannot connect/);
    noPassword(r);
  }, 60_000);
});
