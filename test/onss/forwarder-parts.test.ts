import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../shared/logging.ts';
import type { Db } from '../../shared/sqlite.ts';
import { VirtualClock } from '../../shared/clock.ts';
import { Breaker } from '../../gateway/forward/breaker.ts';
import { ForwardStore } from '../../gateway/forward/forward-store.ts';
import { OutageJournal } from '../../gateway/forward/outage-journal.ts';
import { Reconciler } from '../../gateway/forward/reconciler.ts';
import { Sender } from '../../gateway/forward/sender.ts';
import { ShortWrites } from '../../gateway/forward/short-writes.ts';
import { DirectForwardWriter } from '../../gateway/forward/forward-writes.ts';
import { ValidityPoller } from '../../gateway/forward/validity.ts';
import { Forwarder } from '../../gateway/forward/forwarder.ts';
import type { ForwarderTuning } from '../../gateway/forward/config.ts';
import { forwardingStateOf, forwardingSummary, listForwardingStates, outageJournal } from '../../gateway/forward/read-model.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { FakeOnssPort } from './fake-onss-port.ts';
import { openGatewayDb, seedRegistrations, tempDir, validNiss, waitFor } from './helpers.ts';

/**
 * The forwarder's parts, each on its own, against an ONSS held in memory behind the same port (the
 * emulator tests in forwarder.test.ts drive them together over HTTP). The database is a real SQLite file.
 */
const logger = createLogger('forwarder-parts', { level: 'silent' });
let tmp: ReturnType<typeof tempDir>;
let db: Db;
let port: FakeOnssPort;
let writes: DirectForwardWriter;
let store: ForwardStore;
let outages: OutageJournal;
let clock: VirtualClock;

beforeEach(async () => {
  tmp = tempDir();
  db = openGatewayDb(join(tmp.dir, 'gateway.sqlite'));
  port = new FakeOnssPort();
  writes = new DirectForwardWriter(SqliteStore.of(db));
  store = new ForwardStore(SqliteStore.of(db), writes, (t) => port.referenceFor(t));
  outages = await OutageJournal.open(SqliteStore.of(db), writes);
  // Stands still unless a test moves it: the records' clock is the test's to set.
  clock = new VirtualClock(new Date('2026-03-10T08:00:00Z'), 0);
});
afterEach(() => {
  db.close();
  tmp.cleanup();
});

const sender = (batchSize = 100) => new Sender(store, outages, port, batchSize, clock, logger);
const stateOf = async (tapId: string) => (await forwardingStateOf(SqliteStore.of(db), { tapId }))!;
const statesOf = (tapIds: string[]) => Promise.all(tapIds.map(stateOf));

describe('breaker', () => {
  const options = { backoffInitialMs: 1000, backoffMaxMs: 8000, circuitFailureThreshold: 4, circuitOpenMs: 60_000 };

  it('backs off exponentially, between half and all of each step, up to the cap', () => {
    const low = new Breaker(options, () => 0);
    const high = new Breaker(options, () => 1);
    const lows = [1, 2, 3, 4, 5, 6].map(() => low.failure(0).delayMs);
    const highs = [1, 2, 3, 4, 5, 6].map(() => high.failure(0).delayMs);
    expect(lows).toEqual([500, 1000, 2000, 4000, 4000, 4000]);
    expect(highs).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
  });

  it('takes a Retry-After from ONSS as a floor', () => {
    const b = new Breaker(options, () => 0);
    expect(b.failure(0, 30_000).delayMs).toBe(30_000);
    expect(b.blockedUntil()).toBe(30_000);
  });

  it('opens the circuit at the threshold only, and the first answered call closes it and forgets the failures', () => {
    const b = new Breaker(options, () => 0);
    const opened = [1, 2, 3, 4, 5].map((i) => b.failure(i * 10).circuitOpened);
    expect(opened).toEqual([false, false, false, true, false]);
    expect(b.isCircuitOpen(100)).toBe(true);
    expect(b.blockedUntil()).toBe(50 + 60_000);
    b.success();
    expect(b.isCircuitOpen(100)).toBe(false);
    expect(b.failures).toBe(0);
    expect(b.failure(1000).delayMs).toBe(500);
  });

  it('waits as long as ONSS asks on a 429 without counting a failure', () => {
    const b = new Breaker(options, () => 0);
    b.rateLimited(1000, 7000);
    expect(b.blockedUntil()).toBe(8000);
    expect(b.failures).toBe(0);
  });
});

