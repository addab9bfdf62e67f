import { execFileSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logging.ts';
import { startEmulator, type EmulatorHandle } from '../../simulator/emulator/index.ts';
import { HttpTransport, OnssClient, toOnssItem, clientReferenceFor, type OnssItem } from '../../gateway/onss/index.ts';
import { ONSS_CAPACITY_CODES } from '../../gateway/onss/shapes.ts';
import type { RegistrationRow } from '../../gateway/store/registrations-schema.ts';
import { openGatewayDb, rsaKeyPair, seedRegistrations, tempDir } from './helpers.ts';

const tmp = tempDir();
const logger = createLogger('emu', { level: 'silent' });
let emu: EmulatorHandle;
let keys: { publicKeyPem: string; privateKeyPem: string };
let rows: RegistrationRow[];
let next = 0;

function client(extra: Partial<ConstructorParameters<typeof OnssClient>[0]> = {}) {
  return new OnssClient({ baseUrl: emu.url, clientId: 'gw', signingKey: createPrivateKey(keys.privateKeyPem), requestTimeoutMs: 2000, ...extra });
}
function items(n: number): OnssItem[] {
  return rows.slice(next, (next += n)).map((r) => toOnssItem(r, clientReferenceFor(r.tap_id)));
}
const tokensIssued = () => (emu.store.db.prepare('SELECT COUNT(*) AS n FROM used_jti').get() as { n: number }).n;

beforeAll(async () => {
  keys = await rsaKeyPair();
  emu = await startEmulator({ dbPath: join(tmp.dir, 'emu.sqlite'), clients: [{ clientId: 'gw', publicKeyPem: keys.publicKeyPem }], logger });
  const db = openGatewayDb(join(tmp.dir, 'gw.sqlite'));
  seedRegistrations(db, { count: 200 });
  rows = db.prepare('SELECT * FROM registrations ORDER BY seq').all() as RegistrationRow[];
  db.close();
});
afterAll(async () => {
  await emu.stop();
  tmp.cleanup();
});

describe('ONSS client', () => {
  it('maps our rows to ONSS items and reads per-item answers', async () => {
    const c = client();
    const sent = items(3);
    expect(sent[0]).toMatchObject({ ssin: rows[0]!.ssin, contractualRelationshipReference: rows[0]!.declaration, registrationDate: rows[0]!.at_utc, employer: { enterpriseNumber: rows[0]!.employer_id } });
    // FAQ 19: the worker's capacity, as the adapter's provisional code.
    expect(sent.map((s) => s.capacity)).toEqual(rows.slice(0, 3).map((r) => ONSS_CAPACITY_CODES[r.capacity as keyof typeof ONSS_CAPACITY_CODES]));
    expect(sent[0]!.capacity).toMatch(/^[A-Z_]+$/);
    const out = await c.registerInBulk(sent);
    expect(out.kind).toBe('answered');
    if (out.kind === 'answered') expect(out.items.map((i) => i.kind)).toEqual(['created', 'created', 'created']);
    const found = await c.searchByClientReference(sent[1]!.clientReference, sent[1]!.registrationDate);
    expect(found.ok && found.value.length).toBe(1);
    c.close();
  });

  it('caches its token, and fetches a new one after ONSS expires it', async () => {
    const c = client();
    const before = tokensIssued();
    await c.registerInBulk(items(1));
    await c.registerInBulk(items(1));
    expect(tokensIssued()).toBe(before + 1);
    emu.setFaults({ expireTokensNow: true });
    const out = await c.registerInBulk(items(1));
    expect(out.kind).toBe('answered');
    expect(tokensIssued()).toBe(before + 2);
    c.close();
  });

  it('tells apart what ONSS did not process from what it may have processed', async () => {
    const c = client();
    await c.tokens.token();
    emu.setFaults({ unavailableForMs: 60_000 });
    expect(await c.registerInBulk(items(1))).toMatchObject({ kind: 'not-processed', status: 503 });
    emu.setFaults({ unavailableForMs: 0, rateLimitForMs: 60_000, retryAfterSeconds: 7 });
    expect(await c.registerInBulk(items(1))).toMatchObject({ kind: 'not-processed', rateLimited: true, retryAfterMs: 7000 });
    // The token endpoint is rate-limited too: a client without a token is told to wait as well.
    expect(await client().registerInBulk(items(1))).toMatchObject({ kind: 'not-processed', rateLimited: true, retryAfterMs: 7000 });
    emu.clearFaults();
    emu.setFaults({ unavailableStatus: 500, unavailableForMs: 60_000 });
    expect(await c.registerInBulk(items(1))).toMatchObject({ kind: 'ambiguous', status: 500 });
    emu.clearFaults();
    emu.setFaults({ resetCount: 1 });
    expect((await c.registerInBulk(items(1))).kind).toBe('ambiguous');
    emu.setFaults({ hangUpAfterProcessingCount: 1 });
    const hung = items(1);
    expect((await c.registerInBulk(hung)).kind).toBe('ambiguous');
    const found = await c.searchByClientReference(hung[0]!.clientReference, hung[0]!.registrationDate);
    expect(found.ok && found.value.length).toBe(1);
    emu.setFaults({ latencyMs: 500 });
    const slow = new OnssClient({ baseUrl: emu.url, clientId: 'gw', signingKey: createPrivateKey(keys.privateKeyPem), requestTimeoutMs: 5000 });
    await slow.tokens.token();
    const quick = client({ requestTimeoutMs: 200 });
    (quick as unknown as { tokens: unknown }).tokens = slow.tokens;
    expect(await quick.registerInBulk(items(1))).toMatchObject({ kind: 'ambiguous', cause: 'timeout' });
    emu.clearFaults();
    c.close();
    slow.close();
    quick.close();
  });

  it('reports an unreachable service and a refused key as not processed', async () => {
    emu.clearFaults();
    const gone = await startEmulator({ dbPath: join(tmp.dir, 'gone.sqlite'), clients: [], logger });
    const url = gone.url;
    await gone.stop();
    const c1 = new OnssClient({ baseUrl: url, clientId: 'gw', signingKey: createPrivateKey(keys.privateKeyPem), requestTimeoutMs: 2000 });
    expect((await c1.registerInBulk(items(1))).kind).toBe('not-processed');
    expect(await c1.ready()).toMatchObject({ ok: false, rateLimited: false });
    // Errors carry stable codes, as Node's do.
    await expect(new HttpTransport({ baseUrl: url, timeoutMs: 2000 }).request('GET', '/')).rejects.toMatchObject({ code: 'ONSS_NOT_SENT', failure: 'ECONNREFUSED' });
    await expect(c1.tokens.token()).rejects.toMatchObject({ code: 'ONSS_TOKEN_UNAVAILABLE' });
    c1.close();
    const other = await rsaKeyPair();
    const c2 = client({ signingKey: createPrivateKey(other.privateKeyPem) });
    const out = await c2.registerInBulk(items(1));
    expect(out.kind).toBe('not-processed');
    if (out.kind === 'not-processed') expect(out.cause).toContain('authentication refused');
    await expect(c2.tokens.token()).rejects.toMatchObject({ code: 'ONSS_TOKEN_REFUSED', status: 401 });
    c2.close();
  });

  it('searches a period page by page, and says when it holds more than one search returns', async () => {
    emu.clearFaults();
    const c = client();
    const day = '2026-02-20';
    const dated = (i: number): OnssItem => ({ ...toOnssItem(rows[0]!, `period-${i}`), registrationDate: `${day}T${String(6 + Math.floor(i / 200)).padStart(2, '0')}:${String(Math.floor((i % 200) / 60)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}Z` });
    for (let b = 0; b < 3; b++) expect((await c.registerInBulk(Array.from({ length: 200 }, (_, i) => dated(b * 200 + i)))).kind).toBe('answered');
    const requests = emu.requestCount();
    const hour = await c.searchPeriod({ from: `${day}T06:00:00Z`, to: `${day}T06:59:59Z` });
    expect(hour.kind).toBe('found');
    if (hour.kind === 'found') {
      expect(hour.registrations).toHaveLength(200);
      expect(new Set(hour.registrations.map((r) => r.clientReference))).toEqual(new Set(Array.from({ length: 200 }, (_, i) => `period-${i}`)));
      expect(hour.registrations.every((r) => r.settled === (r.validity !== 'pending'))).toBe(true);
    }
    // 200 in pages of 50.
    expect(emu.requestCount() - requests).toBe(4);
    expect(await c.searchPeriod({ from: `${day}T00:00:00Z`, to: `${day}T23:59:59Z` })).toEqual({ kind: 'too-many', total: 600 });
    expect(await c.searchPeriod({ from: `${day}T09:00:00Z`, to: `${day}T09:59:59Z` })).toEqual({ kind: 'found', registrations: [] });
    const one = await c.searchByClientReference('period-250', `${day}T07:00:50Z`);
    expect(one.ok && one.value.map((r) => r.clientReference)).toEqual(['period-250']);
    c.close();
  });

  it('talks HTTPS to a service whose certificate is signed by the configured CA', async () => {
    const cert = join(tmp.dir, 'cert.pem');
    const key = join(tmp.dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const secure = await startEmulator({
      dbPath: join(tmp.dir, 'tls.sqlite'), clients: [{ clientId: 'gw', publicKeyPem: keys.publicKeyPem }], logger,
      tls: { certPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8') },
    });
    try {
      expect(secure.url.startsWith('https://')).toBe(true);
      const trusted = new OnssClient({ baseUrl: secure.url, clientId: 'gw', signingKey: createPrivateKey(keys.privateKeyPem), requestTimeoutMs: 3000, ca: readFileSync(cert, 'utf8') });
      expect((await trusted.registerInBulk(items(2))).kind).toBe('answered');
      trusted.close();
      const untrusted = new OnssClient({ baseUrl: secure.url, clientId: 'gw', signingKey: createPrivateKey(keys.privateKeyPem), requestTimeoutMs: 3000 });
      const out = await untrusted.registerInBulk(items(1));
      expect(out.kind).toBe('not-processed');
      untrusted.close();
      expect(secure.store.stats().registrations).toBe(2);
    } finally {
      await secure.stop();
    }
  });
});
