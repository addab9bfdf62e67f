import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { SqlStore } from '../../gateway/store/sql-store.ts';
import {
  forwardingProgress, forwardingStateOf, forwardingSummary, lateRegistrations, listForwardingStates, notCreatedRegistrations, onssRemarks, outageJournal,
} from '../../gateway/forward/read-model.ts';
import { ForwardStore } from '../../gateway/forward/forward-store.ts';
import { OutageJournal } from '../../gateway/forward/outage-journal.ts';
import type { ForwardWriter } from '../../gateway/forward/forward-writes.ts';
import { clientReferenceFor } from '../../gateway/onss/index.ts';
import { storeKinds } from '../support/sql-stores.ts';
import { appendRegistration, onssOutage, seedWorld } from '../records/helpers/store-world.ts';

/**
 * The forwarder's reads on the storage port, on the SQLite file and on a real PostgreSQL: the view functions
 * (read-model.ts), the forward store's own reads (next batch, in flight, pending validity) and the outage
 * journal's latest entry. The tables are filled with SQL both databases take, as the forwarder leaves them.
 */
const kinds = storeKinds();
afterAll(async () => {
  for (const k of kinds) await k.cleanup();
});

/** Reads only: a write reaching it would be a read that writes. */
const noWrites: ForwardWriter = {
  write: (change) => Promise.reject(new Error(`reads only, yet asked to write ${change.kind}`)),
  lockHold: () => ({ transactions: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 }),
};

interface StateRow {
  state: 'in_flight' | 'retry' | 'created' | 'not_created';
  validity?: string | null;
  checkedAt?: number | null;
  remarks?: string[];
  errors?: unknown[];
  lastFailure?: string | null;
  outageId?: number | null;
  duplicates?: number;
  sentAt?: string;
}

async function forwardRow(store: SqlStore, seq: number, r: StateRow): Promise<void> {
  await store.run(
    `INSERT INTO forward_state (seq, tap_id, client_reference, state, attempts, first_sent_at, last_sent_at, answered_at, onss_id, validity, remarks,
       errors, last_failure, validity_checked_at, duplicates_at_onss, outage_id)
     SELECT seq, tap_id, $2, $3, 1, $4, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 FROM registrations WHERE seq = $1`,
    [seq, `ref-${seq}`, r.state, r.sentAt ?? '2026-03-10T07:00:01.000Z', r.state === 'created' || r.state === 'not_created' ? '2026-03-10T07:00:02.000Z' : null,
      r.state === 'created' ? `ONSS-${seq}` : null, r.validity ?? null, r.remarks ? JSON.stringify(r.remarks) : null, r.errors ? JSON.stringify(r.errors) : null,
      r.lastFailure ?? null, r.checkedAt ?? null, r.duplicates ?? 0, r.outageId ?? null],
  );
}

