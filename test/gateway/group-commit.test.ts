import { Worker } from 'node:worker_threads';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { openGatewayDatabase } from '../../gateway/store/database.ts';
import { GroupCommitter, type CommitStats, type IngestItem, type IngestOutcome } from '../../gateway/ingest/group-commit.ts';
import { InlineWriter, ThreadWriter, type CommitWriter } from '../../gateway/ingest/writers.ts';
import { tapSchema, type Ack } from '../../shared/mqtt/payloads.ts';
import { TapIngest } from '../../gateway/ingest/tap-ingest.ts';
import { createGatewayMetrics } from '../../gateway/metrics.ts';
import { createLogger } from '../../shared/logging.ts';
import { addTerminal } from '../../gateway/site-data/terminals.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import type { SqlStore } from '../../gateway/store/sql-store.ts';
import { seedTestWorld, seedTestWorldIn, TEST_SEED } from './helpers/seed.ts';
import { waitUntil } from './helpers/wait.ts';
import { diskFullError, failInsertsInto } from './helpers/faults.ts';
import { storeKinds } from '../support/sql-stores.ts';

/**
 * Group commit (gateway/ingest/group-commit.ts) on each database, with the inline writer and the writer
 * thread: taps of a window committed in one transaction, nothing acked before it, a tap id stored once, a
 * failed transaction committing nothing of its batch and acking nothing, a dead writer thread replaced. The
 * WAL's checkpoints are SQLite's alone and run on it only.
 */
const kinds = storeKinds();
afterAll(async () => {
  for (const k of kinds) await k.cleanup();
});

const count = async (store: SqlStore, sql: string, params: string[] = []) => (await store.one<{ n: number }>(sql, params))!.n;

function tapItem(badge: string, id = randomUUID()): IngestItem {
  const tap = tapSchema.parse({ v: 1, id, seq: 1, badge, direction: 'IN', reason: 'work', at: '2026-03-02T08:00:00.000+01:00' });
  return { kind: 'tap', terminalId: 'gc-1', tap, receivedAt: new Date().toISOString(), receivedMs: Date.now(), arrivedPerf: performance.now() };
}

describe.each(kinds.flatMap((k) => (['inline', 'thread'] as const).map((w) => [k.kind, w, k] as const)))('group commit (%s, %s writer)', (_store, kind, k) => {
  let store: SqlStore;
  let committed: Array<{ outcomes: IngestOutcome[]; stats: CommitStats }>;
  let failures: Array<{ error: Error; items: IngestItem[] }>;
  let writer: CommitWriter;
  const make = (maxDelayMs: number, maxBatch: number) =>
    new GroupCommitter(writer, {
      maxDelayMs,
      maxBatch,
      onCommitted: (outcomes, stats) => committed.push({ outcomes, stats }),
      onFailure: (error, items) => failures.push({ error, items }),
    });

  beforeEach(async () => {
    store = await k.fresh();
    await seedTestWorldIn(store);
    await addTerminal(store, { id: 'gc-1', siteId: TEST_SEED.sites.main });
    committed = [];
    failures = [];
    writer = kind === 'inline' ? new InlineWriter(store) : await ThreadWriter.start(k.location(store), 250);
  });
  afterEach(async () => {
    await writer.close();
    await store.close();
  });

  it('collects taps within the window into one transaction', async () => {
    const gc = make(50, 1000);
    for (let i = 0; i < 10; i++) gc.submit(tapItem(TEST_SEED.workers.solo.badge));
    expect(committed).toEqual([]); // nothing is acked before the commit
    await waitUntil(() => committed.length === 1);
    expect(committed[0]!.stats).toMatchObject({ size: 10, registrations: 10 });
    expect(await count(store, 'SELECT COUNT(*) AS n FROM registrations')).toBe(10);
  });

  it('commits at once when the batch is full; what arrives during a commit goes right after it', async () => {
    const gc = make(60_000, 4);
    for (let i = 0; i < 10; i++) gc.submit(tapItem(TEST_SEED.workers.solo.badge));
    await waitUntil(() => committed.length === 3);
    expect(committed.map((c) => c.stats.size)).toEqual([4, 4, 2]);
  });

  it('stores a tap id twice in one batch once, with two stored outcomes', async () => {
    const gc = make(60_000, 1000);
    const id = randomUUID();
    gc.submit(tapItem(TEST_SEED.workers.solo.badge, id));
    gc.submit(tapItem(TEST_SEED.workers.solo.badge, id));
    await gc.flush();
    const outcomes = committed[0]!.outcomes;
    expect(outcomes.map((o) => o.status === 'stored' && o.duplicate)).toEqual([false, true]);
    expect(await count(store, 'SELECT COUNT(*) AS n FROM taps WHERE tap_id = $1', [id])).toBe(1);
  });

  it('on a failed transaction reports the batch, commits nothing of it, and works again afterwards', async () => {
    const gc = make(60_000, 1000);
    const mend = await failInsertsInto(store, 'taps', 'disk trouble');
    const first = tapItem(TEST_SEED.workers.solo.badge);
    const rejectItem: IngestItem = { kind: 'reject', terminalId: 'gc-1', reason: 'not-json', problems: [], payload: Buffer.from('x'), receivedAt: new Date().toISOString(), receivedMs: Date.now(), arrivedPerf: performance.now() };
    gc.submit(rejectItem);
    gc.submit(first);
    expect(await gc.flush()).toBe(false);
    expect(committed).toEqual([]);
    expect(failures[0]!.items).toHaveLength(2);
    expect(failures[0]!.error.message).toContain('disk trouble');
    expect(await count(store, 'SELECT COUNT(*) AS n FROM quarantine')).toBe(0);
    await mend();
    // The terminal sends the tap again: stored once, as new.
    gc.submit(first);
    expect(await gc.flush()).toBe(true);
    expect(committed[0]!.outcomes[0]).toMatchObject({ status: 'stored', duplicate: false });
    expect(await count(store, 'SELECT COUNT(*) AS n FROM taps WHERE tap_id = $1', [(first as { tap: { id: string } }).tap.id])).toBe(1);
  });

  it('stop() commits what is pending and refuses new taps', async () => {
    const gc = make(60_000, 1000);
    gc.submit(tapItem(TEST_SEED.workers.solo.badge));
    await gc.stop();
    expect(committed[0]!.stats.size).toBe(1);
    gc.submit(tapItem(TEST_SEED.workers.solo.badge));
    expect(gc.pendingCount).toBe(0);
    expect(committed).toHaveLength(1);
  });
});

