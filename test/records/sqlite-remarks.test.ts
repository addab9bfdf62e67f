import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSqliteQueries } from '../../gateway/records/sqlite-queries.ts';
import { RecordsService } from '../../gateway/records/service.ts';
import { addUser, userForToken } from '../../gateway/access/users.ts';
import { appendRegistration, appendUnregisteredTap, createWorld, setTerminalStatus, type World } from './helpers/world.ts';
import { at, EMPLOYER_B } from './helpers/facts.ts';

/** The remarks computed over a real gateway database: they appear and clear as the tables change. */
let world: World;
let service: RecordsService;
const admin = () => userForToken(world.db, addUser(world.db, { name: 'a', role: 'admin' }).token)!;
const kinds = () => service.remarks(admin(), { from: '2026-03-01', to: '2026-03-10' }).map((r) => r.kind).sort();

beforeEach(() => {
  world = createWorld('2026-03-10T12:00');
  service = new RecordsService(world.db, createSqliteQueries(world.db), { now: () => world.clock.now });
});
afterEach(async () => world.close());

describe('remarks over the gateway tables', () => {
  it('an unknown badge raises a remark that clears when the badge is enrolled', () => {
    appendUnregisteredTap(world.db, { local: '2026-03-10T08:00', badge: '0A0B0C0D', status: 'unknown-badge', detail: 'badge 0A0B0C0D is not known' });
    expect(kinds()).toEqual(['unknown-badge']);
    world.db.prepare("INSERT INTO badges (uid, worker_id, valid_from, created_at) VALUES ('0A0B0C0D', 'W2', '2026-03-10', ?)").run(new Date().toISOString());
    expect(kinds()).toEqual([]);
  });

  it('a revoked badge clears when the worker has a valid badge again', () => {
    world.db.prepare("UPDATE badges SET revoked_at = ? WHERE uid = '04A1B2C3'").run(new Date().toISOString());
    appendUnregisteredTap(world.db, { local: '2026-03-10T08:00', badge: '04A1B2C3', status: 'revoked-badge' });
    expect(kinds()).toEqual(['revoked-badge']);
    world.db.prepare("INSERT INTO badges (uid, worker_id, valid_from, created_at) VALUES ('04A1B2C9', 'W1', '2026-03-10', ?)").run(new Date().toISOString());
    expect(kinds()).toEqual([]);
  });

  it('a tap without employer choice clears once the worker badges with a choice on that site', () => {
    world.db.prepare('INSERT INTO worker_employers (worker_id, company_id) VALUES (?, ?)').run('W1', EMPLOYER_B);
    appendUnregisteredTap(world.db, { local: '2026-03-10T08:00', badge: '04A1B2C3', status: 'employer-choice-needed', detail: 'the worker has 2 employers for this site and none was chosen' });
    expect(kinds()).toEqual(['employer-choice-missing']);
    appendRegistration(world.db, { local: '2026-03-10T08:05', type: 'IN', chosenEmployer: '0403019261' });
    expect(kinds()).toEqual([]);
  });

  it('a tap on a site without declaration clears when the declaration is added', () => {
    world.db.prepare("UPDATE declarations SET valid_from = '2026-03-11' WHERE site_id = 'S1'").run();
    appendUnregisteredTap(world.db, { local: '2026-03-10T08:00', badge: '04A1B2C3', status: 'no-declaration', detail: 'site S1 has no declaration of works valid on 2026-03-10' });
    const r = service.remarks(admin(), { from: '2026-03-01', to: '2026-03-10' });
    expect(r.map((x) => x.kind)).toEqual(['tap-not-registered']);
    expect(r[0]!.message.en).toContain('no declaration of works');
    world.db.prepare("UPDATE declarations SET valid_from = '2026-03-01' WHERE site_id = 'S1'").run();
    expect(kinds()).toEqual([]);
  });

  it('clock skew comes from the terminal status and clears with it', () => {
    setTerminalStatus(world.db, 'T1', { state: 'online', skewMs: 125_000, updatedAt: new Date(Date.parse(at('2026-03-10T11:00'))) });
    expect(kinds()).toEqual(['clock-skew']);
    setTerminalStatus(world.db, 'T1', { state: 'online', skewMs: 800, updatedAt: new Date(Date.parse(at('2026-03-10T11:30'))) });
    expect(kinds()).toEqual([]);
  });

  it('a missing OUT appears after midnight and clears when the delayed OUT is appended', () => {
    appendRegistration(world.db, { local: '2026-03-09T08:00', type: 'IN' });
    world.clock.now = new Date(Date.parse(at('2026-03-09T23:00')));
    expect(service.remarks(admin(), { from: '2026-03-09', to: '2026-03-09' })).toEqual([]);
    world.clock.now = new Date(Date.parse(at('2026-03-10T06:00')));
    expect(service.remarks(admin(), { from: '2026-03-09', to: '2026-03-09' }).map((r) => r.kind)).toEqual(['missing-out']);
    appendRegistration(world.db, { local: '2026-03-09T16:00', type: 'OUT' });
    expect(service.remarks(admin(), { from: '2026-03-09', to: '2026-03-09' })).toEqual([]);
  });

  it('pairs a shift across sites: IN on one site, OUT on another is no remark for the manager of either', () => {
    appendRegistration(world.db, { local: '2026-03-09T08:00', type: 'IN', terminal: 'T1' });
    appendRegistration(world.db, { local: '2026-03-09T12:00', type: 'OUT', terminal: 'T2' });
    const manager = userForToken(world.db, addUser(world.db, { name: 'm', role: 'manager', sites: ['S1'] }).token)!;
    world.clock.now = new Date(Date.parse(at('2026-03-10T09:00')));
    expect(service.remarks(manager, { from: '2026-03-09', to: '2026-03-09' })).toEqual([]);
  });

  it("gives a DST day's real bounds to the timeline", () => {
    appendRegistration(world.db, { local: '2026-03-29T01:30', type: 'IN' });
    appendRegistration(world.db, { local: '2026-03-29T04:30', type: 'OUT' });
    world.clock.now = new Date(Date.parse(at('2026-03-30T09:00')));
    const t = service.timeline(admin(), { worker: 'W1', day: '2026-03-29' });
    expect([t.dayStart, t.dayEnd]).toEqual(['2026-03-29T00:00:00.000+01:00', '2026-03-30T00:00:00.000+02:00']);
    expect(t.bars).toHaveLength(1);
    expect((Date.parse(t.bars[0]!.to!) - Date.parse(t.bars[0]!.from)) / 3_600_000).toBe(2);
  });

  it('pairs a night shift across the edge of the asked period', () => {
    appendRegistration(world.db, { local: '2026-03-08T22:00', type: 'IN' });
    appendRegistration(world.db, { local: '2026-03-09T06:00', type: 'OUT' });
    expect(service.remarks(admin(), { from: '2026-03-09', to: '2026-03-09' })).toEqual([]);
    expect(service.remarks(admin(), { from: '2026-03-08', to: '2026-03-08' })).toEqual([]);
  });
});
