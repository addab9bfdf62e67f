import { afterAll, describe, expect, it } from 'vitest';
import { addUser, getUser, listUsers, revokeUser, updateUser, userForToken } from '../../gateway/access/users.ts';
import { listAudit, recordChange } from '../../gateway/site-data/audit.ts';
import { claimPairingCode, createPairingCode, pairingCodeTerminal } from '../../gateway/site-data/pairing.ts';
import { recordCertificate, revokeCertificates } from '../../gateway/fleet/certificates.ts';
import { readMaxShiftHours, saveMaxShiftHours, siteDataVersion } from '../../gateway/store/database.ts';
import { DEFAULT_MAX_SHIFT_HOURS } from '../../shared/mqtt/payloads.ts';
import { storeKinds } from '../support/sql-stores.ts';

/**
 * The parts of the site data on the storage port so far (docs/cluster.md, "The storage port"): the
 * site-data version the terminals' publisher polls, the gateway's maximum shift length, the audit
 * trail (written and read), the users of the console and the API, and terminals' pairing codes. The same cases run on the SQLite file and on a real PostgreSQL with the
 * migrated schema, so a statement PostgreSQL refuses fails here.
 */
const kinds = storeKinds();
afterAll(async () => {
  for (const k of kinds) await k.cleanup();
});

const ADA = { kind: 'user', id: 'u-ada', name: 'Ada Admin' } as const;