describe.each(kinds.map((k) => [k.kind, k] as const))('thread writer (%s)', (_store, k) => {
  it('replaces a writer thread that died, and taps go on being committed', async () => {
    const store = await k.fresh();
    await seedTestWorldIn(store);
    await addTerminal(store, { id: 'gc-1', siteId: TEST_SEED.sites.main });
    const restarts: string[] = [];
    const threads: Worker[] = [];
    const writer = await ThreadWriter.start(k.location(store), 250, {
      onRestart: (reason) => restarts.push(reason),
      spawn: (entry, workerData) => {
        const w = new Worker(entry, { workerData });
        threads.push(w);
        return w;
      },
    });
    const committed: IngestOutcome[][] = [];
    const failed: string[] = [];
    const gc = new GroupCommitter(writer, {
      maxDelayMs: 60_000,
      maxBatch: 1000,
      onCommitted: (outcomes) => committed.push(outcomes),
      onFailure: (err) => failed.push((err as { code?: string }).code ?? ''),
    });
    try {
      await threads[0]!.terminate(); // as a crash would end it
      gc.submit(tapItem(TEST_SEED.workers.solo.badge));
      await gc.flush();
      const after = tapItem(TEST_SEED.workers.solo.badge);
      gc.submit(after);
      await waitUntil(async () => (await gc.flush()) && committed.length > 0, { what: 'a commit on the new thread' });
      expect(committed.flat().map((o) => o.item)).toContain(after);
      expect(restarts).toHaveLength(1);
      expect(await count(store, 'SELECT COUNT(*) AS n FROM taps WHERE tap_id = $1', [(after as { tap: { id: string } }).tap.id])).toBe(1);
    } finally {
      await gc.stop();
      await store.close();
    }
  });
});

