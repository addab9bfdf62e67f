import { afterAll, describe, expect, it } from 'vitest';
import { listAudit } from '../../gateway/site-data/audit.ts';
import { SiteDataService, type Caller } from '../../gateway/site-data/service.ts';
import { EMPTY_RELEASE, type HeldTapRelease, type ReleaseResult } from '../../gateway/site-data/held-taps.ts';
import { siteDataVersion } from '../../gateway/store/database.ts';
import type { SqlStore } from '../../gateway/store/sql-store.ts';
import type { ApiUser } from '../../gateway/access/users.ts';
import { makeEnterpriseNumber, makeWorkerNumber } from '../../shared/identifiers/make.ts';
import { localDate } from '../../shared/time.ts';
import { storeKinds, type StoreKind } from '../support/sql-stores.ts';
import { refusal } from '../support/refusal.ts';

/**
 * The site-data changes that may release held taps, on the storage port (docs/cluster.md, "The storage
 * port"): declarations, workers, badges, agency placements, employer choices, enrolment from a tap and the
 * CSV imports, through the same service the console, the API and `ciao admin` use. Each change, its audit
 * entry and the release of the held taps it resolves are one transaction; a preview makes the change and
 * its release in a transaction rolled back; what a change released is told once it committed, once. The
 * same cases run on the SQLite file and on a real PostgreSQL with the migrated schema; on PostgreSQL the
 * service has an empty SQLite connection of its own beside the store, so anything still read or written on
 * the connection would fail the case.
 */
const kinds = storeKinds();
afterAll(async () => {
  for (const k of kinds) await k.cleanup();
});

const NOW = new Date('2026-12-02T09:00:00.000Z');
const ADMIN: ApiUser = { id: 'u-ada', name: 'Ada Admin', role: 'administrator', sites: null, company: null, canSeeNiss: true, createdAt: '', revokedAt: null };
const ada: Caller = { actor: { kind: 'user', id: ADMIN.id, name: ADMIN.name }, user: ADMIN };
const CLEAN = makeEnterpriseNumber('04030192');
const SHINE = makeEnterpriseNumber('04287594');
const AGENCY = makeEnterpriseNumber('04999999');
const FOREIGN = 'FR40123456789';
const DECL = '1Y102M7NZF7PZ';
const DECL_B = '2AB34CD56EF78';
const DECL_OLD = '7KQ2W9XH4MB3C';
const ANA = makeWorkerNumber({ year: 1985, month: 7, day: 30 }, 33);
const LUC = makeWorkerNumber({ year: 1979, month: 11, day: 2 }, 118);
const ZOE = makeWorkerNumber({ year: 1999, month: 2, day: 3 }, 77);
const ADDRESS = { postCode: '1000', municipality: 'Bruxelles', street: 'Rue Neuve', houseNumber: '1' };


function serviceOn(store: SqlStore, o: { heldTaps?: HeldTapRelease; told?: ReleaseResult[] } = {}): SiteDataService {
  return new SiteDataService(store, { now: () => NOW, ...(o.heldTaps ? { heldTaps: o.heldTaps } : {}), ...(o.told ? { onReleased: (r) => o.told!.push(r) } : {}) });
}

/** Three companies, two sites, a terminal on the first: what every case starts from. */
async function world(k: StoreKind, o: { heldTaps?: HeldTapRelease; told?: ReleaseResult[] } = {}): Promise<{ store: SqlStore; service: SiteDataService }> {
  const store = await k.fresh();
  const service = serviceOn(store, o);
  await service.createCompany(ada, { number: CLEAN, name: 'Net & Clean' });
  await service.createCompany(ada, { number: SHINE, name: 'Shine' });
  await service.createCompany(ada, { number: AGENCY, name: 'Interim Plus' });
  await service.createSite(ada, { id: 'site-a', name: 'Tour A', ...ADDRESS });
  await service.createSite(ada, { id: 'site-b', name: 'Tour B', ...ADDRESS });
  await service.createTerminal(ada, { id: 't-1', siteId: 'site-a' });
  return { store, service };
}

/** A tap held for review, as the ingest stores it (one minute before it is received). */
async function holdTap(store: SqlStore, t: { id: string; badge: string; at: string; why: string; siteId?: string | null; employer?: string; workerId?: string }): Promise<void> {
  await store.run(
    `INSERT INTO taps (tap_id, terminal_id, site_id, seq, badge, direction, reason, at, employer, received_at, enrichment, worker_id)
     VALUES ($1, 't-1', $2, 1, $3, 'IN', 'work', $4, $5, $6, $7, $8)`,
    [t.id, t.siteId === undefined ? 'site-a' : t.siteId, t.badge, t.at, t.employer ?? null, new Date(Date.parse(t.at) + 60_000).toISOString(), t.why, t.workerId ?? null],
  );
}

/** What a held tap became: its status and its registration's number (null while held). */
async function tapState(store: SqlStore, id: string): Promise<{ enrichment: string; reg_seq: number | null } | undefined> {
  return store.one('SELECT enrichment, reg_seq FROM taps WHERE tap_id = $1', [id]);
}

