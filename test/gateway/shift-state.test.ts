import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Db } from '../../shared/sqlite.ts';
import type { Tap } from '../../shared/mqtt/payloads.ts';
import { toOffsetIso } from '../../shared/time.ts';
import { openGatewayDatabase } from '../../gateway/store/database.ts';
import { BatchWriter, type IngestItem } from '../../gateway/ingest/batch-writer.ts';
import { addTerminal } from '../../gateway/site-data/terminals.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { upsertDeclaration } from '../../gateway/site-data/declarations.ts';
import { foldTaps, maxShiftMs, OFF, stateAfterTap, step, type FoldState, type FoldTap } from '../../gateway/shifts/fold.ts';
import { seedTestWorld, TEST_SEED } from './helpers/seed.ts';

/**
 * The shift state ingest keeps per worker (gateway/ingest/shift-tracker.ts), through the real group-commit
 * transaction on a real SQLite file: every order of arrival gives the state of the taps folded in the order
 * of their instants, across midnight, DST days, lapses and two sites.
 */
const MAX_MS = maxShiftMs(16);
const SITE_A = TEST_SEED.sites.main;
const SITE_B = TEST_SEED.sites.bare;

let dir: string;
let db: Db;
let writer: BatchWriter;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ciao-shift-'));
  db = openGatewayDatabase(join(dir, 'gw.db'));
  await seedTestWorld(db);
  // The second site gets a declaration with the same employer: a worker may work on both the same day (FAQ 28).
  await upsertDeclaration(SqliteStore.of(db), { number: '2AB34CD56EF78', siteId: SITE_B, validFrom: '2020-01-01', companies: [TEST_SEED.companies.clean] });
  await addTerminal(SqliteStore.of(db), { id: 'a-front', siteId: SITE_A });
  await addTerminal(SqliteStore.of(db), { id: 'a-back', siteId: SITE_A });
  await addTerminal(SqliteStore.of(db), { id: 'b-lobby', siteId: SITE_B });
  writer = await BatchWriter.open(SqliteStore.of(db));
});

afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const terminalOf: Record<string, string> = { [SITE_A]: 'a-front', [SITE_B]: 'b-lobby' };

function tapItem(t: { id?: string; badge?: string; direction: 'IN' | 'OUT'; reason?: 'work' | 'break'; at: string; terminal?: string }, receivedMs = Date.parse(t.at) + 1000): IngestItem {
  const tap: Tap = { v: 1, id: t.id ?? randomUUID(), seq: 1, badge: t.badge ?? TEST_SEED.workers.solo.badge, direction: t.direction, reason: t.reason ?? 'work', at: t.at };
  return { kind: 'tap', terminalId: t.terminal ?? 'a-front', tap, receivedAt: new Date(receivedMs).toISOString(), receivedMs, arrivedPerf: 0 };
}

function stateRow(workerId = 'w-solo', on: Db = db) {
  return on.prepare('SELECT state, site_id, last_ms, rev FROM worker_shifts WHERE worker_id = ?').get(workerId) as { state: string; site_id: string; last_ms: number; rev: number } | undefined;
}

describe('the fold', () => {
  it('leaves the same state after a tap whatever state came before it (the state is the latest tap\'s)', async () => {
    const states: FoldState[] = [OFF, { state: 'working', sinceMs: 1000, siteId: SITE_A }, { state: 'break', sinceMs: 1000, siteId: SITE_B }];
    for (const before of states) {
      for (const direction of ['IN', 'OUT'] as const) {
        for (const reason of ['work', 'break'] as const) {
          const tap: FoldTap = { atMs: 5000, tapId: 't', direction, reason, siteId: SITE_A };
          expect(step(before, tap, MAX_MS).state, `${before.state} + ${direction} ${reason}`).toEqual({ state: stateAfterTap(tap), sinceMs: 5000, siteId: SITE_A });
        }
      }
    }
  });

  it('names what each tap meant: double IN, OUT without IN (nothing made up), break, lapse', async () => {
    const at = (h: number) => Date.parse('2026-03-02T00:00:00+01:00') + h * 3_600_000;
    const working: FoldState = { state: 'working', sinceMs: at(8), siteId: SITE_A };
    expect(step(working, { atMs: at(9), tapId: 'a', direction: 'IN', reason: 'work', siteId: SITE_B }, MAX_MS).event).toEqual({ kind: 'double-in', openSinceMs: at(8) });
    expect(step(OFF, { atMs: at(17), tapId: 'b', direction: 'OUT', reason: 'work', siteId: SITE_A }, MAX_MS).event).toEqual({ kind: 'out-without-in', onBreak: false });
    expect(step(working, { atMs: at(12), tapId: 'c', direction: 'OUT', reason: 'break', siteId: SITE_A }, MAX_MS).event).toEqual({ kind: 'break-started' });
    // 16 h after the IN the shift is still open; a minute later it has lapsed, and the tap opens a new one.
    expect(step(working, { atMs: at(24), tapId: 'd', direction: 'OUT', reason: 'work', siteId: SITE_A }, MAX_MS)).toMatchObject({ event: { kind: 'closed' }, lapse: null });
    const late = step(working, { atMs: at(24) + 60_000, tapId: 'e', direction: 'OUT', reason: 'work', siteId: SITE_A }, MAX_MS);
    expect(late).toMatchObject({ event: { kind: 'out-without-in' }, lapse: { from: 'working', atMs: at(24) } });
  });
});