describe.each(kinds.map((k) => [k.kind, k] as const))('health while commits fail (%s)', (_store, k) => {
  it('stays degraded while tap batches fail, even when a small status commit gets through', async () => {
    const store = await k.fresh();
    await seedTestWorldIn(store);
    await addTerminal(store, { id: 'gc-1', siteId: TEST_SEED.sites.main });
    // A disk that is nearly full: a status row still fits, a batch of taps does not.
    const real = new InlineWriter(store);
    const full = diskFullError(store.dialect);
    let diskFull = true;
    const writer: CommitWriter = {
      write: (items) => {
        if (diskFull && items.some((i) => i.kind === 'tap' || i.kind === 'payload')) return Promise.reject(full);
        return real.write(items);
      },
      close: () => real.close(),
    };
    const acks: Ack[] = [];
    const ingest = new TapIngest({
      store,
      writer,
      logger: createLogger('test', { level: 'silent' }),
      metrics: createGatewayMetrics(),
      acks: { sendAck: (_t, ack) => acks.push(ack) },
      maxDelayMs: 60_000,
      maxBatch: 1000,
      languageOf: () => 'fr',
      onRegistrations: () => undefined,
    });
    const tap = (id = randomUUID()) => Buffer.from(JSON.stringify({ v: 1, id, seq: 1, badge: TEST_SEED.workers.solo.badge, direction: 'IN', reason: 'work', at: '2026-03-02T08:00:00.000+01:00' }));
    try {
      ingest.receive('gc-1', tap());
      expect(await ingest.flush()).toBe(false);
      expect(ingest.degraded).toBe(full.code);
      ingest.note({ kind: 'status', terminalId: 'gc-1', change: 'online', at: new Date().toISOString() });
      expect(await ingest.flush()).toBe(true);
      expect(ingest.degraded, 'a status row committed does not show that taps can be stored').toBe(full.code);
      expect(acks).toEqual([]);
      diskFull = false;
      const id = randomUUID();
      ingest.receive('gc-1', tap(id));
      expect(await ingest.flush()).toBe(true);
      expect(acks.map((a) => [a.id, a.status])).toEqual([[id, 'stored']]);
      expect(ingest.degraded).toBeUndefined();
      expect(await count(store, 'SELECT COUNT(*) AS n FROM taps WHERE tap_id = $1', [id])).toBe(1);
    } finally {
      await ingest.stop();
      await store.close();
    }
  });
});

describe('WAL checkpoints of the thread writer (SQLite only: the WAL is its own)', () => {
  /**
   * 10,000 taps in 100 commits through the thread writer, on a gateway database that stays open (as the
   * gateway's own connections keep it), and the sizes of the database file and its WAL afterwards.
   */
  async function writeTaps(checkpointEveryMs: number): Promise<{ dbGrewBy: number; walBytes: number; rows: number }> {
    const dir = mkdtempSync(join(tmpdir(), 'ciao-ckpt-'));
    const path = join(dir, 'gw.db');
    const db = openGatewayDatabase(path);
    await seedTestWorld(db);
    await addTerminal(SqliteStore.of(db), { id: 'gc-1', siteId: TEST_SEED.sites.main });
    db.pragma('wal_checkpoint(TRUNCATE)');
    const before = statSync(path).size;
    const writer = await ThreadWriter.start(path, 250, { checkpointEveryMs });
    try {
      for (let batch = 0; batch < 100; batch++) {
        await writer.write(Array.from({ length: 100 }, () => tapItem(TEST_SEED.workers.solo.badge)));
      }
      const rows = (db.prepare('SELECT COUNT(*) AS n FROM taps').get() as { n: number }).n;
      // With a checkpointer, the last turn has copied what was committed: wait for the file to stop growing.
      let last = -1;
      await waitUntil(() => {
        const size = statSync(path).size;
        const settled = size === last;
        last = size;
        return checkpointEveryMs > 60_000 || (settled && size > before);
      }, { timeoutMs: 20_000, intervalMs: Math.min(1000, Math.max(250, checkpointEveryMs * 2)), what: 'the database file settled after the checkpoints' });
      return { dbGrewBy: statSync(path).size - before, walBytes: statSync(`${path}-wal`).size, rows };
    } finally {
      await writer.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('never checkpoints inside a commit: pages reach the database file only after turns of the checkpointer thread, and the WAL stays bounded', async () => {
    // A checkpointer that does not come round during the run: commits alone leave the database file as it was.
    const withoutTurn = await writeTaps(3_600_000);
    expect(withoutTurn.rows).toBe(10_000);
    expect(withoutTurn.dbGrewBy).toBe(0);
    // SQLite's own rule would have checkpointed at 1000 pages (4 MB): the WAL went past it untouched.
    expect(withoutTurn.walBytes).toBeGreaterThan(1000 * 4096);
    // A checkpointer every 50 ms: the pages reach the database file while commits go on, and the WAL is
    // reused from its beginning (it holds about a turn's worth of commits) instead of growing with every tap.
    const withTurns = await writeTaps(50);
    console.log(`WAL after 10,000 taps: ${withoutTurn.walBytes} bytes without a checkpoint, ${withTurns.walBytes} with the checkpointer every 50 ms`);
    expect(withTurns.rows).toBe(10_000);
    expect(withTurns.dbGrewBy).toBeGreaterThan(1024 * 1024);
    expect(withTurns.walBytes).toBeLessThan(withoutTurn.walBytes * 0.75);
  });
});
