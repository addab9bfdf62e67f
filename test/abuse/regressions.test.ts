import { describe, expect, it, vi } from 'vitest';

/**
 * Bugs the abuse suite found, each pinned by the smallest case that showed it.
 */
const uuids = vi.hoisted(() => ({ queue: [] as string[] }));
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return { ...real, randomUUID: () => uuids.queue.shift() ?? real.randomUUID() };
});

const { openGatewayDatabase } = await import('../../gateway/store/database.ts');
const { importWorkersCsv } = await import('../../gateway/site-data/csv-import.ts');
const { SqliteStore } = await import('../../gateway/store/sqlite-store.ts');
const { seedTestWorld, TEST_SEED } = await import('../gateway/helpers/seed.ts');
const { makeWorkerNumber } = await import('../../shared/identifiers/make.ts');
const { decodeStatus, decodeTap } = await import('../../shared/mqtt/payloads.ts');
const { checkPeriod } = await import('../../gateway/records/export.ts');

describe('abuse regressions', () => {
  it('a generated worker id that is already taken is drawn again (a valid CSV row was lost to UNIQUE workers.id)', async () => {
    const db = openGatewayDatabase(':memory:');
    await seedTestWorld(db);
    const a = makeWorkerNumber({ year: 1980, month: 1, day: 2 }, 11);
    const b = makeWorkerNumber({ year: 1981, month: 3, day: 4 }, 12);
    uuids.queue.push('0badc0de-0000-4000-8000-000000000001', '0badc0de-0000-4000-8000-000000000002', 'feedf00d-0000-4000-8000-000000000003');
    const result = await importWorkersCsv(SqliteStore.of(db), `niss,name,employers\n${a},Ana,${TEST_SEED.companies.clean}\n${b},Bert,${TEST_SEED.companies.clean}\n`);
    expect(result).toEqual({ imported: 2, rejected: [] });
    const ids = (db.prepare('SELECT id FROM workers WHERE ssin IN (?, ?) ORDER BY ssin').all(a, b) as Array<{ id: string }>).map((r) => r.id);
    expect(ids.sort()).toEqual(['w-0badc0de', 'w-feedf00d']);
    db.close();
  });

  it('an unknown empty key is named "" instead of an empty field name', () => {
    const status = decodeStatus('{"state":"online","at":"2026-03-02T07:15:00.000+01:00","":1}');
    expect(status.ok).toBe(false);
    if (!status.ok) expect(status.problems).toEqual([expect.objectContaining({ field: '""', rule: 'unknown-field' })]);
    const tap = decodeTap('{"v":1,"":[]}');
    expect(tap.ok).toBe(false);
    if (!tap.ok) for (const p of tap.problems) expect(p.field.length).toBeGreaterThan(0);
  });

  it('an export period ending on 9999-12-31 is refused as out of range (it was a 500: year 10000 has no site offset)', () => {
    const r = checkPeriod('9999-12-31', '9999-12-31');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems).toEqual([expect.objectContaining({ field: 'from', rule: 'range' }), expect.objectContaining({ field: 'to', rule: 'range' })]);
    expect(checkPeriod('9998-12-30', '9998-12-31').ok).toBe(true);
  });
});
