import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createSqlQueries } from '../../gateway/records/sql-queries.ts';
import { RecordsService } from '../../gateway/records/service.ts';
import type { ApiUser } from '../../gateway/access/users.ts';
import type { SqlStore } from '../../gateway/store/sql-store.ts';
import { storeKinds } from '../support/sql-stores.ts';
import { appendRegistration, appendUnregisteredTap, seedWorld, setTerminalStatus } from './helpers/store-world.ts';
import { at, EMPLOYER_B } from './helpers/facts.ts';

/**
 * The remarks computed over a real gateway database: they appear and clear as the tables change. The records
 * are on the storage port: the same cases run on the SQLite file and on a real PostgreSQL.
 */
const kinds = storeKinds();
afterAll(async () => {
  for (const k of kinds) await k.cleanup();
});

const admin: ApiUser = { id: 'a', name: 'a', role: 'administrator', sites: null, company: null, canSeeNiss: false, createdAt: '', revokedAt: null };
const managerOfS1: ApiUser = { ...admin, id: 'm', name: 'm', role: 'site-manager', sites: ['S1'] };

describe.each(kinds.map((k) => [k.kind, k] as const))('remarks over the gateway tables (%s)', (_kind, k) => {
  let store: SqlStore;
  let service: RecordsService;
  const clock = { now: new Date() };
  const remarkKinds = async () => (await service.remarks(admin, { from: '2026-03-01', to: '2026-03-10' })).map((r) => r.kind).sort();

  beforeEach(async () => {
    store = await k.fresh();
    await seedWorld(store);
    clock.now = new Date(Date.parse(at('2026-03-10T12:00')));
    service = new RecordsService(store, createSqlQueries(store), { now: () => clock.now });
  });

  it('an unknown badge raises a remark that clears when the badge is enrolled', async () => {
    await appendUnregisteredTap(store, { local: '2026-03-10T08:00', badge: '0A0B0C0D', status: 'unknown-badge', detail: 'badge 0A0B0C0D is not known' });
    expect(await remarkKinds()).toEqual(['unknown-badge']);
    await store.run("INSERT INTO badges (uid, worker_id, valid_from, created_at) VALUES ('0A0B0C0D', 'W2', '2026-03-10', $1)", [new Date().toISOString()]);
    expect(await remarkKinds()).toEqual([]);
  });

  it('a revoked badge clears when the worker has a valid badge again', async () => {
    await store.run("UPDATE badges SET revoked_at = $1 WHERE uid = '04A1B2C3'", [new Date().toISOString()]);
    await appendUnregisteredTap(store, { local: '2026-03-10T08:00', badge: '04A1B2C3', status: 'revoked-badge' });
    expect(await remarkKinds()).toEqual(['revoked-badge']);
    await store.run("INSERT INTO badges (uid, worker_id, valid_from, created_at) VALUES ('04A1B2C9', 'W1', '2026-03-10', $1)", [new Date().toISOString()]);
    expect(await remarkKinds()).toEqual([]);
  });

  it('a tap without employer choice clears once the worker badges with a choice on that site', async () => {
    await store.run('INSERT INTO worker_employers (worker_id, company_id) VALUES ($1, $2)', ['W1', EMPLOYER_B]);
    await appendUnregisteredTap(store, { local: '2026-03-10T08:00', badge: '04A1B2C3', status: 'employer-choice-needed', detail: 'the worker has 2 employers for this site and none was chosen' });
    expect(await remarkKinds()).toEqual(['employer-choice-missing']);
    await appendRegistration(store, { local: '2026-03-10T08:05', type: 'IN', chosenEmployer: '0403019261' });
    expect(await remarkKinds()).toEqual([]);
  });

  it('a tap on a site without declaration clears when the declaration is added', async () => {
    await store.run("UPDATE declarations SET valid_from = '2026-03-11' WHERE site_id = 'S1'");
    await appendUnregisteredTap(store, { local: '2026-03-10T08:00', badge: '04A1B2C3', status: 'no-declaration', detail: 'site S1 has no declaration of works valid on 2026-03-10' });
    const r = await service.remarks(admin, { from: '2026-03-01', to: '2026-03-10' });
    expect(r.map((x) => x.kind)).toEqual(['tap-not-registered']);
    expect(r[0]!.message.en).toContain('no declaration of works');
    await store.run("UPDATE declarations SET valid_from = '2026-03-01' WHERE site_id = 'S1'");
    expect(await remarkKinds()).toEqual([]);
  });

  it('clock skew comes from the terminal status and clears with it', async () => {
    await setTerminalStatus(store, 'T1', { state: 'online', skewMs: 125_000, updatedAt: new Date(Date.parse(at('2026-03-10T11:00'))) });
    expect(await remarkKinds()).toEqual(['clock-skew']);
    await setTerminalStatus(store, 'T1', { state: 'online', skewMs: 800, updatedAt: new Date(Date.parse(at('2026-03-10T11:30'))) });
    expect(await remarkKinds()).toEqual([]);
  });

  it('a missing OUT appears after midnight and clears when the delayed OUT is appended', async () => {
    await appendRegistration(store, { local: '2026-03-09T08:00', type: 'IN' });
    clock.now = new Date(Date.parse(at('2026-03-09T23:00')));
    expect(await service.remarks(admin, { from: '2026-03-09', to: '2026-03-09' })).toEqual([]);
    clock.now = new Date(Date.parse(at('2026-03-10T06:00')));
    expect((await service.remarks(admin, { from: '2026-03-09', to: '2026-03-09' })).map((r) => r.kind)).toEqual(['missing-out']);
    await appendRegistration(store, { local: '2026-03-09T16:00', type: 'OUT' });
    expect(await service.remarks(admin, { from: '2026-03-09', to: '2026-03-09' })).toEqual([]);
  });

  it('pairs a shift across sites: IN on one site, OUT on another is no remark for the manager of either', async () => {
    await appendRegistration(store, { local: '2026-03-09T08:00', type: 'IN', terminal: 'T1' });
    await appendRegistration(store, { local: '2026-03-09T12:00', type: 'OUT', terminal: 'T2' });
    clock.now = new Date(Date.parse(at('2026-03-10T09:00')));
    expect(await service.remarks(managerOfS1, { from: '2026-03-09', to: '2026-03-09' })).toEqual([]);
  });

  it("gives a DST day's real bounds to the timeline", async () => {
    await appendRegistration(store, { local: '2026-03-29T01:30', type: 'IN' });
    await appendRegistration(store, { local: '2026-03-29T04:30', type: 'OUT' });
    clock.now = new Date(Date.parse(at('2026-03-30T09:00')));
    const t = await service.timeline(admin, { worker: 'W1', day: '2026-03-29' });
    expect([t.dayStart, t.dayEnd]).toEqual(['2026-03-29T00:00:00.000+01:00', '2026-03-30T00:00:00.000+02:00']);
    expect(t.bars).toHaveLength(1);
    expect((Date.parse(t.bars[0]!.to!) - Date.parse(t.bars[0]!.from)) / 3_600_000).toBe(2);
  });

  it('pairs a night shift across the edge of the asked period', async () => {
    await appendRegistration(store, { local: '2026-03-08T22:00', type: 'IN' });
    await appendRegistration(store, { local: '2026-03-09T06:00', type: 'OUT' });
    expect(await service.remarks(admin, { from: '2026-03-09', to: '2026-03-09' })).toEqual([]);
    expect(await service.remarks(admin, { from: '2026-03-08', to: '2026-03-08' })).toEqual([]);
  });
});
