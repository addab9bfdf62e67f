import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { migrate, openDatabase, type Db } from '../../shared/sqlite.ts';
import { openGatewayDatabase } from '../../gateway/store/database.ts';
import { REGISTRATIONS_V1_DDL } from '../../gateway/store/registrations-schema.ts';
import { GATEWAY_MIGRATIONS } from '../../gateway/store/gateway-schema.ts';
import { RECORDS_MIGRATIONS } from '../../gateway/store/records-schema.ts';
import { BADGE_SECURITY_MIGRATIONS } from '../../gateway/store/badge-security-schema.ts';
import { DAY_CORRECT_MIGRATIONS } from '../../gateway/store/day-correct-schema.ts';
import { FLEET_MIGRATIONS } from '../../gateway/fleet/schema.ts';
import { BatchWriter } from '../../gateway/ingest/batch-writer.ts';
import { addTerminal } from '../../gateway/site-data/terminals.ts';
import { forwardingStateOf } from '../../gateway/forward/index.ts';
import { ForwardStore } from '../../gateway/forward/forward-store.ts';
import { OutageJournal } from '../../gateway/forward/outage-journal.ts';
import { Sender } from '../../gateway/forward/sender.ts';
import { DirectForwardWriter } from '../../gateway/forward/forward-writes.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { systemClock } from '../../shared/clock.ts';
import { createLogger } from '../../shared/logging.ts';
import { FakeOnssPort } from '../onss/fake-onss-port.ts';
import { seedTestWorld, TEST_SEED } from './helpers/seed.ts';

/**
 * One row per tap (gateway/store/tap-rows-schema.ts): a database written by the gateway before it (a taps
 * table and a registrations table) is converted in place, and every reader of `registrations` reads the
 * same registrations afterwards; a registration stays what it was (no change, no deletion).
 */
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ciao-one-row-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const PLACE = JSON.stringify({ address: { postCode: '1000', municipalityName: 'Bruxelles', streetName: 'Rue Neuve', houseNumber: '1' } });

/** A database as the gateway left it before one row per tap: every earlier migration, data in both tables. */
function databaseBeforeOneRowPerTap(path: string): { registrations: unknown[]; taps: Array<{ rowid: number; tap_id: string }> } {
  const db = openDatabase(path);
  migrate(db, 'gateway', [REGISTRATIONS_V1_DDL, ...GATEWAY_MIGRATIONS]);
  migrate(db, 'siteman', RECORDS_MIGRATIONS);
  migrate(db, 'badge-security', BADGE_SECURITY_MIGRATIONS);
  migrate(db, 'day-correct', DAY_CORRECT_MIGRATIONS);
  migrate(db, 'fleet', FLEET_MIGRATIONS);
  const tap = db.prepare(
    `INSERT INTO taps (tap_id, terminal_id, site_id, seq, badge, direction, reason, at, local_at, employer, received_at, enrichment, enrichment_detail, sun_counter, worker_id)
     VALUES (@tap_id, 'T1', @site_id, @seq, @badge, @direction, 'work', @at, NULL, NULL, @received_at, @enrichment, @detail, @sun, @worker)`,
  );
  const registration = db.prepare(
    `INSERT INTO registrations (tap_id, terminal_id, site_id, worker_id, type, reason, at, at_utc, ssin, limosa_id, capacity, employer_kind, employer_id, declaration, place_of_work, received_at)
     VALUES (@tap_id, 'T1', 'S1', @worker, @direction, 'work', @reg_at, @at_utc, @ssin, @limosa, @capacity, @kind, @employer, '1Y102M7NZF7PZ', @place, @received_at)`,
  );
  const ids = Array.from({ length: 5 }, () => randomUUID());
  db.transaction(() => {
    // An ordinary registration.
    tap.run({ tap_id: ids[0], site_id: 'S1', seq: 1, badge: 'AA01', direction: 'IN', at: '2026-03-02T07:00:00.000+01:00', received_at: '2026-03-02T06:00:01.000Z', enrichment: 'enriched', detail: null, sun: null, worker: 'w1' });
    registration.run({ tap_id: ids[0], worker: 'w1', direction: 'IN', reg_at: '2026-03-02T07:00:00.000+01:00', at_utc: '2026-03-02T06:00:00Z', ssin: '85073003328', limosa: null, capacity: 'employee', kind: 'enterprise', employer: '0403019261', place: PLACE, received_at: '2026-03-02T06:00:01.000Z' });
    // A held tap (its badge unknown).
    tap.run({ tap_id: ids[1], site_id: 'S1', seq: 2, badge: 'FF01', direction: 'IN', at: '2026-03-02T07:05:00.000+01:00', received_at: '2026-03-02T06:05:01.000Z', enrichment: 'unknown-badge', detail: 'badge FF01 is not known', sun: null, worker: null });
    // A tap sent with a wrong offset, registered at its true instant; a secure badge's counter kept.
    tap.run({ tap_id: ids[2], site_id: 'S1', seq: 3, badge: 'AA02', direction: 'OUT', at: '2026-03-02T11:30:00.000+05:30', received_at: '2026-03-02T06:00:02.000Z', enrichment: 'enriched', detail: null, sun: 42, worker: 'w2' });
    registration.run({ tap_id: ids[2], worker: 'w2', direction: 'OUT', reg_at: '2026-03-02T07:00:00.000+01:00', at_utc: '2026-03-02T06:00:00Z', ssin: null, limosa: 'L-1234', capacity: 'posted-worker', kind: 'foreign', employer: 'FR40123456789', place: PLACE, received_at: '2026-03-02T06:00:02.000Z' });
    // A registration a tool wrote without its tap.
    registration.run({ tap_id: ids[3], worker: 'w1', direction: 'OUT', reg_at: '2026-03-02T16:00:00.000+01:00', at_utc: '2026-03-02T15:00:00Z', ssin: '85073003328', limosa: null, capacity: 'employee', kind: 'enterprise', employer: '0403019261', place: PLACE, received_at: '2026-03-02T15:00:01.000Z' });
  })();
  const registrations = db.prepare('SELECT * FROM registrations ORDER BY seq').all();
  const taps = db.prepare('SELECT rowid, tap_id FROM taps ORDER BY rowid').all() as Array<{ rowid: number; tap_id: string }>;
  db.close();
  return { registrations, taps };
}

