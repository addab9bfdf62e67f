import { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Db } from '../../shared/sqlite.ts';
import { openGatewayDatabase } from '../../gateway/store/database.ts';
import { GroupCommitter, type CommitStats, type IngestItem, type IngestOutcome } from '../../gateway/ingest/group-commit.ts';
import { InlineWriter, ThreadWriter, type CommitWriter } from '../../gateway/ingest/writers.ts';
import { tapSchema, type Ack } from '../../shared/mqtt/payloads.ts';
import { TapIngest } from '../../gateway/ingest/tap-ingest.ts';
import { createGatewayMetrics } from '../../gateway/metrics.ts';
import { createLogger } from '../../shared/logging.ts';
import { addTerminal } from '../../gateway/site-data/terminals.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { seedTestWorld, TEST_SEED } from './helpers/seed.ts';
import { waitUntil } from './helpers/wait.ts';

function tapItem(badge: string, id = randomUUID()): IngestItem {
  const tap = tapSchema.parse({ v: 1, id, seq: 1, badge, direction: 'IN', reason: 'work', at: '2026-03-02T08:00:00.000+01:00' });
  return { kind: 'tap', terminalId: 'gc-1', tap, receivedAt: new Date().toISOString(), receivedMs: Date.now(), arrivedPerf: performance.now() };
}

describe.each(['inline', 'thread'] as const)('group commit (%s writer)', (kind) => {
  let dir: string;
  let db: Db;
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
    dir = mkdtempSync(join(tmpdir(), 'ciao-gc-'));
    db = openGatewayDatabase(join(dir, 'gw.db'));
    await seedTestWorld(db);
    await addTerminal(SqliteStore.of(db), { id: 'gc-1', siteId: TEST_SEED.sites.main });
    committed = [];
    failures = [];
    writer = kind === 'inline' ? new InlineWriter(SqliteStore.of(db)) : await ThreadWriter.start(join(dir, 'gw.db'), 250);
  });
  afterEach(async () => {
    await writer.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('collects taps within the window into one transaction', async () => {
    const gc = make(50, 1000);
    for (let i = 0; i < 10; i++) gc.submit(tapItem(TEST_SEED.workers.solo.badge));
    expect(committed).toEqual([]); // nothing is acked before the commit
    await waitUntil(() => committed.length === 1);
    expect(committed[0]!.stats).toMatchObject({ size: 10, registrations: 10 });
    expect(db.prepare('SELECT COUNT(*) AS n FROM registrations').get()).toEqual({ n: 10 });
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
    expect(db.prepare('SELECT COUNT(*) AS n FROM taps WHERE tap_id = ?').get(id)).toEqual({ n: 1 });
  });

  it('on a failed transaction reports the batch, commits nothing of it, and works again afterwards', async () => {
    const gc = make(60_000, 1000);
    db.exec("CREATE TRIGGER fail_taps BEFORE INSERT ON taps BEGIN SELECT RAISE(ABORT, 'disk trouble'); END;");
    const first = tapItem(TEST_SEED.workers.solo.badge);
    const rejectItem: IngestItem = { kind: 'reject', terminalId: 'gc-1', reason: 'not-json', problems: [], payload: Buffer.from('x'), receivedAt: new Date().toISOString(), receivedMs: Date.now(), arrivedPerf: performance.now() };
    gc.submit(rejectItem);
    gc.submit(first);
    expect(await gc.flush()).toBe(false);
    expect(committed).toEqual([]);
    expect(failures[0]!.items).toHaveLength(2);
    expect(failures[0]!.error.message).toContain('disk trouble');
    expect(db.prepare('SELECT COUNT(*) AS n FROM quarantine').get()).toEqual({ n: 0 });
    db.exec('DROP TRIGGER fail_taps');
    gc.submit(first);
    expect(await gc.flush()).toBe(true);
    expect(committed[0]!.outcomes[0]).toMatchObject({ status: 'stored', duplicate: false });
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

describe('thread writer', () => {
  it('replaces a writer thread that died, and taps go on being committed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ciao-gc-'));
    const db = openGatewayDatabase(join(dir, 'gw.db'));
    await seedTestWorld(db);
    await addTerminal(SqliteStore.of(db), { id: 'gc-1', siteId: TEST_SEED.sites.main });
    const restarts: string[] = [];
    const threads: Worker[] = [];
    const writer = await ThreadWriter.start(join(dir, 'gw.db'), 250, {
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
      expect(db.prepare('SELECT COUNT(*) AS n FROM taps WHERE tap_id = ?').get((after as { tap: { id: string } }).tap.id)).toEqual({ n: 1 });
    } finally {
      await gc.stop();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('health while commits fail', () => {
  it('stays degraded while tap batches fail, even when a small status commit gets through', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ciao-health-'));
    const db = openGatewayDatabase(join(dir, 'gw.db'));
    await seedTestWorld(db);
    await addTerminal(SqliteStore.of(db), { id: 'gc-1', siteId: TEST_SEED.sites.main });
    // A disk that is nearly full: a status row still fits, a batch of taps does not.
    const real = new InlineWriter(SqliteStore.of(db));
    let diskFull = true;
    const writer: CommitWriter = {
      write: (items) => {
        if (diskFull && items.some((i) => i.kind === 'tap' || i.kind === 'payload')) return Promise.reject(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }));
        return real.write(items);
      },
      close: () => real.close(),
    };
    const acks: Ack[] = [];
    const ingest = new TapIngest({
      store: SqliteStore.of(db),
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
      expect(ingest.degraded).toBe('SQLITE_FULL');
      ingest.note({ kind: 'status', terminalId: 'gc-1', change: 'online', at: new Date().toISOString() });
      expect(await ingest.flush()).toBe(true);
      expect(ingest.degraded, 'a status row committed does not show that taps can be stored').toBe('SQLITE_FULL');
      expect(acks).toEqual([]);
      diskFull = false;
      const id = randomUUID();
      ingest.receive('gc-1', tap(id));
      expect(await ingest.flush()).toBe(true);
      expect(acks.map((a) => [a.id, a.status])).toEqual([[id, 'stored']]);
      expect(ingest.degraded).toBeUndefined();
    } finally {
      await ingest.stop();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('WAL checkpoints of the thread writer', () => {
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