describe.each(kinds.map((k) => [k.kind, k] as const))('site data on the storage port (%s)', (_kind, k) => {
  it('reads the site-data version, bumped by the triggers once per row a site-data table gets', async () => {
    const store = await k.fresh();
    const v0 = await siteDataVersion(store);
    await store.run("INSERT INTO companies (id, kind, name, created_at) VALUES ('0123456749', 'enterprise', 'Build SA', '2026-12-02T08:00:00.000Z')");
    expect(await siteDataVersion(store)).toBe(v0 + 1);
    await store.run("UPDATE companies SET name = 'Build NV' WHERE id = '0123456749'");
    await store.run("INSERT INTO companies (id, kind, name, created_at) VALUES ('0987654321', 'enterprise', 'Clean SRL', '2026-12-02T08:00:00.000Z'), ('BE0403170701', 'foreign', 'Other', '2026-12-02T08:00:00.000Z')");
    expect(await siteDataVersion(store)).toBe(v0 + 4);
    // A rolled-back change leaves the version as it was.
    await expect(store.transaction(async (tx) => {
      await tx.run("UPDATE companies SET name = 'Gone' WHERE id = '0123456749'");
      throw new Error('changed my mind');
    })).rejects.toThrow('changed my mind');
    expect(await siteDataVersion(store)).toBe(v0 + 4);
  });

  it('keeps the gateway\'s maximum shift length, replaced at each start', async () => {
    const store = await k.fresh();
    expect(await readMaxShiftHours(store)).toBe(DEFAULT_MAX_SHIFT_HOURS);
    await saveMaxShiftHours(store, 12);
    await saveMaxShiftHours(store, 14);
    expect(await store.all("SELECT key, value FROM gateway_settings WHERE key = 'maxShiftHours'")).toEqual([{ key: 'maxShiftHours', value: '14' }]);
    expect(await readMaxShiftHours(store)).toBe(14);
  });

  it('records changes with their ids in order, NISS masked, and the cause a release names', async () => {
    const store = await k.fresh();
    const at = new Date('2026-12-02T08:00:00.000Z');
    const first = await recordChange(store, { actor: ADA, action: 'create', entity: 'worker', entityId: 'w-1', siteId: 'site-a', after: { name: 'Jan', ssin: '85073003328', badge: '04A1B2C3D4E5F6' }, at });
    const second = await store.transaction((tx) => recordChange(tx, { actor: { kind: 'system', id: 'gateway', name: 'gateway' }, action: 'release-late', entity: 'tap', entityId: 't-1', siteId: 'site-a', causeId: first, at }));
    expect(second).toBeGreaterThan(first);
    const { items, total } = await listAudit(store, {});
    expect(total).toBe(2);
    expect(items).toEqual([
      { id: second, at: at.toISOString(), actor: { kind: 'system', id: 'gateway', name: 'gateway' }, action: 'release-late', entity: 'tap', entityId: 't-1', siteId: 'site-a', before: null, after: null, causeId: first },
      { id: first, at: at.toISOString(), actor: ADA, action: 'create', entity: 'worker', entityId: 'w-1', siteId: 'site-a', before: null, after: { name: 'Jan', ssin: '*********28', badge: '04A1B2C3D4E5F6' }, causeId: null },
    ]);
    // A change whose transaction rolls back leaves no entry.
    await expect(store.transaction(async (tx) => {
      await recordChange(tx, { actor: ADA, action: 'update', entity: 'worker', entityId: 'w-1', at });
      throw new Error('refused');
    })).rejects.toThrow('refused');
    expect((await listAudit(store)).total).toBe(2);
  });

  it('lists the trail filtered by record, time and the sites a user may see, newest first, a page at a time', async () => {
    const store = await k.fresh();
    const day = (h: number) => new Date(Date.UTC(2026, 11, 2, h));
    await recordChange(store, { actor: ADA, action: 'create', entity: 'site', entityId: 'site-a', siteId: 'site-a', at: day(7) });
    await recordChange(store, { actor: ADA, action: 'create', entity: 'site', entityId: 'site-b', siteId: 'site-b', at: day(8) });
    await recordChange(store, { actor: ADA, action: 'create', entity: 'company', entityId: '0123456749', siteId: null, at: day(9) });
    await recordChange(store, { actor: ADA, action: 'update', entity: 'site', entityId: 'site-a', siteId: 'site-a', at: day(10) });

    const ids = async (q: Parameters<typeof listAudit>[1]) => (await listAudit(store, q)).items.map((e) => `${e.action} ${e.entityId}`);
    expect(await ids({ entity: 'site', entityId: 'site-a' })).toEqual(['update site-a', 'create site-a']);
    expect(await ids({ from: day(8).toISOString(), to: day(10).toISOString() })).toEqual(['create 0123456749', 'create site-b']);
    // A user of site-b sees its entries and those about no site; a user of no site, only the latter.
    expect(await ids({ siteIds: ['site-b'] })).toEqual(['create 0123456749', 'create site-b']);
    expect(await ids({ siteIds: [] })).toEqual(['create 0123456749']);
    const page = await listAudit(store, { limit: 2, offset: 1 });
    expect(page.total).toBe(4);
    expect(page.items.map((e) => e.entityId)).toEqual(['0123456749', 'site-b']);
  });

  it('adds, changes and revokes users with their scope checked, finds them by token, and refuses what is wrong naming the field', async () => {
    const store = await k.fresh();
    await store.run("INSERT INTO sites (id, name, language, latitude, longitude, created_at) VALUES ('site-a', 'Chantier A', 'fr', 50.85, 4.35, '2026-12-02T08:00:00.000Z')");
    await store.run("INSERT INTO companies (id, kind, name, created_at) VALUES ('0123456749', 'enterprise', 'Build SA', '2026-12-02T08:00:00.000Z')");
    const now = new Date('2026-12-02T08:00:00.000Z');
    const { user, token } = await addUser(store, { name: ' Marie ', role: 'manager', sites: ['site-a', 'site-a'], company: '0123.456.749', now });
    expect(user).toEqual({ id: user.id, name: 'Marie', role: 'site-manager', sites: ['site-a'], company: '0123456749', canSeeNiss: false, createdAt: now.toISOString(), revokedAt: null });
    expect(token).toMatch(/^ciao_/);
    expect(await userForToken(store, token)).toEqual(user);
    expect(await userForToken(store, 'ciao_unknown')).toBeUndefined();
    // The token is kept only as its hash.
    expect(await store.one('SELECT 1 AS found FROM siteman_users WHERE token_hash = $1', [token])).toBeUndefined();

    const admin = await addUser(store, { name: 'Ada', role: 'admin', sites: ['site-a'], now: new Date('2026-12-02T09:00:00.000Z') });
    expect(admin.user).toMatchObject({ role: 'administrator', sites: null, company: null, canSeeNiss: true });

    const changed = await updateUser(store, user.id, { name: 'Marie D.', role: 'payroll', sites: ['site-a'], canSeeNiss: true });
    expect(changed).toMatchObject({ name: 'Marie D.', role: 'payroll', company: null, canSeeNiss: true });
    expect((await listUsers(store)).map((u) => u.name)).toEqual(['Marie D.', 'Ada']);

    const problems = async (p: Promise<unknown>) => p.then(() => [], (err: { problems?: Array<{ field: string; rule: string }> }) => (err.problems ?? []).map((x) => `${x.field} ${x.rule}`));
    expect(await problems(addUser(store, { name: '', role: 'boss', sites: [] }))).toEqual(['name required', 'role enum']);
    expect(await problems(addUser(store, { name: 'Kim', role: 'site-manager', sites: ['site-z'], company: '0412345614' }))).toEqual(['sites exists', 'company exists']);
    expect(await problems(addUser(store, { name: 'Kim', role: 'site-manager' }))).toEqual(['sites required']);
    await expect(updateUser(store, 'nobody', { name: 'X', role: 'read-only' })).rejects.toMatchObject({ code: 'ERR_CIAO_NOT_FOUND' });

    const revoked = await revokeUser(store, user.id, new Date('2026-12-02T10:00:00.000Z'));
    expect(revoked.revokedAt).toBe('2026-12-02T10:00:00.000Z');
    expect(await userForToken(store, token)).toBeUndefined();
    // Revoking again keeps the first time; an unknown user is not found.
    expect((await revokeUser(store, user.id, new Date('2026-12-03T10:00:00.000Z'))).revokedAt).toBe('2026-12-02T10:00:00.000Z');
    await expect(revokeUser(store, 'nobody')).rejects.toMatchObject({ code: 'ERR_CIAO_NOT_FOUND' });
    expect(await getUser(store, admin.user.id)).toEqual(admin.user);
  });

  it('writes a user and its audit entry together, or neither', async () => {
    const store = await k.fresh();
    const created = await store.transaction(async (tx) => {
      const r = await addUser(tx, { name: 'Rita', role: 'read-only' });
      await recordChange(tx, { actor: ADA, action: 'create', entity: 'user', entityId: r.user.id, after: r.user });
      return r.user;
    });
    await expect(store.transaction(async (tx) => {
      await revokeUser(tx, created.id);
      await recordChange(tx, { actor: ADA, action: 'deactivate', entity: 'user', entityId: created.id });
      throw new Error('you cannot revoke your own access');
    })).rejects.toThrow('own access');
    expect((await getUser(store, created.id))!.revokedAt).toBeNull();
    expect((await listAudit(store, { entity: 'user' })).items.map((e) => e.action)).toEqual(['create']);
  });

  it('pairs a terminal with a one-time code: spent once, refused when used, expired or for a disabled terminal', async () => {
    const store = await k.fresh();
    const t0 = new Date('2026-12-02T08:00:00.000Z');
    await store.run("INSERT INTO sites (id, name, language, latitude, longitude, created_at) VALUES ('site-a', 'Chantier A', 'fr', 50.85, 4.35, $1)", [t0.toISOString()]);
    for (const id of ['T1', 'T2']) {
      await store.run("INSERT INTO terminals (id, site_id, secret_hash, created_at, secret_rotated_at) VALUES ($1, 'site-a', 'old', $2, $2)", [id, t0.toISOString()]);
    }
    const stale = await store.transaction((tx) => createPairingCode(tx, 'T1', 'Ada', t0));
    const code = await store.transaction((tx) => createPairingCode(tx, 'T1', 'Ada', t0));
    expect(code).toMatchObject({ terminalId: 'T1', expiresAt: '2026-12-02T08:10:00.000Z' });
    // Only the newest code works, and it is kept hashed.
    expect(await store.all('SELECT terminal_id FROM terminal_pairings')).toEqual([{ terminal_id: 'T1' }]);
    const refusedBecause = (p: Promise<unknown>) => p.then(() => 'spent', (err: { because?: string; code?: string }) => `${err.code} ${err.because}`);
    expect(await refusedBecause(pairingCodeTerminal(store, stale.code, t0))).toBe('ERR_CIAO_UNAUTHENTICATED unknown');
    // Typed by hand: lower case, O for 0.
    expect(await pairingCodeTerminal(store, code.code.toLowerCase().replace(/0/g, 'O'), t0)).toBe('T1');

    const claimed = await store.transaction((tx) => claimPairingCode(tx, code.code, '192.0.2.7', t0));
    expect(claimed).toEqual({ terminalId: 'T1', credentials: { kind: 'secret', secret: expect.any(String) } });
    // The old secret stops working; the code is marked used, from where.
    expect(await store.one("SELECT CASE WHEN secret_hash = 'old' THEN 0 ELSE 1 END AS changed, used_from FROM terminals t JOIN terminal_pairings p ON p.terminal_id = t.id WHERE t.id = $1", ['T1'])).toEqual({ changed: 1, used_from: '192.0.2.7' });
    expect(await refusedBecause(store.transaction((tx) => claimPairingCode(tx, code.code, '192.0.2.7', t0)))).toBe('ERR_CIAO_UNAUTHENTICATED used');

    const late = await store.transaction((tx) => createPairingCode(tx, 'T2', 'Ada', t0));
    expect(await refusedBecause(pairingCodeTerminal(store, late.code, new Date('2026-12-02T08:10:00.000Z')))).toBe('ERR_CIAO_UNAUTHENTICATED expired');
    await store.run('UPDATE terminals SET disabled = 1 WHERE id = $1', ['T2']);
    expect(await refusedBecause(pairingCodeTerminal(store, late.code, t0))).toBe('ERR_CIAO_UNAUTHENTICATED terminal disabled');
  });

  it('pairs with a certificate in the transaction that spends the code: the older certificates revoked, none kept when the claim fails', async () => {
    const store = await k.fresh();
    const t0 = new Date('2026-12-02T08:00:00.000Z');
    await store.run("INSERT INTO sites (id, name, language, latitude, longitude, created_at) VALUES ('site-a', 'Chantier A', 'fr', 50.85, 4.35, $1)", [t0.toISOString()]);
    await store.run("INSERT INTO terminals (id, site_id, secret_hash, created_at, secret_rotated_at) VALUES ('T1', 'site-a', 'old', $1, $1)", [t0.toISOString()]);
    const cert = (serial: string) => ({ serial, fingerprint: `fp-${serial}`, notBefore: t0.toISOString(), notAfter: '2027-12-02T08:00:00.000Z', pem: `PEM ${serial}` });
    await recordCertificate(store, 'T1', cert('0A1'), 'operator', t0);
    const pairWith = (code: string, serial: string) => store.transaction((tx) => claimPairingCode(tx, code, 'device', t0, async (inner, tid) => {
      await revokeCertificates(inner, tid, 'paired again', t0);
      await recordCertificate(inner, tid, cert(serial), 'pairing', t0);
      return { kind: 'certificate', certificate: `PEM ${serial}` };
    }));
    const code = await store.transaction((tx) => createPairingCode(tx, 'T1', 'Ada', t0));
    expect(await pairWith(code.code, 'b2')).toEqual({ terminalId: 'T1', credentials: { kind: 'certificate', certificate: 'PEM b2' } });
    // Spent: a second claim is refused, and its certificate is not kept.
    await expect(pairWith(code.code, 'c3')).rejects.toMatchObject({ code: 'ERR_CIAO_UNAUTHENTICATED' });
    expect(await store.all('SELECT serial, issued_for, revoked_reason FROM terminal_certificates ORDER BY serial')).toEqual([
      { serial: 'A1', issued_for: 'operator', revoked_reason: 'paired again' },
      { serial: 'B2', issued_for: 'pairing', revoked_reason: null },
    ]);
  });
});
