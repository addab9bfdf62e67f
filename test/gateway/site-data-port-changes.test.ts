import { afterAll, describe, expect, it } from 'vitest';
import { addUser, getUser, type ApiUser } from '../../gateway/access/users.ts';
import { listAudit } from '../../gateway/site-data/audit.ts';
import { SiteDataService, type Caller } from '../../gateway/site-data/service.ts';
import { openGatewayDatabase } from '../../gateway/store/database.ts';
import { siteDataVersion } from '../../gateway/store/database.ts';
import type { SqlStore } from '../../gateway/store/sql-store.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { terminalCredentials } from '../../gateway/site-data/terminals.ts';
import { makeEnterpriseNumber } from '../../shared/identifiers/make.ts';
import { storeKinds } from '../support/sql-stores.ts';

/**
 * The site-data changes on the storage port (docs/cluster.md, "The storage port"): companies and sites,
 * through the same service the console, the API and `ciao admin` use, each change and its audit entry in one
 * transaction. The same cases run on the SQLite file and on a real PostgreSQL with the migrated schema. On
 * PostgreSQL the service is given a SQLite connection of its own besides the store: a moved operation that
 * still read or wrote the connection would not see what the store holds, and its case would fail.
 */
const kinds = storeKinds();
afterAll(async () => {
  for (const k of kinds) await k.cleanup();
});

const ADMIN: ApiUser = { id: 'u-ada', name: 'Ada Admin', role: 'administrator', sites: null, company: null, canSeeNiss: true, createdAt: '', revokedAt: null };
const ada: Caller = { actor: { kind: 'user', id: ADMIN.id, name: ADMIN.name }, user: ADMIN };
const CLEAN = makeEnterpriseNumber('04030192');
const SHINE = makeEnterpriseNumber('04287594');
const ADDRESS = { postCode: '1000', municipality: 'Bruxelles', street: 'Rue Neuve', houseNumber: '1' };

function serviceOn(store: SqlStore): SiteDataService {
  const db = store instanceof SqliteStore ? store.db : openGatewayDatabase(':memory:');
  return new SiteDataService(db, { store, now: () => new Date('2026-12-02T09:00:00.000Z') });
}

/** What a refusal says: its field and rule (problem+json), or its code. */
async function refusal(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    const e = err as { code?: string; problems?: Array<{ field: string; rule: string }> };
    return e.problems ? e.problems.map((x) => `${x.field} ${x.rule}`) : e.code;
  }
  throw new Error('not refused');
}