describe('sender', () => {
  it('marks a batch in flight before it leaves, then records ONSS ids, refusals and validity', async () => {
    const taps = seedRegistrations(db, { count: 5, mutate: (r, i) => { if (i === 3) r.ssin = validNiss(999); } });
    port.refuseSsin = validNiss(999);
    const statesAtSend: string[] = [];
    // The read runs when ONSS is called (the SQLite store answers at once); the states are kept a moment later.
    port.onSend = () => void listForwardingStates(SqliteStore.of(db)).then((states) => statesAtSend.push(...states.map((s) => s.state)));
    const s = sender();
    const batch = await s.next();
    expect(batch.map((r) => r.tap_id)).toEqual(taps);
    await s.markInFlight(batch);
    expect(await s.send(batch)).toEqual({ kind: 'answered', created: 4, refused: 1 });
    expect(statesAtSend).toEqual(['in_flight', 'in_flight', 'in_flight', 'in_flight', 'in_flight']);
    expect(await stateOf(taps[0]!)).toMatchObject({ state: 'created', onssId: port.held[0]!.id, validity: 'pending', attempts: 1 });
    expect(await stateOf(taps[3]!)).toMatchObject({ state: 'not_created', errors: [{ code: 'invalidSsin', field: 'ssin' }] });
    expect(await s.next()).toEqual([]);
  });

  it('keeps ONSS validity when it is settled on creation', async () => {
    port.settleOnCreate = true;
    const [tap] = seedRegistrations(db, { count: 1 });
    const s = sender();
    const batch = await s.next();
    await s.markInFlight(batch);
    await s.send(batch);
    expect((await stateOf(tap!)).validity).toBe('validated');
    expect((await forwardingSummary(SqliteStore.of(db))).pendingValidity).toBe(0);
  });

  it('puts a batch ONSS did not process back to retry, and sends retries first next time', async () => {
    const first = seedRegistrations(db, { count: 3 });
    const s = sender(3);
    port.script.push({ notProcessed: 'HTTP 503: down' });
    const batch = await s.next();
    await s.markInFlight(batch);
    expect(await s.send(batch)).toMatchObject({ kind: 'not-processed', cause: 'HTTP 503: down', rateLimited: false });
    expect((await statesOf(first)).map((t) => t.state)).toEqual(['retry', 'retry', 'retry']);
    seedRegistrations(db, { count: 3, start: 10 });
    const again = await s.next();
    expect(again.map((r) => [r.tap_id, r.known])).toEqual(first.map((t) => [t, true]));
    await s.markInFlight(again);
    await s.send(again);
    expect((await statesOf(first)).map((x) => [x.state, x.attempts])).toEqual([['created', 2], ['created', 2], ['created', 2]]);
  });

  it('halves a batch ONSS refuses as a whole until the registration it cannot take stands alone', async () => {
    const taps = seedRegistrations(db, { count: 8 });
    const s = sender(8);
    // ONSS refuses every call that carries the sixth registration.
    const culprit = port.referenceFor(taps[5]!);
    const reports: string[] = [];
    for (let i = 0; i < 20 && (await forwardingSummary(SqliteStore.of(db))).waiting + (await forwardingSummary(SqliteStore.of(db))).retry > 0; i++) {
      const batch = await s.next();
      if (batch.some((r) => r.client_reference === culprit)) port.script.push({ refused: 422 });
      await s.markInFlight(batch);
      const r = await s.send(batch);
      reports.push(`${r.kind}:${batch.length}`);
    }
    // Each refusal halves the batch, each answered call doubles the limit back toward the batch size.
    expect(reports).toEqual(['split:8', 'answered:4', 'split:4', 'split:2', 'answered:1', 'split:2', 'refused:1', 'answered:1', 'answered:1']);
    expect(await stateOf(taps[5]!)).toMatchObject({ state: 'not_created', errors: [{ code: 'http422' }] });
    expect((await statesOf(taps.filter((_, i) => i !== 5))).every((t) => t.state === 'created')).toBe(true);
    expect(s.batchLimit).toBe(4);
  });

  it('leaves an unanswered batch in flight, with its cause, for the reconciler', async () => {
    const taps = seedRegistrations(db, { count: 2 });
    port.script.push('lost');
    const s = sender();
    const batch = await s.next();
    await s.markInFlight(batch);
    expect(await s.send(batch)).toEqual({ kind: 'ambiguous', cause: 'timeout' });
    expect((await statesOf(taps)).map((t) => [t.state, t.lastFailure])).toEqual([['in_flight', 'timeout'], ['in_flight', 'timeout']]);
  });

  it('links registrations answered after an outage to it and counts them with their answers', async () => {
    const taps = seedRegistrations(db, { count: 4 });
    const o = await outages.failure('HTTP 503', clock.now());
    const s = sender();
    const batch = await s.next();
    await s.markInFlight(batch);
    await s.send(batch);
    expect((await statesOf(taps)).map((t) => t.outageId)).toEqual([o.id, o.id, o.id, o.id]);
    expect((await outageJournal(SqliteStore.of(db)))[0]!.registrationsDelayed).toBe(4);
  });
});

