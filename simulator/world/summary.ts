import type { World } from './world.ts';
import { userForToken } from '../../gateway/access/users.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { RecordsService } from '../../gateway/records/service.ts';
import { createSqlQueries } from '../../gateway/records/sql-queries.ts';
import { forwardingSummary } from '../../gateway/forward/read-model.ts';
import type { Remark } from '../../gateway/remarks/model.ts';

/**
 * What happened to every tap of a run, counted from the real stores: the terminals' own record of taps,
 * the gateway's database and the emulated ONSS's database. `lost` and `duplicates` are the two numbers
 * that must be zero.
 */
export interface WorldSummary {
  /** Taps the terminals recorded (committed to their outbox). */
  taps: number;
  /** Of those, taps the gateway stored. */
  stored: number;
  /** Of those, taps the gateway refused (quarantine). */
  rejected: number;
  /** Registrations the gateway made of them (enriched taps). */
  registrations: number;
  /** Registrations created at ONSS (distinct client references). */
  forwarded: number;
  /** Registrations ONSS refused to create (kept, shown to the site manager). */
  notCreated: number;
  /** Registrations not (yet) settled at ONSS. */
  pending: number;
  /** Recorded taps found neither stored nor quarantined at the gateway. */
  lost: number;
  /** Registrations ONSS holds more than once (by client reference). */
  duplicates: number;
  /** Open remarks by kind. */
  remarks: Record<string, number>;
  /** Entries in the gateway's outage journal. */
  outages: number;
}

export async function openRemarks(world: World, period: { from: string; to: string }, now: () => Date): Promise<Array<Remark & { workerName: string | null }>> {
  const db = world.gateway.db;
  const user = await userForToken(SqliteStore.of(db), world.adminToken);
  if (!user) throw new Error('the world has no administrator token');
  const store = SqliteStore.of(db);
  const service = new RecordsService(store, createSqlQueries(store), { now });
  return service.remarks(user, period);
}

export async function summarize(world: World, recordedTapIds: Iterable<string>, period: { from: string; to: string }, now: () => Date): Promise<WorldSummary> {
  const db = world.gateway.db;
  const emu = world.emulator.store.db;
  const hasTap = db.prepare('SELECT 1 FROM taps WHERE tap_id = ?').pluck();
  const isQuarantined = db.prepare('SELECT 1 FROM quarantine WHERE tap_id = ? LIMIT 1').pluck();
  let taps = 0;
  let stored = 0;
  let rejected = 0;
  for (const id of recordedTapIds) {
    taps++;
    if (hasTap.get(id)) stored++;
    else if (isQuarantined.get(id)) rejected++;
  }
  const count = (sql: string) => (db.prepare(sql).pluck().get() as number) ?? 0;
  const registrations = count('SELECT COUNT(*) FROM registrations');
  const forwarding = await forwardingSummary(SqliteStore.of(db));
  const notCreated = forwarding.not_created;
  const settled = forwarding.created + forwarding.not_created;
  const forwarded = (emu.prepare('SELECT COUNT(DISTINCT client_reference) FROM registrations WHERE client_reference IS NOT NULL').pluck().get() as number) ?? 0;
  const duplicates =
    (emu.prepare('SELECT COALESCE(SUM(n - 1), 0) FROM (SELECT COUNT(*) AS n FROM registrations WHERE client_reference IS NOT NULL GROUP BY client_reference HAVING n > 1)').pluck().get() as number) ?? 0;
  const remarks: Record<string, number> = {};
  for (const r of await openRemarks(world, period, now)) remarks[r.kind] = (remarks[r.kind] ?? 0) + 1;
  return {
    taps,
    stored,
    rejected,
    registrations,
    forwarded,
    notCreated,
    pending: registrations - settled,
    lost: taps - stored - rejected,
    duplicates,
    remarks,
    outages: forwarding.outages,
  };
}
