import { afterAll, describe, expect, it } from 'vitest';
import { addUser, getUser, type ApiUser } from '../../gateway/access/users.ts';
import { listAudit } from '../../gateway/site-data/audit.ts';
import { SiteDataService, type Caller } from '../../gateway/site-data/service.ts';
import { siteDataVersion } from '../../gateway/store/database.ts';
import type { SqlStore } from '../../gateway/store/sql-store.ts';
import { rotateTerminalSecret, terminalCredentials } from '../../gateway/site-data/terminals.ts';
import { verifySecret } from '../../gateway/site-data/secrets.ts';
import { terminalConfigFor } from '../../gateway/terminal-sync/terminal-view.ts';
import { SitePublisher } from '../../gateway/terminal-sync/publisher.ts';
import { createLogger } from '../../shared/logging.ts';
import { makeEnterpriseNumber } from '../../shared/identifiers/make.ts';
import { storeKinds } from '../support/sql-stores.ts';
import { refusal } from '../support/refusal.ts';

/**
 * The site-data changes on the storage port (docs/cluster.md, "The storage port"): companies, sites and
 * terminals, through the same service the console, the API and `ciao admin` use, each change and its audit
 * entry in one transaction. The same cases run on the SQLite file and on a real PostgreSQL with the migrated
 * schema. On PostgreSQL the service is given a SQLite connection of its own besides the store: a moved
 * operation that still read or wrote the connection would not see what the store holds, and its case would
 * fail.
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
  return new SiteDataService(store, { now: () => new Date('2026-12-02T09:00:00.000Z') });
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

  it('creates a terminal, changes its settings with a new config version, disables, reactivates it and turns enrolment mode on and off, each with its audit entry', async () => {
    const store = await k.fresh();
    const service = serviceOn(store);
    await service.createSite(ada, { id: 'site-a', name: 'Tour A', ...ADDRESS });
    await service.createSite(ada, { id: 'site-b', name: 'Tour B', ...ADDRESS });
    const v0 = await siteDataVersion(store);
    const created = await service.createTerminal(ada, { id: 't-1', siteId: 'site-a', debounceSeconds: 30 });
    expect(created).toEqual({
      id: 't-1', siteId: 'site-a', disabled: false, debounceSeconds: 30, buttons: ['IN', 'OUT', 'BREAK'], armSeconds: 10, language: null, feedbackSeconds: null,
      configVersion: 1, enrolmentUntil: null, appliedConfigVersion: null, state: 'never-seen', lastSeen: null,
    });
    expect(await siteDataVersion(store)).toBeGreaterThan(v0);
    const moved = await service.updateTerminal(ada, 't-1', { siteId: 'site-b', language: 'nl', feedbackSeconds: 2.5, buttons: ['IN', 'OUT'] });
    expect(moved).toMatchObject({ siteId: 'site-b', language: 'nl', feedbackSeconds: 2.5, buttons: ['IN', 'OUT'], debounceSeconds: 30, configVersion: 2 });
    // null: back to the site's language; what is left out keeps its value.
    expect(await service.updateTerminal(ada, 't-1', { language: null })).toMatchObject({ siteId: 'site-b', language: null, feedbackSeconds: 2.5, configVersion: 3 });
    expect((await service.setTerminalActive(ada, 't-1', false)).disabled).toBe(true);
    expect((await service.listTerminals(ada)).items).toEqual([]);
    expect((await service.listTerminals(ada, { inactive: true })).items.map((t) => t.id)).toEqual(['t-1']);
    expect((await service.setTerminalActive(ada, 't-1', true)).disabled).toBe(false);
    expect((await service.setEnrolment(ada, 't-1', 15)).enrolmentUntil).toBe('2026-12-02T09:15:00.000Z');
    expect((await service.setEnrolment(ada, 't-1', 0)).enrolmentUntil).toBeNull();
    const trail = (await listAudit(store, { entity: 'terminal' })).items;
    expect(trail.map((e) => e.action)).toEqual(['enrolment-off', 'enrolment-on', 'reactivate', 'deactivate', 'update', 'update', 'create']);
    expect(trail[6]).toMatchObject({ actor: ada.actor, entityId: 't-1', siteId: 'site-a', before: null, after: { siteId: 'site-a', debounceSeconds: 30 } });
    expect(trail[5]).toMatchObject({ entityId: 't-1', siteId: 'site-b', before: { siteId: 'site-a', configVersion: 1 }, after: { siteId: 'site-b', language: 'nl', configVersion: 2 } });
    // The entries hold the terminal's record, not what it last reported.
    expect(Object.keys(trail[5]!.before as object)).not.toContain('state');
    expect(trail[1]).toMatchObject({ siteId: 'site-b', before: { enrolmentUntil: null }, after: { enrolmentUntil: '2026-12-02T09:15:00.000Z' } });
    // What the terminal last reported comes with it.
    await store.run("INSERT INTO terminal_status (terminal_id, state, updated_at, config_version) VALUES ('t-1', 'online', '2026-12-02T08:59:00.000Z', 3)");
    expect(await service.getTerminal(ada, 't-1')).toMatchObject({ configVersion: 3, appliedConfigVersion: 3, state: 'online', lastSeen: '2026-12-02T08:59:00.000Z' });
  });

  it('lists terminals by id as SQLite sorts them, only those of the caller\'s sites', async () => {
    const store = await k.fresh();
    const service = serviceOn(store);
    await service.createSite(ada, { id: 'site-a', name: 'Tour A', ...ADDRESS });
    await service.createSite(ada, { id: 'site-b', name: 'Tour B', ...ADDRESS });
    for (const [id, siteId] of [['b-2', 'site-a'], ['B-1', 'site-b'], ['a-1', 'site-a']] as const) await service.createTerminal(ada, { id, siteId });
    expect((await service.listTerminals(ada)).items.map((t) => t.id)).toEqual(['B-1', 'a-1', 'b-2']);
    expect((await service.listTerminals(ada, { site: 'site-b' })).items.map((t) => t.id)).toEqual(['B-1']);
    const manager: Caller = { actor: { kind: 'user', id: 'u-m', name: 'Manager' }, user: { ...ADMIN, id: 'u-m', role: 'site-manager', sites: ['site-a'] } };
    expect((await service.listTerminals(manager)).items.map((t) => t.id)).toEqual(['a-1', 'b-2']);
    expect(await refusal(service.getTerminal(manager, 'B-1'))).toEqual(['terminal exists']);
    expect(await refusal(service.listTerminals(manager, { site: 'site-b' }))).toEqual(['site site-scope']);
  });

  it('refuses a terminal by field and rule, and writes nothing for a refused change', async () => {
    const store = await k.fresh();
    const service = serviceOn(store);
    await service.createSite(ada, { id: 'site-a', name: 'Tour A', ...ADDRESS });
    await service.createSite(ada, { id: 'site-c', name: 'Tour C', ...ADDRESS });
    await service.setSiteActive(ada, 'site-c', false);
    await service.createTerminal(ada, { id: 't-1', siteId: 'site-a' });
    const v = await siteDataVersion(store);
    expect(await refusal(service.createTerminal(ada, { id: 't-1', siteId: 'site-a' }))).toEqual(['id unique']);
    expect(await refusal(service.createTerminal(ada, { id: 'bad/id', siteId: 'site-a' }))).toEqual(['id format']);
    expect(await refusal(service.createTerminal(ada, { id: 't-2', siteId: 'site-z' }))).toEqual(['site exists']);
    expect(await refusal(service.createTerminal(ada, { id: 't-2', siteId: 'site-c' }))).toEqual(['site active']);
    expect(await refusal(service.createTerminal(ada, { id: 't-2', siteId: 'site-a', debounceSeconds: -1, armSeconds: 0, language: 'it', feedbackSeconds: 31, buttons: ['SIDEWAYS'] })))
      .toEqual(['debounce range', 'arm range', 'language enum', 'feedback range', 'buttons enum']);
    expect(await refusal(service.updateTerminal(ada, 't-1', { siteId: 'site-c' }))).toEqual(['site active']);
    expect(await refusal(service.updateTerminal(ada, 't-1', { buttons: [] }))).toEqual(['buttons required']);
    expect(await refusal(service.updateTerminal(ada, 'nope', { debounceSeconds: 5 }))).toEqual(['terminal exists']);
    expect(await refusal(service.setTerminalActive(ada, 'nope', false))).toEqual(['terminal exists']);
    expect(await refusal(service.setEnrolment(ada, 't-1', 241))).toEqual(['minutes range']);
    const manager: Caller = { actor: { kind: 'user', id: 'u-m', name: 'Manager' }, user: { ...ADMIN, id: 'u-m', role: 'site-manager', sites: ['site-c'] } };
    expect(await refusal(service.createTerminal(manager, { id: 't-2' }))).toEqual(['site required']);
    expect(await refusal(service.createTerminal(manager, { id: 't-2', siteId: 'site-a' }))).toEqual(['site site-scope']);
    const reader: Caller = { actor: { kind: 'user', id: 'u-r', name: 'Reader' }, user: { ...ADMIN, id: 'u-r', role: 'read-only' } };
    expect(await refusal(service.setEnrolment(reader, 't-1', 5))).toEqual(['role permission-change-site-data']);
    // A change whose audit entry is refused (an actor the trail's CHECK refuses) is undone with it.
    const bad: Caller = { actor: { kind: 'robot' as never, id: 'r', name: 'Robot' }, user: ADMIN };
    await expect(service.createTerminal(bad, { id: 't-2', siteId: 'site-a' })).rejects.toThrow();
    await expect(service.updateTerminal(bad, 't-1', { debounceSeconds: 5 })).rejects.toThrow();
    expect(await store.all('SELECT id, debounce_seconds, config_version FROM terminals')).toEqual([{ id: 't-1', debounce_seconds: 60, config_version: 1 }]);
    expect(await siteDataVersion(store)).toBe(v);
    expect((await listAudit(store, { entity: 'terminal' })).total).toBe(1);
  });

  it('gives the CLI a terminal\'s secret once, kept only hashed, and a new one that replaces it', async () => {
    const store = await k.fresh();
    const service = serviceOn(store);
    await service.createSite(ada, { id: 'site-a', name: 'Tour A', ...ADDRESS });
    const { terminal, secret } = await service.createTerminalWithSecret(ada, { id: 't-1', siteId: 'site-a' });
    expect(terminal).toMatchObject({ id: 't-1', siteId: 'site-a', configVersion: 1 });
    const hashOf = async () => (await terminalCredentials(store, 't-1'))!.secretHash;
    const first = await hashOf();
    expect(first).not.toContain(secret);
    expect(await verifySecret(secret, first)).toBe(true);
    expect((await listAudit(store, { entity: 'terminal' })).items.map((e) => e.action)).toEqual(['create']);
    const rotated = await rotateTerminalSecret(store, 't-1');
    expect(await verifySecret(secret, await hashOf())).toBe(false);
    expect(await verifySecret(rotated, await hashOf())).toBe(true);
    await expect(rotateTerminalSecret(store, 'nope')).rejects.toMatchObject({ code: 'ERR_CIAO_NOT_FOUND' });
  });

  it('tells a terminal its config from the port: its settings, and its site\'s name and language where it has none', async () => {
    const store = await k.fresh();
    const service = serviceOn(store);
    await service.createSite(ada, { id: 'site-a', name: 'Tour A', language: 'nl', ...ADDRESS });
    await service.createTerminal(ada, { id: 't-1', siteId: 'site-a', debounceSeconds: 30, feedbackSeconds: 1.5 });
    await service.createTerminal(ada, { id: 't-2', siteId: 'site-a', language: 'de' });
    const now = new Date('2026-12-02T09:00:00.000Z');
    expect(await terminalConfigFor(store, 't-1', { maxClockSkewMs: 5000, now })).toMatchObject({
      terminalId: 't-1', site: { id: 'site-a', name: 'Tour A' }, language: 'nl', debounceSeconds: 30, feedbackSeconds: 1.5, buttons: { enabled: ['IN', 'OUT', 'BREAK'], armSeconds: 10 }, configVersion: 1,
    });
    expect((await terminalConfigFor(store, 't-2', { maxClockSkewMs: 5000, now }))!.language).toBe('de');
    expect(await terminalConfigFor(store, 'nope', { maxClockSkewMs: 5000, now })).toBeUndefined();
  });

  it('publishes every terminal on a site its config in one round, reading terminals and sites from the port, and nothing for one without a site', async () => {
    const store = await k.fresh();
    const service = serviceOn(store);
    await service.createSite(ada, { id: 'site-a', name: 'Tour A', language: 'nl', ...ADDRESS });
    await service.createSite(ada, { id: 'site-b', name: 'Tour B', language: 'fr', ...ADDRESS });
    await service.createTerminal(ada, { id: 't-1', siteId: 'site-a' });
    await service.createTerminal(ada, { id: 't-2', siteId: 'site-b', language: 'de' });
    await service.createTerminal(ada, { id: 't-3' });
    const now = new Date('2026-12-02T09:00:00.000Z');
    const published = new Map<string, string>();
    const publisher = new SitePublisher(store, { publishRetained: (topic, payload) => published.set(topic, payload.toString()) }, createLogger('test', { level: 'silent' }), { pollMs: 60_000, maxClockSkewMs: 5000, now: () => now });
    await publisher.publishAll();
    const configs = [...published].filter(([topic]) => topic.endsWith('/config')).map(([, payload]) => JSON.parse(payload) as { terminalId: string });
    expect(configs.map((c) => c.terminalId).sort()).toEqual(['t-1', 't-2']);
    // The same config a terminal is told alone (the server time apart, which is `now` in both).
    for (const c of configs) expect(c).toEqual(await terminalConfigFor(store, c.terminalId, { maxClockSkewMs: 5000, now }));
    expect(configs.find((c) => c.terminalId === 't-2')).toMatchObject({ site: { id: 'site-b', name: 'Tour B' }, language: 'de' });
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
