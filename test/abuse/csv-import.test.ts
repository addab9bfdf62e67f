import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { openGatewayDatabase } from '../../gateway/store/database.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { importBadgesCsv, importWorkersCsv } from '../../gateway/site-data/csv-import.ts';
import type { Db } from '../../shared/sqlite.ts';
import { CAPACITIES } from '../../shared/registration.ts';
import { makeEnterpriseNumber, makeWorkerNumber } from '../../shared/identifiers/make.ts';
import { seedTestWorld, TEST_SEED } from '../gateway/helpers/seed.ts';
import { runs } from './support/arbitraries.ts';
import { recordFigure } from './support/figures.ts';

/**
 * CSV imports of workers and badges with random rows mixing valid and invalid fields: every valid row is
 * kept, every bad row is reported with its line and the field it broke, and nothing throws. The gateway
 * schema runs in an in-memory SQLite database (same DDL and triggers as the file) so 10,000 imports stay fast.
 */
const FILES = 10_000;

/** A CSV field, quoted when it needs to be (commas, semicolons, quotes). */
const cell = (v: string) => (/[",;]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

const nameChars = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzÀÉèéçñ ,;"\'-.'.split(''));
const validName = fc.tuple(fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ'.split('')), fc.string({ unit: nameChars, maxLength: 40 })).map(([a, b]) => (a + b).trim());
const validNiss = fc
  .record({ year: fc.integer({ min: 1940, max: 2008 }), month: fc.integer({ min: 1, max: 12 }), day: fc.integer({ min: 1, max: 28 }), serial: fc.integer({ min: 1, max: 997 }), bis: fc.boolean() })
  .map((b) => makeWorkerNumber(b, b.serial, b.bis ? 'bis' : 'niss'));
const KNOWN = [TEST_SEED.companies.clean, TEST_SEED.companies.shine, TEST_SEED.companies.foreign];
const UNKNOWN_COMPANY = makeEnterpriseNumber('04999999');

interface WorkerRow {
  cells: { niss: string; name: string; capacity: string; employers: string };
  bad?: string; // the field the refusal must name
}

const validWorker: fc.Arbitrary<WorkerRow> = fc
  .record({ niss: validNiss, name: validName, capacity: fc.constantFrom('', ...CAPACITIES), employers: fc.uniqueArray(fc.constantFrom(...KNOWN), { minLength: 1, maxLength: 3 }) })
  .map((r) => ({ cells: { niss: r.niss, name: r.name, capacity: r.capacity, employers: r.employers.join('|') } }));

const brokenWorker: fc.Arbitrary<WorkerRow> = fc.tuple(validWorker, fc.integer({ min: 0, max: 7 }), fc.string({ maxLength: 6 })).map(([row, which, junk]) => {
  const c = { ...row.cells };
  switch (which) {
    case 0: {
      const last = Number(c.niss.at(-1));
      c.niss = c.niss.slice(0, -1) + String((last + 1) % 10); // wrong check digits
      return { cells: c, bad: 'niss' };
    }
    case 1:
      c.niss = '';
      return { cells: c, bad: 'niss' };
    case 2:
      c.niss = `X${junk}`;
      return { cells: c, bad: 'niss' };
    case 3:
      c.name = ' '.repeat(junk.length);
      return { cells: c, bad: 'name' };
    case 4:
      c.name = 'N'.repeat(101 + junk.length);
      return { cells: c, bad: 'name' };
    case 5:
      c.capacity = `boss${junk.replace(/[",;|\s]/g, '')}`;
      return { cells: c, bad: 'capacity' };
    case 6:
      c.employers = `${c.employers}|${UNKNOWN_COMPANY}`;
      return { cells: c, bad: 'employer[' };
    default:
      c.employers = '';
      return { cells: c, bad: 'employer' };
  }
});

interface BadgeRow {
  cells: { uid: string; worker: string; from: string; to: string };
  bad?: string;
}
const hexUid = fc.oneof(...[8, 14, 20].map((n) => fc.string({ unit: fc.constantFrom(...'0123456789ABCDEFabcdef'.split('')), minLength: n, maxLength: n })));
const day = fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2030, 11, 31) }).map((ms) => new Date(ms).toISOString().slice(0, 10));
const WORKER_REFS = ['w-solo', 'w-duo', 'w-posted', TEST_SEED.workers.solo.niss, TEST_SEED.workers.posted.niss];
const validBadge: fc.Arbitrary<BadgeRow> = fc
  .record({ uid: hexUid, worker: fc.constantFrom(...WORKER_REFS), from: fc.option(day, { nil: '' }), span: fc.option(fc.integer({ min: 0, max: 400 }), { nil: undefined }) })
  .map((r) => {
    const to = r.span === undefined || !r.from ? '' : new Date(Date.parse(r.from) + r.span * 86_400_000).toISOString().slice(0, 10);
    return { cells: { uid: r.uid, worker: r.worker, from: r.from, to } };
  });
