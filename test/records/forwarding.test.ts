import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createSqlQueries } from '../../gateway/records/sql-queries.ts';
import { RecordsService } from '../../gateway/records/service.ts';
import type { ApiUser } from '../../gateway/access/users.ts';
import type { SqlStore } from '../../gateway/store/sql-store.ts';
import { storeKinds } from '../support/sql-stores.ts';
import { appendRegistration, forwardState, onssOutage, seedWorld } from './helpers/store-world.ts';
import { at } from './helpers/facts.ts';

/**
 * Remarks from the forwarder's own tables (forward_state, outage_journal), read as the forwarder writes them,
 * on the SQLite file and on a real PostgreSQL.
 */
const kinds = storeKinds();
afterAll(async () => {
  for (const k of kinds) await k.cleanup();
});

const admin: ApiUser = { id: 'a', name: 'a', role: 'administrator', sites: null, company: null, canSeeNiss: true, createdAt: '', revokedAt: null };
const iso = (local: string) => new Date(Date.parse(at(local))).toISOString();

describe.each(kinds.map((k) => [k.kind, k] as const))('forwarding remarks over the forwarder tables (%s)', (_kind, k) => {
  let store: SqlStore;
  let service: RecordsService;
  const remarkKinds = async () => (await service.remarks(admin, { from: '2026-03-09', to: '2026-03-10' })).map((r) => r.kind).sort();
  const unforwarded = (local: string, type: 'IN' | 'OUT') => appendRegistration(store, { local, type, forwarded: false });

  beforeEach(async () => {
    store = await k.fresh();
    await seedWorld(store);
    const now = new Date(Date.parse(at('2026-03-10T12:00')));
    service = new RecordsService(store, createSqlQueries(store), { now: () => now });
  });

  it('reports no missing source once the forwarder tables exist', async () => {
    expect(await service.missingSources()).toEqual([]);
  });

  it('shows ONSS remarks and refusals, and the ONSS id on registrations', async () => {
    const a = await unforwarded('2026-03-10T08:00', 'IN');
    const b = await unforwarded('2026-03-10T08:30', 'OUT');
    await forwardState(store, a, { state: 'created', sent: iso('2026-03-10T08:00'), onssId: 'ONSS-1', remarks: ['RELATED DIMONA NOT OK'] });
    await forwardState(store, b, { state: 'not_created', sent: iso('2026-03-10T08:31'), errors: [{ code: 'invalidSsin', detail: 'ssin checksum' }] });
    const r = await service.remarks(admin, { from: '2026-03-10', to: '2026-03-10' });
    expect(r.map((x) => x.kind)).toEqual(['onss-remark', 'not-created-by-onss']);
    expect(r[1]!.message.en).toContain('invalidSsin: ssin checksum');
    const regs = (await service.registrations(admin, { from: '2026-03-10', to: '2026-03-10' })).registrations;
    expect(regs.map((x) => [x.onssState, x.onssId])).toEqual([['created', 'ONSS-1'], ['not-created', null]]);
    // ONSS's reconciliation no longer returns the remark: it disappears.
    await store.run("UPDATE forward_state SET remarks = '[]' WHERE seq = $1", [a]);
    expect((await service.remarks(admin, { from: '2026-03-10', to: '2026-03-10' })).map((x) => x.kind)).toEqual(['not-created-by-onss']);
  });

  it('flags a registration waiting during an outage with the journal entry, and clears once created with that proof', async () => {
    const a = await unforwarded('2026-03-10T08:00', 'IN');
    const b = await unforwarded('2026-03-10T09:00', 'OUT');
    await forwardState(store, b, { state: 'created', sent: iso('2026-03-10T09:00') });
    const o = await onssOutage(store, iso('2026-03-10T07:50'), null, 'ONSS 503 Service Unavailable');
    await forwardState(store, a, { state: 'retry', outageId: o });
    const r = await service.remarks(admin, { from: '2026-03-10', to: '2026-03-10' });
    expect(r.map((x) => x.kind)).toEqual(['late-transmission']);
    expect(r[0]!.details).toMatchObject({ outageId: String(o), sentAt: null });
    expect(r[0]!.message.fr).toContain('ONSS 503');
    await store.run('UPDATE outage_journal SET ended_at = $1 WHERE id = $2', [iso('2026-03-10T11:00'), o]);
    await store.run("UPDATE forward_state SET state = 'created', answered_at = $1, last_sent_at = $1, remarks = '[]' WHERE seq = $2", [iso('2026-03-10T11:01'), a]);
    expect(await remarkKinds()).toEqual([]);
    expect(await service.outages(admin, { from: '2026-03-10', to: '2026-03-10' })).toEqual([expect.objectContaining({ id: String(o), cause: 'ONSS 503 Service Unavailable' })]);
  });

  it('keeps a late transmission no outage explains', async () => {
    const a = await unforwarded('2026-03-10T08:00', 'IN');
    const b = await unforwarded('2026-03-10T09:00', 'OUT');
    await forwardState(store, a, { state: 'created', sent: iso('2026-03-10T10:30') });
    await forwardState(store, b, { state: 'created', sent: iso('2026-03-10T09:00') });
    expect(await remarkKinds()).toEqual(['late-transmission']);
  });
});
