import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Db } from '../../shared/sqlite.ts';
import { openGatewayDatabase } from '../../gateway/store/database.ts';
import { BatchWriter, type IngestItem } from '../../gateway/ingest/batch-writer.ts';
import { addTerminal } from '../../gateway/site-data/terminals.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { revokeBadge, upsertBadge } from '../../gateway/site-data/badges.ts';
import { seedTestWorld, TEST_SEED } from './helpers/seed.ts';

/**
 * Ingest remembers the site data it looked up from one transaction to the next (gateway/ingest/enrich.ts),
 * and forgets it as soon as the site data changes, even when another connection changed it.
 */
let dir: string;
let db: Db;
let other: Db;
let writer: BatchWriter;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ciao-memo-'));
  db = openGatewayDatabase(join(dir, 'gw.db'));
  await seedTestWorld(db);
  await addTerminal(SqliteStore.of(db), { id: 'front', siteId: TEST_SEED.sites.main });
  writer = await BatchWriter.open(SqliteStore.of(db));
  // `ciao admin`, or the console: another connection to the same file.
  other = openGatewayDatabase(join(dir, 'gw.db'));
});

afterEach(() => {
  other.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

function tap(badge: string): IngestItem {
  const receivedMs = Date.parse('2026-03-02T07:00:01.000+01:00');
  return { kind: 'tap', terminalId: 'front', tap: { v: 1, id: randomUUID(), seq: 1, badge, direction: 'IN', reason: 'work', at: '2026-03-02T07:00:00.000+01:00' }, receivedAt: new Date(receivedMs).toISOString(), receivedMs, arrivedPerf: 0 };
}

const statusOf = async (items: IngestItem[]) => (await writer.write(items)).results.map((r) => (r.status === 'stored' ? r.enrichment : r.status));

describe('site data remembered by ingest', () => {
  it('sees a badge enrolled, then revoked, from another connection at the next transaction', async () => {
    const uid = 'AB12CD34';
    expect(await statusOf([tap(uid), tap(uid)])).toEqual(['unknown-badge', 'unknown-badge']);
    // Still unknown at the next transaction: remembered, and nothing changed.
    expect(await statusOf([tap(uid)])).toEqual(['unknown-badge']);
    await upsertBadge(SqliteStore.of(other), { uid, worker: 'w-solo', validFrom: '2020-01-01' });
    expect(await statusOf([tap(uid)])).toEqual(['enriched']);
    await revokeBadge(SqliteStore.of(other), uid, 'lost');
    expect(await statusOf([tap(uid)])).toEqual(['revoked-badge']);
    expect(await statusOf([tap(TEST_SEED.workers.solo.badge)])).toEqual(['enriched']);
  });
});
