import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Fastify, { type RouteOptions } from 'fastify';
import { adminApiPlugin } from '../../gateway/http/admin-api.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { appendRegistration, createWorld, NISS_W1, NISS_W2, setTerminalStatus, startServer, type Server, type World } from './helpers/world.ts';
import { at, EMPLOYER_B } from './helpers/facts.ts';

let world: World;
let server: Server;
const seqs: Record<string, number> = {};

/** A JSON answer as these tests read it: lists of rows under names, read field by field. */
type Row = Record<string, unknown>;
type Answer = Record<string, Row[]> & Row;

async function call(path: string, opts: { token?: string; method?: string; body?: unknown } = {}) {
  const res = await fetch(`${server.url}${path}`, {
    method: opts.method ?? 'GET',
    headers: { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...(opts.body ? { 'content-type': 'application/json' } : {}) },
    body: opts.body ? JSON.stringify(opts.body) : undefined,
  });
  const text = await res.text();
  let json = {} as Answer; // answers that are not JSON (CSV, HTML) are read from `text`
  try { json = JSON.parse(text) as Answer; } catch { /* not JSON */ }
  return { status: res.status, type: res.headers.get('content-type') ?? '', headers: res.headers, text, json };
}

beforeAll(async () => {
  world = createWorld('2026-03-10T12:00');
  seqs.w1in = appendRegistration(world.db, { local: '2026-03-09T08:00', type: 'IN', worker: 'W1', terminal: 'T1' });
  seqs.w1in2 = appendRegistration(world.db, { local: '2026-03-09T09:00', type: 'IN', worker: 'W1', terminal: 'T1' });
  seqs.w1out = appendRegistration(world.db, { local: '2026-03-09T16:00', type: 'OUT', worker: 'W1', terminal: 'T1' });
  seqs.w1wrong = appendRegistration(world.db, { local: '2026-03-10T08:00', type: 'IN', worker: 'W1', terminal: 'T1', employer: EMPLOYER_B });
  seqs.w2in = appendRegistration(world.db, { local: '2026-03-10T07:00', type: 'IN', worker: 'W2', terminal: 'T2' });
  seqs.old = appendRegistration(world.db, { local: '2026-02-01T08:00', type: 'IN', worker: 'W1', terminal: 'T1', employer: EMPLOYER_B });
  appendRegistration(world.db, { local: '2026-02-01T16:00', type: 'OUT', worker: 'W1', terminal: 'T1' });
  setTerminalStatus(world.db, 'T1', { state: 'online', queued: 0, skewMs: 1200, updatedAt: new Date(Date.parse(at('2026-03-10T11:59'))) });
  setTerminalStatus(world.db, 'T2', { state: 'offline', queued: 3, skewMs: -200, updatedAt: new Date(Date.parse(at('2026-03-10T10:00'))) });
  server = await startServer(world);
});

afterAll(async () => {
  await server?.app.close();
  await world?.close();
});

describe('authentication', () => {
  it('refuses a request without a token, as problem+json naming the field and rule', async () => {
    const r = await call('/api/v1/presence');
    expect(r.status).toBe(401);
    expect(r.type).toContain('application/problem+json');
    expect(r.json).toMatchObject({ status: 401, problems: [{ field: 'authorization', rule: 'bearer-token' }] });
  });

  it('refuses an unknown token', async () => {
    const r = await call('/api/v1/presence', { token: 'ciao_not-a-real-token' });
    expect(r.status).toBe(401);
    expect(r.json.problems[0].rule).toBe('valid-token');
  });

  it('stops accepting a revoked token', async () => {
    const { addUser, revokeUser } = await import('../../gateway/access/users.ts');
    const { SqliteStore } = await import('../../gateway/store/sqlite-store.ts');
    const { user, token } = await addUser(SqliteStore.of(world.db), { name: 'Temp', role: 'manager', sites: ['S1'] });
    expect((await call('/api/v1/me', { token })).status).toBe(200);
    await revokeUser(SqliteStore.of(world.db), user.id);
    expect((await call('/api/v1/me', { token })).status).toBe(401);
  });

  it('tells a manager who they are and which sites they see', async () => {
    const r = await call('/api/v1/me', { token: server.tokens.manager });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ role: 'site-manager', canSeeNiss: false, sites: [{ id: 'S1', name: 'Tour Nord' }] });
    expect(r.json.permissions).toEqual(['read', 'export', 'change-site-data', 'corrections', 'read-audit']);
  });

  it('keeps the user list for administrators, and never shows token hashes', async () => {
    const denied = await call('/api/v1/users', { token: server.tokens.manager });
    expect(denied.status).toBe(403);
    expect(denied.json.problems[0]).toMatchObject({ field: 'role', rule: 'permission-manage-users' });
    const ok = await call('/api/v1/users', { token: server.tokens.admin });
    expect(ok.status).toBe(200);
    expect(ok.json.users.length).toBeGreaterThanOrEqual(3);
    expect(ok.text).not.toMatch(/token_hash|tokenHash/);
  });
});

