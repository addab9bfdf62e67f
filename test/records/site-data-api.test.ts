import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addUser } from '../../gateway/access/users.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { openDatabase, migrate } from '../../shared/sqlite.ts';
import { openGatewayDatabase } from '../../gateway/store/database.ts';
import { REGISTRATIONS_V1_DDL } from '../../gateway/store/registrations-schema.ts';
import { GATEWAY_MIGRATIONS } from '../../gateway/store/gateway-schema.ts';
import { RECORDS_MIGRATIONS } from '../../gateway/store/records-schema.ts';
import { makeEnterpriseNumber, makeWorkerNumber } from '../../shared/identifiers/make.ts';
import { appendRegistration, appendUnregisteredTap, createWorld, DECLARATION_2, NISS_W1, startServer, type Server, type World } from './helpers/world.ts';
import { DECLARATION, EMPLOYER_A, EMPLOYER_B } from './helpers/facts.ts';
import type { Json } from '../support/json.ts';

/**
 * The site-data API as a site manager uses it: FAQ 33 scoping by company chain, deactivation that keeps
 * history, CSV imports that report each bad line and keep the good ones, enrolment from a held tap, the
 * audit trail (NISS masked), strict bodies answered with problem+json, and the migration of earlier users.
 */
const EMPLOYER_C = makeEnterpriseNumber('05551234');
const NISS_NEW = makeWorkerNumber({ year: 1990, month: 1, day: 1 }, 13);
const NISS_OTHER = makeWorkerNumber({ year: 1990, month: 2, day: 2 }, 15);
/** The same number with its check digits off by one. */
const wrongChecksum = (n: string) => `${n.slice(0, 9)}${String((Number(n.slice(9)) + 1) % 100).padStart(2, '0')}`;
let world: World;
let server: Server;
const tokens = {} as Record<'a' | 'b' | 'c' | 'admin', string>;

async function call(path: string, init: { token?: string; method?: string; body?: unknown; csv?: string } = {}) {
  const r = await fetch(`${server.url}/api/v1${path}`, {
    method: init.method ?? (init.body !== undefined || init.csv !== undefined ? 'POST' : 'GET'),
    headers: {
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : init.csv !== undefined ? { 'content-type': 'text/csv' } : {}),
    },
    body: init.body !== undefined ? JSON.stringify(init.body) : init.csv,
  });
  const text = await r.text();
  return { status: r.status, type: r.headers.get('content-type') ?? '', text, json: text.startsWith('{') ? (JSON.parse(text) as Json) : undefined };
}

beforeAll(async () => {
  world = createWorld('2026-03-10T12:00');
  // B works under A on the first declaration; C is on no chain.
  world.db.prepare('INSERT INTO declaration_companies (declaration, company_id, rank) VALUES (?, ?, 1)').run(DECLARATION, EMPLOYER_B);
  world.db.prepare("INSERT INTO companies (id, kind, name, created_at) VALUES (?, 'enterprise', 'Autre SA', ?)").run(EMPLOYER_C, new Date().toISOString());
  appendRegistration(world.db, { local: '2026-03-09T08:00', type: 'IN', worker: 'W1', terminal: 'T1', employer: EMPLOYER_A, declaration: DECLARATION });
  appendRegistration(world.db, { local: '2026-03-09T08:05', type: 'IN', worker: 'W2', terminal: 'T1', employer: EMPLOYER_B, declaration: DECLARATION });
  appendRegistration(world.db, { local: '2026-03-09T09:00', type: 'IN', worker: 'W1', terminal: 'T2', employer: EMPLOYER_A, declaration: DECLARATION_2 });
  server = await startServer(world);
  tokens.admin = server.tokens.admin;
  tokens.a = (await addUser(SqliteStore.of(world.db), { name: 'Manager A', role: 'site-manager', company: EMPLOYER_A })).token;
  tokens.b = (await addUser(SqliteStore.of(world.db), { name: 'Manager B', role: 'site-manager', company: EMPLOYER_B })).token;
  tokens.c = (await addUser(SqliteStore.of(world.db), { name: 'Manager C', role: 'payroll', company: EMPLOYER_C })).token;
});
afterAll(async () => {
  await server?.app.close();
  await world?.close();
});

