import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { migrate } from '../../shared/sqlite.ts';
import { CommitQueue, type CommitHandler } from '../../gateway/ingest/commit-queue.ts';
import type { CommitStats, IngestItem, IngestOutcome } from '../../gateway/ingest/group-commit.ts';
import { InlineWriter, ThreadWriter, type CommitWriter } from '../../gateway/ingest/writers.ts';
import { FORWARD_MIGRATIONS } from '../../gateway/forward/schema.ts';
import { tapSchema } from '../../shared/mqtt/payloads.ts';
import { addTerminal } from '../../gateway/site-data/terminals.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import type { SqlStore } from '../../gateway/store/sql-store.ts';
import { seedTestWorldIn, TEST_SEED } from './helpers/seed.ts';
import { diskFullError } from './helpers/faults.ts';
import { storeKinds } from '../support/sql-stores.ts';

/**
 * The gateway's one writer (gateway/ingest/commit-queue.ts): the forwarder's changes are committed by the
 * same group commit as the taps, resolve only once committed, and fail alone without costing the taps of
 * their batch; a commit that fails fails them too. On each database, with the inline writer and the thread.
 */
const kinds = storeKinds();
afterAll(async () => {
  for (const k of kinds) await k.cleanup();
});

function tapItem(id = randomUUID()): IngestItem {
  const tap = tapSchema.parse({ v: 1, id, seq: 1, badge: TEST_SEED.workers.solo.badge, direction: 'IN', reason: 'work', at: '2026-03-02T08:00:00.000+01:00' });
  return { kind: 'tap', terminalId: 'cq-1', tap, receivedAt: new Date().toISOString(), receivedMs: Date.now(), arrivedPerf: performance.now() };
}

describe.each(kinds.flatMap((k) => (['inline', 'thread'] as const).map((w) => [k.kind, w, k] as const)))('commit queue (%s, %s writer)', (_store, kind, k) => {
  let store: SqlStore;
  let writer: CommitWriter;
  let committed: Array<{ outcomes: IngestOutcome[]; stats: CommitStats }>;
  let failed: Array<{ error: Error; items: IngestItem[] }>;
  const handler: CommitHandler = {
    committed: (outcomes, stats) => committed.push({ outcomes, stats }),
    failed: (error, items) => failed.push({ error, items }),
  };

  beforeEach(async () => {
    store = await k.fresh();
    await seedTestWorldIn(store);
    await addTerminal(store, { id: 'cq-1', siteId: TEST_SEED.sites.main });
    // The forwarder's tables, as the forwarder creates them at its start on SQLite (PostgreSQL's migrations have them).
    if (store instanceof SqliteStore) migrate(store.db, 'forward', FORWARD_MIGRATIONS);
    writer = kind === 'inline' ? new InlineWriter(store) : await ThreadWriter.start(k.location(store), 1000);
    committed = [];
    failed = [];
  });

  afterEach(async () => {
    await writer.close();
    await store.close();
  });

  const value = async (sql: string, params: Array<string | number> = []) => Object.values((await store.one(sql, params)) ?? {})[0];
  const firstRegistration = async () => (await store.one<{ seq: number; tap_id: string }>('SELECT seq, tap_id FROM registrations ORDER BY seq'))!;

  it('commits the forwarder\'s changes with the taps of the batch, and resolves them once committed', async () => {
    const queue = new CommitQueue(writer, { maxDelayMs: 60_000, maxBatch: 1000 });
    queue.attach(handler);
    const tap = tapItem();
    queue.submit(tap);
    expect(await store.all('SELECT seq FROM registrations'), 'nothing is written before the commit').toEqual([]);
    const opened = queue.forwardWriter.write({ kind: 'outage-opened', startedAt: '2026-03-02T07:00:00.000Z', cause: 'HTTP 503' });
    let settled = false;
    void opened.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(settled, 'not resolved before the commit').toBe(false);
    await queue.flush();
    const outageId = await opened;
    expect(await store.all('SELECT id, cause FROM outage_journal')).toEqual([{ id: outageId, cause: 'HTTP 503' }]);
    // One commit held both; ingest was told about its own item only.
    expect(committed).toHaveLength(1);
    expect(committed[0]!.outcomes.map((o) => o.item)).toEqual([tap]);
    expect(committed[0]!.stats.size).toBe(2);
    const registration = await firstRegistration();
    await Promise.all([
      queue.forwardWriter.write({ kind: 'in-flight', rows: [{ seq: registration.seq, tapId: registration.tap_id, clientReference: 'ref-1', known: false }], at: '2026-03-02T07:00:01.000Z' }),
      queue.flush(),
    ]);
    expect(await value('SELECT state FROM forward_state WHERE seq = $1', [registration.seq])).toBe('in_flight');
    await queue.stop();
  });

  it('fails a forwarder change alone: the taps of its batch are stored and acked', async () => {
    const queue = new CommitQueue(writer, { maxDelayMs: 60_000, maxBatch: 1000 });
    queue.attach(handler);
    queue.submit(tapItem());
    await queue.flush();
    const registration = await firstRegistration();
    const mark = { kind: 'in-flight' as const, rows: [{ seq: registration.seq, tapId: registration.tap_id, clientReference: 'ref-1', known: false }], at: '2026-03-02T07:00:01.000Z' };
    await Promise.all([queue.forwardWriter.write(mark), queue.flush()]);
    // Marking the same registration in flight a second time breaks forward_state's key: that change fails.
    const tap = tapItem();
    queue.submit(tap);
    const again = queue.forwardWriter.write(mark);
    queue.submit(tapItem());
    const [outcome] = await Promise.allSettled([again, queue.flush()]);
    expect(outcome.status).toBe('rejected');
    // SQLite's words, or PostgreSQL's ("duplicate key value violates unique constraint").
    expect(String((outcome as PromiseRejectedResult).reason)).toMatch(/UNIQUE|PRIMARY KEY|duplicate key/);
    expect(await value('SELECT COUNT(*) AS n FROM registrations')).toBe(3);
    expect(committed.at(-1)!.outcomes.map((o) => o.status)).toEqual(['stored', 'stored']);
    expect(failed).toEqual([]);
    await queue.stop();
  });

  it('fails the forwarder\'s changes of a commit that fails, and writes none of them', async () => {
    const real = writer;
    const full = diskFullError(store.dialect);
    const broken: CommitWriter = {
      write: () => Promise.reject(full),
      close: () => real.close(),
    };
    const queue = new CommitQueue(broken, { maxDelayMs: 60_000, maxBatch: 1000 });
    queue.attach(handler);
    queue.submit(tapItem());
    const opened = queue.forwardWriter.write({ kind: 'outage-opened', startedAt: '2026-03-02T07:00:00.000Z', cause: 'HTTP 503' });
    const [outcome] = await Promise.allSettled([opened, queue.flush()]);
    expect(outcome.status).toBe('rejected');
    expect((outcome as PromiseRejectedResult).reason).toBe(full);
    // Ingest hears of the failure of its own item (health, no ack).
    expect(failed).toHaveLength(1);
    expect(failed[0]!.items.map((i) => i.kind)).toEqual(['tap']);
    expect(await value('SELECT COUNT(*) AS n FROM outage_journal')).toBe(0);
    await queue.stop();
  });
});