describe('one row per tap', () => {
  it('converts a database written before it: the same registrations, the taps keep their rowids', () => {
    const path = join(dir, 'gateway.db');
    const before = databaseBeforeOneRowPerTap(path);
    expect(before.registrations).toHaveLength(3);
    const db = openGatewayDatabase(path);
    try {
      const after = db.prepare('SELECT seq, tap_id, terminal_id, site_id, worker_id, type, reason, at, at_utc, ssin, limosa_id, capacity, employer_kind, employer_id, declaration, place_of_work, received_at FROM registrations ORDER BY seq').all();
      expect(after).toEqual(before.registrations);
      // The secure badges' snapshot counts taps by rowid: the taps that were there keep theirs.
      const rowids = db.prepare('SELECT rowid, tap_id FROM taps WHERE rowid <= ? ORDER BY rowid').all(before.taps.at(-1)!.rowid);
      expect(rowids).toEqual(before.taps);
      expect(db.prepare("SELECT tap_id, enrichment, reg_seq FROM taps WHERE badge = 'FF01'").get()).toMatchObject({ enrichment: 'unknown-badge', reg_seq: null });
      expect(db.prepare("SELECT sun_counter FROM taps WHERE badge = 'AA02'").pluck().get()).toBe(42);
      // Two distinct employer-declaration-place contexts for three registrations.
      expect(db.prepare('SELECT COUNT(*) FROM registration_contexts').pluck().get()).toBe(2);
      expect(db.prepare("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'registrations'").pluck().get()).toBe(0);
    } finally {
      db.close();
    }
  });

  it('numbers the registrations ingest adds after the conversion after the last one', async () => {
    const path = join(dir, 'gateway.db');
    databaseBeforeOneRowPerTap(path);
    const db = openGatewayDatabase(path);
    try {
      await seedTestWorld(db);
      await addTerminal(SqliteStore.of(db), { id: 'front', siteId: TEST_SEED.sites.main });
      const id = randomUUID();
      const receivedMs = Date.parse('2026-03-03T07:00:01.000+01:00');
      const r = await (await BatchWriter.open(SqliteStore.of(db))).write([{ kind: 'tap', terminalId: 'front', tap: { v: 1, id, seq: 9, badge: TEST_SEED.workers.solo.badge, direction: 'IN', reason: 'work', at: '2026-03-03T07:00:00.000+01:00' }, receivedAt: new Date(receivedMs).toISOString(), receivedMs, arrivedPerf: 0 }]);
      expect(r.registrations).toBe(1);
      expect(db.prepare('SELECT seq, at_utc, ssin, employer_id, declaration FROM registrations WHERE tap_id = ?').get(id)).toEqual({
        seq: 4, at_utc: '2026-03-03T06:00:00Z', ssin: TEST_SEED.workers.solo.niss, employer_id: TEST_SEED.companies.clean, declaration: TEST_SEED.declaration,
      });
    } finally {
      db.close();
    }
  });

  it('refuses to change or delete a registration, and to give a tap a second one', () => {
    const path = join(dir, 'gateway.db');
    const before = databaseBeforeOneRowPerTap(path);
    const db = openGatewayDatabase(path);
    try {
      const registered = (before.registrations[0] as { tap_id: string }).tap_id;
      expect(() => db.prepare("UPDATE taps SET ssin = '79110200118' WHERE tap_id = ?").run(registered)).toThrow(/cannot be changed/);
      expect(() => db.prepare("UPDATE taps SET at = '2026-03-02T08:00:00.000+01:00' WHERE tap_id = ?").run(registered)).toThrow(/cannot be changed/);
      expect(() => db.prepare('DELETE FROM taps WHERE tap_id = ?').run(registered)).toThrow(/cannot be deleted/);
      expect(() => db.prepare(
        `INSERT INTO registrations (tap_id, terminal_id, site_id, worker_id, type, reason, at, at_utc, ssin, capacity, employer_kind, employer_id, declaration, place_of_work, received_at)
         VALUES (?, 'T1', 'S1', 'w1', 'IN', 'work', '2026-03-02T07:00:00.000+01:00', '2026-03-02T06:00:00Z', '85073003328', 'employee', 'enterprise', '0403019261', '1Y102M7NZF7PZ', ?, '2026-03-02T06:00:01.000Z')`,
      ).run(registered, PLACE)).toThrow(/UNIQUE/);
      expect(() => db.prepare('DELETE FROM registration_contexts').run()).toThrow(/cannot be deleted/);
      expect(() => db.prepare("UPDATE registration_contexts SET declaration = '2AB34CD56EF78'").run()).toThrow(/cannot be changed/);
      // What is not part of a registration may still change (a held tap's status, for instance).
      db.prepare("UPDATE taps SET enrichment_detail = 'still not known' WHERE badge = 'FF01'").run();
      expect(db.prepare('SELECT COUNT(*) FROM registrations').pluck().get()).toBe(3);
    } finally {
      db.close();
    }
  });

  it('lets the forwarder read the converted registrations as before (its state is kept by seq)', async () => {
    const path = join(dir, 'gateway.db');
    databaseBeforeOneRowPerTap(path);
    const db: Db = openGatewayDatabase(path);
    try {
      const port = new FakeOnssPort();
      const writes = new DirectForwardWriter(SqliteStore.of(db));
      const store = new ForwardStore(SqliteStore.of(db), writes, (t) => port.referenceFor(t));
      const sender = new Sender(store, await OutageJournal.open(SqliteStore.of(db), writes), port, 10, systemClock, createLogger('test', { level: 'silent' }));
      const batch = await sender.next();
      expect(batch.map((r) => [r.seq, r.at_utc, r.employer_kind, r.employer_id, r.ssin, r.limosa_id])).toEqual([
        [1, '2026-03-02T06:00:00Z', 'enterprise', '0403019261', '85073003328', null],
        [2, '2026-03-02T06:00:00Z', 'foreign', 'FR40123456789', null, 'L-1234'],
        [3, '2026-03-02T15:00:00Z', 'enterprise', '0403019261', '85073003328', null],
      ]);
      await sender.markInFlight(batch);
      expect(await sender.send(batch)).toMatchObject({ kind: 'answered', created: 3 });
      expect(port.held.map((h) => h.registrationDate)).toEqual(['2026-03-02T06:00:00Z', '2026-03-02T06:00:00Z', '2026-03-02T15:00:00Z']);
      expect(await forwardingStateOf(SqliteStore.of(db), { seq: 2 })).toMatchObject({ state: 'created' });
      expect(await sender.next()).toEqual([]);
    } finally {
      db.close();
    }
  });
});
