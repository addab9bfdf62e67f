import { afterAll, describe, expect, it } from 'vitest';
import { applyForwardWrite, type Answer } from '../../gateway/forward/forward-writes.ts';
import { FORWARD_MIGRATIONS, PENDING_VALIDITY } from '../../gateway/forward/schema.ts';
import { migrate } from '../../shared/sqlite.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import type { SqlStore } from '../../gateway/store/sql-store.ts';
import { rowsPerStatement } from '../../gateway/store/multi-row.ts';
import { storeKinds } from '../support/sql-stores.ts';
import { counted } from '../support/counted-store.ts';

/**
 * The forwarder's state changes (gateway/forward/forward-writes.ts) on both databases: each change of a batch
 * of registrations is a few statements over many rows, not one per registration (on PostgreSQL each statement
 * is a round trip inside a tap batch's transaction), and each row gets its own values: a batch marked in
 * flight, answered (created with ONSS's id, validity and remarks; not created with its errors), put back to
 * retry, its validity settled or only touched.
 */
const kinds = storeKinds();
afterAll(async () => {
  for (const k of kinds) await k.cleanup();
});


interface StateRow {
  seq: number;
  state: string;
  attempts: number;
  onss_id: string | null;
  validity: string | null;
  remarks: string | null;
  errors: string | null;
  answered_at: string | null;
  outage_id: number | null;
  duplicates_at_onss: number;
  last_failure: string | null;
  validity_checked_at: number | null;
  last_sent_at: string | null;
}

/** A fresh gateway database with the forwarder's tables, as the forwarder makes them at its start on SQLite (PostgreSQL's migrations have them). */
async function freshWithForwarder(k: (typeof kinds)[number]): Promise<SqlStore> {
  const store = await k.fresh();
  if (store instanceof SqliteStore) migrate(store.db, 'forward', FORWARD_MIGRATIONS);
  return store;
}

const rowsOf = (store: SqlStore) =>
  store.all<StateRow>('SELECT seq, state, attempts, onss_id, validity, remarks, errors, answered_at, outage_id, duplicates_at_onss, last_failure, validity_checked_at, last_sent_at FROM forward_state ORDER BY seq');

