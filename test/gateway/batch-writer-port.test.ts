import { afterAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { BatchWriter, type IngestItem } from '../../gateway/ingest/batch-writer.ts';
import type { SqlStore } from '../../gateway/store/sql-store.ts';
import { rowsPerStatement, statementSizes } from '../../gateway/store/multi-row.ts';
import type { PostgresStore } from '../../gateway/store/postgres/postgres-store.ts';
import { at, DECLARATION, EMPLOYER_A, EMPLOYER_B } from '../records/helpers/facts.ts';
import { seedWorld } from '../records/helpers/store-world.ts';
import { DECLARATION_2, NISS_W1 } from '../records/helpers/world.ts';
import { storeKinds } from '../support/sql-stores.ts';
import { counted } from '../support/counted-store.ts';

/**
 * The ingest's group-commit transaction on the storage port (gateway/ingest/batch-writer.ts), the same cases
 * on the SQLite file and on a real PostgreSQL with the migrated schema: taps registered and numbered, a tap
 * id stored once however often it comes, a payload that is not a tap quarantined beside valid ones, a
 * terminal's status and outage journal, a forwarder change that fails undone alone, and two writers of two
 * instances numbering registrations at once without a gap or a number taken twice.
 */
const kinds = storeKinds();
afterAll(async () => {
  for (const k of kinds) await k.cleanup();
});

const W1_BADGE = '04A1B2C3';
const W2_BADGE = '04A1B2C4';

function payload(t: { id?: string; badge?: string; local: string; direction?: 'IN' | 'OUT'; terminal?: string }): IngestItem & { kind: 'payload' } {
  const tapAt = at(t.local);
  const receivedMs = Date.parse(tapAt) + 1500;
  const tap = { v: 1, id: t.id ?? randomUUID(), seq: 1, badge: t.badge ?? W1_BADGE, direction: t.direction ?? 'IN', reason: 'work', at: tapAt };
  return { kind: 'payload', terminalId: t.terminal ?? 'T1', payload: Buffer.from(JSON.stringify(tap)), receivedAt: new Date(receivedMs).toISOString(), receivedMs, arrivedPerf: 0 };
}

const idOf = (item: IngestItem & { kind: 'payload' }) => (JSON.parse(Buffer.from(item.payload).toString()) as { id: string }).id;

async function registrations(store: SqlStore): Promise<Array<{ seq: number; tap_id: string; employer_id: string; declaration: string; ssin: string | null }>> {
  return store.all('SELECT seq, tap_id, employer_id, declaration, ssin FROM registrations ORDER BY seq');
}

describe.each(kinds.map((k) => [k.kind, k] as const))('the group-commit transaction on the storage port (%s)', (_kind, k) => {
  it('registers the taps of a batch in one transaction, numbered in their order, each with its worker, employer and declaration', async () => {
    const store = await k.fresh();
    await seedWorld(store);
    const writer = await BatchWriter.open(store);
    const items = [payload({ local: '2026-03-10T07:00' }), payload({ local: '2026-03-10T07:01', badge: W2_BADGE }), payload({ local: '2026-03-10T12:00', direction: 'OUT' })];
    const r = await writer.write(items);
    expect(r.results.map((x) => [x.status, x.status === 'stored' ? x.enrichment : undefined, x.status === 'stored' ? x.tapId : undefined])).toEqual(items.map((i) => ['stored', 'enriched', idOf(i)]));
    expect(r.registrations).toBe(3);
    const rows = await registrations(store);
    expect(rows.map((x) => [x.seq, x.tap_id])).toEqual(items.map((i, n) => [n + 1, idOf(i)]));
    expect(rows[0]).toMatchObject({ employer_id: EMPLOYER_A, declaration: DECLARATION, ssin: NISS_W1 });
    // The worker's shift state moved with the taps: W1 went in, then out.
    expect(r.shifts.map((s) => [s.workerId, s.state]).sort()).toEqual([['W1', 'off'], ['W2', 'working']]);
  });

  it('stores a tap id once, within a batch and across batches, acked each time, and takes no number for the copies', async () => {
    const store = await k.fresh();
    await seedWorld(store);
    const writer = await BatchWriter.open(store);
    const tap = payload({ local: '2026-03-10T07:00' });
    const first = await writer.write([tap, tap]);
    expect(first.results.map((x) => x.status === 'stored' && x.duplicate)).toEqual([false, true]);
    const again = await writer.write([tap, payload({ local: '2026-03-10T07:05', badge: W2_BADGE })]);
    expect(again.results.map((x) => x.status === 'stored' && x.duplicate)).toEqual([true, false]);
    expect((await store.one<{ n: number }>('SELECT COUNT(*) AS n FROM taps WHERE tap_id = $1', [idOf(tap)]))!.n).toBe(1);
    // No gap: the copy gave its number back.
    expect((await registrations(store)).map((x) => x.seq)).toEqual([1, 2]);
  });

  it('quarantines a payload that is not a tap, with its bytes and why, and stores the valid taps of the same batch', async () => {
    const store = await k.fresh();
    await seedWorld(store);
    const writer = await BatchWriter.open(store);
    const good = payload({ local: '2026-03-10T07:00' });
    const bad: IngestItem = { ...good, payload: Buffer.from('{"v":1,"id":"half a tap"') };
    const r = await writer.write([bad, good]);
    expect(r.results[0]).toMatchObject({ status: 'rejected' });
    expect(r.results[1]).toMatchObject({ status: 'stored', enrichment: 'enriched' });
    const q = await store.all<{ terminal_id: string; reason: string; payload: Buffer; payload_size: number }>('SELECT terminal_id, reason, payload, payload_size FROM quarantine');
    expect(q).toHaveLength(1);
    expect(q[0]!.terminal_id).toBe('T1');
    expect(q[0]!.reason).toBe((r.results[0] as { reason?: string }).reason);
    expect(Buffer.from(q[0]!.payload).toString()).toBe('{"v":1,"id":"half a tap"');
    expect(q[0]!.payload_size).toBe(24);
  });

  it('says an unknown badge tapped at a terminal in enrolment mode is to be enrolled, until the mode ends', async () => {
    const store = await k.fresh();
    await seedWorld(store);
    const writer = await BatchWriter.open(store);
    const unknown = (local: string, terminal = 'T1') => payload({ local, badge: '04FFEE01', terminal });
    const first = unknown('2026-03-10T07:00');
    await store.run('UPDATE terminals SET enrolment_until = $1 WHERE id = $2', [new Date(first.receivedMs + 60_000).toISOString(), 'T1']);
    const r = await writer.write([first, unknown('2026-03-10T07:00', 'T2'), payload({ local: '2026-03-10T07:00' })]);
    expect(r.results.map((x) => [x.status === 'stored' && x.enrichment, x.status === 'stored' && x.enrolling === true])).toEqual([['unknown-badge', true], ['unknown-badge', false], ['enriched', false]]);
    // Tapped after the mode ended: held for review.
    const later = await writer.write([unknown('2026-03-10T07:05')]);
    expect(later.results[0]).toMatchObject({ enrichment: 'unknown-badge' });
    expect(later.results[0]).not.toHaveProperty('enrolling');
  });

  it('writes a terminal going offline on an open site into the outage journal, and closes it when it is back', async () => {
    const store = await k.fresh();
    await seedWorld(store);
    const writer = await BatchWriter.open(store);
    await writer.write([{ kind: 'status', terminalId: 'T1', change: 'online', at: '2026-03-10T06:00:00.000Z', instance: 'gw-a' }]);
    expect(await store.one('SELECT state, connected_via FROM terminal_status WHERE terminal_id = $1', ['T1'])).toEqual({ state: 'online', connected_via: 'gw-a' });
    await writer.write([{ kind: 'status', terminalId: 'T1', change: 'offline', at: '2026-03-10T07:00:00.000Z' }]);
    // Offline twice: one entry.
    await writer.write([{ kind: 'status', terminalId: 'T1', change: 'offline', at: '2026-03-10T07:01:00.000Z' }]);
    await writer.write([{ kind: 'status', terminalId: 'T1', change: 'online', at: '2026-03-10T07:30:00.000Z', instance: 'gw-b' }]);
    expect(await store.all('SELECT scope, site_id, started_at, ended_at, cause FROM outage_events')).toEqual([
      { scope: 'terminal:T1', site_id: 'S1', started_at: '2026-03-10T07:00:00.000Z', ended_at: '2026-03-10T07:30:00.000Z', cause: 'connection to the gateway lost' },
    ]);
    // An instance gone: its terminals offline, each with its entry.
    await writer.write([{ kind: 'status', terminalId: '', change: 'instance-gone', at: '2026-03-10T08:00:00.000Z', instance: 'gw-b' }]);
    expect(await store.one('SELECT state, connected_via FROM terminal_status WHERE terminal_id = $1', ['T1'])).toEqual({ state: 'offline', connected_via: null });
    expect((await store.all<{ ended_at: string | null }>('SELECT ended_at FROM outage_events ORDER BY id')).map((x) => x.ended_at)).toEqual(['2026-03-10T07:30:00.000Z', null]);
  });

  it('undoes a forwarder change that fails alone: the taps of its batch are stored, the next change is applied', async () => {
    const store = await k.fresh();
    await seedWorld(store);
    const writer = await BatchWriter.open(store);
    const tap = payload({ local: '2026-03-10T07:00' });
    await writer.write([tap]);
    const inFlight = (sent: string): IngestItem => ({ kind: 'forward', change: { kind: 'in-flight', rows: [{ seq: 1, tapId: idOf(tap), clientReference: 'ref-1', known: false }], at: sent } });
    await writer.write([inFlight('2026-03-10T07:00:05.000Z')]);
    // Marked again as new: the row exists, the insert fails on its key, alone.
    const later = payload({ local: '2026-03-10T08:00' });
    const r = await writer.write([later, inFlight('2026-03-10T08:00:05.000Z'), { kind: 'forward', change: { kind: 'outage-opened', startedAt: '2026-03-10T08:00:06.000Z', cause: 'ONSS answered 503' } }]);
    expect(r.results[0]).toMatchObject({ status: 'stored', enrichment: 'enriched' });
    expect(r.results[1]).toMatchObject({ status: 'failed' });
    expect(r.results[2]).toMatchObject({ status: 'noted', value: expect.any(Number) });
    expect(await store.one('SELECT last_sent_at, attempts FROM forward_state WHERE seq = 1')).toEqual({ last_sent_at: '2026-03-10T07:00:05.000Z', attempts: 1 });
    expect((await registrations(store)).map((x) => x.seq)).toEqual([1, 2]);
  });
});

describe('the row counts of multi-row statements', () => {
  it('puts every row in one statement exactly, at most a statement\'s worth each; on SQLite in a few row counts only, so its cache of prepared statements keeps a few texts', () => {
    const per = rowsPerStatement(22);
    const counts = { sqlite: new Set<number>(), postgres: new Set<number>() };
    for (let n = 0; n <= 2 * per + 3; n++) {
      for (const dialect of ['sqlite', 'postgres'] as const) {
        const sizes = statementSizes(n, per, dialect);
        expect(sizes.reduce((a, b) => a + b, 0)).toBe(n);
        expect(sizes.every((x) => x > 0 && x <= per)).toBe(true);
        sizes.forEach((x) => counts[dialect].add(x));
      }
    }
    // Powers of two below `per`, and `per` itself.
    expect(counts.sqlite.size).toBeLessThanOrEqual(Math.ceil(Math.log2(per)) + 1);
    // PostgreSQL: one statement per `per` rows, the rest in one.
    expect(statementSizes(2 * per + 3, per, 'postgres')).toEqual([per, per, 3]);
  });
});


/** Taps of W1 and W2 at T1, alternately, one every 20 s from 06:00 (2,000 taps end before 17:10), each worker going in and out in turn. */
function manyTaps(n: number): Array<IngestItem & { kind: 'payload' }> {
  const two = (v: number) => String(v).padStart(2, '0');
  return Array.from({ length: n }, (_, i) => {
    const second = 6 * 3600 + i * 20;
    const local = `2026-03-10T${two(Math.floor(second / 3600))}:${two(Math.floor(second / 60) % 60)}:${two(second % 60)}`;
    return payload({ local, badge: i % 2 ? W2_BADGE : W1_BADGE, direction: Math.floor(i / 2) % 2 ? 'OUT' : 'IN' });
  });
}

describe.each(kinds.map((k) => [k.kind, k] as const))('a batch written as multi-row statements (%s)', (_kind, k) => {
  it('writes a batch of many taps in a few statements, not a statement per tap', async () => {
    const store = await k.fresh();
    await seedWorld(store);
    const { store: watched, statements } = counted(store);
    const writer = await BatchWriter.open(watched);
    await writer.write(manyTaps(2));
    const before = statements();
    const r = await writer.write(manyTaps(400).slice(2));
    expect(r.registrations).toBe(398);
    expect(statements() - before).toBeLessThan(20);
  });

  it('stores a tap sent twice in one batch once, mixed with new taps, one stored before and payloads to quarantine, each acked in its place', async () => {
    const store = await k.fresh();
    await seedWorld(store);
    const writer = await BatchWriter.open(store);
    const earlier = payload({ local: '2026-03-10T06:30' });
    await writer.write([earlier]);
    const twice = payload({ local: '2026-03-10T07:00' });
    const other = payload({ local: '2026-03-10T07:01', badge: W2_BADGE });
    const broken = (text: string): IngestItem => ({ ...twice, payload: Buffer.from(text) });
    const r = await writer.write([twice, broken('{"v":1'), earlier, twice, other, broken('not json'), twice]);
    expect(r.results.map((x) => (x.status === 'stored' ? (x.duplicate ? 'duplicate' : 'new') : x.status))).toEqual(['new', 'rejected', 'duplicate', 'duplicate', 'new', 'rejected', 'duplicate']);
    expect(r.results.map((x) => (x.status === 'stored' ? x.tapId : undefined))).toEqual([idOf(twice), undefined, idOf(earlier), idOf(twice), idOf(other), undefined, idOf(twice)]);
    expect(r.registrations).toBe(2);
    // Numbered in the order of the batch, without a number taken by a copy.
    expect((await registrations(store)).map((x) => [x.seq, x.tap_id])).toEqual([[1, idOf(earlier)], [2, idOf(twice)], [3, idOf(other)]]);
    // Quarantined in the order they came, each with its own bytes.
    expect((await store.all<{ payload: Buffer }>('SELECT payload FROM quarantine ORDER BY id')).map((q) => Buffer.from(q.payload).toString())).toEqual(['{"v":1', 'not json']);
    expect((await store.one<{ n: number }>('SELECT COUNT(*) AS n FROM taps'))!.n).toBe(3);
  });

  it('writes a batch larger than one statement takes in several, numbered in order, a copy across the cut stored once, the shift states from each worker\'s last tap', async () => {
    const store = await k.fresh();
    await seedWorld(store);
    const writer = await BatchWriter.open(store);
    const perStatement = rowsPerStatement(22);
    const taps = manyTaps(perStatement + 12);
    // The copy of a tap from the first statement's rows comes in the second's.
    const batch = [...taps, taps[3]!];
    expect(batch.length).toBeGreaterThan(perStatement);
    const r = await writer.write(batch);
    expect(r.results.filter((x) => x.status === 'stored' && !x.duplicate)).toHaveLength(taps.length);
    expect(r.results.at(-1)).toMatchObject({ status: 'stored', duplicate: true, tapId: idOf(taps[3]!) });
    expect(r.registrations).toBe(taps.length);
    const rows = await registrations(store);
    expect(rows.map((x) => x.seq)).toEqual(taps.map((_, i) => i + 1));
    expect(rows.map((x) => x.tap_id)).toEqual(taps.map(idOf));
    // Each worker's state is that of its last tap in the batch: W1 taps at even places, W2 at odd ones.
    const lastOf = (worker: 0 | 1) => taps.length - 1 - ((taps.length - 1 - worker) % 2);
    const stateAfter = (i: number) => ((JSON.parse(Buffer.from(taps[i]!.payload).toString()) as { direction: string }).direction === 'IN' ? 'working' : 'off');
    expect(r.shifts.map((s) => [s.workerId, s.state, s.rev]).sort()).toEqual([['W1', stateAfter(lastOf(0)), 1], ['W2', stateAfter(lastOf(1)), 1]]);
    expect(await store.all('SELECT worker_id, last_tap_id, rev FROM worker_shifts ORDER BY worker_id')).toEqual([
      { worker_id: 'W1', last_tap_id: idOf(taps[lastOf(0)]!), rev: 1 },
      { worker_id: 'W2', last_tap_id: idOf(taps[lastOf(1)]!), rev: 1 },
    ]);
  });

  it('after a site-data change, looks up the badges, workers, employers and placements of a batch\'s taps at once, and enriches each as its own lookups would', async () => {
    const store = await k.fresh();
    await seedWorld(store);
    const { store: watched, statements } = counted(store);
    const writer = await BatchWriter.open(watched);
    await writer.write([payload({ local: '2026-03-10T06:00' })]);
    const created = new Date().toISOString();
    const workers = Array.from({ length: 30 }, (_, i) => ({ id: `BX${i}`, badge: `06${String(i).padStart(6, '0')}` }));
    for (const [i, w] of workers.entries()) {
      await store.run("INSERT INTO workers (id, ssin, name, capacity, created_at) VALUES ($1, $2, $3, 'employee', $4)", [w.id, String(85073000000 + i * 97), `Worker ${i}`, created]);
      // BX1 works only for a company that is not on the site's chain: registered under it all the same.
      await store.run('INSERT INTO worker_employers (worker_id, company_id) VALUES ($1, $2)', [w.id, i === 1 ? EMPLOYER_B : EMPLOYER_A]);
      await store.run("INSERT INTO badges (uid, worker_id, valid_from, created_at) VALUES ($1, $2, '2026-01-01', $3)", [w.badge, w.id, created]);
    }
    await store.run('INSERT INTO worker_employers (worker_id, company_id) VALUES ($1, $2)', ['BX0', EMPLOYER_B]);
    await store.run('UPDATE badges SET revoked_at = $1 WHERE uid = $2', [created, W2_BADGE]);
    await store.run('UPDATE site_data_version SET version = version + 1 WHERE id = 1');
    const before = statements();
    const batch = [
      ...workers.flatMap((w, i) => [payload({ local: `2026-03-10T07:${String(i).padStart(2, '0')}`, badge: w.badge }), payload({ local: `2026-03-10T12:${String(i).padStart(2, '0')}`, badge: w.badge, direction: 'OUT' })]),
      payload({ local: '2026-03-10T07:00' }),
      payload({ local: '2026-03-10T07:00', badge: W2_BADGE }),
      payload({ local: '2026-03-10T07:00', badge: '04FFEE01' }),
      payload({ local: '2026-03-10T07:00', badge: workers[2]!.badge, terminal: 'T2' }),
    ];
    const r = await writer.write(batch);
    // A statement per worker and lookup would be well over a hundred.
    expect(statements() - before).toBeLessThan(40);
    const statuses = r.results.map((x) => (x.status === 'stored' ? x.enrichment : x.status));
    expect(statuses.slice(0, 60)).toEqual(workers.flatMap(() => ['enriched', 'enriched']));
    expect(statuses.slice(60)).toEqual(['enriched', 'revoked-badge', 'unknown-badge', 'enriched']);
    const rows = await store.all<{ tap_id: string; employer_id: string; declaration: string; ssin: string }>('SELECT tap_id, employer_id, declaration, ssin FROM registrations WHERE seq > 1 ORDER BY seq');
    expect(rows).toHaveLength(62);
    // BX0 also works for the company off the chain: registered under the one on it.
    expect(rows.map((x) => x.employer_id)).toEqual([...workers.flatMap((_, i) => (i === 1 ? [EMPLOYER_B, EMPLOYER_B] : [EMPLOYER_A, EMPLOYER_A])), EMPLOYER_A, EMPLOYER_A]);
    expect(rows.at(-1)).toMatchObject({ tap_id: idOf(batch.at(-1)!), declaration: DECLARATION_2, ssin: String(85073000000 + 2 * 97) });
    expect(rows[0]).toMatchObject({ tap_id: idOf(batch[0]!), declaration: DECLARATION, ssin: '85073000000' });
  });

  it('moves a worker\'s shift state on only for a tap later than the state\'s, its revision once per batch', async () => {
    const store = await k.fresh();
    await seedWorld(store);
    const writer = await BatchWriter.open(store);
    const first = await writer.write([payload({ local: '2026-03-10T07:00' }), payload({ local: '2026-03-10T07:00', badge: W2_BADGE })]);
    expect(first.shifts.map((s) => [s.workerId, s.state, s.rev]).sort()).toEqual([['W1', 'working', 1], ['W2', 'working', 1]]);
    // W1's tap is older than its state (an outbox replayed late): W1's state stays; W2 goes out.
    const second = await writer.write([payload({ local: '2026-03-10T06:00', direction: 'OUT' }), payload({ local: '2026-03-10T12:00', badge: W2_BADGE, direction: 'OUT' })]);
    expect(second.shifts.map((s) => [s.workerId, s.state, s.rev])).toEqual([['W2', 'off', 2]]);
    expect(await store.all('SELECT worker_id, state, rev FROM worker_shifts ORDER BY worker_id')).toEqual([
      { worker_id: 'W1', state: 'working', rev: 1 },
      { worker_id: 'W2', state: 'off', rev: 2 },
    ]);
  });
});

/**
 * Two instances' writers at once, on PostgreSQL: the lock of tap-writer-lock.ts. On SQLite two connections of
 * one thread cannot both hold write transactions across awaits (the second waits on the busy timeout, blocking
 * the thread the first needs); there the instances are processes of their own, and the SQLite file shared by
 * several gateway processes is tested by test/cluster/two-gateways.test.ts and the cluster chaos suite.
 */
describe.each(kinds.filter((k) => k.kind === 'postgres').map((k) => [k.kind, k] as const))('two instances writing taps at once (%s)', (_kind, k) => {
  it('numbers the registrations of two instances writing at once without a gap or a number taken twice', async () => {
    const store = await k.fresh();
    await seedWorld(store);
    const other = await k.second(store);
    const [a, b] = await Promise.all([BatchWriter.open(store), BatchWriter.open(other)]);
    const batches = (n: number, badge: string, hour: number) => Array.from({ length: n }, (_, i) => Array.from({ length: 5 }, (_, j) => payload({ local: `2026-03-10T${String(hour + i).padStart(2, '0')}:${String(j * 2).padStart(2, '0')}`, badge, direction: j % 2 ? 'OUT' : 'IN' })));
    const ofA = batches(6, W1_BADGE, 6);
    const ofB = batches(6, W2_BADGE, 6);
    await Promise.all([(async () => { for (const x of ofA) await a.write(x); })(), (async () => { for (const x of ofB) await b.write(x); })()]);
    const rows = await registrations(store);
    expect(rows.map((x) => x.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(new Set(rows.map((x) => x.tap_id))).toEqual(new Set([...ofA, ...ofB].flat().map(idOf)));
    // Each waited for the other's commit instead of both numbering and one being refused and run again.
    expect((store as PostgresStore).retries + (other as PostgresStore).retries).toBe(0);
  });
});