describe('the shift state kept by ingest', () => {
  it('follows a worker across doors and sites: IN at one site, break out and back at another door, OUT at the other site', async () => {
    const ins = [
      tapItem({ direction: 'IN', at: '2026-03-02T07:00:00.000+01:00', terminal: 'a-front' }),
      tapItem({ direction: 'OUT', reason: 'break', at: '2026-03-02T11:00:00.000+01:00', terminal: 'a-back' }),
    ];
    const r1 = await writer.write(ins);
    // One change for the transaction: the worker's latest tap in it (the state after a tap is that tap's).
    expect(r1.shifts).toEqual([expect.objectContaining({ workerId: 'w-solo', state: 'break', siteId: SITE_A, rev: 1 })]);
    await writer.write([tapItem({ direction: 'IN', reason: 'break', at: '2026-03-02T11:30:00.000+01:00', terminal: 'a-front' })]);
    expect(stateRow()).toMatchObject({ state: 'working', site_id: SITE_A });
    const r3 = await writer.write([tapItem({ direction: 'OUT', at: '2026-03-02T15:00:00.000+01:00', terminal: 'b-lobby' })]);
    expect(r3.shifts).toEqual([{ workerId: 'w-solo', state: 'off', sinceMs: Date.parse('2026-03-02T15:00:00.000+01:00'), siteId: SITE_B, rev: 3 }]);
  });

  it('keeps a night shift across midnight: working since 22:00, off at 06:00 the next day', async () => {
    await writer.write([tapItem({ direction: 'IN', at: '2026-03-02T22:00:00.000+01:00' })]);
    expect(stateRow()).toMatchObject({ state: 'working', last_ms: Date.parse('2026-03-02T22:00:00.000+01:00') });
    await writer.write([tapItem({ direction: 'OUT', at: '2026-03-03T06:00:00.000+01:00', terminal: 'a-back' })]);
    expect(stateRow()).toMatchObject({ state: 'off', last_ms: Date.parse('2026-03-03T06:00:00.000+01:00') });
  });

  it('orders taps by instant on both DST days, not by wall-clock text', async () => {
    // 2026-10-25: 02:40 summer time comes before 02:10 winter time; the OUT at 02:10+01:00 is the latest.
    await writer.write([
      tapItem({ direction: 'OUT', at: '2026-10-25T02:10:00.000+01:00' }),
      tapItem({ direction: 'IN', at: '2026-10-25T02:40:00.000+02:00' }),
    ]);
    expect(stateRow()).toMatchObject({ state: 'off', last_ms: Date.parse('2026-10-25T01:10:00Z') });
    // 2026-03-29: 01:59 winter time then 03:01 summer time, two minutes apart.
    await writer.write([tapItem({ direction: 'IN', at: '2026-03-29T03:01:00.000+02:00', badge: TEST_SEED.workers.posted.badge }), tapItem({ direction: 'OUT', at: '2026-03-29T01:59:00.000+01:00', badge: TEST_SEED.workers.posted.badge })]);
    expect(stateRow('w-posted')).toMatchObject({ state: 'working', last_ms: Date.parse('2026-03-29T01:01:00Z') });
  });

  it('does not attribute taps whose badge is unknown, revoked or dated in the future', async () => {
    const r = await writer.write([
      tapItem({ direction: 'IN', at: '2026-03-02T07:00:00.000+01:00', badge: TEST_SEED.unknownBadge }),
      tapItem({ direction: 'IN', at: '2026-03-02T07:00:00.000+01:00', badge: TEST_SEED.workers.revoked.badge }),
      tapItem({ direction: 'IN', at: '2026-03-02T07:10:00.000+01:00' }, Date.parse('2026-03-02T07:00:00.000+01:00')),
    ]);
    expect(r.results.map((x) => x.status === 'stored' && x.enrichment)).toEqual(['unknown-badge', 'revoked-badge', 'future-dated']);
    expect(r.shifts).toEqual([]);
    expect(db.prepare('SELECT COUNT(*) FROM worker_shifts').pluck().get()).toBe(0);
  });

  it('counts a tap held for missing site data: the worker did tap (no declaration on that day)', async () => {
    db.prepare("UPDATE declarations SET valid_from = '2026-04-01' WHERE number = ?").run(TEST_SEED.declaration);
    const r = await writer.write([tapItem({ direction: 'IN', at: '2026-03-02T07:00:00.000+01:00' })]);
    expect(r.results[0]).toMatchObject({ enrichment: 'no-declaration' });
    expect(stateRow()).toMatchObject({ state: 'working', site_id: SITE_A });
    expect(db.prepare('SELECT worker_id FROM taps').pluck().get()).toBe('w-solo');
  });

  it('gives the state of the taps folded in the order of their instants, whatever order and batches they arrive in (property)', async () => {
    const base = Date.parse('2026-03-28T20:00:00Z'); // spans the night into 2026-03-29, the spring DST day
    const tapArb = fc.record({
      worker: fc.constantFrom('solo', 'posted'),
      minute: fc.integer({ min: 0, max: 60 * 40 }),
      direction: fc.constantFrom('IN' as const, 'OUT' as const),
      reason: fc.constantFrom('work' as const, 'break' as const),
      site: fc.constantFrom(SITE_A, SITE_B),
    });
    // Each run starts from a copy of the seeded world (a registration cannot be deleted, so the world is not
    // emptied by hand, and the writer's own transactions cannot be nested in a rolled-back one).
    const seeded = join(dir, 'gw.db');
    db.pragma('wal_checkpoint(TRUNCATE)');
    await fc.assert(
      fc.asyncProperty(fc.array(tapArb, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { maxLength: 12 }), fc.integer({ min: 1, max: 4 }), async (taps, shuffle, batchSize) => {
        const runPath = join(dir, `run-${randomUUID()}.db`);
        copyFileSync(seeded, runPath);
        const runDb = openGatewayDatabase(runPath);
        try {
          const runWriter = await BatchWriter.open(SqliteStore.of(runDb));
          const items = taps.map((t) => ({ ...t, id: randomUUID(), atMs: base + t.minute * 60_000 }));
          const order = [...items];
          shuffle.forEach((k, i) => {
            const j = k % order.length;
            [order[i % order.length], order[j]] = [order[j]!, order[i % order.length]!];
          });
          const revs = new Map<string, number>();
          for (let i = 0; i < order.length; i += batchSize) {
            const batch = order.slice(i, i + batchSize).map((t) => tapItem({ id: t.id, badge: TEST_SEED.workers[t.worker].badge, direction: t.direction, reason: t.reason, at: toOffsetIso(new Date(t.atMs)), terminal: terminalOf[t.site] }));
            for (const c of (await runWriter.write(batch)).shifts) {
              // A revision only grows.
              expect(c.rev).toBeGreaterThan(revs.get(c.workerId) ?? 0);
              revs.set(c.workerId, c.rev);
            }
          }
          for (const w of ['solo', 'posted'] as const) {
            const mine = items.filter((t) => t.worker === w).map((t): FoldTap => ({ atMs: t.atMs, tapId: t.id, direction: t.direction, reason: t.reason, siteId: t.site }));
            const row = stateRow(`w-${w}`, runDb);
            if (mine.length === 0) {
              expect(row).toBeUndefined();
              continue;
            }
            const expected = foldTaps(mine, MAX_MS);
            expect({ state: row?.state, sinceMs: row?.last_ms, siteId: row?.site_id }).toEqual({ state: expected.state, sinceMs: expected.sinceMs, siteId: expected.siteId });
          }
        } finally {
          runDb.close();
          rmSync(runPath, { force: true });
        }
      }),
      { numRuns: 150 },
    );
  });
});
