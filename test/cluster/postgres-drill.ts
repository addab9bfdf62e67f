import { spawn } from 'node:child_process';
import { expect } from 'vitest';
import type pg from 'pg';
import { makeEnterpriseNumber, makeWorkerNumber } from '../../shared/identifiers/make.ts';
import { postgresBinDir } from '../../simulator/services/local-services.ts';
import { shellBlockAfter } from '../support/docs-recipes.ts';

/**
 * What the PostgreSQL drills of docs/cluster.md share (the logical backup's in postgres-backup.test.ts, the
 * point-in-time recovery's in postgres-pitr.test.ts): running a recipe of the doc as written, and a small,
 * realistic site filled by SQL into a database migrated by migratePostgres (companies, a site, a declaration,
 * workers and an agency placement, badges, terminals, a night shift of registrations through the
 * `registrations` view, held and quarantined taps, forwarding state, journals), then taps committed as a
 * gateway would.
 */

const DOC = 'docs/cluster.md';

export interface Run { code: number | null; stdout: string; stderr: string }

/** A recipe of docs/cluster.md with its first line (settings) replaced: the same names, in the doc's order. */
export function recipe(heading: string, settings: Array<[string, string]>): string {
  const [first, ...rest] = shellBlockAfter(DOC, heading).split('\n');
  const documented = first!.split(' ').map((kv) => kv.split('=')[0]);
  expect(settings.map(([k]) => k), `the settings line of "${heading}"`).toEqual(documented);
  const quoted = settings.map(([k, v]) => `${k}='${v.replaceAll("'", "'\\''")}'`).join(' ');
  return [quoted, ...rest].join('\n');
}

export interface ScriptOptions {
  /** The user to run it as (PostgreSQL's own programs refuse root): `postgresServerUser()` when the test runs as root. */
  as?: { uid: number; gid: number };
  /** A directory put before PostgreSQL's programs on the PATH (stand-ins that break a step on purpose). */
  pathFirst?: string;
}

/** Runs a script with bash, PostgreSQL's own client programs first on the PATH (as Debian's wrappers would pick). */
export function runScript(script: string, cwd: string, options: ScriptOptions = {}): { done: Promise<Run>; exited: () => boolean } {
  const path = [options.pathFirst, postgresBinDir(), process.env.PATH ?? ''].filter((d) => d !== undefined).join(':');
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: path };
  for (const k of ['PGHOST', 'PGPORT', 'PGUSER', 'PGDATABASE', 'PGPASSWORD', 'PGSERVICE']) delete env[k];
  const child = spawn('bash', ['-c', script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], ...(options.as ?? {}) });
  let stdout = '';
  let stderr = '';
  let over = false;
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
  const done = new Promise<Run>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      over = true;
      resolve({ code, stdout, stderr });
    });
  });
  return { done, exited: () => over };
}

export const T0 = '2026-11-02T07:30:00.000Z';
export const EMPLOYER = makeEnterpriseNumber('04030192');
export const AGENCY = makeEnterpriseNumber('04567891');
export const ANA = makeWorkerNumber({ year: 1985, month: 7, day: 30 }, 33);
export const BRAM = makeWorkerNumber({ year: 1992, month: 3, day: 14 }, 61);
export const DECLARATION = '1Y102M7NZF7PZ';
export const PLACE = '{"address":{"street":"Rue Neuve","houseNumber":"1","postCode":"1000","municipality":"Bruxelles","country":"BE"}}';