describe('FAQ 33: a company sees its own workers and its subcontracting chain on its declarations', () => {
  const period = '/registrations?from=2026-03-01&to=2026-03-10';
  it('the main contractor sees its own and its subcontractor\'s registrations', async () => {
    const r = await call(period, { token: tokens.a });
    expect(r.json!.registrations.map((x) => x.employerId).sort()).toEqual([EMPLOYER_A, EMPLOYER_A, EMPLOYER_B]);
  });
  it('the subcontractor sees only its own, not the main contractor\'s', async () => {
    const r = await call(period, { token: tokens.b });
    expect(r.json!.registrations.map((x) => x.employerId)).toEqual([EMPLOYER_B]);
    const exported = await call(`/export?from=2026-03-01&to=2026-03-10&format=json`, { token: tokens.b });
    expect(exported.text).not.toContain(EMPLOYER_A);
  });
  it('a company on no chain sees none, and only its own company\'s workers', async () => {
    expect((await call(period, { token: tokens.c })).json!.registrations).toEqual([]);
    expect((await call('/workers', { token: tokens.c })).json!.items).toEqual([]);
    expect((await call('/workers', { token: tokens.b })).json!.items.map((w) => w.id)).toEqual([]);
    expect((await call('/workers', { token: tokens.a })).json!.items.map((w) => w.id).sort()).toEqual(['W1', 'W2']);
  });
  it('refuses a worker employed outside the chain, naming the field', async () => {
    const r = await call('/workers', { token: tokens.b, body: { name: 'Nouveau', niss: NISS_NEW, employers: [EMPLOYER_A] } });
    expect(r.status).toBe(403);
    expect(r.json!.problems[0]).toMatchObject({ field: 'employer[0]', rule: 'company-scope' });
  });
});

