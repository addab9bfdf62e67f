import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { SignJWT, importPKCS8 } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logging.ts';
import { startEmulator, type EmulatorHandle } from '../../simulator/emulator/index.ts';
import { rsaKeyPair, tempDir, validDeclaration, validEnterpriseNumber, validNiss, waitFor } from './helpers.ts';

const BULK = '/REST/presenceRegistration/v1/presenceRegistrations/registerInBulk';
const SEARCH = '/REST/presenceRegistration/v1/presenceRegistrations';

let emu: EmulatorHandle;
let keys: { publicKeyPem: string; privateKeyPem: string };
let otherKeys: { publicKeyPem: string; privateKeyPem: string };
const tmp = tempDir();
const KNOWN_DUC = validDeclaration(1);
const KNOWN_COMPANY = validEnterpriseNumber(1);

async function assertion(o: { clientId?: string; aud?: string; expIn?: number; jti?: string; key?: string; sub?: string } = {}) {
  const key = await importPKCS8(o.key ?? keys.privateKeyPem, 'RS256');
  const now = Math.floor(Date.now() / 1000);
  const clientId = o.clientId ?? 'gw';
  return new SignJWT({})
    .setProtectedHeader({ alg: 'RS256' })
    .setIssuer(clientId)
    .setSubject(o.sub ?? clientId)
    .setAudience(o.aud ?? `${emu.url}/REST/oauth/v5/token`)
    .setIssuedAt(now)
    .setExpirationTime(now + (o.expIn ?? 60))
    .setJti(o.jti ?? randomUUID())
    .sign(key);
}