describe('reconciler', () => {
  const options = { requestTimeoutMs: 30_000, reconcileDelayMs: 30_000, concurrency: 4, limit: 200 };
  const reconciler = () => new Reconciler(store, outages, port, options, clock, logger);

  async function sendUnanswered(count: number, behaviour: 'hang-up' | 'lost'): Promise<{ taps: string[]; seqs: number[] }> {
    const taps = seedRegistrations(db, { count, start: (await forwardingSummary(SqliteStore.of(db))).waiting + 1000 });
    const s = sender();
    const batch = await s.next();
    await s.markInFlight(batch);
    port.script.push(behaviour);
    await s.send(batch);
    return { taps, seqs: batch.map((r) => r.seq) };
  }

  it('settles a hung-up batch at the first look, without waiting for the reconcile delay', async () => {
    const { taps, seqs } = await sendUnanswered(5, 'hang-up');
    const r = reconciler();
    const sentMs = 1_000_000;
    r.noteUnanswered(seqs, sentMs);
    const plan = await r.plan(sentMs + 500);
    expect(plan).toMatchObject({ kind: 'look', last: false });
    const report = await r.reconcile(plan.kind === 'look' ? plan.rows : [], false);
    expect(report).toEqual({ found: 5, absent: 0, unresolved: 0, failure: undefined });
    expect((await statesOf(taps)).map((s) => [s.state, s.onssId !== null, s.attempts])).toEqual(taps.map(() => ['created', true, 1]));
    expect(await r.plan(sentMs + 600)).toEqual({ kind: 'none' });
    // Searched each client reference around its own date; nothing was sent again.
    expect(port.count('find')).toBe(5);
    expect(port.count('send')).toBe(1);
  });

  it('waits until ONSS cannot be working on the call any more before sending again what it did not show', async () => {
    const { taps, seqs } = await sendUnanswered(3, 'lost');
    const r = reconciler();
    const sentMs = 1_000_000;
    r.noteUnanswered(seqs, sentMs);
    const first = await r.plan(sentMs + 500);
    expect(first.kind === 'look' && !first.last).toBe(true);
    expect(await r.reconcile(first.kind === 'look' ? first.rows : [], false)).toMatchObject({ found: 0, unresolved: 3 });
    expect((await statesOf(taps)).map((t) => t.state)).toEqual(['in_flight', 'in_flight', 'in_flight']);
    // Not asked again before the safe moment: a wait until sent + requestTimeoutMs + reconcileDelayMs.
    expect(await r.plan(sentMs + 1000)).toEqual({ kind: 'wait', untilMs: sentMs + 60_000 });
    // Meanwhile ONSS files one of them late (it was still working on the call).
    port.hold(port.referenceFor(taps[1]!), '2026-03-10T07:59:00Z');
    const last = await r.plan(sentMs + 60_000);
    expect(last.kind === 'look' && last.last).toBe(true);
    expect(await r.reconcile(last.kind === 'look' ? last.rows : [], true)).toMatchObject({ found: 1, absent: 2, unresolved: 0 });
    expect((await statesOf(taps)).map((t) => t.state)).toEqual(['retry', 'created', 'retry']);
  });

  it('times what a crashed process left in flight by its records, on the records\' clock', async () => {
    const { seqs } = await sendUnanswered(2, 'lost');
    // A new process: it did not send these; last_sent_at says 10 s ago on the records' clock.
    clock.jump(10_000);
    const r = reconciler();
    const now = 5_000_000;
    const first = await r.plan(now);
    expect(first.kind === 'look' && first.rows.map((x) => x.seq)).toEqual(seqs);
    await r.reconcile(first.kind === 'look' ? first.rows : [], false);
    expect(await r.plan(now)).toEqual({ kind: 'wait', untilMs: now - 10_000 + 60_000 });
  });

  it('counts what ONSS holds twice under one reference, and keeps the first', async () => {
    const { taps, seqs } = await sendUnanswered(1, 'hang-up');
    port.hold(port.referenceFor(taps[0]!), '2026-03-10T07:59:00Z');
    const r = reconciler();
    r.noteUnanswered(seqs, 0);
    const plan = await r.plan(1);
    await r.reconcile(plan.kind === 'look' ? plan.rows : [], false);
    expect(await stateOf(taps[0]!)).toMatchObject({ state: 'created', onssId: port.held[0]!.id, duplicatesAtOnss: 1 });
  });

  it('reports a failed look and asks again: nothing is settled by a question ONSS did not answer', async () => {
    const { taps, seqs } = await sendUnanswered(2, 'hang-up');
    const r = reconciler();
    r.noteUnanswered(seqs, 0);
    port.lookupFailure = 'HTTP 503';
    const plan = await r.plan(1);
    expect(await r.reconcile(plan.kind === 'look' ? plan.rows : [], false)).toMatchObject({ found: 0, unresolved: 0, failure: { cause: 'HTTP 503' } });
    expect((await statesOf(taps)).map((t) => t.state)).toEqual(['in_flight', 'in_flight']);
    port.lookupFailure = undefined;
    const again = await r.plan(2);
    expect(again).toMatchObject({ kind: 'look', last: false });
    await r.reconcile(again.kind === 'look' ? again.rows : [], false);
    expect((await statesOf(taps)).map((t) => t.state)).toEqual(['created', 'created']);
  });
});

