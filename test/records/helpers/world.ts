import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { openGatewayDatabase } from '../../../gateway/store/database.ts';
import type { Db } from '../../../shared/sqlite.ts';
import { toOnssUtc } from '../../../shared/time.ts';
import { adminApiPlugin } from '../../../gateway/http/admin-api.ts';
import { addUser } from '../../../gateway/access/users.ts';
import { SqliteStore } from '../../../gateway/store/sqlite-store.ts';
import { ReleaseStore } from '../../../gateway/fleet/releases.ts';
import { at, DECLARATION, EMPLOYER_A, EMPLOYER_B } from './facts.ts';

/**
 * A real gateway database in a temp dir with two sites, their declarations, terminals, workers and badges,
 * written through SQL the way the gateway's own site-data code writes them, and registrations appended the
 * way ingest appends them. Plus a real fastify server on an ephemeral port with the admin plugin.
 */

export const DECLARATION_2 = '2AB34CD56EF78';
export const NISS_W1 = '85073003328';
export const NISS_W2 = '17073003384';

export interface World {
  dir: string;
  dbPath: string;
  db: Db;
  clock: { now: Date };
  close(): Promise<void>;
}

export function createWorld(nowLocal = '2026-03-10T12:00'): World {
  const dir = mkdtempSync(join(tmpdir(), 'ciao-siteman-'));
  const dbPath = join(dir, 'gateway.db');
  const db = openGatewayDatabase(dbPath);
  const created = new Date().toISOString();
  const run = (sql: string, ...params: unknown[]) => db.prepare(sql).run(...params);
  run("INSERT INTO companies (id, kind, name, created_at) VALUES (?, 'enterprise', 'Net & Propre', ?)", EMPLOYER_A, created);
  run("INSERT INTO companies (id, kind, name, created_at) VALUES (?, 'enterprise', 'Schoon BV', ?)", EMPLOYER_B, created);
  run("INSERT INTO sites (id, name, language, post_code, municipality, street, house_number, created_at) VALUES ('S1', 'Tour Nord', 'fr', '1000', 'Bruxelles', 'Rue Royale', '1', ?)", created);
  run("INSERT INTO sites (id, name, language, post_code, municipality, street, house_number, created_at) VALUES ('S2', 'Kantoor Gent', 'nl', '9000', 'Gent', 'Veldstraat', '2', ?)", created);
  run("INSERT INTO declarations (number, site_id, valid_from, created_at) VALUES (?, 'S1', '2026-01-01', ?)", DECLARATION, created);
  run("INSERT INTO declarations (number, site_id, valid_from, created_at) VALUES (?, 'S2', '2026-01-01', ?)", DECLARATION_2, created);
  run('INSERT INTO declaration_companies (declaration, company_id, rank) VALUES (?, ?, 0)', DECLARATION, EMPLOYER_A);
  run('INSERT INTO declaration_companies (declaration, company_id, rank) VALUES (?, ?, 0)', DECLARATION_2, EMPLOYER_A);
  for (const [id, site] of [['T1', 'S1'], ['T2', 'S2']]) {
    run("INSERT INTO terminals (id, site_id, secret_hash, created_at, secret_rotated_at) VALUES (?, ?, 'scrypt$x', ?, ?)", id, site, created, created);
  }
  run("INSERT INTO workers (id, ssin, name, capacity, created_at) VALUES ('W1', ?, 'Amina Diallo', 'employee', ?)", NISS_W1, created);
  run("INSERT INTO workers (id, ssin, name, capacity, created_at) VALUES ('W2', ?, 'Pieter Janssens', 'employee', ?)", NISS_W2, created);
  run("INSERT INTO worker_employers (worker_id, company_id) VALUES ('W1', ?)", EMPLOYER_A);
  run("INSERT INTO worker_employers (worker_id, company_id) VALUES ('W2', ?)", EMPLOYER_A);
  run("INSERT INTO badges (uid, worker_id, valid_from, created_at) VALUES ('04A1B2C3', 'W1', '2026-01-01', ?)", created);
  run("INSERT INTO badges (uid, worker_id, valid_from, created_at) VALUES ('04A1B2C4', 'W2', '2026-01-01', ?)", created);
  const clock = { now: new Date(Date.parse(at(nowLocal))) };
  return {
    dir,
    dbPath,
    db,
    clock,
    async close() {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const SITE_OF: Record<string, string> = { T1: 'S1', T2: 'S2' };
const SSIN_OF: Record<string, string> = { W1: NISS_W1, W2: NISS_W2 };

/** Appends a tap and its registration, as ingest does; returns the registration's seq. */
export function appendRegistration(db: Db, r: { local: string; type: 'IN' | 'OUT'; worker?: string; terminal?: string; reason?: 'work' | 'break'; employer?: string; declaration?: string; chosenEmployer?: string | null }): number {
  const tapId = randomUUID();
  const terminal = r.terminal ?? 'T1';
  const worker = r.worker ?? 'W1';
  const instant = at(r.local);
  db.prepare(
    `INSERT INTO taps (tap_id, terminal_id, site_id, seq, badge, direction, reason, at, employer, received_at, enrichment)
     VALUES (?, ?, ?, (SELECT COUNT(*) FROM taps), '04A1B2C3', ?, ?, ?, ?, ?, 'enriched')`,
  ).run(tapId, terminal, SITE_OF[terminal], r.type, r.reason ?? 'work', instant, r.chosenEmployer ?? null, instant);
  db.prepare(
    `INSERT INTO registrations (tap_id, terminal_id, site_id, worker_id, type, reason, at, at_utc, ssin, capacity, employer_kind, employer_id, declaration, place_of_work, received_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'employee', 'enterprise', ?, ?, ?, ?)`,
  ).run(tapId, terminal, SITE_OF[terminal], worker, r.type, r.reason ?? 'work', instant, toOnssUtc(instant), SSIN_OF[worker], r.employer ?? EMPLOYER_A, r.declaration ?? (terminal === 'T2' ? DECLARATION_2 : DECLARATION), JSON.stringify({ address: { postCode: '1000', municipalityName: 'Bruxelles', streetName: 'Rue Royale', houseNumber: '1' } }), instant);
  // `registrations` is a view over the taps (one row per tap): its number is read back.
  return db.prepare('SELECT seq FROM registrations WHERE tap_id = ?').pluck().get(tapId) as number;
}

/** Terminal status as the gateway's broker hooks record it. */
export function setTerminalStatus(db: Db, terminal: string, s: { state: 'online' | 'offline'; queued?: number; skewMs?: number; updatedAt: Date }): void {
  db.prepare(
    `INSERT INTO terminal_status (terminal_id, state, queued, measured_skew_ms, updated_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (terminal_id) DO UPDATE SET state = excluded.state, queued = excluded.queued, measured_skew_ms = excluded.measured_skew_ms, updated_at = excluded.updated_at`,
  ).run(terminal, s.state, s.queued ?? 0, s.skewMs ?? null, s.updatedAt.toISOString());
}

export interface Server {
  app: FastifyInstance;
  url: string;
  tokens: { admin: string; manager: string; managerNiss: string };
}

export async function startServer(world: World): Promise<Server> {
  const app = Fastify({ logger: false });
  // The fleet routes too (no release key: uploads are refused, everything else answers).
  const releases = new ReleaseStore(SqliteStore.of(world.db), mkdtempSync(join(tmpdir(), 'ciao-world-releases-')), undefined, 1_000_000);
  await app.register(adminApiPlugin, { store: SqliteStore.of(world.db), now: () => world.clock.now, releases });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const tokens = {
    admin: (await addUser(SqliteStore.of(world.db), { name: 'Admin', role: 'admin' })).token,
    manager: (await addUser(SqliteStore.of(world.db), { name: 'Marie (S1)', role: 'manager', sites: ['S1'] })).token,
    managerNiss: (await addUser(SqliteStore.of(world.db), { name: 'Payroll (S1)', role: 'manager', sites: ['S1'], canSeeNiss: true })).token,
  };
  return { app, url: `http://127.0.0.1:${port}`, tokens };
}

/** A tap ingest stored without a registration, with its enrichment status and sentence. */
export function appendUnregisteredTap(db: Db, t: { local: string; badge: string; status: string; detail?: string; terminal?: string; employer?: string }): string {
  const tapId = randomUUID();
  const terminal = t.terminal ?? 'T1';
  const instant = at(t.local);
  db.prepare(
    `INSERT INTO taps (tap_id, terminal_id, site_id, seq, badge, direction, reason, at, employer, received_at, enrichment, enrichment_detail)
     VALUES (?, ?, ?, (SELECT COUNT(*) FROM taps), ?, 'IN', 'work', ?, ?, ?, ?, ?)`,
  ).run(tapId, terminal, SITE_OF[terminal], t.badge, instant, t.employer ?? null, instant, t.status, t.detail ?? null);
  return tapId;
}