const brokenBadge: fc.Arbitrary<BadgeRow> = fc.tuple(validBadge, fc.integer({ min: 0, max: 6 }), day).map(([row, which, d]) => {
  const c = { ...row.cells };
  switch (which) {
    case 0:
      c.uid = `${c.uid}0`;
      return { cells: c, bad: 'uid' };
    case 1:
      c.uid = 'XYZ12345';
      return { cells: c, bad: 'uid' };
    case 2:
      c.worker = 'w-nobody';
      return { cells: c, bad: 'worker' };
    case 3:
      c.worker = '';
      return { cells: c, bad: 'worker' };
    case 4:
      c.from = d.replace(/-\d\d$/, '-31').replace(/-(02|04|06|09|11)-31$/, '-$1-31');
      if (/-(01|03|05|07|08|10|12)-31$/.test(c.from)) c.from = c.from.replace(/-\d\d-31$/, '-02-30');
      return { cells: c, bad: 'from' };
    case 5:
      c.to = `${d}T00:00`;
      return { cells: c, bad: 'to' };
    default:
      c.from = '2030-12-31';
      c.to = '2020-01-01';
      return { cells: c, bad: 'to' };
  }
});

describe('abuse: CSV imports', () => {
  let db: Db;
  beforeAll(async () => {
    db = openGatewayDatabase(':memory:');
    await seedTestWorld(db);
  });
  afterAll(() => db?.close());

  it(`workers: keeps every valid row and reports every bad one with its line and field (${FILES} files)`, async () => {
    let rows = 0;
    let kept = 0;
    let reported = 0;
    const bySsin = db.prepare('SELECT name, capacity FROM workers WHERE ssin = ?');
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(validWorker, brokenWorker), { minLength: 1, maxLength: 8 }), fc.constantFrom(',', ';'), async (list, sep) => {
        const header = ['niss', 'name', 'capacity', 'employers'].join(sep);
        const text = [header, ...list.map((r) => [r.cells.niss, r.cells.name, r.cells.capacity, r.cells.employers].map(cell).join(sep))].join('\n');
        const result = await importWorkersCsv(SqliteStore.of(db), text);
        const bad = list.map((r, i) => ({ r, line: i + 2 })).filter((x) => x.r.bad);
        expect(result.imported).toBe(list.length - bad.length);
        expect(result.rejected.map((x) => x.line)).toEqual(bad.map((x) => x.line));
        for (const [i, x] of bad.entries()) {
          const fields = result.rejected[i]!.problems.map((p) => p.field);
          expect(fields.some((f) => f.startsWith(x.r.bad!)), `line ${x.line}: ${x.r.bad} in ${fields.join(' ')}`).toBe(true);
        }
        // Each valid row is in the database (the last valid row of a NISS wins).
        const last = new Map<string, WorkerRow>();
        for (const r of list) if (!r.bad) last.set(r.cells.niss, r);
        for (const [niss, r] of last) {
          const w = bySsin.get(niss) as { name: string; capacity: string } | undefined;
          expect(w, niss).toBeDefined();
          expect(w!.name).toBe(r.cells.name);
          expect(w!.capacity).toBe(r.cells.capacity || 'employee');
        }
        rows += list.length;
        kept += result.imported;
        reported += result.rejected.length;
      }),
      runs(FILES),
    );
    recordFigure('csv', 'worker rows', rows);
    recordFigure('csv', 'worker rows kept', kept);
    recordFigure('csv', 'worker rows reported', reported);
  });

  it(`badges: keeps every valid row and reports every bad one with its line and field (${FILES} files)`, async () => {
    let rows = 0;
    let kept = 0;
    let reported = 0;
    const byUid = db.prepare('SELECT worker_id, valid_from, valid_to FROM badges WHERE uid = ?');
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(validBadge, brokenBadge), { minLength: 1, maxLength: 8 }), async (list) => {
        const text = ['uid,worker,from,to', ...list.map((r) => [r.cells.uid, r.cells.worker, r.cells.from, r.cells.to].map(cell).join(','))].join('\r\n');
        const result = await importBadgesCsv(SqliteStore.of(db), text);
        const bad = list.map((r, i) => ({ r, line: i + 2 })).filter((x) => x.r.bad);
        expect(result.imported).toBe(list.length - bad.length);
        expect(result.rejected.map((x) => x.line)).toEqual(bad.map((x) => x.line));
        for (const [i, x] of bad.entries()) {
          const fields = result.rejected[i]!.problems.map((p) => p.field);
          expect(fields, `line ${x.line}`).toContain(x.r.bad);
        }
        const last = new Map<string, BadgeRow>();
        for (const r of list) if (!r.bad) last.set(r.cells.uid.toUpperCase(), r);
        for (const [uid, r] of last) {
          const b = byUid.get(uid) as { worker_id: string; valid_from: string; valid_to: string | null } | undefined;
          expect(b, uid).toBeDefined();
          if (r.cells.from) expect(b!.valid_from).toBe(r.cells.from);
          expect(b!.valid_to).toBe(r.cells.to || null);
        }
        rows += list.length;
        kept += result.imported;
        reported += result.rejected.length;
      }),
      runs(FILES),
    );
    recordFigure('csv', 'badge rows', rows);
    recordFigure('csv', 'badge rows kept', kept);
    recordFigure('csv', 'badge rows reported', reported);
  });

  it('never throws on malformed CSV (stray quotes, ragged rows, binary, odd headers), keeps the valid rows before it', async () => {
    let cases = 0;
    const garbageLine = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.string({ unit: 'binary', maxLength: 60 }),
      fc.constantFrom('"unclosed,quote', 'a,b,c,d,e,f,g,h', ',,,', '"a""b",c', '\u0000\u0001', ';;;', '"x"y,z', '\uFEFFniss,name'),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(validWorker, { maxLength: 3 }), fc.array(garbageLine, { minLength: 1, maxLength: 4 }), fc.boolean(), async (good, garbage, badHeader) => {
        const header = badHeader ? garbage[0]! : 'niss,name,capacity,employers';
        const text = [header, ...good.map((r) => [r.cells.niss, r.cells.name, r.cells.capacity, r.cells.employers].map(cell).join(',')), ...garbage].join('\n');
        const result = await importWorkersCsv(SqliteStore.of(db), text);
        for (const r of result.rejected) {
          expect(r.line).toBeGreaterThanOrEqual(0);
          expect(r.problems.length).toBeGreaterThan(0);
          for (const p of r.problems) expect(p.field.length).toBeGreaterThan(0);
        }
        if (!badHeader) {
          const stmt = db.prepare('SELECT 1 FROM workers WHERE ssin = ?');
          for (const r of good) expect(stmt.get(r.cells.niss), `${r.cells.niss} ${JSON.stringify(result)} ${JSON.stringify(db.prepare("SELECT * FROM workers WHERE ssin = ?").get(r.cells.niss))}`).toBeDefined();
        }
        const badges = await importBadgesCsv(SqliteStore.of(db), text);
        for (const r of badges.rejected) for (const p of r.problems) expect(p.field.length).toBeGreaterThan(0);
        cases++;
      }),
      runs(FILES),
    );
    recordFigure('csv', 'malformed files', cases);
  });
});