describe('validity poller', () => {
  const poller = (batch = 5000) => new ValidityPoller(store, port, { intervalMs: 60_000, batch, concurrency: 3 }, logger);

  /** Sends `count` registrations dated one second apart from `startIso`; ONSS holds them pending. */
  async function created(count: number, startIso: string, start = 0): Promise<string[]> {
    const t0 = Date.parse(startIso);
    const taps = seedRegistrations(db, { count, start, mutate: (row, i) => {
      const at = `${new Date(t0 + (i - start) * 1000).toISOString().slice(0, 19)}Z`;
      row.at_utc = at;
      row.at = at.replace('Z', '+00:00');
    } });
    const s = sender(200);
    for (let batch = await s.next(); batch.length > 0; batch = await s.next()) {
      await s.markInFlight(batch);
      await s.send(batch);
    }
    return taps;
  }
  const later = () => Date.now() + 120_000;

  it('settles many registrations with a few period searches, not one get each', async () => {
    const taps = await created(1200, '2026-03-10T06:00:00Z');
    const duplicate = port.held[7]!.id;
    port.settleAll(new Map([[duplicate, 'SAME DECLARATION HAS ALREADY BEEN REGISTERED']]));
    const round = await poller().round(later());
    expect(round).toMatchObject({ due: 1200, settled: 1200, stillPending: 0 });
    expect(port.count('get')).toBe(0);
    // Windows of at most half a search's limit: 1,200 in 5 searches, each within the limit.
    expect(port.count('period')).toBe(5);
    expect((await forwardingSummary(SqliteStore.of(db))).pendingValidity).toBe(0);
    expect(await stateOf(taps[7]!)).toMatchObject({ validity: 'withRemarks', remarks: ['SAME DECLARATION HAS ALREADY BEEN REGISTERED'] });
    expect(await stateOf(taps[8]!)).toMatchObject({ validity: 'validated', remarks: [] });
  });

  it('asks nothing before an interval has passed since creation', async () => {
    await created(10, '2026-03-10T06:00:00Z');
    port.settleAll();
    expect(await poller().round(Date.now())).toMatchObject({ due: 0, calls: 0 });
    expect(port.calls.filter((c) => c.kind !== 'send')).toEqual([]);
  });

  it('halves a period that holds more than a search returns (older registrations of ours in it), where the date changes', async () => {
    // 600 registrations ONSS settled long ago (three a second) share the 200 new ones' period.
    const t0 = Date.parse('2026-03-10T06:00:00Z');
    for (let i = 0; i < 600; i++) port.hold(`old-${i}`, `${new Date(t0 + Math.floor(i / 3) * 1000).toISOString().slice(0, 19)}Z`, true);
    const taps = await created(200, '2026-03-10T06:00:00Z');
    port.settleAll();
    const round = await poller().round(later());
    expect(round).toMatchObject({ due: 200, settled: 200 });
    // 800 in the whole period: refused as too many, then two halves of 400 each.
    const periods = port.calls.flatMap((c) => (c.kind === 'period' ? [c.period] : []));
    expect(periods).toEqual([
      { from: '2026-03-10T06:00:00Z', to: '2026-03-10T06:03:19Z' },
      { from: '2026-03-10T06:00:00Z', to: '2026-03-10T06:01:39Z' },
      { from: '2026-03-10T06:01:40Z', to: '2026-03-10T06:03:19Z' },
    ]);
    expect(port.count('get')).toBe(0);
    expect((await statesOf(taps)).every((t) => t.validity === 'validated')).toBe(true);
  });

  it('asks by id when a single instant holds more than a search returns', async () => {
    port = new FakeOnssPort({ maxSearchResults: 10 });
    store = new ForwardStore(SqliteStore.of(db), writes, (t) => port.referenceFor(t));
    const taps = seedRegistrations(db, { count: 12, atUtc: '2026-03-10T06:00:00Z' });
    const s = sender();
    const batch = await s.next();
    await s.markInFlight(batch);
    await s.send(batch);
    port.settleAll();
    const round = await poller().round(later());
    expect(round).toMatchObject({ due: 12, settled: 12 });
    expect(port.count('get')).toBe(12);
    expect((await statesOf(taps)).every((t) => t.validity === 'validated')).toBe(true);
  });

  it('asks again an interval later for what ONSS has not checked yet, and by id for what its period did not show', async () => {
    const taps = await created(4, '2026-03-10T06:00:00Z');
    // ONSS settled the first two; it files the fourth under another date than ours.
    port.held[0]!.settled = true;
    port.held[0]!.validity = 'validated';
    port.held[1]!.settled = true;
    port.held[1]!.validity = 'validated';
    port.held[3]!.registrationDate = '2026-03-11T06:00:00Z';
    const now = later();
    expect(await poller().round(now)).toMatchObject({ due: 4, settled: 2, stillPending: 2 });
    expect(port.count('get')).toBe(1);
    expect((await statesOf(taps)).map((t) => t.validity)).toEqual(['validated', 'validated', 'pending', 'pending']);
    // Not due again within the interval.
    expect(await poller().round(now + 1000)).toMatchObject({ due: 0 });
    port.settleAll();
    expect(await poller().round(now + 60_000)).toMatchObject({ due: 2, settled: 2 });
  });

  it('stops a round when ONSS does not answer, leaving what it did not ask due', async () => {
    await created(300, '2026-03-10T06:00:00Z');
    port.settleAll();
    port.lookupFailure = 'HTTP 503';
    const now = later();
    expect(await poller().round(now)).toMatchObject({ due: 300, settled: 0, failure: 'HTTP 503' });
    port.lookupFailure = undefined;
    expect(await poller().round(now)).toMatchObject({ due: 300, settled: 300 });
  });
});

