import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createSqlQueries } from '../../gateway/records/sql-queries.ts';
import { RecordsService } from '../../gateway/records/service.ts';
import type { ApiUser } from '../../gateway/access/users.ts';
import type { SqlStore } from '../../gateway/store/sql-store.ts';
import { storeKinds } from '../support/sql-stores.ts';
import { appendRegistration, onssOutage, seedWorld, setTerminalStatus } from './helpers/store-world.ts';
import { NISS_W1 } from './helpers/world.ts';
import { at, DECLARATION, EMPLOYER_A, EMPLOYER_B } from './helpers/facts.ts';

/**
 * The site manager's records on the storage port, on the SQLite file and on a real PostgreSQL: registrations
 * by period and site, presence, an export, correction requests, the terminal and site lists, the outage
 * journals. Lists come in the same order on both: what one database returns is compared with the other's.
 */
const kinds = storeKinds();
afterAll(async () => {
  for (const k of kinds) await k.cleanup();
});

const admin: ApiUser = { id: 'a', name: 'Admin', role: 'administrator', sites: null, company: null, canSeeNiss: true, createdAt: '', revokedAt: null };
const managerOfS1: ApiUser = { ...admin, id: 'm', name: 'Marie', role: 'site-manager', sites: ['S1'], canSeeNiss: false };
const ofCompanyB: ApiUser = { ...admin, id: 'b', name: 'Schoon', role: 'site-manager', company: EMPLOYER_B, canSeeNiss: false };

/** What each database answered, by case, for the comparison at the end. */
const answers = new Map<string, Map<string, unknown>>();

/**
 * Registrations written out of order: not by time, two at the same instant (numbered in the order written,
 * W2's first), and on both sites, one for another employer.
 */
async function day(store: SqlStore) {
  const add = (tapId: string, r: Omit<Parameters<typeof appendRegistration>[1], 'tapId'>) => appendRegistration(store, { ...r, tapId });
  await add('00000000-0000-4000-8000-000000000005', { local: '2026-03-10T16:00', type: 'OUT', worker: 'W1' });
  await add('00000000-0000-4000-8000-000000000001', { local: '2026-03-10T08:00', type: 'IN', worker: 'W2', terminal: 'T2' });
  await add('00000000-0000-4000-8000-000000000002', { local: '2026-03-10T08:00', type: 'IN', worker: 'W1' });
  await add('00000000-0000-4000-8000-000000000003', { local: '2026-03-10T10:00', type: 'OUT', worker: 'W2', terminal: 'T2', employer: EMPLOYER_B });
  await add('00000000-0000-4000-8000-000000000004', { local: '2026-03-09T07:00', type: 'IN', worker: 'W1' });
  await add('00000000-0000-4000-8000-000000000006', { local: '2026-03-11T07:00', type: 'IN', worker: 'W2', terminal: 'T2' });
}