/** The site data and a night across midnight, as the gateway and its console would have written them. */
export const SITE = [
  `INSERT INTO companies (id, kind, name, created_at) VALUES ('${EMPLOYER}', 'enterprise', 'Net & Clean', '${T0}'), ('${AGENCY}', 'enterprise', 'Interim Plus', '${T0}')`,
  `INSERT INTO sites (id, name, language, post_code, municipality, street, house_number, created_at)
     VALUES ('site-a', 'Résidence Les Tilleuls', 'fr', '1000', 'Bruxelles', 'Rue Neuve', '1', '${T0}')`,
  `INSERT INTO declarations (number, site_id, valid_from, created_at) VALUES ('${DECLARATION}', 'site-a', '2026-01-01', '${T0}')`,
  `INSERT INTO declaration_companies (declaration, company_id, rank) VALUES ('${DECLARATION}', '${EMPLOYER}', 0)`,
  `INSERT INTO workers (id, ssin, name, capacity, created_at) VALUES ('w-ana', '${ANA}', 'Ana Peeters', 'employee', '${T0}'), ('w-bram', '${BRAM}', 'Bram Dubois', 'agency-worker', '${T0}')`,
  `INSERT INTO worker_employers (worker_id, company_id) VALUES ('w-ana', '${EMPLOYER}'), ('w-bram', '${AGENCY}')`,
  `INSERT INTO agency_placements (id, worker_id, agency_id, user_company_id, valid_from, created_at) VALUES ('pl-1', 'w-bram', '${AGENCY}', '${EMPLOYER}', '2026-11-01', '${T0}')`,
  `INSERT INTO badges (uid, worker_id, valid_from, created_at, kind, key_version) VALUES
     ('04A1B2C3D4E5F6', 'w-ana', '2026-01-01', '${T0}', 'uid-only', NULL), ('04B2C3D4E5F6A1', 'w-bram', '2026-11-01', '${T0}', 'secure', 1)`,
  `INSERT INTO terminals (id, site_id, secret_hash, created_at, secret_rotated_at) VALUES
     ('tilleuls-entrance', 'site-a', 'scrypt$16384$8$1$c2FsdA==$aGFzaA==', '${T0}', '${T0}'), ('tilleuls-garage', 'site-a', 'scrypt$16384$8$1$c2FsdB==$aGFzaB==', '${T0}', '${T0}')`,
  `INSERT INTO terminal_certificates (serial, terminal_id, fingerprint, not_before, not_after, issued_at, issued_for)
     VALUES ('5A1F', 'tilleuls-entrance', 'ab12cd34', '${T0}', '2027-11-02T07:30:00.000Z', '${T0}', 'pairing')`,
  `INSERT INTO terminal_pairings (code_hash, terminal_id, created_by, created_at, expires_at, used_at, used_from)
     VALUES ('9f86d081884c7d65', 'tilleuls-entrance', 'u-marie', '${T0}', '2026-11-02T07:45:00.000Z', '2026-11-02T07:31:10.000Z', '192.0.2.10')`,
  `INSERT INTO terminal_status (terminal_id, state, reported_at, version, queued, updated_at, connected_via)
     VALUES ('tilleuls-entrance', 'online', '2026-12-01T06:00:00+01:00', '1.4.0', 0, '2026-12-01T05:00:01.000Z', 'gw-1'),
            ('tilleuls-garage', 'offline', '2026-11-30T23:10:00+01:00', '1.4.0', 2, '2026-11-30T22:12:00.000Z', NULL)`,
  `INSERT INTO siteman_users (id, name, role, company_id, token_hash, created_at) VALUES ('u-marie', 'Marie', 'site-manager', '${EMPLOYER}', 'e3b0c44298fc1c14', '${T0}')`,
  `INSERT INTO audit_log (at, actor_kind, actor_id, actor_name, action, entity, entity_id, site_id, after) VALUES
     ('${T0}', 'user', 'u-marie', 'Marie', 'create', 'worker', 'w-bram', 'site-a', '{"name":"Bram Dubois","niss":"******"}')`,
  `INSERT INTO audit_log (at, actor_kind, actor_id, actor_name, action, entity, entity_id, site_id, cause_id) VALUES
     ('2026-11-30T22:05:00.000Z', 'system', 'gateway', 'gateway', 'release', 'tap', 'tap-held-1', 'site-a', 1)`,
  `INSERT INTO gateway_settings (key, value) VALUES ('heartbeat:gw-1', '2026-12-01T05:00:00.000Z')`,
  `INSERT INTO releases (version, sha256, size, signed, key_id, file, uploaded_at, uploaded_by) VALUES ('1.4.0', 'c0ffee', 1048576, '{}', 'k1', 'ciao-terminal-1.4.0.tgz', '${T0}', 'u-marie')`,
  // The bundle's bytes, kept in the database on PostgreSQL (two chunks here, as a bundle of more than 1 MiB has).
  `INSERT INTO release_chunks (version, n, bytes) VALUES ('1.4.0', 0, '\\x1f8b0800'), ('1.4.0', 1, '\\x0000')`,
  `INSERT INTO release_rollouts (version, created_at, created_by) VALUES ('1.4.0', '${T0}', 'u-marie')`,
  `INSERT INTO release_targets (terminal_id, version, rollout, assigned_at, assigned_by) VALUES ('tilleuls-entrance', '1.4.0', 1, '${T0}', 'u-marie')`,
  `INSERT INTO terminal_update_reports (terminal_id, version, rollout, state, reported_at) VALUES ('tilleuls-entrance', '1.4.0', 1, 'applied', '2026-11-02T08:00:00+01:00')`,
];