describe('site data through the API', () => {
  it('lists with search and paging', async () => {
    const all = await call('/companies?limit=2', { token: tokens.admin });
    expect(all.json).toMatchObject({ total: 3, offset: 0, limit: 2 });
    expect(all.json!.items).toHaveLength(2);
    const found = await call('/companies?q=schoon', { token: tokens.admin });
    expect(found.json!.items.map((c) => c.id)).toEqual([EMPLOYER_B]);
    const byNiss = await call(`/workers?q=${NISS_W1}`, { token: tokens.admin });
    expect(byNiss.json!.items.map((w) => w.id)).toEqual(['W1']);
  });

  it('deactivates instead of deleting: the row, its registrations and its history stay', async () => {
    const before = (world.db.prepare('SELECT count(*) AS n FROM registrations').get() as { n: number }).n;
    const r = await call('/workers/W2/deactivate', { token: tokens.admin, method: 'POST' });
    expect(r.status).toBe(200);
    expect(r.json!.deactivatedAt).toEqual(expect.any(String));
    expect(world.db.prepare("SELECT revoked_reason FROM badges WHERE worker_id = 'W2'").get()).toEqual({ revoked_reason: 'worker deactivated' });
    expect((world.db.prepare('SELECT count(*) AS n FROM registrations').get() as { n: number }).n).toBe(before);
    expect((await call('/workers', { token: tokens.admin })).json!.items.map((w) => w.id)).toEqual(['W1']);
    expect((await call('/workers?inactive=true', { token: tokens.admin })).json!.items.map((w) => w.id).sort()).toEqual(['W1', 'W2']);
    const history = await call('/audit?entity=worker&entityId=W2', { token: tokens.admin });
    expect(history.json!.items[0]).toMatchObject({ action: 'deactivate', before: { deactivatedAt: null }, after: { deactivatedAt: expect.any(String) } });
    expect((await call('/workers/W2/reactivate', { token: tokens.admin, method: 'POST' })).json!.deactivatedAt).toBeNull();
  });

  it('refuses a field a route does not know, and a duplicate, with problem+json', async () => {
    const extra = await call('/companies', { token: tokens.admin, body: { number: EMPLOYER_C, name: 'X', colour: 'red' } });
    expect(extra.status).toBe(400);
    expect(extra.type).toMatch(/application\/problem\+json/);
    expect(extra.json!.problems[0]).toMatchObject({ field: 'colour', rule: 'additionalProperties' });
    const dup = await call('/companies', { token: tokens.admin, body: { number: EMPLOYER_C, name: 'X' } });
    expect(dup.json!.problems[0]).toMatchObject({ field: 'number', rule: 'unique' });
    const bad = await call('/workers', { token: tokens.admin, body: { name: 'X', niss: wrongChecksum(NISS_W1), employers: [EMPLOYER_A] } });
    expect(bad.json!.problems[0]).toMatchObject({ field: 'niss', rule: 'checksum' });
  });

  it('imports CSV: each bad line by line and field, the good lines kept, each change in the audit trail', async () => {
    const csv = ['niss,name,capacity,employers', `${NISS_NEW},Good One,employee,${EMPLOYER_A}`, `${wrongChecksum(NISS_OTHER)},Bad Checksum,employee,${EMPLOYER_A}`, `${NISS_OTHER},,employee,${EMPLOYER_A}`].join('\n');
    const r = await call('/workers/import', { token: tokens.admin, csv });
    expect(r.json!.imported).toBe(1);
    expect(r.json!.rejected).toEqual([
      { line: 3, problems: [expect.objectContaining({ field: 'niss', rule: 'checksum' })] },
      { line: 4, problems: [expect.objectContaining({ field: 'name', rule: 'required' })] },
    ]);
    const audit = await call('/audit?entity=worker', { token: tokens.admin });
    const created = audit.json!.items.find((e) => e.action === 'create' && e.after.name === 'Good One');
    expect(created?.after.ssin).toBe(`*********${NISS_NEW.slice(-2)}`);
    const csvExport = await call('/audit?format=csv', { token: tokens.admin });
    expect(csvExport.type).toMatch(/text\/csv/);
    expect(csvExport.text).not.toContain(NISS_NEW);
  });

  it('enrols a badge from a held tap, valid from the tap\'s day, names the tap in the audit trail and sends the held tap late', async () => {
    const tapId = appendUnregisteredTap(world.db, { local: '2026-03-08T07:30', badge: 'CAFE0001', status: 'unknown-badge', terminal: 'T1' });
    const registrations = () => world.db.prepare('SELECT COUNT(*) FROM registrations WHERE tap_id = ?').pluck().get(tapId);
    const preview = await call('/enrolments/preview', { token: tokens.a, body: { tapId, worker: 'W1' } });
    expect(preview.json).toMatchObject({ tap: { badge: 'CAFE0001', day: '2026-03-08' }, heldTaps: [{ tapId, heldBecause: 'unknown-badge', outcome: 'send' }], releasesHeldTaps: true });
    // The preview changed nothing.
    expect(registrations()).toBe(0);
    expect((await call('/badges/CAFE0001', { token: tokens.a })).status).toBe(404);
    const r = await call('/enrolments', { token: tokens.a, body: { tapId, worker: 'W1' } });
    expect(r.status).toBe(201);
    expect(r.json!.badge).toMatchObject({ uid: 'CAFE0001', workerId: 'W1', validFrom: '2026-03-08' });
    expect(r.json!.released).toEqual(preview.json!.heldTaps);
    expect(registrations()).toBe(1);
    const audit = await call('/audit?entity=badge&entityId=CAFE0001', { token: tokens.a });
    expect(audit.json!.items[0]).toMatchObject({ action: 'enrol', actor: { name: 'Manager A' }, after: { fromTap: tapId } });
    const release = await call(`/audit?entity=tap&entityId=${tapId}`, { token: tokens.a });
    expect(release.json!.items[0]).toMatchObject({ action: 'release-late', actor: { name: 'Manager A' }, causeId: audit.json!.items[0].id, after: { heldAs: 'unknown-badge', at: expect.stringMatching(/^2026-03-08T07:30/) } });
    // The tap is no longer held (it was sent): enrolling from it again finds nothing.
    const again = await call('/enrolments', { token: tokens.a, body: { tapId, worker: 'W1' } });
    expect(again.json!.problems[0]).toMatchObject({ field: 'tap', rule: 'exists' });
  });

  it('pushes terminal settings with a new config version', async () => {
    const before = (await call('/terminals/T1', { token: tokens.admin })).json!;
    const r = await call('/terminals/T1', { token: tokens.admin, method: 'PATCH', body: { language: 'nl', feedbackSeconds: 4 } });
    expect(r.json).toMatchObject({ language: 'nl', feedbackSeconds: 4, configVersion: before.configVersion + 1 });
    const back = await call('/terminals/T1', { token: tokens.admin, method: 'PATCH', body: { language: null } });
    expect(back.json).toMatchObject({ language: null, feedbackSeconds: 4 });
    const wrong = await call('/terminals/T1', { token: tokens.admin, method: 'PATCH', body: { language: 'it' } });
    expect(wrong.json!.problems[0]).toMatchObject({ field: 'language', rule: 'enum' });
  });

  it('sends live change events: hello first, then the kinds that changed', async () => {
    const controller = new AbortController();
    const r = await fetch(`${server.url}/api/v1/events`, { headers: { authorization: `Bearer ${tokens.admin}` }, signal: controller.signal });
    expect(r.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = r.body!.pipeThrough(new TextDecoderStream()).getReader();
    let seen = '';
    while (!seen.includes('event: hello')) seen += (await reader.read()).value ?? '';
    await call('/companies', { token: tokens.admin, body: { number: makeEnterpriseNumber('05559876'), name: 'Live SA' } });
    while (!/event: change\ndata: \{"kinds":\[[^\]]*"site-data"/.test(seen)) seen += (await reader.read()).value ?? '';
    controller.abort();
  });
});

describe('a site manager who creates a site', () => {
  it('gets it in their scope and keeps the NISS grant they had', async () => {
    const { token } = await addUser(SqliteStore.of(world.db), { name: 'Manager N', role: 'site-manager', sites: ['S1'], canSeeNiss: true });
    const created = await call('/sites', { token, body: { id: 'S-NISS', name: 'Nouveau site', postCode: '1000', municipality: 'Bruxelles', street: 'Rue Neuve', houseNumber: '1' } });
    expect(created.status, created.text).toBe(201);
    const me = await call('/me', { token });
    expect(me.json).toMatchObject({ canSeeNiss: true });
    expect((me.json!.sites as unknown as Array<{ id: string }>).map((x) => x.id).sort()).toEqual(['S-NISS', 'S1']);
  });
});

describe('users from before the console', () => {
  it('become administrators and site managers with the same sites and NISS grant', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ciao-migrate-'));
    try {
      const path = join(dir, 'old.db');
      const old = openDatabase(path);
      migrate(old, 'gateway', [REGISTRATIONS_V1_DDL, GATEWAY_MIGRATIONS[0]!]);
      migrate(old, 'siteman', [RECORDS_MIGRATIONS[0]!]);
      const now = new Date().toISOString();
      old.prepare("INSERT INTO siteman_users (id, name, role, sites, can_see_niss, token_hash, created_at) VALUES ('u1', 'Admin', 'admin', '[]', 0, 'h1', ?)").run(now);
      old.prepare("INSERT INTO siteman_users (id, name, role, sites, can_see_niss, token_hash, created_at) VALUES ('u2', 'Marie', 'manager', '[\"S1\"]', 0, 'h2', ?)").run(now);
      old.prepare("INSERT INTO siteman_users (id, name, role, sites, can_see_niss, token_hash, created_at, revoked_at) VALUES ('u3', 'Paie', 'manager', '[\"S1\",\"S2\"]', 1, 'h3', ?, ?)").run(now, now);
      old.close();
      const db = openGatewayDatabase(path);
      const rows = db.prepare('SELECT id, role, company_id, sites, can_see_niss, token_hash, revoked_at IS NOT NULL AS revoked FROM siteman_users ORDER BY id').all();
      expect(rows).toEqual([
        { id: 'u1', role: 'administrator', company_id: null, sites: null, can_see_niss: 0, token_hash: 'h1', revoked: 0 },
        { id: 'u2', role: 'site-manager', company_id: null, sites: '["S1"]', can_see_niss: 0, token_hash: 'h2', revoked: 0 },
        { id: 'u3', role: 'site-manager', company_id: null, sites: '["S1","S2"]', can_see_niss: 1, token_hash: 'h3', revoked: 1 },
      ]);
      expect(db.prepare('SELECT count(*) AS n FROM audit_log').get()).toEqual({ n: 0 });
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
