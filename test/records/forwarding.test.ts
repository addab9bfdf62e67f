import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrate } from '../../shared/sqlite.ts';
import { FORWARD_MIGRATIONS } from '../../gateway/forward/schema.ts';
import { createSqliteQueries } from '../../gateway/records/sqlite-queries.ts';
import { RecordsService } from '../../gateway/records/service.ts';
import type { ApiUser } from '../../gateway/access/users.ts';
import { appendRegistration, createWorld, type World } from './helpers/world.ts';
import { at } from './helpers/facts.ts';

/** Remarks from the forwarder's own tables (forward_state, outage_journal), read as the forwarder writes them. */
let world: World;
let service: RecordsService;
const admin: ApiUser = { id: 'a', name: 'a', role: 'administrator', sites: null, company: null, canSeeNiss: true, createdAt: '', revokedAt: null };
const iso = (local: string) => new Date(Date.parse(at(local))).toISOString();

function forwardState(seq: number, s: { state: string; sent?: string; onssId?: string; remarks?: string[]; errors?: unknown[]; outageId?: number }) {
  world.db.prepare(
    `INSERT INTO forward_state (seq, tap_id, client_reference, state, attempts, first_sent_at, last_sent_at, answered_at, onss_id, remarks, errors, outage_id)
     VALUES (?, (SELECT tap_id FROM registrations WHERE seq = ?), ?, ?, 1, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(seq, seq, `ref-${seq}`, s.state, s.sent ?? null, s.sent ?? null, s.state === 'created' || s.state === 'not_created' ? s.sent ?? null : null, s.onssId ?? null, s.remarks ? JSON.stringify(s.remarks) : null, s.errors ? JSON.stringify(s.errors) : null, s.outageId ?? null);
}

function outage(from: string, to: string | null, cause: string): number {
  return Number(world.db.prepare('INSERT INTO outage_journal (started_at, ended_at, cause, last_cause) VALUES (?, ?, ?, ?)').run(iso(from), to ? iso(to) : null, cause, cause).lastInsertRowid);
}

const kinds = () => service.remarks(admin, { from: '2026-03-09', to: '2026-03-10' }).map((r) => r.kind).sort();

beforeEach(() => {
  world = createWorld('2026-03-10T12:00');
  migrate(world.db, 'forward', FORWARD_MIGRATIONS);
  service = new RecordsService(world.db, createSqliteQueries(world.db), { now: () => world.clock.now });
});
afterEach(async () => world.close());

describe('forwarding remarks over the forwarder tables', () => {
  it('reports no missing source once the forwarder tables exist', () => {
    expect(service.missingSources()).toEqual([]);
  });

  it('shows ONSS remarks and refusals, and the ONSS id on registrations', () => {
    const a = appendRegistration(world.db, { local: '2026-03-10T08:00', type: 'IN' });
    const b = appendRegistration(world.db, { local: '2026-03-10T08:30', type: 'OUT' });
    forwardState(a, { state: 'created', sent: iso('2026-03-10T08:00'), onssId: 'ONSS-1', remarks: ['RELATED DIMONA NOT OK'] });
    forwardState(b, { state: 'not_created', sent: iso('2026-03-10T08:31'), errors: [{ code: 'invalidSsin', detail: 'ssin checksum' }] });
    const r = service.remarks(admin, { from: '2026-03-10', to: '2026-03-10' });
    expect(r.map((x) => x.kind)).toEqual(['onss-remark', 'not-created-by-onss']);
    expect(r[1]!.message.en).toContain('invalidSsin: ssin checksum');
    const regs = service.registrations(admin, { from: '2026-03-10', to: '2026-03-10' }).registrations;
    expect(regs.map((x) => [x.onssState, x.onssId])).toEqual([['created', 'ONSS-1'], ['not-created', null]]);
    // ONSS's reconciliation no longer returns the remark: it disappears.
    world.db.prepare("UPDATE forward_state SET remarks = '[]' WHERE seq = ?").run(a);
    expect(service.remarks(admin, { from: '2026-03-10', to: '2026-03-10' }).map((x) => x.kind)).toEqual(['not-created-by-onss']);
  });

  it('flags a registration waiting during an outage with the journal entry, and clears once created with that proof', () => {
    const a = appendRegistration(world.db, { local: '2026-03-10T08:00', type: 'IN' });
    const b = appendRegistration(world.db, { local: '2026-03-10T09:00', type: 'OUT' });
    forwardState(b, { state: 'created', sent: iso('2026-03-10T09:00') });
    const o = outage('2026-03-10T07:50', null, 'ONSS 503 Service Unavailable');
    forwardState(a, { state: 'retry', outageId: o });
    const r = service.remarks(admin, { from: '2026-03-10', to: '2026-03-10' });
    expect(r.map((x) => x.kind)).toEqual(['late-transmission']);
    expect(r[0]!.details).toMatchObject({ outageId: String(o), sentAt: null });
    expect(r[0]!.message.fr).toContain('ONSS 503');
    world.db.prepare('UPDATE outage_journal SET ended_at = ? WHERE id = ?').run(iso('2026-03-10T11:00'), o);
    world.db.prepare("UPDATE forward_state SET state = 'created', answered_at = ?, last_sent_at = ?, remarks = '[]' WHERE seq = ?").run(iso('2026-03-10T11:01'), iso('2026-03-10T11:01'), a);
    expect(kinds()).toEqual([]);
    expect(service.outages(admin, { from: '2026-03-10', to: '2026-03-10' })).toEqual([expect.objectContaining({ id: String(o), cause: 'ONSS 503 Service Unavailable' })]);
  });

  it('keeps a late transmission no outage explains', () => {
    const a = appendRegistration(world.db, { local: '2026-03-10T08:00', type: 'IN' });
    const b = appendRegistration(world.db, { local: '2026-03-10T09:00', type: 'OUT' });
    forwardState(a, { state: 'created', sent: iso('2026-03-10T10:30') });
    forwardState(b, { state: 'created', sent: iso('2026-03-10T09:00') });
    expect(kinds()).toEqual(['late-transmission']);
  });
});
