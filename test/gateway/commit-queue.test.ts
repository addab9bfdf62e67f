import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Db } from '../../shared/sqlite.ts';
import { migrate } from '../../shared/sqlite.ts';
import { openGatewayDatabase } from '../../gateway/store/database.ts';
import { CommitQueue, type CommitHandler } from '../../gateway/ingest/commit-queue.ts';
import type { CommitStats, IngestItem, IngestOutcome } from '../../gateway/ingest/group-commit.ts';
import { InlineWriter, ThreadWriter, type CommitWriter } from '../../gateway/ingest/writers.ts';
import { FORWARD_MIGRATIONS } from '../../gateway/forward/schema.ts';
import { tapSchema } from '../../shared/mqtt/payloads.ts';
import { addTerminal } from '../../gateway/site-data/terminals.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { seedTestWorld, TEST_SEED } from './helpers/seed.ts';

/**
 * The gateway's one writer (gateway/ingest/commit-queue.ts): the forwarder's changes are committed by the
 * same group commit as the taps, resolve only once committed, and fail alone without costing the taps of
 * their batch; a commit that fails fails them too.
 */
function tapItem(id = randomUUID()): IngestItem {
  const tap = tapSchema.parse({ v: 1, id, seq: 1, badge: TEST_SEED.workers.solo.badge, direction: 'IN', reason: 'work', at: '2026-03-02T08:00:00.000+01:00' });
  return { kind: 'tap', terminalId: 'cq-1', tap, receivedAt: new Date().toISOString(), receivedMs: Date.now(), arrivedPerf: performance.now() };
}

describe.each(['inline', 'thread'] as const)('commit queue (%s writer)', (kind) => {
  let dir: string;
  let db: Db;
  let writer: CommitWriter;
  let committed: Array<{ outcomes: IngestOutcome[]; stats: CommitStats }>;
  let failed: Array<{ error: Error; items: IngestItem[] }>;
  const handler: CommitHandler = {
    committed: (outcomes, stats) => committed.push({ outcomes, stats }),
    failed: (error, items) => failed.push({ error, items }),
  };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ciao-cq-'));
    db = openGatewayDatabase(join(dir, 'gw.db'));
    await seedTestWorld(db);
    await addTerminal(SqliteStore.of(db), { id: 'cq-1', siteId: TEST_SEED.sites.main });
    // The forwarder's tables, as the forwarder creates them at its start.
    migrate(db, 'forward', FORWARD_MIGRATIONS);
    writer = kind === 'inline' ? new InlineWriter(SqliteStore.of(db)) : await ThreadWriter.start(join(dir, 'gw.db'), 1000);
    committed = [];
    failed = [];
  });

  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('commits the forwarder\'s changes with the taps of the batch, and resolves them once committed', async () => {
    const queue = new CommitQueue(writer, { maxDelayMs: 60_000, maxBatch: 1000 });
    queue.attach(handler);
    const tap = tapItem();
    queue.submit(tap);
    const [seq] = db.prepare('SELECT seq FROM registrations').pluck().all() as number[];
    expect(seq, 'nothing is written before the commit').toBeUndefined();
    const opened = queue.forwardWriter.write({ kind: 'outage-opened', startedAt: '2026-03-02T07:00:00.000Z', cause: 'HTTP 503' });
    let settled = false;
    void opened.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(settled, 'not resolved before the commit').toBe(false);
    await queue.flush();
    const outageId = await opened;
    expect(db.prepare('SELECT id, cause FROM outage_journal').all()).toEqual([{ id: outageId, cause: 'HTTP 503' }]);
    // One commit held both; ingest was told about its own item only.
    expect(committed).toHaveLength(1);
    expect(committed[0]!.outcomes.map((o) => o.item)).toEqual([tap]);
    expect(committed[0]!.stats.size).toBe(2);
    const registration = db.prepare('SELECT seq, tap_id FROM registrations').get() as { seq: number; tap_id: string };
    await Promise.all([
      queue.forwardWriter.write({ kind: 'in-flight', rows: [{ seq: registration.seq, tapId: registration.tap_id, clientReference: 'ref-1', known: false }], at: '2026-03-02T07:00:01.000Z' }),
      queue.flush(),
    ]);
    expect(db.prepare('SELECT state FROM forward_state WHERE seq = ?').pluck().get(registration.seq)).toBe('in_flight');
    await queue.stop();
  });

  it('fails a forwarder change alone: the taps of its batch are stored and acked', async () => {
    const queue = new CommitQueue(writer, { maxDelayMs: 60_000, maxBatch: 1000 });
    queue.attach(handler);
    queue.submit(tapItem());
    await queue.flush();
    const registration = db.prepare('SELECT seq, tap_id FROM registrations').get() as { seq: number; tap_id: string };
    const mark = { kind: 'in-flight' as const, rows: [{ seq: registration.seq, tapId: registration.tap_id, clientReference: 'ref-1', known: false }], at: '2026-03-02T07:00:01.000Z' };
    await Promise.all([queue.forwardWriter.write(mark), queue.flush()]);
    // Marking the same registration in flight a second time breaks forward_state's key: that change fails.
    const tap = tapItem();
    queue.submit(tap);
    const again = queue.forwardWriter.write(mark);
    queue.submit(tapItem());
    const [outcome] = await Promise.allSettled([again, queue.flush()]);
    expect(outcome.status).toBe('rejected');
    expect(String((outcome as PromiseRejectedResult).reason)).toMatch(/UNIQUE|PRIMARY KEY/);
    expect(db.prepare('SELECT COUNT(*) FROM registrations').pluck().get()).toBe(3);
    expect(committed.at(-1)!.outcomes.map((o) => o.status)).toEqual(['stored', 'stored']);
    expect(failed).toEqual([]);
    await queue.stop();
  });

  it('fails the forwarder\'s changes of a commit that fails, and writes none of them', async () => {
    const real = writer;
    const broken: CommitWriter = {
      write: () => Promise.reject(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })),
      close: () => real.close(),
    };
    const queue = new CommitQueue(broken, { maxDelayMs: 60_000, maxBatch: 1000 });
    queue.attach(handler);
    queue.submit(tapItem());
    const opened = queue.forwardWriter.write({ kind: 'outage-opened', startedAt: '2026-03-02T07:00:00.000Z', cause: 'HTTP 503' });
    const [outcome] = await Promise.allSettled([opened, queue.flush()]);
    expect(outcome.status).toBe('rejected');
    expect(String((outcome as PromiseRejectedResult).reason)).toMatch(/disk is full/);
    // Ingest hears of the failure of its own item (health, no ack).
    expect(failed).toHaveLength(1);
    expect(failed[0]!.items.map((i) => i.kind)).toEqual(['tap']);
    expect(db.prepare('SELECT COUNT(*) FROM outage_journal').pluck().get()).toBe(0);
    await queue.stop();
  });
});