describe('roles and NISS', () => {
  it('shows a site manager only their own sites, without NISS', async () => {
    const r = await call('/api/v1/registrations?from=2026-03-01&to=2026-03-10', { token: server.tokens.manager });
    expect(r.status).toBe(200);
    expect(r.json.registrations.map((x: Row) => x.siteId)).toEqual(['S1', 'S1', 'S1', 'S1']);
    expect(r.text).not.toContain(NISS_W1);
    expect(r.json.registrations[0]).not.toHaveProperty('ssin');
  });

  it('shows NISS to a manager allowed to see it, and everything to an administrator', async () => {
    const payroll = await call('/api/v1/registrations?from=2026-03-01&to=2026-03-10', { token: server.tokens.managerNiss });
    expect(payroll.json.registrations[0].ssin).toBe(NISS_W1);
    const admin = await call('/api/v1/registrations?from=2026-03-01&to=2026-03-10', { token: server.tokens.admin });
    expect(new Set(admin.json.registrations.map((x: Row) => x.siteId))).toEqual(new Set(['S1', 'S2']));
    expect(admin.text).toContain(NISS_W2);
  });

  it("refuses a manager another site's data, naming the rule", async () => {
    const r = await call('/api/v1/registrations?from=2026-03-01&to=2026-03-10&site=S2', { token: server.tokens.manager });
    expect(r.status).toBe(403);
    expect(r.json.problems[0]).toMatchObject({ field: 'site', rule: 'site-scope' });
  });

  it('filters by worker, company and declaration', async () => {
    const byCompany = await call(`/api/v1/registrations?from=2026-03-01&to=2026-03-10&company=${EMPLOYER_B}`, { token: server.tokens.admin });
    expect(byCompany.json.registrations.map((x: Row) => x.seq)).toEqual([seqs.w1wrong]);
    const byWorker = await call('/api/v1/registrations?from=2026-03-01&to=2026-03-10&worker=W2', { token: server.tokens.admin });
    expect(byWorker.json.registrations.map((x: Row) => x.seq)).toEqual([seqs.w2in]);
  });
});

describe('export', () => {
  it('exports 100 days as CSV without NISS for a manager', async () => {
    const r = await call('/api/v1/export?from=2025-12-01&to=2026-03-10&format=csv', { token: server.tokens.manager });
    expect(r.status).toBe(200);
    expect(r.type).toContain('text/csv');
    expect(r.headers.get('content-disposition')).toContain('ciao-registrations-2025-12-01_2026-03-10.csv');
    const lines = r.text.trim().split('\r\n');
    expect(lines[0]).not.toContain('ssin');
    expect(lines).toHaveLength(1 + 6);
    expect(r.text).not.toContain(NISS_W1);
  });

  it('exports JSON with NISS for an administrator', async () => {
    const r = await call('/api/v1/export?from=2026-03-01&to=2026-03-10&format=json', { token: server.tokens.admin });
    expect(r.json.nissIncluded).toBe(true);
    expect(r.json.registrations.map((x: Row) => x.ssin)).toContain(NISS_W2);
  });

  it('refuses 101 days, naming the rule', async () => {
    const r = await call('/api/v1/export?from=2025-11-30&to=2026-03-10&format=csv', { token: server.tokens.admin });
    expect(r.status).toBe(400);
    expect(r.type).toContain('application/problem+json');
    expect(r.json.problems[0]).toMatchObject({ field: 'to', rule: 'max-100-calendar-days' });
  });

  it('refuses a missing or malformed period with the field named', async () => {
    const r = await call('/api/v1/export?to=2026-03-10', { token: server.tokens.admin });
    expect(r.status).toBe(400);
    expect(r.json.problems[0]).toMatchObject({ field: 'from', rule: 'required' });
    const bad = await call('/api/v1/export?from=10/03/2026&to=2026-03-10', { token: server.tokens.admin });
    expect(bad.json.problems[0]).toMatchObject({ field: 'from', rule: 'format' });
  });
});

