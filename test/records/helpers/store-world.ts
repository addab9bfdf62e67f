import { randomUUID } from 'node:crypto';
import type { SqlStore } from '../../../gateway/store/sql-store.ts';
import { SqliteStore } from '../../../gateway/store/sqlite-store.ts';
import { migrate } from '../../../shared/sqlite.ts';
import { FORWARD_MIGRATIONS } from '../../../gateway/forward/schema.ts';
import { toOnssUtc } from '../../../shared/time.ts';
import { at, DECLARATION, EMPLOYER_A, EMPLOYER_B } from './facts.ts';
import { DECLARATION_2, NISS_W1, NISS_W2 } from './world.ts';

/**
 * The records' world of helpers/world.ts (two sites, their declarations, terminals, workers and badges),
 * written through the storage port in SQL both databases take, so the same cases run on the SQLite file and on
 * PostgreSQL. Registrations are appended as tools append them: a tap's row, then its row of the
 * `registrations` view (both schemas take inserts into the view), and by default its answer from ONSS as
 * the forwarder records it. Both databases have the forwarder's tables, as a gateway that forwards has:
 * PostgreSQL's schema holds them, the SQLite file gets them as the forwarder makes them at its start.
 */
export async function seedWorld(store: SqlStore): Promise<void> {
  if (store instanceof SqliteStore) migrate(store.db, 'forward', FORWARD_MIGRATIONS);
  const created = new Date().toISOString();
  const run = (sql: string, ...params: Array<string | number | null>) => store.run(sql, params);
  await run("INSERT INTO companies (id, kind, name, created_at) VALUES ($1, 'enterprise', 'Net & Propre', $2)", EMPLOYER_A, created);
  await run("INSERT INTO companies (id, kind, name, created_at) VALUES ($1, 'enterprise', 'Schoon BV', $2)", EMPLOYER_B, created);
  // Named so that their order by name is not their order by id, nor the order they were written in.
  await run("INSERT INTO sites (id, name, language, post_code, municipality, street, house_number, created_at) VALUES ('S1', 'Tour Nord', 'fr', '1000', 'Bruxelles', 'Rue Royale', '1', $1)", created);
  await run("INSERT INTO sites (id, name, language, post_code, municipality, street, house_number, created_at) VALUES ('S2', 'Kantoor Gent', 'nl', '9000', 'Gent', 'Veldstraat', '2', $1)", created);
  await run("INSERT INTO declarations (number, site_id, valid_from, created_at) VALUES ($1, 'S1', '2026-01-01', $2)", DECLARATION, created);
  await run("INSERT INTO declarations (number, site_id, valid_from, created_at) VALUES ($1, 'S2', '2026-01-01', $2)", DECLARATION_2, created);
  await run('INSERT INTO declaration_companies (declaration, company_id, rank) VALUES ($1, $2, 0)', DECLARATION, EMPLOYER_A);
  await run('INSERT INTO declaration_companies (declaration, company_id, rank) VALUES ($1, $2, 0)', DECLARATION_2, EMPLOYER_A);
  for (const [id, site] of [['T2', 'S2'], ['T1', 'S1']] as const) {
    await run("INSERT INTO terminals (id, site_id, secret_hash, created_at, secret_rotated_at) VALUES ($1, $2, 'scrypt$x', $3, $3)", id, site, created);
  }
  await run("INSERT INTO workers (id, ssin, name, capacity, created_at) VALUES ('W1', $1, 'Amina Diallo', 'employee', $2)", NISS_W1, created);
  await run("INSERT INTO workers (id, ssin, name, capacity, created_at) VALUES ('W2', $1, 'Pieter Janssens', 'employee', $2)", NISS_W2, created);
  await run("INSERT INTO worker_employers (worker_id, company_id) VALUES ('W1', $1)", EMPLOYER_A);
  await run("INSERT INTO worker_employers (worker_id, company_id) VALUES ('W2', $1)", EMPLOYER_A);
  await run("INSERT INTO badges (uid, worker_id, valid_from, created_at) VALUES ('04A1B2C3', 'W1', '2026-01-01', $1)", created);
  await run("INSERT INTO badges (uid, worker_id, valid_from, created_at) VALUES ('04A1B2C4', 'W2', '2026-01-01', $1)", created);
}

const SITE_OF: Record<string, string> = { T1: 'S1', T2: 'S2' };
const SSIN_OF: Record<string, string> = { W1: NISS_W1, W2: NISS_W2 };
const BADGE_OF: Record<string, string> = { W1: '04A1B2C3', W2: '04A1B2C4' };

/**
 * Appends a tap and its registration, as ingest does, created at ONSS at once unless `forwarded` is false;
 * returns the registration's seq.
 */