/** Everything a change writes: the site data, the audit trail, the taps' states and their releases. */
async function snapshot(store: SqlStore): Promise<unknown> {
  const count = async (table: string) => (await store.one<{ n: number }>(`SELECT count(*) AS n FROM ${table}`))!.n;
  return {
    version: await siteDataVersion(store),
    audit: (await listAudit(store)).total,
    declarations: await store.all('SELECT number, site_id, valid_from, valid_to, deactivated_at FROM declarations ORDER BY number'),
    chains: await count('declaration_companies'),
    workers: await store.all('SELECT id, name, deactivated_at FROM workers ORDER BY id'),
    employers: await count('worker_employers'),
    badges: await store.all('SELECT uid, worker_id, valid_from, valid_to, revoked_at FROM badges ORDER BY uid'),
    placements: await store.all('SELECT id, valid_from, deactivated_at FROM agency_placements ORDER BY id'),
    taps: await store.all('SELECT tap_id, enrichment, reg_seq FROM taps ORDER BY tap_id'),
    releases: await count('tap_releases'),
  };
}

describe.each(kinds.map((k) => [k.kind, k] as const))('site-data changes that release held taps, on the storage port (%s)', (_kind, k) => {
  it('adds, changes, deactivates and reactivates a declaration, each with its audit entry, and lists them as SQLite orders them', async () => {
    const { store, service } = await world(k);
    const v0 = await siteDataVersion(store);
    const created = await service.createDeclaration(ada, { number: DECL, siteId: 'site-a', validFrom: '2026-01-01', companies: [CLEAN, SHINE], ciaoUrl: 'https://ciao.example/qr/1' });
    expect(created).toEqual({
      declaration: { number: DECL, siteId: 'site-a', validFrom: '2026-01-01', validTo: null, companies: [CLEAN, SHINE], deactivatedAt: null, ciaoUrl: 'https://ciao.example/qr/1' },
      released: [],
    });
    expect(await siteDataVersion(store)).toBeGreaterThan(v0);
    // The chain replaced, in its new order; the URL kept when left out.
    const changed = await service.updateDeclaration(ada, DECL, { siteId: 'site-a', validFrom: '2026-01-01', validTo: '2027-06-30', companies: [SHINE, CLEAN] });
    expect(changed.declaration).toMatchObject({ companies: [SHINE, CLEAN], validTo: '2027-06-30', ciaoUrl: 'https://ciao.example/qr/1' });
    await service.createDeclaration(ada, { number: DECL_OLD, siteId: 'site-a', validFrom: '2025-01-01', validTo: '2025-12-31', companies: [CLEAN] });
    await service.createDeclaration(ada, { number: DECL_B, siteId: 'site-b', validFrom: '2026-01-01', companies: [CLEAN] });
    expect((await service.listDeclarations(ada)).items.map((d) => d.number)).toEqual([DECL_OLD, DECL, DECL_B]);
    expect((await service.listDeclarations(ada, { site: 'site-b' })).items.map((d) => d.number)).toEqual([DECL_B]);
    // FAQ 31: the declaration valid today, with its URL.
    expect(await service.siteFallback(ada, 'site-a')).toEqual({ site: { id: 'site-a', name: 'Tour A' }, day: '2026-12-02', declaration: DECL, ciaoUrl: 'https://ciao.example/qr/1' });
    expect((await service.setDeclarationActive(ada, DECL, false)).deactivatedAt).toBe(NOW.toISOString());
    expect((await service.siteFallback(ada, 'site-a')).declaration).toBeNull();
    expect((await service.listDeclarations(ada, { site: 'site-a' })).items.map((d) => d.number)).toEqual([DECL_OLD]);
    expect((await service.setDeclarationActive(ada, DECL, true)).deactivatedAt).toBeNull();
    const trail = (await listAudit(store, { entity: 'declaration', entityId: DECL })).items;
    expect(trail.map((e) => e.action)).toEqual(['reactivate', 'deactivate', 'update', 'create']);
    expect(trail[2]).toMatchObject({ actor: ada.actor, siteId: 'site-a', before: { companies: [CLEAN, SHINE] }, after: { companies: [SHINE, CLEAN] } });
    // A company user sees only the declarations their company is on.
    const shine: Caller = { actor: { kind: 'user', id: 'u-s', name: 'Stef' }, user: { ...ADMIN, id: 'u-s', role: 'site-manager', company: SHINE } };
    expect((await service.listDeclarations(shine)).items.map((d) => d.number)).toEqual([DECL]);
    expect(await refusal(service.getDeclaration(shine, DECL_B))).toEqual(['declaration exists']);
  });

  it('refuses a declaration by field and rule, and writes nothing for a refused change', async () => {
    const { store, service } = await world(k);
    await service.createDeclaration(ada, { number: DECL, siteId: 'site-a', validFrom: '2026-01-01', companies: [CLEAN] });
    await service.createSite(ada, { id: 'site-c', name: 'Tour C', ...ADDRESS });
    await service.setSiteActive(ada, 'site-c', false);
    await service.setCompanyActive(ada, AGENCY, false);
    const before = await snapshot(store);
    expect(await refusal(service.createDeclaration(ada, { number: DECL, siteId: 'site-a', validFrom: '2026-01-01', companies: [CLEAN] }))).toEqual(['number unique']);
    expect(await refusal(service.createDeclaration(ada, { number: DECL_B, siteId: 'site-z', validFrom: '2026-01-01', companies: [CLEAN] }))).toEqual(['site exists']);
    expect(await refusal(service.createDeclaration(ada, { number: DECL_B, siteId: 'site-c', validFrom: '2026-01-01', companies: [CLEAN] }))).toEqual(['site active']);
    expect(await refusal(service.createDeclaration(ada, { number: DECL_B, siteId: 'site-a', validFrom: '', companies: [CLEAN] }))).toEqual(['from required']);
    expect(await refusal(service.createDeclaration(ada, { number: DECL_B, siteId: 'site-a', validFrom: '2026-02-01', validTo: '2026-01-01', companies: [CLEAN] }))).toEqual(['to order']);
    expect(await refusal(service.createDeclaration(ada, { number: DECL_B, siteId: 'site-a', validFrom: '2026-01-01', companies: [FOREIGN] }))).toEqual(['company[0] exists']);
    expect(await refusal(service.createDeclaration(ada, { number: DECL_B, siteId: 'site-a', validFrom: '2026-01-01', companies: [] }))).toEqual(['company required']);
    expect(await refusal(service.createDeclaration(ada, { number: DECL_B, siteId: 'site-a', validFrom: '2026-01-01', companies: [CLEAN, AGENCY] }))).toEqual(['company[1] active']);
    expect(await refusal(service.createDeclaration(ada, { number: DECL_B, siteId: 'site-a', validFrom: '2026-01-01', companies: [CLEAN], ciaoUrl: 'http://ciao.example' }))).toEqual(['ciaoUrl https-url']);
    expect(await refusal(service.createDeclaration(ada, { number: 'NOT-A-NUMBER', siteId: 'site-a', validFrom: '2026-01-01', companies: [CLEAN] }))).toEqual([expect.stringMatching(/^number /)]);
    expect(await refusal(service.updateDeclaration(ada, DECL_B, { siteId: 'site-a', validFrom: '2026-01-01', companies: [CLEAN] }))).toEqual(['declaration exists']);
    const shine: Caller = { actor: { kind: 'user', id: 'u-s', name: 'Stef' }, user: { ...ADMIN, id: 'u-s', role: 'site-manager', company: SHINE } };
    expect(await refusal(service.createDeclaration(shine, { number: DECL_B, siteId: 'site-a', validFrom: '2026-01-01', companies: [CLEAN] }))).toEqual(['company own-company']);
    const manager: Caller = { actor: { kind: 'user', id: 'u-m', name: 'Manager' }, user: { ...ADMIN, id: 'u-m', role: 'site-manager', sites: ['site-b'] } };
    expect(await refusal(service.createDeclaration(manager, { number: DECL_B, siteId: 'site-a', validFrom: '2026-01-01', companies: [CLEAN] }))).toEqual(['site site-scope']);
    const reader: Caller = { actor: { kind: 'user', id: 'u-r', name: 'Reader' }, user: { ...ADMIN, id: 'u-r', role: 'read-only' } };
    expect(await refusal(service.createDeclaration(reader, { number: DECL_B, siteId: 'site-a', validFrom: '2026-01-01', companies: [CLEAN] }))).toEqual(['role permission-change-site-data']);
    // A change whose audit entry is refused (an actor the trail's CHECK refuses) is undone with it.
    const bad: Caller = { actor: { kind: 'robot' as never, id: 'r', name: 'Robot' }, user: ADMIN };
    await expect(service.createDeclaration(bad, { number: DECL_B, siteId: 'site-a', validFrom: '2026-01-01', companies: [CLEAN] })).rejects.toThrow();
    await expect(service.updateDeclaration(bad, DECL, { siteId: 'site-a', validFrom: '2026-01-01', companies: [SHINE] })).rejects.toThrow();
    expect(await snapshot(store)).toEqual(before);
  });

  it('adds a worker (NISS masked in the trail), changes their employers in order, and deactivating them revokes their badges, each with its audit entry', async () => {
    const { store, service } = await world(k);
    const ana = await service.createWorker(ada, { id: 'w-ana', niss: ANA, name: 'Ana Peeters', employers: [CLEAN] });
    expect(ana).toEqual({ id: 'w-ana', niss: ANA, limosaId: null, name: 'Ana Peeters', capacity: 'employee', employers: [CLEAN], deactivatedAt: null });
    await service.createWorker(ada, { id: 'w-zoe', niss: ZOE, name: 'zoë Martin', capacity: 'helper', employers: [SHINE] });
    await service.createWorker(ada, { niss: LUC, name: 'Zèbre Luc', employers: [CLEAN] });
    // By name then id, by code point (uppercase before lowercase, accents last), whatever the server's collation.
    expect((await service.listWorkers(ada)).items.map((w) => w.name)).toEqual(['Ana Peeters', 'Zèbre Luc', 'zoë Martin']);
    const changed = await service.updateWorker(ada, 'w-ana', { name: 'Ana Peeters', employers: [SHINE, CLEAN] });
    expect(changed).toMatchObject({ id: 'w-ana', niss: ANA, employers: [SHINE, CLEAN], released: [] });
    expect((await service.getWorker(ada, 'w-ana')).employers).toEqual([SHINE, CLEAN]);
    // A user without the NISS right sees it masked.
    const payroll: Caller = { actor: { kind: 'user', id: 'u-p', name: 'P' }, user: { ...ADMIN, id: 'u-p', canSeeNiss: false } };
    expect((await service.getWorker(payroll, 'w-ana')).niss).toBe(`*********${ANA.slice(-2)}`);
    await service.createBadge(ada, { uid: 'AA000001', worker: 'w-ana', validFrom: '2026-01-01' });
    await service.createBadge(ada, { uid: 'AA000002', worker: ANA, validFrom: '2026-01-01' });
    const off = await service.setWorkerActive(ada, 'w-ana', false);
    expect(off.deactivatedAt).toBe(NOW.toISOString());
    expect((await service.listBadges(ada, { worker: 'w-ana', inactive: true })).items.map((b) => [b.uid, b.revokedReason])).toEqual([['AA000001', 'worker deactivated'], ['AA000002', 'worker deactivated']]);
    expect((await service.setWorkerActive(ada, 'w-ana', true)).deactivatedAt).toBeNull();
    const trail = (await listAudit(store, { entity: 'worker', entityId: 'w-ana' })).items;
    expect(trail.map((e) => e.action)).toEqual(['reactivate', 'deactivate', 'update', 'create']);
    expect(JSON.stringify(trail)).not.toContain(ANA);
    expect(trail[3]!.after).toMatchObject({ ssin: `*********${ANA.slice(-2)}` });
    expect((await listAudit(store, { entity: 'badge' })).items.map((e) => e.action)).toEqual(['deactivate', 'deactivate', 'create', 'create']);
  });

  it('refuses a worker by field and rule, and writes nothing for a refused change', async () => {
    const { store, service } = await world(k);
    await service.createWorker(ada, { id: 'w-ana', niss: ANA, name: 'Ana Peeters', employers: [CLEAN] });
    await service.setCompanyActive(ada, AGENCY, false);
    await service.createDeclaration(ada, { number: DECL, siteId: 'site-a', validFrom: '2026-01-01', companies: [CLEAN] });
    const before = await snapshot(store);
    expect(await refusal(service.createWorker(ada, { niss: ANA, name: 'Again', employers: [CLEAN] }))).toEqual(['niss unique']);
    expect(await refusal(service.createWorker(ada, { id: 'w-ana', niss: LUC, name: 'Again', employers: [CLEAN] }))).toEqual(['niss unique']);
    expect(await refusal(service.createWorker(ada, { name: 'Nobody', employers: [CLEAN] }))).toEqual(['niss required']);
    expect(await refusal(service.createWorker(ada, { niss: LUC, name: ' ', capacity: 'boss', employers: [FOREIGN] }))).toEqual(['name required', 'capacity enum', 'employer[0] exists']);
    expect(await refusal(service.createWorker(ada, { niss: LUC, name: 'Luc', employers: [] }))).toEqual(['employer required']);
    expect(await refusal(service.createWorker(ada, { niss: LUC, name: 'Luc', employers: [AGENCY] }))).toEqual(['employer[0] active']);
    expect(await snapshot(store)).toEqual(before);
    await service.createWorker(ada, { id: 'w-luc', niss: LUC, name: 'Luc', employers: [SHINE] });
    const afterLuc = await snapshot(store);
    expect(await refusal(service.updateWorker(ada, 'w-luc', { niss: ANA, name: 'Luc', employers: [SHINE] }))).toEqual(['niss unique']);
    expect(await refusal(service.updateWorker(ada, 'w-nobody', { name: 'X', employers: [SHINE] }))).toEqual(['worker exists']);
    // A company user adds workers only for their company and those below it on a chain (FAQ 33).
    const clean: Caller = { actor: { kind: 'user', id: 'u-c', name: 'Marie' }, user: { ...ADMIN, id: 'u-c', role: 'site-manager', company: CLEAN } };
    expect(await refusal(service.createWorker(clean, { niss: ZOE, name: 'Zoë', employers: [SHINE] }))).toEqual(['employer[0] company-scope']);
    expect(await refusal(service.getWorker(clean, 'w-luc'))).toEqual(['worker exists']);
    expect(await snapshot(store)).toEqual(afterLuc);
  });

  it('gives, changes and revokes badges, each with its audit entry, and refuses them by field and rule with nothing written', async () => {
    const { store, service } = await world(k);
    await service.createWorker(ada, { id: 'w-ana', niss: ANA, name: 'Ana', employers: [CLEAN] });
    await service.createWorker(ada, { id: 'w-luc', niss: LUC, name: 'Luc', employers: [SHINE] });
    const given = await service.createBadge(ada, { uid: 'aa000001', worker: ANA, validFrom: '2026-01-01' });
    expect(given).toEqual({ badge: { uid: 'AA000001', workerId: 'w-ana', validFrom: '2026-01-01', validTo: null, revokedAt: null, revokedReason: null, kind: 'uid-only', keyVersion: null }, released: [] });
    await service.createBadge(ada, { uid: '04A1B2C3D4E5F6', worker: 'w-luc' });
    // Valid from today at the sites when no day is given.
    expect((await service.getBadge(ada, '04A1B2C3D4E5F6')).validFrom).toBe(localDate(new Date()));
    expect((await service.updateBadge(ada, 'AA000001', { validTo: '2026-12-31' })).badge).toMatchObject({ workerId: 'w-ana', validFrom: '2026-01-01', validTo: '2026-12-31' });
    expect((await service.listBadges(ada)).items.map((b) => [b.uid, b.workerName])).toEqual([['04A1B2C3D4E5F6', 'Luc'], ['AA000001', 'Ana']]);
    const revoked = await service.revokeBadge(ada, 'AA000001', 'lost');
    expect(revoked).toMatchObject({ revokedReason: 'lost' });
    expect((await service.listBadges(ada)).items.map((b) => b.uid)).toEqual(['04A1B2C3D4E5F6']);
    expect((await listAudit(store, { entity: 'badge', entityId: 'AA000001' })).items.map((e) => e.action)).toEqual(['deactivate', 'update', 'create']);
    // Given again after its revocation: a new binding.
    expect((await service.createBadge(ada, { uid: 'AA000001', worker: 'w-luc', validFrom: '2026-06-01' })).badge).toMatchObject({ workerId: 'w-luc', revokedAt: null });

    await service.createDeclaration(ada, { number: DECL, siteId: 'site-a', validFrom: '2026-01-01', companies: [CLEAN] });
    await service.setSiteRequiresSecureBadges(ada, 'site-a', true);
    await service.setWorkerActive(ada, 'w-luc', false);
    const before = await snapshot(store);
    expect(await refusal(service.createBadge(ada, { uid: 'XYZ', worker: 'w-ana' }))).toEqual(['uid format']);
    expect(await refusal(service.createBadge(ada, { uid: 'AB12CD34', worker: 'nobody' }))).toEqual(['worker exists']);
    expect(await refusal(service.createBadge(ada, { uid: 'AB12CD34', worker: '' }))).toEqual(['worker required']);
    expect(await refusal(service.createBadge(ada, { uid: 'AB12CD34', worker: 'w-ana', validFrom: '2026-02-01', validTo: '2026-01-01' }))).toEqual(['to order', 'kind secure-badge-required']);
    // Ana works on site-a, which now requires secure badges: a UID-only badge is refused for her.
    expect(await refusal(service.createBadge(ada, { uid: 'AB12CD34', worker: 'w-ana' }))).toEqual(['kind secure-badge-required']);
    expect(await refusal(service.createBadge(ada, { uid: '04A1B2C3D4E5F6', worker: 'w-ana' }))).toEqual(['kind secure-badge-required']);
    expect(await refusal(service.createBadge(ada, { uid: 'AB12CD35', worker: 'w-luc' }))).toEqual(['worker active']);
    expect(await refusal(service.updateBadge(ada, 'FFFFFFFF', { validTo: '2026-12-31' }))).toEqual(['badge exists']);
    const clean: Caller = { actor: { kind: 'user', id: 'u-c', name: 'Marie' }, user: { ...ADMIN, id: 'u-c', role: 'site-manager', company: CLEAN } };
    expect(await refusal(service.revokeBadge(clean, 'AA000001'))).toEqual(['badge exists']);
    expect(await snapshot(store)).toEqual(before);
  });

  it('places an agency worker, changes, deactivates and reactivates the placement, each with its audit entry, and refuses one by field and rule', async () => {
    const { store, service } = await world(k);
    await service.createWorker(ada, { id: 'w-zoe', niss: ZOE, name: 'Zoë', capacity: 'agency-worker', employers: [AGENCY] });
    const placed = await service.createPlacement(ada, { id: 'p-1', worker: ZOE, agency: AGENCY, userCompany: CLEAN, validFrom: '2026-11-01' });
    expect(placed).toEqual({ placement: { id: 'p-1', workerId: 'w-zoe', agencyId: AGENCY, userCompanyId: CLEAN, validFrom: '2026-11-01', validTo: null, deactivatedAt: null }, released: [] });
    await service.createPlacement(ada, { id: 'p-0', worker: 'w-zoe', agency: AGENCY, userCompany: SHINE, validFrom: '2026-12-01' });
    expect((await service.updatePlacement(ada, 'p-1', { worker: 'w-zoe', agency: AGENCY, userCompany: CLEAN, validFrom: '2026-11-01', validTo: '2026-11-30' })).placement.validTo).toBe('2026-11-30');
    expect((await service.listPlacements(ada)).items.map((p) => [p.id, p.workerName])).toEqual([['p-1', 'Zoë'], ['p-0', 'Zoë']]);
    expect((await service.setPlacementActive(ada, 'p-1', false)).deactivatedAt).toBe(NOW.toISOString());
    expect((await service.listPlacements(ada)).items.map((p) => p.id)).toEqual(['p-0']);
    expect((await service.setPlacementActive(ada, 'p-1', true)).deactivatedAt).toBeNull();
    expect((await listAudit(store, { entity: 'placement', entityId: 'p-1' })).items.map((e) => e.action)).toEqual(['reactivate', 'deactivate', 'update', 'create']);

    const before = await snapshot(store);
    expect(await refusal(service.createPlacement(ada, { id: 'p-1', worker: 'w-zoe', agency: AGENCY, userCompany: CLEAN, validFrom: '2026-11-01' }))).toEqual(['id unique']);
    expect(await refusal(service.createPlacement(ada, { worker: 'w-zoe', agency: AGENCY, userCompany: AGENCY, validFrom: '2026-11-01' }))).toEqual(['userCompany differs']);
    expect(await refusal(service.createPlacement(ada, { worker: '', agency: FOREIGN, userCompany: CLEAN, validFrom: '' }))).toEqual(['worker required', 'agency exists', 'from required']);
    expect(await refusal(service.updatePlacement(ada, 'p-9', { worker: 'w-zoe', agency: AGENCY, userCompany: CLEAN, validFrom: '2026-11-01' }))).toEqual(['placement exists']);
    const shine: Caller = { actor: { kind: 'user', id: 'u-s', name: 'Stef' }, user: { ...ADMIN, id: 'u-s', role: 'site-manager', company: SHINE } };
    expect(await refusal(service.createPlacement(shine, { worker: 'w-zoe', agency: AGENCY, userCompany: CLEAN, validFrom: '2026-11-01' }))).toEqual(['userCompany company-scope']);
    expect(await snapshot(store)).toEqual(before);
  });

  it('imports workers and badges from CSV: every good row kept with its audit entry, every bad one reported by line, field and rule', async () => {
    const { store, service } = await world(k);
    await service.createWorker(ada, { id: 'w-ana', niss: ANA, name: 'Ana', employers: [CLEAN] });
    const workers = await service.importWorkers(ada, [
      'niss;name;capacity;employers;id',
      `${ANA};Ana Peeters;employee;${CLEAN}|${SHINE};`,
      `${LUC};Luc;boss;${CLEAN};`,
      `;Nobody;;${CLEAN};`,
      `${ZOE};Zoë;helper;${FOREIGN};`,
      `${ZOE};Zoë;helper;${SHINE};w-zoe`,
    ].join('\n'));
    expect(workers).toEqual({
      imported: 2,
      rejected: [
        { line: 3, problems: [expect.objectContaining({ field: 'capacity', rule: 'enum' })] },
        { line: 4, problems: [expect.objectContaining({ field: 'niss', rule: 'required' })] },
        { line: 5, problems: [expect.objectContaining({ field: 'employer[0]', rule: 'exists' })] },
      ],
    });
    expect((await service.getWorker(ada, 'w-ana')).employers).toEqual([CLEAN, SHINE]);
    expect((await service.getWorker(ada, 'w-zoe')).name).toBe('Zoë');
    expect((await listAudit(store, { entity: 'worker' })).items.map((e) => [e.action, e.entityId])).toEqual([['create', 'w-zoe'], ['update', 'w-ana'], ['create', 'w-ana']]);

    const badges = await service.importBadges(ada, 'uid,worker,from,to\nAA000001,w-ana,2026-01-01,\nAA000002,nobody,2026-01-01,\nAA000003,w-zoe,2026-02-01,2026-01-01\nAA000004,w-zoe,2026-03-01,\n');
    expect(badges).toEqual({
      imported: 2,
      rejected: [
        { line: 3, problems: [expect.objectContaining({ field: 'worker', rule: 'exists' })] },
        { line: 4, problems: [expect.objectContaining({ field: 'to', rule: 'order' })] },
      ],
    });
    expect((await service.listBadges(ada)).items.map((b) => [b.uid, b.workerId, b.validFrom])).toEqual([['AA000001', 'w-ana', '2026-01-01'], ['AA000004', 'w-zoe', '2026-03-01']]);
    expect((await listAudit(store, { entity: 'badge' })).items.map((e) => [e.action, e.entityId])).toEqual([['create', 'AA000004'], ['create', 'AA000001']]);
    // A row refused by the caller's own rule (a worker outside a company user's scope) is reported, the others kept.
    const clean: Caller = { actor: { kind: 'user', id: 'u-c', name: 'Marie' }, user: { ...ADMIN, id: 'u-c', role: 'site-manager', company: CLEAN } };
    const scoped = await service.importBadges(clean, 'uid,worker\nAA000005,w-zoe\nAA000006,w-ana\n');
    expect(scoped).toEqual({ imported: 1, rejected: [{ line: 2, problems: [expect.objectContaining({ field: 'worker', rule: 'exists' })] }] });
    const reader: Caller = { actor: { kind: 'user', id: 'u-r', name: 'Reader' }, user: { ...ADMIN, id: 'u-r', role: 'read-only' } };
    expect(await refusal(service.importWorkers(reader, `niss,name,employers\n${LUC},Luc,${CLEAN}\n`))).toEqual(['role permission-change-site-data']);
  });

  it('previews a change with nothing written, and makes it: held taps released with the change\'s audit entry as their cause, told once committed', async () => {
    const told: ReleaseResult[] = [];
    const { store, service } = await world(k, { told });
    await service.createWorker(ada, { id: 'w-ana', niss: ANA, name: 'Ana', employers: [CLEAN] });
    await service.createBadge(ada, { uid: 'AA000001', worker: 'w-ana', validFrom: '2026-11-01' });
    // Two taps held for want of a declaration on site-a, one of an unknown badge.
    await holdTap(store, { id: 'tap-1', badge: 'AA000001', at: '2026-12-01T07:00:00.000Z', why: 'no-declaration', workerId: 'w-ana' });
    await holdTap(store, { id: 'tap-2', badge: 'AA000001', at: '2026-12-01T15:00:00.000Z', why: 'no-declaration', workerId: 'w-ana' });
    await holdTap(store, { id: 'tap-3', badge: 'BB000001', at: '2026-12-01T08:00:00.000Z', why: 'unknown-badge' });
    const input = { number: DECL, siteId: 'site-a', validFrom: '2026-11-01', companies: [CLEAN] };
    const before = await snapshot(store);
    const preview = await service.previewDeclaration(ada, input);
    expect(preview.map((t) => [t.tapId, t.heldBecause, t.outcome])).toEqual([['tap-1', 'no-declaration', 'send'], ['tap-2', 'no-declaration', 'send']]);
    expect(await snapshot(store)).toEqual(before);
    expect(told).toEqual([]);
    // A preview that the change would refuse is refused alike, with nothing written.
    expect(await refusal(service.previewDeclaration(ada, { ...input, companies: [FOREIGN] }))).toEqual(['company[0] exists']);

    const made = await service.createDeclaration(ada, input);
    expect(made.released).toEqual(preview);
    expect(await tapState(store, 'tap-1')).toMatchObject({ enrichment: 'enriched', reg_seq: expect.any(Number) });
    expect(await tapState(store, 'tap-3')).toEqual({ enrichment: 'unknown-badge', reg_seq: null });
    expect(told).toHaveLength(1);
    expect(told[0]).toMatchObject({ registrations: 2, badgeChecks: 0 });
    expect(told[0]!.released.map((t) => t.tapId)).toEqual(['tap-1', 'tap-2']);
    const cause = (await listAudit(store, { entity: 'declaration' })).items[0]!;
    const releases = (await listAudit(store, { entity: 'tap' })).items;
    expect(releases.map((e) => [e.action, e.entityId, e.causeId])).toEqual([['release-late', 'tap-2', cause.id], ['release-late', 'tap-1', cause.id]]);

    // Enrolling the unknown badge from its tap: previewed, then made.
    const enrolment = await service.previewEnrolment(ada, { tapId: 'tap-3', worker: 'w-ana' });
    expect(enrolment).toMatchObject({ tap: { tapId: 'tap-3', day: '2026-12-01' }, releasesHeldTaps: true, badge: { uid: 'BB000001', kind: 'uid-only' }, tapCarriedSecureMessage: false });
    expect(enrolment.heldTaps.map((t) => t.tapId)).toEqual(['tap-3']);
    expect(await tapState(store, 'tap-3')).toEqual({ enrichment: 'unknown-badge', reg_seq: null });
    const enrolled = await service.enrolFromTap(ada, { tapId: 'tap-3', worker: 'w-ana' });
    expect(enrolled).toMatchObject({ badge: { uid: 'BB000001', workerId: 'w-ana', validFrom: '2026-12-01' }, released: [{ tapId: 'tap-3', outcome: 'send' }] });
    expect((await listAudit(store, { entity: 'badge', entityId: 'BB000001' })).items[0]).toMatchObject({ action: 'enrol', after: { fromTap: 'tap-3' } });
    expect(await service.listHeldTaps(ada)).toMatchObject({ items: [], total: 0 });
    expect(told.map((r) => r.registrations)).toEqual([2, 1]);
    // A refused change tells nothing.
    expect(await refusal(service.enrolFromTap(ada, { tapId: 'tap-3', worker: 'w-ana' }))).toEqual(['tap exists']);
    expect(told).toHaveLength(2);
  });

  it('chooses the employer of a tap held for it, among those the worker may register under on that site, previewed first', async () => {
    const told: ReleaseResult[] = [];
    const { store, service } = await world(k, { told });
    await service.createDeclaration(ada, { number: DECL, siteId: 'site-a', validFrom: '2026-01-01', companies: [CLEAN, SHINE] });
    await service.createWorker(ada, { id: 'w-luc', niss: LUC, name: 'Luc', employers: [CLEAN, SHINE] });
    await service.createBadge(ada, { uid: 'AA000002', worker: 'w-luc', validFrom: '2026-01-01' });
    await holdTap(store, { id: 'tap-9', badge: 'AA000002', at: '2026-12-01T07:00:00.000Z', why: 'employer-choice-needed', workerId: 'w-luc' });
    const held = await service.listHeldTaps(ada);
    expect(held.items).toMatchObject([{ tapId: 'tap-9', enrichment: 'employer-choice-needed', employerChoices: [CLEAN, SHINE] }]);
    expect(await refusal(service.chooseEmployer(ada, { tapId: 'tap-9', employer: AGENCY }))).toEqual(['employer employer-choice']);
    expect(await refusal(service.chooseEmployer(ada, { tapId: 'tap-0', employer: SHINE }))).toEqual(['tap exists']);
    const before = await snapshot(store);
    expect((await service.previewEmployerChoice(ada, { tapId: 'tap-9', employer: SHINE })).map((t) => t.tapId)).toEqual(['tap-9']);
    expect(await snapshot(store)).toEqual(before);
    const chosen = await service.chooseEmployer(ada, { tapId: 'tap-9', employer: SHINE });
    expect(chosen.released.map((t) => t.tapId)).toEqual(['tap-9']);
    expect(await store.one('SELECT employer_id FROM registrations WHERE tap_id = $1', ['tap-9'])).toEqual({ employer_id: SHINE });
    expect((await listAudit(store, { entity: 'tap', entityId: 'tap-9' })).items.map((e) => e.action)).toEqual(['release-late', 'choose-employer']);
    expect(told).toHaveLength(1);
  });

  it('releases what a worker\'s new employer, a placement and a badge\'s wider validity resolve, and a CSV import\'s once it committed', async () => {
    const told: ReleaseResult[] = [];
    const { store, service } = await world(k, { told });
    await service.createDeclaration(ada, { number: DECL, siteId: 'site-a', validFrom: '2026-01-01', companies: [CLEAN] });
    // Zoë and Ana each have two employers, neither on the chain: their taps cannot say under which to register.
    await service.createWorker(ada, { id: 'w-zoe', niss: ZOE, name: 'Zoë', capacity: 'agency-worker', employers: [AGENCY, SHINE] });
    await service.createBadge(ada, { uid: 'AA000003', worker: 'w-zoe', validFrom: '2026-01-01' });
    await service.createWorker(ada, { id: 'w-luc', niss: LUC, name: 'Luc', employers: [SHINE] });
    await service.createBadge(ada, { uid: 'AA000004', worker: 'w-luc', validFrom: '2026-12-02' });
    await service.createWorker(ada, { id: 'w-ana', niss: ANA, name: 'Ana', employers: [SHINE, AGENCY] });
    await service.createBadge(ada, { uid: 'AA000005', worker: 'w-ana', validFrom: '2026-01-01' });
    await holdTap(store, { id: 'tap-z', badge: 'AA000003', at: '2026-12-01T07:00:00.000Z', why: 'employer-choice-needed', workerId: 'w-zoe' });
    await holdTap(store, { id: 'tap-l', badge: 'AA000004', at: '2026-12-01T07:00:00.000Z', why: 'badge-not-valid', workerId: 'w-luc' });
    await holdTap(store, { id: 'tap-a', badge: 'AA000005', at: '2026-12-01T07:00:00.000Z', why: 'employer-choice-needed', workerId: 'w-ana' });
    const placement = { worker: 'w-zoe', agency: AGENCY, userCompany: CLEAN, validFrom: '2026-11-01' };
    expect((await service.previewPlacement(ada, placement)).map((t) => t.tapId)).toEqual(['tap-z']);
    expect((await service.createPlacement(ada, placement)).released.map((t) => t.tapId)).toEqual(['tap-z']);
    // Luc's employer put on the chain: his tap is still held, for his badge's first day.
    expect((await service.updateWorker(ada, 'w-luc', { name: 'Luc', employers: [CLEAN] })).released).toEqual([]);
    expect(await tapState(store, 'tap-l')).toEqual({ enrichment: 'badge-not-valid', reg_seq: null });
    const widen = { uid: 'AA000004', worker: 'w-luc', validFrom: '2026-11-01' };
    expect((await service.previewBadge(ada, widen)).map((t) => t.tapId)).toEqual(['tap-l']);
    expect((await service.updateBadge(ada, 'AA000004', { validFrom: '2026-11-01' })).released.map((t) => t.tapId)).toEqual(['tap-l']);
    expect((await service.previewWorker(ada, 'w-ana', { name: 'Ana', employers: [CLEAN] })).map((t) => t.tapId)).toEqual(['tap-a']);
    const imported = await service.importWorkers(ada, `niss,name,employers,id\n${ANA},Ana,${CLEAN},w-ana\n${LUC},Luc,${FOREIGN},w-luc\n`);
    expect(imported).toMatchObject({ imported: 1, rejected: [{ line: 3 }] });
    for (const id of ['tap-z', 'tap-l', 'tap-a']) expect(await tapState(store, id)).toMatchObject({ enrichment: 'enriched' });
    expect(told.map((r) => r.released.map((t) => t.tapId))).toEqual([['tap-z'], ['tap-l'], ['tap-a']]);
  });

  it('tells each of two changes running at once only its own releases', async () => {
    const told: ReleaseResult[] = [];
    const mine: HeldTapRelease = {
      enabled: true,
      async release(_tx, change) {
        const id = String((change.after as { number?: string; id?: string }).number ?? (change.after as { id: string }).id);
        return { ...EMPTY_RELEASE, released: [{ tapId: `${id}-tap`, terminalId: 't-1', siteId: 'site-a', badge: 'AA000001', direction: 'IN', at: '2026-12-01T07:00:00.000Z', heldBecause: 'no-declaration', outcome: 'send' }], registrations: 1 };
      },
    };
    const { service } = await world(k, { told, heldTaps: mine });
    await service.createWorker(ada, { id: 'w-ana', niss: ANA, name: 'Ana', employers: [CLEAN] });
    const [a, b] = await Promise.all([
      service.createDeclaration(ada, { number: DECL, siteId: 'site-a', validFrom: '2026-01-01', companies: [CLEAN] }),
      service.updateWorker(ada, 'w-ana', { name: 'Ana', employers: [SHINE] }),
    ]);
    expect(a.released.map((t) => t.tapId)).toEqual([`${DECL}-tap`]);
    expect(b.released.map((t) => t.tapId)).toEqual(['w-ana-tap']);
    expect(told.map((r) => r.released.map((t) => t.tapId)).sort()).toEqual([[`${DECL}-tap`], ['w-ana-tap']]);
    // A preview tells nothing.
    await service.previewDeclaration(ada, { number: DECL_B, siteId: 'site-a', validFrom: '2026-01-01', companies: [CLEAN] });
    expect(told).toHaveLength(2);
  });
});