/** A tap as the ingest stores it, then its registration through the view (the tap's row gets it). */
export function registeredTap(tapId: string, t: { terminal: string; seq: number; badge: string; worker: string; ssin: string; capacity: string; direction: string; reason: string; at: string; atUtc: string }): string[] {
  return [
    `INSERT INTO taps (tap_id, terminal_id, site_id, seq, badge, direction, reason, at, local_at, employer, received_at, enrichment, worker_id)
       VALUES ('${tapId}', '${t.terminal}', 'site-a', ${t.seq}, '${t.badge}', '${t.direction}', '${t.reason}', '${t.at}', '${t.at.slice(0, 19)}', '${EMPLOYER}', '${t.atUtc.replace('Z', '.250Z')}', 'enriched', '${t.worker}')`,
    `INSERT INTO registrations (tap_id, terminal_id, site_id, worker_id, type, reason, at, at_utc, ssin, limosa_id, capacity, employer_kind, employer_id, declaration, place_of_work, received_at)
       VALUES ('${tapId}', '${t.terminal}', 'site-a', '${t.worker}', '${t.direction}', '${t.reason}', '${t.at}', '${t.atUtc}', '${t.ssin}', NULL, '${t.capacity}',
               'enterprise', '${EMPLOYER}', '${DECLARATION}', '${PLACE}', '${t.atUtc.replace('Z', '.250Z')}')`,
  ];
}

export const ana = { terminal: 'tilleuls-entrance', badge: '04A1B2C3D4E5F6', worker: 'w-ana', ssin: ANA, capacity: 'employee' };
export const bram = { terminal: 'tilleuls-garage', badge: '04B2C3D4E5F6A1', worker: 'w-bram', ssin: BRAM, capacity: 'agency-worker' };
export const NIGHT = [
  ...registeredTap('tap-ana-in', { ...ana, seq: 41, direction: 'IN', reason: 'work', at: '2026-11-30T22:01:12+01:00', atUtc: '2026-11-30T21:01:12Z' }),
  ...registeredTap('tap-bram-in', { ...bram, seq: 7, direction: 'IN', reason: 'work', at: '2026-11-30T22:03:40+01:00', atUtc: '2026-11-30T21:03:40Z' }),
  ...registeredTap('tap-ana-break-out', { ...ana, seq: 42, direction: 'OUT', reason: 'break', at: '2026-12-01T01:30:05+01:00', atUtc: '2026-12-01T00:30:05Z' }),
  ...registeredTap('tap-ana-break-in', { ...ana, seq: 43, direction: 'IN', reason: 'break', at: '2026-12-01T02:00:11+01:00', atUtc: '2026-12-01T01:00:11Z' }),
  ...registeredTap('tap-bram-out', { ...bram, seq: 8, direction: 'OUT', reason: 'work', at: '2026-12-01T05:58:02+01:00', atUtc: '2026-12-01T04:58:02Z' }),
  ...registeredTap('tap-ana-out', { ...ana, seq: 44, direction: 'OUT', reason: 'work', at: '2026-12-01T06:02:30+01:00', atUtc: '2026-12-01T05:02:30Z' }),
  // A tap held (its badge was not known yet) with its SUN message, and one whose terminal's clock was wrong.
  `INSERT INTO taps (tap_id, terminal_id, site_id, seq, badge, direction, reason, at, received_at, enrichment)
     VALUES ('tap-held-1', 'tilleuls-garage', 'site-a', 9, '04C3D4E5F6A1B2', 'IN', 'work', '2026-11-30T22:04:00+01:00', '2026-11-30T21:04:00.500Z', 'unknown-badge')`,
  `INSERT INTO held_tap_sun (tap_id, picc, mac) VALUES ('tap-held-1', 'EF963FF7828658A599F3041510671E88', '94EED9EE65337086')`,
  `INSERT INTO tap_time_checks (tap_id, problem, details) VALUES ('tap-ana-in', 'wrong-offset', '{"sent":"2026-11-30T22:01:12+02:00","expected":"+01:00"}')`,
  `INSERT INTO tap_badge_checks (tap_id, outcome, details) VALUES ('tap-bram-in', 'uid-only-on-secure-site', '{"badge":"04B2C3D4E5F6A1"}')`,
  `INSERT INTO tap_releases (tap_id, outcome, held_as, cause_audit_id, because, requested_at) VALUES ('tap-held-1', 'badge-check', 'unknown-badge', 2, '{"badge":"04C3D4E5F6A1B2"}', '2026-11-30T22:05:00.000Z')`,
  `INSERT INTO quarantine (terminal_id, tap_id, reason, problems, payload, payload_size, received_at)
     VALUES ('tilleuls-entrance', NULL, 'malformed', '[{"field":"at","rule":"iso-8601","message":"at is not a time"}]', '\\x7b2276223a312c226174223a2231227d'::bytea, 16, '2026-11-30T21:10:00.000Z')`,
  `INSERT INTO badge_sun_state (uid, highest, recent) VALUES ('04B2C3D4E5F6A1', 12, '\\x0000000c674b8a540000000b674b8a1c'::bytea)`,
  `UPDATE badge_sun_snapshot SET taps_rowid = 4, taken_at = '2026-12-01T05:00:00.000Z' WHERE id = 1`,
  `INSERT INTO worker_shifts (worker_id, state, site_id, last_ms, last_tap_id, rev) VALUES ('w-ana', 'off', 'site-a', 1764565350000, 'tap-ana-out', 4), ('w-bram', 'off', 'site-a', 1764565082000, 'tap-bram-out', 2)`,
  `INSERT INTO outage_journal (started_at, ended_at, cause, last_cause, failures, registrations_delayed) VALUES ('2026-12-01T00:40:00.000Z', '2026-12-01T00:52:00.000Z', 'HTTP 503', 'HTTP 503', 14, 2)`,
  `INSERT INTO forward_state (seq, tap_id, client_reference, state, attempts, first_sent_at, answered_at, onss_id, validity, remarks)
     SELECT seq, tap_id, 'ciao-' || tap_id, 'created', 1, received_at, received_at, 'onss-' || seq, 'valid', '[]' FROM registrations WHERE seq <= 2`,
  `INSERT INTO forward_state (seq, tap_id, client_reference, state, attempts, first_sent_at, last_failure, outage_id)
     SELECT seq, tap_id, 'ciao-' || tap_id, 'retry', 3, received_at, 'HTTP 503', 1 FROM registrations WHERE seq IN (3, 4)`,
  `INSERT INTO forward_state (seq, tap_id, client_reference, state, attempts, first_sent_at)
     SELECT seq, tap_id, 'ciao-' || tap_id, 'in_flight', 1, received_at FROM registrations WHERE seq = 5`,
  `INSERT INTO siteman_corrections (seq, tap_id, site_id, field, current_value, requested_value, reason, state, deadline, created_at, created_by, history)
     VALUES (2, 'tap-bram-in', 'site-a', 'employer', '${EMPLOYER}', '${AGENCY}', 'agency worker', 'draft', '2026-12-30', '2026-12-01T07:00:00.000Z', 'u-marie', '[]')`,
  `INSERT INTO outage_events (scope, terminal_id, site_id, started_at, ended_at, cause) VALUES ('terminal:tilleuls-garage', 'tilleuls-garage', 'site-a', '2026-11-30T22:12:00.000Z', NULL, 'connection lost')`,
];