describe.each(kinds.map((k) => [k.kind, k] as const))('site-data changes on the storage port (%s)', (_kind, k) => {
  it('creates, renames, deactivates and reactivates a company, each with its audit entry and a new site-data version', async () => {
    const store = await k.fresh();
    const service = serviceOn(store);
    const v0 = await siteDataVersion(store);
    const created = await service.createCompany(ada, { number: CLEAN, name: 'Net & Clean' });
    expect(created).toEqual({ id: CLEAN, kind: 'enterprise', name: 'Net & Clean', deactivatedAt: null });
    expect(await siteDataVersion(store)).toBe(v0 + 1);
    const renamed = await service.updateCompany(ada, CLEAN, { name: 'Net & Clean SA' });
    expect(renamed.name).toBe('Net & Clean SA');
    const off = await service.setCompanyActive(ada, CLEAN, false);
    expect(off.deactivatedAt).toBe('2026-12-02T09:00:00.000Z');
    expect((await service.listCompanies(ada)).items).toEqual([]);
    expect((await service.listCompanies(ada, { inactive: true })).items.map((c) => c.id)).toEqual([CLEAN]);
    expect((await service.setCompanyActive(ada, CLEAN, true)).deactivatedAt).toBeNull();
    expect(await siteDataVersion(store)).toBe(v0 + 4);
    const trail = (await listAudit(store, { entity: 'company' })).items;
    expect(trail.map((e) => e.action)).toEqual(['reactivate', 'deactivate', 'update', 'create']);
    expect(trail[2]).toMatchObject({ actor: ada.actor, entityId: CLEAN, siteId: null, before: { name: 'Net & Clean' }, after: { name: 'Net & Clean SA' } });
    expect(await service.getCompany(ada, CLEAN)).toEqual({ id: CLEAN, kind: 'enterprise', name: 'Net & Clean SA', deactivatedAt: null });
  });

  it('lists companies by name then number, as SQLite sorts them, whatever the server\'s collation', async () => {
    const store = await k.fresh();
    const service = serviceOn(store);
    await service.createCompany(ada, { number: SHINE, name: 'shine' });
    await service.createCompany(ada, { number: CLEAN, name: 'Zèbre' });
    await service.createCompany(ada, { number: 'FR40123456789', name: 'Propreté' });
    expect((await service.listCompanies(ada)).items.map((c) => c.name)).toEqual(['Propreté', 'Zèbre', 'shine']);
  });

  it('refuses a company by field and rule, and writes nothing for a refused change', async () => {
    const store = await k.fresh();
    const service = serviceOn(store);
    await service.createCompany(ada, { number: CLEAN, name: 'Net & Clean' });
    const v = await siteDataVersion(store);
    expect(await refusal(service.createCompany(ada, { number: CLEAN, name: 'Again' }))).toEqual(['number unique']);
    expect(await refusal(service.createCompany(ada, { number: '0403019262', name: 'Bad check digits' }))).toEqual([expect.stringMatching(/^number /)]);
    expect(await refusal(service.createCompany(ada, { number: SHINE, name: '  ' }))).toEqual(['name required']);
    expect(await refusal(service.updateCompany(ada, SHINE, { name: 'Nobody' }))).toEqual(['company exists']);
    const reader: Caller = { actor: { kind: 'user', id: 'u-r', name: 'Reader' }, user: { ...ADMIN, id: 'u-r', role: 'read-only' } };
    expect(await refusal(service.createCompany(reader, { number: SHINE, name: 'Shine' }))).toEqual(['role permission-change-site-data']);
    expect(await siteDataVersion(store)).toBe(v);
    expect((await listAudit(store, { entity: 'company' })).total).toBe(1);
  });

  it('writes a change and its audit entry in one transaction: when the entry is refused, the change is undone', async () => {
    const store = await k.fresh();
    const service = serviceOn(store);
    // An actor the audit trail refuses (its CHECK): the entry fails after the company was written.
    const bad: Caller = { actor: { kind: 'robot' as never, id: 'r', name: 'Robot' }, user: ADMIN };
    await expect(service.createCompany(bad, { number: CLEAN, name: 'Net & Clean' })).rejects.toThrow();
    await expect(service.createSite(bad, { id: 'site-a', name: 'Tour A', ...ADDRESS })).rejects.toThrow();
    expect(await store.all('SELECT id FROM companies')).toEqual([]);
    expect(await store.all('SELECT id FROM sites')).toEqual([]);
    expect((await listAudit(store)).total).toBe(0);
  });

  it('creates and changes a site with an address or coordinates; a change of its name tells its terminals', async () => {
    const store = await k.fresh();
    const service = serviceOn(store);
    const v0 = await siteDataVersion(store);
    const a = await service.createSite(ada, { id: 'site-a', name: 'Tour A', language: 'fr', ...ADDRESS, requireSecureBadges: true });
    expect(a).toEqual({ id: 'site-a', name: 'Tour A', language: 'fr', placeOfWork: { address: { postCode: '1000', municipalityName: 'Bruxelles', streetName: 'Rue Neuve', houseNumber: '1' } }, requireSecureBadges: true, deactivatedAt: null });
    const b = await service.createSite(ada, { id: 'site-b', name: 'Kantoor', language: 'nl', latitude: '51.2182', longitude: 4.4086 });
    expect(b.placeOfWork).toEqual({ coordinates: { latitude: 51.2182, longitude: 4.4086 } });
    expect((await service.listSites(ada)).items.map((s) => s.id)).toEqual(['site-a', 'site-b']);
    await store.run("INSERT INTO terminals (id, site_id, secret_hash, created_at, secret_rotated_at) VALUES ('t-1', 'site-a', 'x', '2026-12-02T08:00:00.000Z', '2026-12-02T08:00:00.000Z')");
    const v1 = await siteDataVersion(store);
    expect(v1).toBeGreaterThan(v0);
    // The same name and language: the terminals are told nothing new.
    await service.updateSite(ada, 'site-a', { name: 'Tour A', language: 'fr', ...ADDRESS, box: '3' });
    expect(await store.one('SELECT config_version AS v FROM terminals WHERE id = $1', ['t-1'])).toEqual({ v: 1 });
    const renamed = await service.updateSite(ada, 'site-a', { name: 'Tour Alpha', language: 'nl', ...ADDRESS });
    expect(renamed).toMatchObject({ name: 'Tour Alpha', language: 'nl', requireSecureBadges: true });
    expect(await store.one('SELECT config_version AS v FROM terminals WHERE id = $1', ['t-1'])).toEqual({ v: 2 });
    expect(await siteDataVersion(store)).toBeGreaterThan(v1);
    const trail = (await listAudit(store, { entity: 'site', entityId: 'site-a' })).items;
    expect(trail.map((e) => e.action)).toEqual(['update', 'update', 'create']);
    expect(trail[0]).toMatchObject({ siteId: 'site-a', before: { name: 'Tour A' }, after: { name: 'Tour Alpha', language: 'nl' } });
  });

  it('refuses a site by field and rule', async () => {
    const store = await k.fresh();
    const service = serviceOn(store);
    await service.createSite(ada, { id: 'site-a', name: 'Tour A', ...ADDRESS });
    expect(await refusal(service.createSite(ada, { id: 'site-a', name: 'Again', ...ADDRESS }))).toEqual(['id unique']);
    expect(await refusal(service.createSite(ada, { id: 'site-b', name: 'Nowhere' }))).toEqual(['placeOfWork required']);
    expect(await refusal(service.createSite(ada, { id: 'site-b', name: 'Tour B', language: 'es', ...ADDRESS }))).toEqual(['language enum']);
    expect(await refusal(service.createSite(ada, { id: 'site-b', name: 'Tour B', latitude: 95, longitude: 4 }))).toEqual([expect.stringMatching(/^coordinates\.latitude /)]);
    expect(await refusal(service.updateSite(ada, 'site-x', { name: 'X', ...ADDRESS }))).toEqual(['site exists']);
    expect((await listAudit(store, { entity: 'site' })).total).toBe(1);
  });

  it('deactivates a site only without active terminals, and reactivates it', async () => {
    const store = await k.fresh();
    const service = serviceOn(store);
    await service.createSite(ada, { id: 'site-a', name: 'Tour A', ...ADDRESS });
    await store.run("INSERT INTO terminals (id, site_id, secret_hash, created_at, secret_rotated_at) VALUES ('t-2', 'site-a', 'x', '2026-12-02T08:00:00.000Z', '2026-12-02T08:00:00.000Z'), ('t-1', 'site-a', 'x', '2026-12-02T08:00:00.000Z', '2026-12-02T08:00:00.000Z')");
    expect(await refusal(service.setSiteActive(ada, 'site-a', false))).toEqual(['id no-active-terminals']);
    await expect(service.setSiteActive(ada, 'site-a', false)).rejects.toThrow('(t-1, t-2)');
    await store.run('UPDATE terminals SET disabled = 1');
    expect((await service.setSiteActive(ada, 'site-a', false)).deactivatedAt).toBe('2026-12-02T09:00:00.000Z');
    expect((await service.listSites(ada)).items).toEqual([]);
    expect((await service.setSiteActive(ada, 'site-a', true)).deactivatedAt).toBeNull();
    expect((await listAudit(store, { entity: 'site' })).items.map((e) => e.action)).toEqual(['reactivate', 'deactivate', 'create']);
  });

  it('gives a site manager the site they create, keeping their NISS grant, in the same transaction', async () => {
    const store = await k.fresh();
    const service = serviceOn(store);
    await service.createSite(ada, { id: 'site-a', name: 'Tour A', ...ADDRESS });
    const { user } = await addUser(store, { name: 'Manager M', role: 'site-manager', sites: ['site-a'], canSeeNiss: true });
    const manager: Caller = { actor: { kind: 'user', id: user.id, name: user.name }, user };
    await service.createSite(manager, { id: 'site-m', name: 'Nouveau', ...ADDRESS });
    expect(await getUser(store, user.id)).toMatchObject({ sites: ['site-a', 'site-m'], canSeeNiss: true });
    // The caller's scope follows, so the site is theirs to see at once.
    expect((await service.getSite(manager, 'site-m')).id).toBe('site-m');
    const userEntry = (await listAudit(store, { entity: 'user' })).items[0]!;
    expect(userEntry).toMatchObject({ action: 'update', entityId: user.id, before: { sites: ['site-a'] }, after: { sites: ['site-a', 'site-m'] } });
    // A site another site manager cannot see is not found for them.
    expect(await refusal(service.getSite({ ...manager, user: { ...user, sites: ['site-a'] } }, 'site-m'))).toEqual(['site exists']);
  });

  it('lets a company user set a site\'s secure-badge rule only where their company is on a declaration', async () => {
    const store = await k.fresh();
    const service = serviceOn(store);
    await service.createCompany(ada, { number: CLEAN, name: 'Net & Clean' });
    await service.createSite(ada, { id: 'site-a', name: 'Tour A', ...ADDRESS });
    const outsider: Caller = { actor: { kind: 'user', id: 'u-c', name: 'Clean' }, user: { ...ADMIN, id: 'u-c', role: 'site-manager', company: CLEAN } };
    expect(await refusal(service.setSiteRequiresSecureBadges(outsider, 'site-a', true))).toEqual(['requireSecureBadges company-scope']);
    expect(await refusal(service.updateSite(outsider, 'site-a', { name: 'Tour A', ...ADDRESS, requireSecureBadges: true }))).toEqual(['requireSecureBadges company-scope']);
    await store.run("INSERT INTO declarations (number, site_id, valid_from, created_at) VALUES ('1Y102M7NZF7PZ', 'site-a', '2020-01-01', '2026-12-02T08:00:00.000Z')");
    await store.run("INSERT INTO declaration_companies (declaration, company_id, rank) VALUES ('1Y102M7NZF7PZ', $1, 0)", [CLEAN]);
    const policy = await service.setSiteRequiresSecureBadges(outsider, 'site-a', true);
    expect(policy).toMatchObject({ siteId: 'site-a', requireSecureBadges: true });
    expect((await service.getSite(ada, 'site-a')).requireSecureBadges).toBe(true);
    const entry = (await listAudit(store, { entity: 'site' })).items[0]!;
    expect(entry).toMatchObject({ action: 'update', before: { requireSecureBadges: false }, after: { requireSecureBadges: true } });
  });

  it('reads what the broker authenticates a terminal with: its secret\'s hash and whether it is disabled', async () => {
    const store = await k.fresh();
    await store.run("INSERT INTO terminals (id, site_id, secret_hash, created_at, secret_rotated_at) VALUES ('t-1', NULL, 'scrypt$hash', '2026-12-02T08:00:00.000Z', '2026-12-02T08:00:00.000Z')");
    expect(await terminalCredentials(store, 't-1')).toEqual({ secretHash: 'scrypt$hash', disabled: false });
    await store.run("UPDATE terminals SET disabled = 1 WHERE id = 't-1'");
    expect(await terminalCredentials(store, 't-1')).toEqual({ secretHash: 'scrypt$hash', disabled: true });
    expect(await terminalCredentials(store, 't-2')).toBeUndefined();
  });
});