describe('presence, terminals, remarks', () => {
  it('shows who is on site now and the terminals', async () => {
    const p = await call('/api/v1/presence', { token: server.tokens.admin });
    expect(p.json.presence.map((x: Row) => [x.workerId, x.siteId, x.state])).toEqual([['W1', 'S1', 'working'], ['W2', 'S2', 'working']]);
    const mine = await call('/api/v1/presence', { token: server.tokens.manager });
    expect(mine.json.presence.map((x: Row) => x.workerId)).toEqual(['W1']);
    const t = await call('/api/v1/terminals', { token: server.tokens.admin });
    expect(t.json.terminals.map((x: Row) => [x.terminalId, x.state, x.queued])).toEqual([['T1', 'online', 0], ['T2', 'offline', 3]]);
  });

  it('gives remarks with advice, scoped to the manager', async () => {
    const r = await call('/api/v1/remarks?from=2026-03-01&to=2026-03-10', { token: server.tokens.manager });
    const kinds = r.json.remarks.map((x: Row) => x.kind).sort();
    expect(kinds).toEqual(['double-in', 'employer-not-on-declaration']);
    for (const x of r.json.remarks) expect((x.advice as Record<string, string>).nl!.length).toBeGreaterThan(30);
    const bad = await call('/api/v1/remarks?kind=late', { token: server.tokens.manager });
    expect(bad.status).toBe(400);
    expect(bad.json.problems[0]).toMatchObject({ field: 'kind', rule: 'enum' });
    const admin = await call('/api/v1/remarks?from=2026-01-25&to=2026-03-10', { token: server.tokens.admin });
    expect(admin.json.remarks.map((x: Row) => x.kind)).toContain('employer-not-on-declaration');
  });

  it("draws a worker's day", async () => {
    const r = await call('/api/v1/timeline?worker=W1&day=2026-03-09', { token: server.tokens.manager });
    expect(r.json.bars.map((b: Row) => [b.kind, b.fromSeq, b.toSeq])).toEqual([['work', seqs.w1in, null], ['work', seqs.w1in2, seqs.w1out]]);
  });

  it('answers the applicability question with the rule', async () => {
    const r = await call('/api/v1/applies?amount=4000&subcontractors=2&cleaning=true', { token: server.tokens.manager });
    expect(r.json.declarationRequired).toMatchObject({ applies: true, rule: '30bis-two-or-more-subcontractors' });
    const bad = await call('/api/v1/applies?amount=lots&subcontractors=0&cleaning=true', { token: server.tokens.manager });
    expect(bad.status).toBe(400);
    expect(bad.json.problems[0]).toMatchObject({ field: 'amount', rule: 'amount-format' });
    // 30.000 is thirty thousand euros, as Belgians type it: a declaration is required.
    const belgian = await call(`/api/v1/applies?amount=${encodeURIComponent('30.000')}&subcontractors=0&cleaning=true`, { token: server.tokens.manager });
    expect(belgian.json.declarationRequired).toMatchObject({ applies: true, rule: '30bis-30000-no-subcontractor' });
    const ambiguous = await call(`/api/v1/applies?amount=${encodeURIComponent('30,000')}&subcontractors=0&cleaning=true`, { token: server.tokens.manager });
    expect(ambiguous.json.problems[0]).toMatchObject({ field: 'amount', rule: 'ambiguous-amount' });
  });
});