describe('short writes', () => {
  it('takes the write lock up front, so another writer waits instead of failing mid-transaction', async () => {
    seedRegistrations(db, { count: 3 });
    const other = openGatewayDb(join(tmp.dir, 'gateway.sqlite'));
    try {
      other.pragma('busy_timeout = 0');
      let refusedInside: string | undefined;
      const s = sender();
      const batch = await s.next();
      // From its first moment, before any statement, the forwarder's transaction holds the write lock.
      const own = new ShortWrites(SqliteStore.of(db));
      await own.run(async () => {
        try {
          other.prepare('BEGIN IMMEDIATE').run();
          other.prepare('ROLLBACK').run();
        } catch (e) {
          refusedInside = (e as { code?: string }).code;
        }
      });
      expect(refusedInside).toBe('SQLITE_BUSY');
      expect(own.summary().transactions).toBe(1);
      await s.markInFlight(batch);
      expect(writes.lockHold().transactions).toBe(1);
      expect(writes.lockHold().maxMs).toBeGreaterThan(0);
    } finally {
      other.close();
    }
  });
});

describe('forwarder: small batches', () => {
  const tuning = (lingerMs: number): ForwarderTuning => ({
    batchSize: 100, maxBatchesInFlight: 2, requestTimeoutMs: 1000, reconcileDelayMs: 1000, reconcileConcurrency: 1, validityPollIntervalMs: 0,
    validityPollBatch: 100, validityConcurrency: 1, idlePollMs: 1000, lingerMs, backoffInitialMs: 10, backoffMaxMs: 100, circuitFailureThreshold: 5, circuitOpenMs: 100,
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('waits once for more before sending a batch smaller than a full one', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const forwarder = new Forwarder(SqliteStore.of(db), port, tuning(200), logger, clock);
    const first = seedRegistrations(db, { count: 1 });
    const step = forwarder.step();
    // It reads the one registration, then waits; taps keep coming while it waits.
    await vi.advanceTimersByTimeAsync(10);
    const more = seedRegistrations(db, { count: 9, start: 1 });
    await vi.advanceTimersByTimeAsync(190);
    expect(await step).toBe(true);
    expect(port.count('send'), 'nothing sent while it waited').toBe(0);
    await forwarder.step();
    await vi.advanceTimersByTimeAsync(0);
    expect(port.calls.filter((c) => c.kind === 'send').map((c) => (c as { refs: string[] }).refs)).toEqual([[...first, ...more].map((t) => port.referenceFor(t))]);
    vi.useRealTimers();
    await forwarder.stop();
  });

  it('sends at once with lingerMs 0', async () => {
    const forwarder = new Forwarder(SqliteStore.of(db), port, tuning(0), logger, clock);
    const [tap] = seedRegistrations(db, { count: 1 });
    await forwarder.step();
    await waitFor(() => port.count('send') === 1 || undefined, 'the call');
    expect(port.calls.filter((c) => c.kind === 'send')).toEqual([{ kind: 'send', refs: [port.referenceFor(tap!)] }]);
    await forwarder.stop();
  });
});