export const NIGHT_REGISTRATIONS = 6;

/**
 * What the writer commits in each transaction, as a gateway would: a tap with its registration, and a tap
 * held by the badge check with what the check found. Tap ids carry the transaction's number.
 */
export function writerTransaction(n: number): string[] {
  const atUtc = new Date(Date.UTC(2026, 11, 1, 6, 0, 0) + n * 1000).toISOString().replace('.000Z', 'Z');
  const at = atUtc.replace('Z', '+00:00');
  return [
    ...registeredTap(`live-${n}`, { ...ana, seq: 1000 + n, direction: n % 2 ? 'IN' : 'OUT', reason: 'work', at, atUtc }),
    `INSERT INTO taps (tap_id, terminal_id, site_id, seq, badge, direction, reason, at, received_at, enrichment, worker_id)
       VALUES ('live-${n}-held', 'tilleuls-garage', 'site-a', ${5000 + n}, '04B2C3D4E5F6A1', 'IN', 'work', '${at}', '${atUtc}', 'possible-copy', 'w-bram')`,
    `INSERT INTO tap_badge_checks (tap_id, outcome, details) VALUES ('live-${n}-held', 'replayed', '{"counter":${n},"highest":${n + 1}}')`,
  ];
}
/** Rows one writer transaction adds, per table. */
export const WRITER_ROWS: Record<string, number> = { taps: 2, tap_badge_checks: 1 };

/** Every table of the public schema and its row count. */
export async function rowCounts(c: pg.Client): Promise<Record<string, number>> {
  const tables = (await c.query<{ t: string }>("SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")).rows.map((r) => r.t);
  const out: Record<string, number> = {};
  for (const t of tables) out[t] = (await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t}`)).rows[0]!.n;
  return out;
}

/** A digest of a table's rows (every column, identities included), in an order that does not depend on storage. */
export async function digest(c: pg.Client, table: string, where = 'true'): Promise<string> {
  return (await c.query<{ d: string }>(`SELECT md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) AS d FROM ${table} x WHERE ${where}`)).rows[0]!.d;
}

export async function triggers(c: pg.Client): Promise<string[]> {
  return (await c.query<{ t: string }>(`SELECT c.relname || ' ' || t.tgname || ' ' || t.tgenabled::text || ' ' || pg_get_triggerdef(t.oid) AS t
      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal ORDER BY 1`)).rows.map((r) => r.t);
}

export async function refusal(c: pg.Client, statement: string): Promise<string> {
  await c.query('BEGIN');
  try {
    await c.query(statement);
    return 'accepted';
  } catch (err) {
    return (err as Error).message;
  } finally {
    await c.query('ROLLBACK');
  }
}