export async function appendRegistration(store: SqlStore, r: { local: string; type: 'IN' | 'OUT'; worker?: string; terminal?: string; reason?: 'work' | 'break'; employer?: string; declaration?: string; chosenEmployer?: string | null; forwarded?: boolean; tapId?: string }): Promise<number> {
  const tapId = r.tapId ?? randomUUID();
  const terminal = r.terminal ?? 'T1';
  const worker = r.worker ?? 'W1';
  const instant = at(r.local);
  await store.run(
    `INSERT INTO taps (tap_id, terminal_id, site_id, seq, badge, direction, reason, at, employer, received_at, enrichment)
     VALUES ($1, $2, $3, (SELECT COUNT(*) FROM taps), $4, $5, $6, $7, $8, $7, 'enriched')`,
    [tapId, terminal, SITE_OF[terminal]!, BADGE_OF[worker]!, r.type, r.reason ?? 'work', instant, r.chosenEmployer ?? null],
  );
  await store.run(
    `INSERT INTO registrations (tap_id, terminal_id, site_id, worker_id, type, reason, at, at_utc, ssin, capacity, employer_kind, employer_id, declaration, place_of_work, received_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'employee', 'enterprise', $10, $11, $12, $7)`,
    [tapId, terminal, SITE_OF[terminal]!, worker, r.type, r.reason ?? 'work', instant, toOnssUtc(instant), SSIN_OF[worker]!, r.employer ?? EMPLOYER_A, r.declaration ?? (terminal === 'T2' ? DECLARATION_2 : DECLARATION),
      JSON.stringify({ address: { postCode: '1000', municipalityName: 'Bruxelles', streetName: 'Rue Royale', houseNumber: '1' } })],
  );
  // `registrations` is a view over the taps (one row per tap): its number is read back.
  const seq = (await store.one<{ seq: number }>('SELECT seq FROM registrations WHERE tap_id = $1', [tapId]))!.seq;
  if (r.forwarded !== false) await forwardState(store, seq, { state: 'created', sent: new Date(Date.parse(instant)).toISOString(), onssId: `ONSS-${seq}` });
  return seq;
}

/** The forwarder's record of a registration, as it writes it. */
export async function forwardState(store: SqlStore, seq: number, s: { state: string; sent?: string; onssId?: string; remarks?: string[]; errors?: unknown[]; outageId?: number }): Promise<void> {
  await store.run(
    `INSERT INTO forward_state (seq, tap_id, client_reference, state, attempts, first_sent_at, last_sent_at, answered_at, onss_id, remarks, errors, outage_id)
     VALUES ($1, (SELECT tap_id FROM registrations WHERE seq = $1), $2, $3, 1, $4, $4, $5, $6, $7, $8, $9)`,
    [seq, `ref-${seq}`, s.state, s.sent ?? null, s.state === 'created' || s.state === 'not_created' ? s.sent ?? null : null, s.onssId ?? null, s.remarks ? JSON.stringify(s.remarks) : null, s.errors ? JSON.stringify(s.errors) : null, s.outageId ?? null],
  );
}

/** An entry of the forwarder's outage journal; returns its id. */
export async function onssOutage(store: SqlStore, from: string, to: string | null, cause: string): Promise<number> {
  return (await store.one<{ id: number }>('INSERT INTO outage_journal (started_at, ended_at, cause, last_cause) VALUES ($1, $2, $3, $3) RETURNING id', [from, to, cause]))!.id;
}

/** A tap ingest stored without a registration, with its enrichment status and sentence. */
export async function appendUnregisteredTap(store: SqlStore, t: { local: string; badge: string; status: string; detail?: string; terminal?: string; employer?: string }): Promise<string> {
  const tapId = randomUUID();
  const terminal = t.terminal ?? 'T1';
  const instant = at(t.local);
  await store.run(
    `INSERT INTO taps (tap_id, terminal_id, site_id, seq, badge, direction, reason, at, employer, received_at, enrichment, enrichment_detail)
     VALUES ($1, $2, $3, (SELECT COUNT(*) FROM taps), $4, 'IN', 'work', $5, $6, $5, $7, $8)`,
    [tapId, terminal, SITE_OF[terminal]!, t.badge, instant, t.employer ?? null, t.status, t.detail ?? null],
  );
  return tapId;
}

/** Terminal status as the gateway's broker hooks record it. */
export async function setTerminalStatus(store: SqlStore, terminal: string, s: { state: 'online' | 'offline'; queued?: number; skewMs?: number; updatedAt: Date }): Promise<void> {
  await store.run(
    `INSERT INTO terminal_status (terminal_id, state, queued, measured_skew_ms, updated_at) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (terminal_id) DO UPDATE SET state = excluded.state, queued = excluded.queued, measured_skew_ms = excluded.measured_skew_ms, updated_at = excluded.updated_at`,
    [terminal, s.state, s.queued ?? 0, s.skewMs ?? null, s.updatedAt.toISOString()],
  );
}