describe.each(kinds.map((k) => [k.kind, k] as const))('the records queries (%s)', (kind, k) => {
  let store: SqlStore;
  let service: RecordsService;
  const clock = { now: new Date() };
  const answer = (name: string, value: unknown) => {
    (answers.get(name) ?? answers.set(name, new Map()).get(name)!).set(kind, value);
    return value;
  };

  beforeEach(async () => {
    store = await k.fresh();
    await seedWorld(store);
    clock.now = new Date(Date.parse(at('2026-03-10T12:00')));
    service = new RecordsService(store, createSqlQueries(store), { now: () => clock.now });
  });

  it('lists the registrations of a period in the order of their instant, then of their number, and of one site for its manager', async () => {
    await day(store);
    const all = (await service.registrations(admin, { from: '2026-03-10', to: '2026-03-10' })).registrations;
    answer('registrations', all);
    expect(all.map((r) => [r.seq, r.workerId, r.type, r.at])).toEqual([
      [2, 'W2', 'IN', at('2026-03-10T08:00')],
      [3, 'W1', 'IN', at('2026-03-10T08:00')],
      [4, 'W2', 'OUT', at('2026-03-10T10:00')],
      [1, 'W1', 'OUT', at('2026-03-10T16:00')],
    ]);
    expect(all[0]).toMatchObject({ siteName: 'Kantoor Gent', workerName: 'Pieter Janssens', employerName: 'Net & Propre', onssState: 'created', onssId: 'ONSS-2', badge: '04A1B2C4', badgeKind: 'uid-only' });
    expect(all[1]!.ssin).toBe(NISS_W1);

    const s1 = (await service.registrations(managerOfS1, { from: '2026-03-09', to: '2026-03-10' })).registrations;
    expect(s1.map((r) => r.seq)).toEqual([5, 3, 1]);
    // A site manager without the grant sees no NISS: the field is gone.
    expect(s1.every((r) => !('ssin' in r))).toBe(true);
    await expect(service.registrations(managerOfS1, { from: '2026-03-10', to: '2026-03-10', site: 'S2' })).rejects.toMatchObject({ problems: [expect.objectContaining({ field: 'site', rule: 'site-scope' })] });
    expect((await service.registrations(admin, { from: '2026-03-10', to: '2026-03-10', worker: 'W2' })).registrations.map((r) => r.seq)).toEqual([2, 4]);
    expect((await service.registrations(admin, { from: '2026-03-10', to: '2026-03-10', company: EMPLOYER_B })).registrations.map((r) => r.seq)).toEqual([4]);
    expect((await service.registrations(admin, { from: '2026-03-10', to: '2026-03-10', declaration: DECLARATION })).registrations.map((r) => r.seq)).toEqual([3, 1]);
    // A company's manager sees its own workers' registrations only (FAQ 33).
    expect((await service.registrations(ofCompanyB, { from: '2026-03-09', to: '2026-03-11' })).registrations.map((r) => r.seq)).toEqual([4]);
  });

  it('exports a period as CSV, the same bytes on both databases', async () => {
    await day(store);
    const out = await service.export(admin, { from: '2026-03-09', to: '2026-03-11', format: 'csv' });
    answer('export', out.body);
    expect(out.count).toBe(6);
    const lines = out.body.trim().split(/\r?\n/);
    expect(lines[0]!.split(',').slice(0, 3)).toEqual(['seq', 'tapId', 'siteId']);
    expect(lines.slice(1).map((l) => Number(l.split(',')[0]))).toEqual([5, 2, 3, 4, 1, 6]);
    await expect(service.export(admin, { from: '2026-03-01', to: '2026-07-01' })).rejects.toMatchObject({ problems: [expect.objectContaining({ field: 'to' })] });
  });

  it('says who is on which site now', async () => {
    await day(store);
    const presence = await service.presence(admin);
    answer('presence', presence);
    expect(presence.map((p) => [p.workerId, p.siteId, p.state, p.workerName, p.siteName])).toEqual([['W1', 'S1', 'working', 'Amina Diallo', 'Tour Nord']]);
    clock.now = new Date(Date.parse(at('2026-03-10T09:00')));
    expect((await service.presence(admin)).map((p) => p.workerId)).toEqual(['W1', 'W2']);
    expect((await service.presence(managerOfS1)).map((p) => p.workerId)).toEqual(['W1']);
  });

  it('prepares a correction request, moves it through its states, and refuses what may not be', async () => {
    await day(store);
    const draft = await service.prepareCorrection(admin, { seq: 3, field: 'employer', requestedValue: EMPLOYER_B, reason: 'worked for Schoon that day' });
    expect(draft).toMatchObject({ seq: 3, siteId: 'S1', field: 'employer', currentValue: EMPLOYER_A, requestedValue: EMPLOYER_B, state: 'draft', createdBy: 'Admin', sentAt: null });
    // The same correction twice is refused, naming the field.
    await expect(service.prepareCorrection(admin, { seq: 3, field: 'employer', requestedValue: EMPLOYER_B, reason: 'again' })).rejects.toMatchObject({ problems: [expect.objectContaining({ field: 'field' })] });
    const other = await service.prepareCorrection(admin, { seq: 1, field: 'declaration', requestedValue: '2AB34CD56EF78', reason: 'wrong declaration' });
    expect(other.id).toBeGreaterThan(draft.id);
    // A manager of the other site does not find it.
    await expect(service.prepareCorrection({ ...managerOfS1, sites: ['S2'] }, { seq: 3, field: 'declaration', requestedValue: '2AB34CD56EF78', reason: 'x' })).rejects.toMatchObject({ problems: [expect.objectContaining({ field: 'seq', rule: 'exists' })] });

    clock.now = new Date(Date.parse(at('2026-03-10T13:00')));
    const sent = await service.changeCorrection(admin, draft.id, 'sent');
    expect(sent).toMatchObject({ state: 'sent', sentAt: clock.now.toISOString(), decidedAt: null });
    await expect(service.changeCorrection(admin, draft.id, 'draft')).rejects.toMatchObject({ problems: [expect.objectContaining({ field: 'state' })] });
    const accepted = await service.changeCorrection(admin, draft.id, 'accepted', 'ONSS ref 42');
    expect(accepted).toMatchObject({ state: 'accepted', sentAt: sent.sentAt, decidedAt: clock.now.toISOString(), decisionNote: 'ONSS ref 42' });
    expect(accepted.history.map((h) => h.state)).toEqual(['draft', 'sent', 'accepted']);

    const listed = await service.corrections(admin);
    answer('corrections', listed.map((c) => ({ ...c, createdAt: '', history: c.history.map((h) => h.state) })));
    expect(listed.map((c) => [c.id, c.state])).toEqual([[other.id, 'draft'], [draft.id, 'accepted']]);
    expect((await service.corrections(admin, { state: 'draft' })).map((c) => c.id)).toEqual([other.id]);
    expect((await service.corrections(managerOfS1, { seq: 1 })).map((c) => c.id)).toEqual([other.id]);
    const doc = await service.correctionDocument(admin, [draft.id, other.id], 'csv');
    expect(doc.body).toContain(EMPLOYER_B);
  });

  it('lists sites by name and terminals by id, with their status', async () => {
    await setTerminalStatus(store, 'T2', { state: 'online', queued: 3, skewMs: 1500, updatedAt: new Date(Date.parse(at('2026-03-10T11:59'))) });
    const sites = await service.sites(admin);
    const terminals = await service.terminals(admin);
    answer('lists', { sites, terminals });
    expect(sites).toEqual([{ id: 'S2', name: 'Kantoor Gent' }, { id: 'S1', name: 'Tour Nord' }]);
    expect(terminals.map((t) => [t.terminalId, t.siteName, t.state, t.queued, t.skewMs, t.disabled])).toEqual([
      ['T1', 'Tour Nord', 'never-seen', null, null, false],
      ['T2', 'Kantoor Gent', 'online', 3, 1500, false],
    ]);
    expect((await service.terminals(managerOfS1)).map((t) => t.terminalId)).toEqual(['T1']);
  });

  it("puts the gateway's outages and ONSS's side by side, in the order they started", async () => {
    const iso = (local: string) => new Date(Date.parse(at(local))).toISOString();
    await store.run("INSERT INTO outage_events (scope, terminal_id, site_id, started_at, ended_at, cause) VALUES ('terminal:T1', 'T1', 'S1', $1, $2, 'connection lost')", [iso('2026-03-10T09:00'), iso('2026-03-10T09:30')]);
    await store.run("INSERT INTO outage_events (scope, started_at, ended_at, cause) VALUES ('gateway', $1, $2, 'gateway stopped')", [iso('2026-03-10T06:00'), iso('2026-03-10T06:05')]);
    await store.run("INSERT INTO outage_events (scope, started_at, ended_at, cause) VALUES ('gateway', $1, $2, 'gateway stopped')", [iso('2026-03-01T06:00'), iso('2026-03-01T06:05')]);
    const onss = await onssOutage(store, iso('2026-03-10T07:00'), null, 'ONSS 503');
    const outages = await service.outages(admin, { from: '2026-03-10', to: '2026-03-10' });
    answer('outages', outages.map((o) => ({ ...o, id: o.id.replace(/\d+/, 'n') })));
    expect(outages.map((o) => [o.scope, o.from, o.to])).toEqual([
      ['gateway', iso('2026-03-10T06:00'), iso('2026-03-10T06:05')],
      ['onss', iso('2026-03-10T07:00'), null],
      ['terminal:T1', iso('2026-03-10T09:00'), iso('2026-03-10T09:30')],
    ]);
    expect(outages[1]!.id).toBe(String(onss));
    expect(outages[0]!.id).toMatch(/^gw-\d+$/);
  });

  it("gives the remark rules the registrations of the workers seen on the asked sites, and the requests' states", async () => {
    await day(store);
    await service.prepareCorrection(admin, { seq: 3, field: 'employer', requestedValue: EMPLOYER_B, reason: 'worked for Schoon' });
    const facts = await createSqlQueries(store).remarkFacts('2026-03-09T23:00:00Z', '2026-03-10T23:00:00Z', ['S2'], clock.now);
    answer('remark facts', { ...facts, registrations: facts.registrations.map(({ tapId: _t, ...r }) => r) });
    // W2 was seen on S2: all of W2's registrations of the period, in order; none of W1's.
    expect(facts.registrations.map((r) => [r.seq, r.workerId, r.siteId])).toEqual([[2, 'W2', 'S2'], [4, 'W2', 'S2']]);
    expect(facts.forwarding?.get(4)).toMatchObject({ state: 'created', onssId: 'ONSS-4' });
    expect(facts.terminals.map((t) => t.terminalId)).toEqual(['T2']);
    expect(facts.workerEmployers.get('W1')).toEqual(new Set([EMPLOYER_A]));
    expect(facts.declarationCompanies.get(DECLARATION)).toEqual(new Set([EMPLOYER_A]));
    // Corrections of registrations outside the facts are left out.
    expect(facts.corrections).toEqual([]);
    const s1 = await createSqlQueries(store).remarkFacts('2026-03-09T23:00:00Z', '2026-03-10T23:00:00Z', ['S1'], clock.now);
    expect(s1.corrections).toEqual([{ seq: 3, field: 'employer', state: 'draft' }]);
  });
});

describe('both databases', () => {
  it.skipIf(kinds.length < 2)('answer the same, in the same order', () => {
    expect([...answers.keys()].sort()).toEqual(['corrections', 'export', 'lists', 'outages', 'presence', 'registrations', 'remark facts']);
    for (const [name, byKind] of answers) expect(byKind.get('postgres'), name).toEqual(byKind.get('sqlite'));
  });
});