describe.each(kinds.map((k) => [k.kind, k] as const))('the forwarder\'s reads (%s)', (_kind, k) => {
  let store: SqlStore;
  /** seq of each registration, in order: s[0] created, s[1] created with remarks, s[2] refused, s[3] in flight, s[4] retry, s[5..7] waiting. */
  let s: number[];
  let tapOf: Map<number, string>;
  let earlier: number;
  let later: number;

  beforeEach(async () => {
    store = await k.fresh();
    await seedWorld(store);
    s = [];
    tapOf = new Map();
    for (let i = 0; i < 8; i++) {
      const seq = await appendRegistration(store, { local: `2026-03-10T0${i + 1}:00`, type: i % 2 === 0 ? 'IN' : 'OUT', forwarded: false });
      s.push(seq);
      tapOf.set(seq, (await store.one<{ tap_id: string }>('SELECT tap_id FROM registrations WHERE seq = $1', [seq]))!.tap_id);
    }
    earlier = await onssOutage(store, '2026-03-09T10:00:00.000Z', '2026-03-09T11:00:00.000Z', 'HTTP 503');
    later = await onssOutage(store, '2026-03-10T06:00:00.000Z', null, 'timeout');
    await forwardRow(store, s[0]!, { state: 'created', validity: 'pending', checkedAt: 1_000, outageId: later });
    await forwardRow(store, s[1]!, { state: 'created', validity: 'withRemarks', remarks: ['SAME DECLARATION HAS ALREADY BEEN REGISTERED'], duplicates: 1, outageId: earlier });
    await forwardRow(store, s[2]!, { state: 'not_created', errors: [{ code: 'invalidSsin', field: 'ssin' }], outageId: later });
    await forwardRow(store, s[3]!, { state: 'in_flight', lastFailure: 'timeout', sentAt: '2026-03-10T07:05:00.000Z' });
    await forwardRow(store, s[4]!, { state: 'retry', lastFailure: 'HTTP 503' });
  });

  it('reads one registration\'s state by seq or tap id, waiting when not picked up', async () => {
    expect(await forwardingStateOf(store, { seq: s[1]! })).toEqual({
      seq: s[1], tapId: tapOf.get(s[1]!), clientReference: `ref-${s[1]}`, state: 'created', attempts: 1, onssId: `ONSS-${s[1]}`, validity: 'withRemarks',
      remarks: ['SAME DECLARATION HAS ALREADY BEEN REGISTERED'], errors: [], lastFailure: null, firstSentAt: '2026-03-10T07:00:01.000Z',
      answeredAt: '2026-03-10T07:00:02.000Z', outageId: earlier, duplicatesAtOnss: 1,
    });
    expect(await forwardingStateOf(store, { tapId: tapOf.get(s[2]!)! })).toMatchObject({ seq: s[2], state: 'not_created', errors: [{ code: 'invalidSsin', field: 'ssin' }] });
    expect(await forwardingStateOf(store, { seq: s[6]! })).toMatchObject({ state: 'waiting', attempts: 0, clientReference: '', remarks: [], duplicatesAtOnss: 0 });
    expect(await forwardingStateOf(store, { tapId: 'no-such-tap' })).toBeUndefined();
  });

  it('lists states in seq order, a page at a time, one state or all', async () => {
    const all = await listForwardingStates(store);
    expect(all.map((x) => [x.seq, x.state])).toEqual(s.map((seq, i) => [seq, ['created', 'created', 'not_created', 'in_flight', 'retry'][i] ?? 'waiting']));
    const page = await listForwardingStates(store, { afterSeq: s[2]!, limit: 2 });
    expect(page.map((x) => x.seq)).toEqual([s[3], s[4]]);
    expect((await listForwardingStates(store, { state: 'created' })).map((x) => x.seq)).toEqual([s[0], s[1]]);
    expect((await listForwardingStates(store, { state: 'created', afterSeq: s[0]! })).map((x) => x.seq)).toEqual([s[1]]);
    expect((await onssRemarks(store)).map((x) => x.seq)).toEqual([s[1]]);
    expect((await notCreatedRegistrations(store)).map((x) => [x.seq, x.errors])).toEqual([[s[2], [{ code: 'invalidSsin', field: 'ssin' }]]]);
  });

  it('reads the outage journal newest first, and the registrations each outage delayed', async () => {
    const journal = await outageJournal(store);
    expect(journal.map((o) => [o.id, o.cause, o.endedAt, o.failures, o.registrationsDelayed])).toEqual([
      [later, 'timeout', null, 1, 0],
      [earlier, 'HTTP 503', '2026-03-09T11:00:00.000Z', 1, 0],
    ]);
    expect((await outageJournal(store, { beforeId: later })).map((o) => o.id)).toEqual([earlier]);
    expect((await outageJournal(store, { limit: 1 })).map((o) => o.id)).toEqual([later]);

    const late = await lateRegistrations(store);
    expect(late.map((l) => [l.seq, l.state, l.outage.id])).toEqual([[s[0], 'created', later], [s[1], 'created', earlier], [s[2], 'not_created', later]]);
    expect(late[0]).toMatchObject({ siteId: 'S1', tapId: tapOf.get(s[0]!), outage: { startedAt: '2026-03-10T06:00:00.000Z', endedAt: null, cause: 'timeout', lastCause: 'timeout' } });
    expect((await lateRegistrations(store, { outageId: later })).map((l) => l.seq)).toEqual([s[0], s[2]]);
    expect((await lateRegistrations(store, { outageId: later, afterSeq: s[0]! })).map((l) => l.seq)).toEqual([s[2]]);
  });

  it('counts per state for a dashboard, and the progress of a drain', async () => {
    expect(await forwardingSummary(store)).toEqual({
      waiting: 3, in_flight: 1, retry: 1, created: 2, not_created: 1, pendingValidity: 1, withRemarks: 1, outages: 2,
    });
    expect(await forwardingProgress(store)).toEqual({ lastPicked: s[4], inFlight: 1, retry: 1, pendingValidity: 1 });
  });

  it('gives the forwarder its next batch (retries first, then new ones), what is in flight and what awaits ONSS\'s checks', async () => {
    const fs = new ForwardStore(store, noWrites, clientReferenceFor);
    const batch = await fs.nextBatch(3);
    expect(batch.map((r) => [r.seq, r.known, r.client_reference])).toEqual([
      [s[4], true, `ref-${s[4]}`],
      [s[5], false, clientReferenceFor(tapOf.get(s[5]!)!)],
      [s[6], false, clientReferenceFor(tapOf.get(s[6]!)!)],
    ]);
    // A registration as the ONSS port sends it: the columns of the contract, read the same from both databases.
    expect(batch[1]).toMatchObject({
      tap_id: tapOf.get(s[5]!), terminal_id: 'T1', site_id: 'S1', worker_id: 'W1', type: 'OUT', reason: 'work', at_utc: '2026-03-10T05:00:00Z',
      capacity: 'employee', employer_kind: 'enterprise', employer_id: '0403019261', declaration: '1Y102M7NZF7PZ', limosa_id: null,
    });
    expect(JSON.parse(batch[1]!.place_of_work)).toMatchObject({ address: { postCode: '1000' } });
    expect((await fs.nextBatch(1)).map((r) => r.seq)).toEqual([s[4]]);
    expect((await fs.nextBatch(10)).map((r) => r.seq)).toEqual([s[4], s[5], s[6], s[7]]);

    expect(await fs.inFlight(10)).toEqual([{ seq: s[3], client_reference: `ref-${s[3]}`, last_sent_at: '2026-03-10T07:05:00.000Z', received_at: expect.any(String), at_utc: '2026-03-10T03:00:00Z' }]);

    // Asked about at 1,000 ms: due for a round that looks at what was checked before 1,000, not before 999.
    expect(await fs.pendingValidity(1_000, 10)).toEqual([{ seq: s[0], onss_id: `ONSS-${s[0]}`, at_utc: '2026-03-10T00:00:00Z' }]);
    expect(await fs.pendingValidity(999, 10)).toEqual([]);
  });

  it('reads the outage journal\'s latest entry before the forwarder sends: an open outage stays open', async () => {
    const journal = await OutageJournal.open(store, noWrites);
    expect(journal.isOpen).toBe(true);
    // Waiting since before the open outage: delayed by it; the outage is still open, so anything counts.
    expect(journal.outageFor('2026-03-10T05:00:00.000Z')).toBe(later);
    expect(() => new OutageJournal(store, noWrites).outageFor('2026-03-10T05:00:00.000Z')).toThrow(/read \(load\) before/);
  });
});