describe('corrections', () => {
  it('prepares, sends and records the decision, and leaves the registration as it was', async () => {
    const before = world.db.prepare('SELECT * FROM registrations WHERE seq = ?').get(seqs.w1wrong);
    const created = await call('/api/v1/corrections', { token: server.tokens.manager, method: 'POST', body: { seq: seqs.w1wrong, field: 'employer', requestedValue: '0403.019.261', reason: 'Worker chose the previous employer after the takeover' } });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ state: 'draft', currentValue: EMPLOYER_B, requestedValue: '0403019261', deadline: '2026-04-09' });
    const sent = await call(`/api/v1/corrections/${created.json.id}/state`, { token: server.tokens.manager, method: 'POST', body: { state: 'sent' } });
    expect(sent.json.state).toBe('sent');
    const doc = await call(`/api/v1/corrections/document?ids=${created.json.id}&format=html`, { token: server.tokens.manager });
    expect(doc.type).toContain('text/html');
    expect(doc.text).toContain('0403019261');
    expect(doc.text).not.toContain(NISS_W1);
    const csv = await call(`/api/v1/corrections/document?ids=${created.json.id}&format=csv`, { token: server.tokens.admin });
    expect(csv.text).toContain(NISS_W1);
    const accepted = await call(`/api/v1/corrections/${created.json.id}/state`, { token: server.tokens.manager, method: 'POST', body: { state: 'accepted', note: 'ONSS ref 123' } });
    expect(accepted.json.history.map((h: Row) => h.state)).toEqual(['draft', 'sent', 'accepted']);
    expect(world.db.prepare('SELECT * FROM registrations WHERE seq = ?').get(seqs.w1wrong)).toEqual(before);
    // ONSS accepted: the remark on that registration is resolved.
    const remarks = await call('/api/v1/remarks?from=2026-03-10&to=2026-03-10', { token: server.tokens.manager });
    expect(remarks.json.remarks.filter((x: Row) => x.seq === seqs.w1wrong)).toEqual([]);
  });

  it('refuses other fields, late requests, bad transitions and missing fields with the rule named', async () => {
    const field = await call('/api/v1/corrections', { token: server.tokens.manager, method: 'POST', body: { seq: seqs.w1in, field: 'at', requestedValue: '2026-03-09T07:00', reason: 'wrong time' } });
    expect(field.status).toBe(400);
    expect(field.json.problems[0]).toMatchObject({ field: 'field', rule: 'correctable-fields' });
    const late = await call('/api/v1/corrections', { token: server.tokens.admin, method: 'POST', body: { seq: seqs.old, field: 'employer', requestedValue: '0403019261', reason: 'takeover' } });
    expect(late.status).toBe(400);
    expect(late.json.problems[0]).toMatchObject({ field: 'seq', rule: 'correction-window-30-days' });
    const missing = await call('/api/v1/corrections', { token: server.tokens.manager, method: 'POST', body: { seq: seqs.w1in, field: 'employer', requestedValue: EMPLOYER_B } });
    expect(missing.status).toBe(400);
    expect(missing.json.problems[0]).toMatchObject({ field: 'reason', rule: 'required' });
    const other = await call('/api/v1/corrections', { token: server.tokens.manager, method: 'POST', body: { seq: seqs.w2in, field: 'employer', requestedValue: EMPLOYER_B, reason: 'x' } });
    expect(other.status).toBe(404);
    const draft = await call('/api/v1/corrections', { token: server.tokens.manager, method: 'POST', body: { seq: seqs.w1in, field: 'declaration', requestedValue: '2AB34CD56EF78', reason: 'wrong QR code' } });
    const jump = await call(`/api/v1/corrections/${draft.json.id}/state`, { token: server.tokens.manager, method: 'POST', body: { state: 'accepted' } });
    expect(jump.status).toBe(400);
    expect(jump.json.problems[0]).toMatchObject({ field: 'state', rule: 'state-transition' });
  });
});