describe.each(kinds.map((k) => [k.kind, k] as const))('the forwarder\'s changes as multi-row statements (%s)', (_kind, k) => {
  it('marks, answers, retries and settles a batch of registrations in a few statements, each row with its own values', async () => {
    const { store, statements } = counted(await freshWithForwarder(k));
    const apply = (w: Parameters<typeof applyForwardWrite>[1]) => store.transaction((tx) => applyForwardWrite(tx, w));
    const outage = (await apply({ kind: 'outage-opened', startedAt: '2026-03-10T06:00:00.000Z', cause: 'ONSS answered 503' }))!;
    const seqs = Array.from({ length: 200 }, (_, i) => i + 1);

    let before = statements();
    await apply({ kind: 'in-flight', rows: seqs.map((seq) => ({ seq, tapId: `tap-${seq}`, clientReference: `ref-${seq}`, known: false })), at: '2026-03-10T07:00:00.000Z' });
    // One statement per registration would be 200; on SQLite the rows go in pieces of powers of two (128, 64, 8).
    expect(statements() - before).toBeLessThanOrEqual(8);
    expect((await rowsOf(store)).map((r) => [r.seq, r.state, r.attempts])).toEqual(seqs.map((seq) => [seq, 'in_flight', 1]));

    // Odd: created (the first ten still pending at ONSS, with a remark); even: not created, with its errors.
    const answers: Answer[] = seqs.map((seq) =>
      seq % 2
        ? { seq, kind: 'created', onssId: `onss-${seq}`, validity: seq <= 10 ? PENDING_VALIDITY : 'valid', remarks: seq <= 10 ? [`remark ${seq}`] : [], ...(seq === 1 ? { outageId: outage, duplicates: 2 } : {}) }
        : { seq, kind: 'not-created', errors: [{ code: `E${seq}` }] },
    );
    before = statements();
    await apply({ kind: 'answers', answers, at: '2026-03-10T07:00:01.000Z', nowMs: 1_000, delayed: { outageId: outage, count: 1 } });
    expect(statements() - before).toBeLessThanOrEqual(17);
    const answered = await rowsOf(store);
    expect(answered[0]).toMatchObject({ seq: 1, state: 'created', onss_id: 'onss-1', validity: PENDING_VALIDITY, remarks: '["remark 1"]', outage_id: outage, duplicates_at_onss: 2, validity_checked_at: 1_000, answered_at: '2026-03-10T07:00:01.000Z' });
    expect(answered[1]).toMatchObject({ seq: 2, state: 'not_created', errors: '[{"code":"E2"}]', onss_id: null, outage_id: null });
    expect(answered[198]).toMatchObject({ seq: 199, state: 'created', onss_id: 'onss-199', validity: 'valid', remarks: '[]', outage_id: null, duplicates_at_onss: 0, validity_checked_at: null });
    expect(answered.filter((r) => r.state === 'created').map((r) => r.onss_id)).toEqual(seqs.filter((s) => s % 2).map((s) => `onss-${s}`));
    expect((await store.one<{ n: number }>('SELECT registrations_delayed AS n FROM outage_journal WHERE id = $1', [outage]))!.n).toBe(1);

    // A second batch: marked, then certainly not at ONSS, so put back to retry and marked again (known rows).
    const more = Array.from({ length: 50 }, (_, i) => 201 + i);
    await apply({ kind: 'in-flight', rows: more.map((seq) => ({ seq, tapId: `tap-${seq}`, clientReference: `ref-${seq}`, known: false })), at: '2026-03-10T07:01:00.000Z' });
    before = statements();
    await apply({ kind: 'retry', seqs: [...more, 1], cause: 'connection reset' });
    await apply({ kind: 'failure-noted', seqs: more.slice(0, 5), cause: 'still failing' });
    await apply({ kind: 'in-flight', rows: more.map((seq) => ({ seq, tapId: `tap-${seq}`, clientReference: `ref-${seq}`, known: true })), at: '2026-03-10T07:02:00.000Z' });
    expect(statements() - before).toBeLessThanOrEqual(20);
    const retried = (await rowsOf(store)).filter((r) => r.seq > 200);
    expect(retried.map((r) => [r.state, r.attempts, r.last_sent_at])).toEqual(more.map(() => ['in_flight', 2, '2026-03-10T07:02:00.000Z']));
    expect(retried.filter((r) => r.last_failure === 'still failing')).toHaveLength(5);
    // A row already created is not put back to retry.
    expect((await rowsOf(store))[0]).toMatchObject({ seq: 1, state: 'created' });

    // Validity settled for some pending ones, only touched for the others.
    before = statements();
    await apply({ kind: 'validity', at: 5_000, updates: [1, 3, 5, 7, 9].map((seq) => (seq <= 5 ? { seq, validity: 'valid', remarks: [`checked ${seq}`] } : { seq })) });
    expect(statements() - before).toBeLessThanOrEqual(4);
    const settled = (await rowsOf(store)).filter((r) => r.seq <= 10 && r.seq % 2);
    expect(settled.map((r) => [r.seq, r.validity, r.remarks, r.validity_checked_at])).toEqual([
      [1, 'valid', '["checked 1"]', 5_000],
      [3, 'valid', '["checked 3"]', 5_000],
      [5, 'valid', '["checked 5"]', 5_000],
      [7, PENDING_VALIDITY, '["remark 7"]', 5_000],
      [9, PENDING_VALIDITY, '["remark 9"]', 5_000],
    ]);
  });

  it('cuts a change larger than one statement takes, every row still written once', async () => {
    const store = await freshWithForwarder(k);
    const n = rowsPerStatement(7) + 3;
    const seqs = Array.from({ length: n }, (_, i) => i + 1);
    await store.transaction((tx) => applyForwardWrite(tx, { kind: 'in-flight', rows: seqs.map((seq) => ({ seq, tapId: `t${seq}`, clientReference: `r${seq}`, known: false })), at: '2026-03-10T07:00:00.000Z' }));
    await store.transaction((tx) => applyForwardWrite(tx, { kind: 'answers', at: '2026-03-10T07:00:01.000Z', nowMs: 1, answers: seqs.map((seq) => ({ seq, kind: 'created' as const, onssId: `o${seq}`, validity: 'valid', remarks: [] })) }));
    const r = await store.one<{ n: number; ids: number }>("SELECT COUNT(*) AS n, COUNT(DISTINCT onss_id) AS ids FROM forward_state WHERE state = 'created'");
    expect(r).toEqual({ n, ids: n });
  });
});