async function tokenRequest(jwt: string) {
  return fetch(`${emu.url}/REST/oauth/v5/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: jwt }),
  });
}

async function token(): Promise<string> {
  const res = await tokenRequest(await assertion());
  expect(res.status).toBe(200);
  const body = (await res.json()) as { access_token: string; token_type: string; expires_in: number };
  expect(body.token_type).toBe('Bearer');
  return body.access_token;
}

function item(i: number, extra: Record<string, unknown> = {}) {
  return {
    registrationDate: `${new Date(Date.now() - 60_000).toISOString().slice(0, 19)}Z`,
    ssin: validNiss(i), type: 'IN', capacity: 'EMPLOYEE', employer: { enterpriseNumber: KNOWN_COMPANY },
    placeOfWork: { coordinates: { latitude: 50.85, longitude: 4.35 } },
    contractualRelationshipReference: KNOWN_DUC, clientReference: `ref-${i}-${randomUUID().slice(0, 8)}`, ...extra,
  };
}

async function bulk(tok: string, items: unknown[]) {
  return fetch(`${emu.url}${BULK}`, { method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: JSON.stringify({ items }) });
}

beforeAll(async () => {
  keys = await rsaKeyPair();
  otherKeys = await rsaKeyPair();
  emu = await startEmulator({
    dbPath: join(tmp.dir, 'emu.sqlite'),
    clients: [{ clientId: 'gw', publicKeyPem: keys.publicKeyPem }, { clientId: 'short', publicKeyPem: keys.publicKeyPem }],
    knownData: { companies: [{ id: KNOWN_COMPANY, active: true }], declarations: [{ reference: KNOWN_DUC, companies: [] }] },
    remarksDelayMs: 50,
    logger: createLogger('emu', { level: 'silent' }),
  });
});
afterAll(async () => {
  await emu.stop();
  tmp.cleanup();
});

describe('token endpoint', () => {
  it('grants a Bearer token for a valid client assertion', async () => {
    expect((await token()).length).toBeGreaterThan(20);
  });

  it('refuses a bad signature, a wrong audience, an expired or too-long assertion, iss != sub, an unknown client', async () => {
    const cases = [
      await assertion({ key: otherKeys.privateKeyPem }),
      await assertion({ aud: 'https://elsewhere.example/REST/oauth/v5/token' }),
      await assertion({ expIn: -120 }),
      await assertion({ expIn: 3600 }),
      await assertion({ sub: 'someone-else' }),
      await assertion({ clientId: 'nobody' }),
    ];
    for (const jwt of cases) {
      const res = await tokenRequest(jwt);
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    }
  });

  it('refuses a replayed jti', async () => {
    const jti = randomUUID();
    expect((await tokenRequest(await assertion({ jti }))).status).toBe(200);
    const again = await tokenRequest(await assertion({ jti }));
    expect(again.status).toBe(401);
    expect(((await again.json()) as { detail: string }).detail).toContain('jti');
  });

  it('refuses a request that is not form-encoded or lacks the assertion type', async () => {
    const res = await fetch(`${emu.url}/REST/oauth/v5/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(400);
    const res2 = await fetch(`${emu.url}/REST/oauth/v5/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
    expect(res2.status).toBe(400);
  });

  it('answers 401 invalidAccessToken to a stale token, and to any token after expire-tokens', async () => {
    const tok = await token();
    expect((await bulk(tok, [item(1)])).status).toBe(200);
    emu.setFaults({ expireTokensNow: true });
    const res = await bulk(tok, [item(2)]);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { type: string }).type).toBe('urn:problem-type:belgif:invalidAccessToken');
    expect((await bulk('made-up', [item(2)])).status).toBe(401);
    expect((await fetch(`${emu.url}${BULK}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"items":[]}' })).status).toBe(401);
  });

  it('lets tokens expire after their lifetime', async () => {
    const short = await startEmulator({ dbPath: join(tmp.dir, 'short.sqlite'), clients: [{ clientId: 'gw', publicKeyPem: keys.publicKeyPem }], tokenTtlSeconds: 1, logger: createLogger('emu', { level: 'silent' }) });
    try {
      const key = await importPKCS8(keys.privateKeyPem, 'RS256');
      const now = Math.floor(Date.now() / 1000);
      const jwt = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setIssuer('gw').setSubject('gw').setAudience(`${short.url}/REST/oauth/v5/token`).setExpirationTime(now + 60).setJti(randomUUID()).sign(key);
      const res = await fetch(`${short.url}/REST/oauth/v5/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: jwt }) });
      const { access_token, expires_in } = (await res.json()) as { access_token: string; expires_in: number };
      expect(expires_in).toBe(1);
      const status = await waitFor(async () => {
        const r = await fetch(`${short.url}${SEARCH}?ssin=${validNiss(1)}`, { headers: { authorization: `Bearer ${access_token}` } });
        return r.status === 401 ? r.status : 0;
      }, 'token expiry', 10_000, 100);
      expect(status).toBe(401);
    } finally {
      await short.stop();
    }
  });
});

describe('registerInBulk', () => {
  it('answers per item: created with id and pending validity, or not created with field errors', async () => {
    const tok = await token();
    const good = item(10);
    const badNiss = item(11, { ssin: '85073003329' });
    const badRef = item(12, { contractualRelationshipReference: 'IOIOIOIOIOIOI' });
    const future = item(13, { registrationDate: `${new Date(Date.now() + 3_600_000).toISOString().slice(0, 19)}Z` });
    const badType = item(14, { type: 'INOUT' });
    const badCompany = item(15, { employer: { enterpriseNumber: '0403019262' } });
    const foreign = item(16, { employer: { foreignVatNumber: 'FR12345678901' } });
    const longRef = item(17, { clientReference: 'x'.repeat(25) });
    const { capacity: _omitted, ...noCapacity } = item(18);
    const badCapacity = item(19, { capacity: 'employee' });
    const res = await bulk(tok, [good, badNiss, badRef, future, badType, badCompany, foreign, longRef, noCapacity, badCapacity]);
    expect(res.status).toBe(200);
    const { items } = (await res.json()) as { items: Array<Record<string, { id?: string; validity?: string; clientReference?: string; errors?: Array<{ field: string; rule: string }> }>> };
    expect(items).toHaveLength(10);
    expect(items[0]!.createdPresenceRegistration).toMatchObject({ validity: 'pending', clientReference: good.clientReference, remarks: [] });
    expect(items[6]!.createdPresenceRegistration?.id).toBeTruthy();
    const errorOf = (i: number) => items[i]!.notCreatedPresenceRegistration!.errors![0]!;
    expect(errorOf(1)).toMatchObject({ field: 'items[1].ssin', rule: 'checksum' });
    expect(errorOf(2).field).toBe('items[2].contractualRelationshipReference');
    expect(errorOf(3)).toMatchObject({ rule: 'future' });
    expect(errorOf(4).field).toBe('items[4].type');
    expect(errorOf(5)).toMatchObject({ field: 'items[5].employer.enterpriseNumber', rule: 'checksum' });
    expect(errorOf(7)).toMatchObject({ field: 'items[7].clientReference', rule: 'max-length' });
    // FAQ 19: the capacity is required, from the adapter's (provisional) code list.
    expect(errorOf(8)).toMatchObject({ code: 'missingCapacity', field: 'items[8].capacity', rule: 'required' });
    expect(errorOf(9)).toMatchObject({ code: 'invalidCapacity', field: 'items[9].capacity', rule: 'enum' });
    expect(emu.store.get(items[0]!.createdPresenceRegistration!.id!, 'gw')?.capacity).toBe('EMPLOYEE');
    expect(items[1]!.notCreatedPresenceRegistration!.clientReference).toBe(badNiss.clientReference);
  });

  it('refuses more than 200 items and a malformed body as a whole', async () => {
    const tok = await token();
    const res = await bulk(tok, Array.from({ length: 201 }, (_, i) => item(100 + i)));
    expect(res.status).toBe(413);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const res2 = await fetch(`${emu.url}${BULK}`, { method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: '{"item":1}' });
    expect(res2.status).toBe(400);
    expect(emu.store.search({ clientId: 'gw', ssin: validNiss(150), limit: 10, offset: 0 }).total).toBe(0);
  });

  it('flags a duplicate and an unknown declaration in remarks, asynchronously', async () => {
    const tok = await token();
    const first = item(300);
    const dup = { ...first, clientReference: 'dup-of-300' };
    const unknownDuc = item(301, { contractualRelationshipReference: validDeclaration(999) });
    const res = await bulk(tok, [first, dup, unknownDuc]);
    const ids = ((await res.json()) as { items: Array<{ createdPresenceRegistration: { id: string } }> }).items.map((i) => i.createdPresenceRegistration.id);
    const get = async (id: string) => (await (await fetch(`${emu.url}${SEARCH}/${id}`, { headers: { authorization: `Bearer ${tok}` } })).json()) as { validity: string; remarks: string[] };
    const [a, b, c] = await waitFor(async () => {
      const all = await Promise.all(ids.map(get));
      return all.every((r) => r.validity !== 'pending') ? all : undefined;
    }, 'remarks');
    expect(a).toMatchObject({ validity: 'validated', remarks: [] });
    expect(b!.validity).toBe('withRemarks');
    expect(b!.remarks).toContain('SAME DECLARATION HAS ALREADY BEEN REGISTERED');
    expect(c!.remarks).toContain('DUC IS NOT EXISTING');
  });
});

describe('search and get', () => {
  const PERIOD = 'startDate=2026-01-01&endDate=2026-01-05';

  it('finds by clientReference, ssin, enterprise number, reference and period, paged, and only the caller\'s own', async () => {
    const tok = await token();
    const items = Array.from({ length: 120 }, (_, i) => item(500, { clientReference: `page-${i}`, type: i % 2 ? 'OUT' : 'IN', registrationDate: `2026-01-0${1 + (i % 5)}T08:00:${String(i % 60).padStart(2, '0')}Z` }));
    expect((await bulk(tok, items)).status).toBe(200);
    const q = async (query: string) => {
      const r = await fetch(`${emu.url}${SEARCH}?${query}`, { headers: { authorization: `Bearer ${tok}` } });
      return { status: r.status, body: (await r.json()) as { items: Array<{ clientReference: string; id: string; registrationDate: string }>; total: number; pageSize: number; detail?: string } };
    };
    const one = await q(`clientReference=page-7&${PERIOD}`);
    expect(one.body.items.map((i) => i.clientReference)).toEqual(['page-7']);
    const bySsin = await q(`ssin=${validNiss(500)}&${PERIOD}`);
    expect(bySsin.body.total).toBe(120);
    expect(bySsin.body.items).toHaveLength(50);
    const page3 = await q(`ssin=${validNiss(500)}&${PERIOD}&page=3`);
    expect(page3.body.items).toHaveLength(20);
    // Pages are cut in date order and together hold each registration once.
    const pages = [...bySsin.body.items, ...(await q(`ssin=${validNiss(500)}&${PERIOD}&page=2`)).body.items, ...page3.body.items];
    expect(new Set(pages.map((i) => i.id)).size).toBe(120);
    expect(pages.map((i) => i.registrationDate)).toEqual([...pages.map((i) => i.registrationDate)].sort());
    const period = await q(`ssin=${validNiss(500)}&startDate=2026-01-02&endDate=2026-01-03`);
    expect(period.body.total).toBe(48);
    const instants = await q(`startDate=2026-01-02T08:00:00Z&endDate=2026-01-02T08:00:10Z`);
    expect(instants.body.items.map((i) => i.registrationDate).every((d) => d >= '2026-01-02T08:00:00Z' && d <= '2026-01-02T08:00:10Z')).toBe(true);
    expect(instants.body.total).toBeGreaterThan(0);
    const byRef = await q(`contractualRelationshipReference=${KNOWN_DUC}&enterpriseNumber=${KNOWN_COMPANY}&${PERIOD}&pageSize=10`);
    expect(byRef.body.items).toHaveLength(10);
    const byId = await fetch(`${emu.url}${SEARCH}/${one.body.items[0]!.id}`, { headers: { authorization: `Bearer ${tok}` } });
    expect(byId.status).toBe(200);
    expect((await fetch(`${emu.url}${SEARCH}/nope`, { headers: { authorization: `Bearer ${tok}` } })).status).toBe(404);
    // Another client sees none of it.
    const res = await tokenRequest(await assertion({ clientId: 'short' }));
    const other = ((await res.json()) as { access_token: string }).access_token;
    const r = await fetch(`${emu.url}${SEARCH}?clientReference=page-7&${PERIOD}`, { headers: { authorization: `Bearer ${other}` } });
    expect(((await r.json()) as { total: number }).total).toBe(0);
  });

  it('follows the SOAP contract\'s rules: a period is mandatory, at most 500 results, 50 a page', async () => {
    const tok = await token();
    const day = '2026-02-10';
    for (let b = 0; b < 3; b++) {
      const items = Array.from({ length: 200 }, (_, i) => item(900 + b, { registrationDate: `${day}T${String(6 + b).padStart(2, '0')}:${String(Math.floor(i / 60)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}Z` }));
      expect((await bulk(tok, items)).status).toBe(200);
    }
    const q = async (query: string) => {
      const r = await fetch(`${emu.url}${SEARCH}?${query}`, { headers: { authorization: `Bearer ${tok}` } });
      return { status: r.status, body: (await r.json()) as { items: unknown[]; total: number; detail: string } };
    };
    const noPeriod = await q(`ssin=${validNiss(900)}`);
    expect(noPeriod.status).toBe(400);
    expect(noPeriod.body.detail).toContain('startDate is required');
    expect((await q(`startDate=${day}`)).body.detail).toContain('endDate is required');
    expect((await q(`startDate=${day}&endDate=2026-02-09`)).body.detail).toContain('endDate must not be before startDate');
    expect((await q(`startDate=10/02/2026&endDate=${day}`)).body.detail).toContain('startDate must be a date');
    expect((await q(`startDate=${day}&endDate=${day}&pageSize=51`)).status).toBe(400);
    // 600 match: the answer says so, and only the first 500 can be paged through.
    const all = await q(`startDate=${day}&endDate=${day}`);
    expect(all.status).toBe(200);
    expect(all.body.total).toBe(600);
    expect(all.body.items).toHaveLength(50);
    expect((await q(`startDate=${day}&endDate=${day}&page=10`)).body.items).toHaveLength(50);
    const beyond = await q(`startDate=${day}&endDate=${day}&page=11`);
    expect(beyond.status).toBe(400);
    expect(beyond.body.detail).toContain('narrow the period');
    // A narrower period is within the limit.
    expect((await q(`startDate=${day}T07:00:00Z&endDate=${day}T07:59:59Z`)).body.total).toBe(200);
  });
});

describe('fault injection', () => {
  it('answers 503 and 500 during an outage window, then recovers; nothing is stored meanwhile', async () => {
    const tok = await token();
    const before = emu.store.stats().registrations;
    await fetch(`${emu.url}/admin/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ unavailableForMs: 60_000 }) });
    const r = await bulk(tok, [item(700)]);
    expect(r.status).toBe(503);
    expect(r.headers.get('content-type')).toContain('application/problem+json');
    emu.setFaults({ unavailableStatus: 500 });
    expect((await bulk(tok, [item(701)])).status).toBe(500);
    emu.setFaults({ unavailableForMs: 0 });
    expect((await bulk(tok, [item(702)])).status).toBe(200);
    expect(emu.store.stats().registrations).toBe(before + 1);
  });

  it('answers 429 with Retry-After during a rate-limit window', async () => {
    const tok = await token();
    emu.setFaults({ rateLimitForMs: 60_000, retryAfterSeconds: 7 });
    const r = await bulk(tok, [item(710)]);
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBe('7');
    emu.setFaults({ rateLimitForMs: 0 });
  });

  it('answers 5xx at the configured error rate', async () => {
    const tok = await token();
    emu.setFaults({ errorRate: 1 });
    const r = await bulk(tok, [item(720)]);
    expect([500, 503]).toContain(r.status);
    emu.setFaults({ errorRate: 0 });
  });

  it('resets the connection before processing', async () => {
    const tok = await token();
    const before = emu.store.stats().registrations;
    emu.setFaults({ resetCount: 1 });
    await expect(bulk(tok, [item(730)])).rejects.toThrow();
    expect(emu.store.stats().registrations).toBe(before);
  });

  it('hangs up after processing: the registration is stored but no answer comes', async () => {
    const tok = await token();
    const before = emu.store.stats();
    emu.setFaults({ hangUpAfterProcessingCount: 1 });
    const it0 = item(740);
    await expect(bulk(tok, [it0])).rejects.toThrow();
    const after = emu.store.stats();
    expect(after.registrations).toBe(before.registrations + 1);
    expect(after.unanswered).toBe(before.unanswered + 1);
    expect(emu.store.search({ clientId: 'gw', clientReference: it0.clientReference, limit: 5, offset: 0 }).total).toBe(1);
  });

  it('adds latency and reports the fault state on the admin endpoint', async () => {
    const tok = await token();
    const set = await fetch(`${emu.url}/admin/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ latencyMs: 300 }) });
    expect(((await set.json()) as { latencyMs: number }).latencyMs).toBe(300);
    const started = Date.now();
    expect((await bulk(tok, [item(750)])).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290); // the delay happened (a lower bound, not a speed claim)
    const cleared = await fetch(`${emu.url}/admin/faults`, { method: 'DELETE' });
    expect(((await cleared.json()) as { latencyMs: number }).latencyMs).toBe(0);
    const bad = await fetch(`${emu.url}/admin/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ errorRate: 3 }) });
    expect(bad.status).toBe(400);
  });

  it('shows what it received on the read-only admin view', async () => {
    const r = (await (await fetch(`${emu.url}/admin/registrations?limit=5`)).json()) as { items: Array<{ seq: number; clientReference: string }> };
    expect(r.items.length).toBe(5);
    expect(r.items[0]!.seq).toBe(1);
    const stats = (await (await fetch(`${emu.url}/admin/stats`)).json()) as { registrations: number };
    expect(stats.registrations).toBe(emu.store.stats().registrations);
  });
});