describe('no registration on a worker\'s behalf, no deletion', () => {
  it('has no route that creates or deletes a registration, in the server and in the OpenAPI document', async () => {
    const routes: RouteOptions[] = [];
    const app = Fastify({ logger: false });
    app.addHook('onRoute', (r) => { routes.push(r); });
    await app.register(adminApiPlugin, { store: SqliteStore.of(world.db) });
    await app.ready();
    const writes = routes.flatMap((r) => (Array.isArray(r.method) ? r.method : [r.method]).map((m) => `${m} ${r.url}`)).filter((x) => !/^(GET|HEAD) /.test(x));
    // Writes exist for corrections and site data; none creates, changes or deletes a registration or a tap,
    // and nothing is ever deleted (deactivation keeps history).
    expect(writes.length).toBeGreaterThan(2);
    for (const w of writes) {
      expect(w, w).toMatch(/^(POST|PATCH) /);
      expect(w, w).not.toMatch(/registrations|\/taps|held-taps/);
    }
    expect(writes).toContain('POST /api/v1/corrections');
    const doc = (await app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> };
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const m of Object.keys(methods)) {
        expect(m === 'get' || !/registrations|\/taps/.test(path), `${m} ${path}`).toBe(true);
        expect(m).not.toBe('delete');
        expect(m).not.toBe('put');
      }
    }
    await app.close();
  });

  it('answers 404 to attempts to post or delete registrations, and the table is unchanged', async () => {
    const count = () => (world.db.prepare('SELECT COUNT(*) AS n FROM registrations').get() as { n: number }).n;
    const n = count();
    for (const [method, path] of [['POST', '/api/v1/registrations'], ['DELETE', `/api/v1/registrations/${seqs.w1in}`], ['PUT', `/api/v1/registrations/${seqs.w1in}`], ['POST', '/api/v1/taps']]) {
      const r = await call(path!, { token: server.tokens.admin, method, body: method === 'DELETE' ? undefined : { type: 'IN', worker: 'W1' } });
      expect(r.status, `${method} ${path}`).toBe(404);
    }
    expect(count()).toBe(n);
  });
});

describe('errors are problem+json everywhere under the API', () => {
  it('an unknown route answers 404 problem+json naming the route, with or without a token', async () => {
    for (const token of [server.tokens.admin, undefined]) {
      const r = await call('/api/v1/no-such-thing?x=1', { token });
      expect(r.status).toBe(404);
      expect(r.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(r.json).toMatchObject({ status: 404, instance: '/api/v1/no-such-thing', problems: [{ field: '(route)', rule: 'exists' }] });
    }
  });

  it('a body with a property the schema refuses gets 400 naming it, and nothing is created', async () => {
    const before = (await call('/api/v1/corrections', { token: server.tokens.admin })).json.length;
    const r = await call('/api/v1/corrections', { token: server.tokens.admin, method: 'POST', body: { seq: seqs.w1in, field: 'employer', requestedValue: EMPLOYER_B, reason: 'takeover', requestedBy: 'me' } });
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(r.json.problems).toEqual([{ field: 'requestedBy', rule: 'additionalProperties', message: 'requestedBy: is not a field of this request' }]);
    expect((await call('/api/v1/corrections', { token: server.tokens.admin })).json.length).toBe(before);
  });
});

describe('the plugin under a prefix', () => {
  it('still requires a token on every API route, and serves the dashboard with a strict CSP', async () => {
    const app = Fastify({ logger: false });
    await app.register(adminApiPlugin, { store: SqliteStore.of(world.db), prefix: '/x' } as never);
    const me = await app.inject({ method: 'GET', url: '/x/api/v1/me' });
    expect(me.statusCode).toBe(401);
    const page = await app.inject({ method: 'GET', url: '/x/dashboard/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    await app.close();
  });
});

describe('OpenAPI', () => {
  it('serves the document generated from the route schemas, without auth', async () => {
    const r = await call('/api/v1/openapi.json');
    expect(r.status).toBe(200);
    expect(r.json.openapi).toMatch(/^3\./);
    const doc = r.json as unknown as { paths: Record<string, { get: { parameters: Row[] } }>; components: { securitySchemes: Record<string, Row> } };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/v1/export', '/api/v1/remarks', '/api/v1/corrections', '/api/v1/presence']));
    expect(doc.paths['/api/v1/export']!.get.parameters.map((p) => p.name)).toEqual(expect.arrayContaining(['from', 'to', 'format']));
    expect(doc.components.securitySchemes.bearerAuth!.scheme).toBe('bearer');
  });
});