/** A serialization failure and its retry happen on PostgreSQL only (SQLite's transactions never run again). */
describe.each(kinds.filter((k) => k.kind === 'postgres').map((k) => [k.kind, k] as const))('a change run again by PostgreSQL (%s)', (_kind, k) => {
  it('tells a change\'s releases once when PostgreSQL runs its transaction again after a conflict', async () => {
    const told: ReleaseResult[] = [];
    let calls = 0;
    // A release that meets a serialization failure once, after the first row's release was already noted.
    const conflicted: HeldTapRelease = {
      enabled: true,
      async release(tx, change, ctx) {
        calls++;
        if (calls === 2) throw Object.assign(new Error('could not serialize access due to read/write dependencies among transactions'), { code: '40001' });
        const worker = (change.after as { id: string }).id;
        const row = await tx.one<{ n: number }>('SELECT count(*) AS n FROM audit_log WHERE id = $1', [ctx.auditId]);
        return { ...EMPTY_RELEASE, released: [{ tapId: `${worker}-tap`, terminalId: 't-1', siteId: 'site-a', badge: 'AA000001', direction: 'IN', at: '2026-12-01T07:00:00.000Z', heldBecause: `audit ${row!.n}`, outcome: 'send' }], registrations: 1 };
      },
    };
    const { store, service } = await world(k, { told, heldTaps: conflicted });
    await service.createWorker(ada, { id: 'w-ana', niss: ANA, name: 'Ana', employers: [CLEAN] });
    await service.createWorker(ada, { id: 'w-luc', niss: LUC, name: 'Luc', employers: [CLEAN] });
    const r = await service.importWorkers(ada, `niss,name,employers,id\n${ANA},Ana,${SHINE},w-ana\n${LUC},Luc,${SHINE},w-luc\n`);
    expect(r).toEqual({ imported: 2, rejected: [] });
    // Run twice (the first run's second row conflicted); told once, with the committed run's releases only.
    expect(calls).toBe(4);
    expect(told).toHaveLength(1);
    expect(told[0]).toMatchObject({ registrations: 2, released: [{ tapId: 'w-ana-tap', heldBecause: 'audit 1' }, { tapId: 'w-luc-tap', heldBecause: 'audit 1' }] });
    expect((await listAudit(store, { entity: 'worker' })).items.map((e) => [e.action, e.entityId])).toEqual([['update', 'w-luc'], ['update', 'w-ana'], ['create', 'w-luc'], ['create', 'w-ana']]);
  });
});
