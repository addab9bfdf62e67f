import type { SqlStore } from '../store/sql-store.ts';
import { API_VERSION, type Roster, type ShiftState, type TerminalConfig, type UpdateOffer } from '../../shared/mqtt/payloads.ts';
import { localDate, toOffsetIso } from '../../shared/time.ts';
import { getTerminal, type Terminal } from '../site-data/terminals.ts';
import { getSite, type Site } from '../site-data/sites.ts';
import { declarationOn } from '../site-data/declarations.ts';
import { updateOfferFor } from '../fleet/releases.ts';

export interface TerminalConfigOptions {
  maxClockSkewMs: number;
  maxShiftHours?: number;
  now?: Date;
}

/**
 * What a terminal is told: its config (site, language, debounce, buttons, server time, the release it is
 * offered) and its roster
 * (badges allowed on its site today, with the employer choices to offer). Never a NISS.
 * The terminal, its site and its release offer are read through the storage port (`store`).
 */
export async function terminalConfigFor(store: SqlStore, terminalId: string, opts: TerminalConfigOptions): Promise<TerminalConfig | undefined> {
  const t = await getTerminal(store, terminalId);
  if (!t || !t.siteId) return undefined;
  const site = await getSite(store, t.siteId);
  return site ? terminalConfigOf(t, site, await updateOfferFor(store, t.id), opts) : undefined;
}

/**
 * The config of a terminal, its site and its offer already read: the publisher reads every terminal, every
 * site and every offer once per round, not each terminal, its site and its offer again (three reads instead of
 * three per terminal, which count on PostgreSQL).
 */
export function terminalConfigOf(t: Terminal, site: Site, offer: UpdateOffer | undefined, opts: TerminalConfigOptions): TerminalConfig {
  return {
    v: API_VERSION,
    terminalId: t.id,
    site: { id: site.id, name: site.name },
    language: t.language ?? site.language,
    debounceSeconds: t.debounceSeconds,
    buttons: { enabled: t.buttons, armSeconds: t.armSeconds },
    maxClockSkewMs: opts.maxClockSkewMs,
    serverTime: toOffsetIso(opts.now ?? new Date()),
    ...(t.feedbackSeconds !== null ? { feedbackSeconds: t.feedbackSeconds } : {}),
    configVersion: t.configVersion,
    ...(opts.maxShiftHours !== undefined ? { maxShiftHours: opts.maxShiftHours } : {}),
    // The release the terminal is offered, if any (gateway/fleet/releases.ts).
    ...(offer ? { update: offer } : {}),
  };
}

/** A short name for a 16-character LCD line: first name and the initial of the last. */
function displayName(name: string): string {
  const parts = name.trim().split(/\s+/);
  const short = parts.length > 1 ? `${parts[0]} ${parts[parts.length - 1]![0]}.` : parts[0] ?? '';
  return short.slice(0, 16);
}

/**
 * The employers a worker may register under on a site: those of the worker's employers that are on the
 * contractor chain of the declaration, and the agencies that place the worker with a company on the chain
 * (FAQ 26: an agency worker registers under the agency's number); when there is none (a takeover not yet
 * recorded), all of the worker's employers, so the registration is still made and the remark raised later.
 */
export function employerChoices(workerEmployers: string[], chain: string[] | undefined, placedAgencies: string[] = []): string[] {
  if (!chain) return [...new Set([...workerEmployers, ...placedAgencies])];
  const onChain = [...new Set([...workerEmployers.filter((e) => chain.includes(e)), ...placedAgencies])];
  return onChain.length ? onChain : workerEmployers;
}

/** A badge of a terminal's roster and the worker it belongs to (for the `shifts` messages). */
export interface RosterView {
  roster: Roster;
  /** Worker id -> that worker's badges in this roster. */
  workers: Map<string, string[]>;
}

interface ShiftRow {
  state: ShiftState['state'];
  site_id: string;
  last_ms: number;
  rev: number;
}

/** A worker's stored shift state as terminals are told it. */
function shiftOf(row: ShiftRow): ShiftState {
  return { state: row.state, since: toOffsetIso(new Date(row.last_ms)), site: row.site_id, rev: row.rev };
}

export async function rosterFor(store: SqlStore, terminalId: string, now = new Date()): Promise<Roster> {
  return (await rosterViewFor(store, terminalId, now)).roster;
}

/**
 * The roster of a terminal: the badges valid today of the workers who may register on its site today, i.e.
 * with an employer on the contractor chain of the site's declaration, or placed by an agency with a company
 * on that chain (FAQ 26); each with the employers to offer and the worker's shift state (one state per
 * worker, whatever the site). Every terminal of a site has the same roster: `siteRosterView` builds it.
 */
export async function rosterViewFor(store: SqlStore, terminalId: string, now = new Date()): Promise<RosterView> {
  return siteRosterView(store, (await getTerminal(store, terminalId))?.siteId ?? null, now);
}

/**
 * The workers who may register on the site of a declaration on a day: with an employer on its chain, or
 * placed by an agency with a company on it. `$1` the declaration, `$2` the day.
 */
const ROSTER_WORKERS = `SELECT we.worker_id FROM declaration_companies dc JOIN worker_employers we ON we.company_id = dc.company_id WHERE dc.declaration = $1
  UNION
  SELECT p.worker_id FROM declaration_companies dc JOIN agency_placements p ON p.user_company_id = dc.company_id
  WHERE dc.declaration = $1 AND p.deactivated_at IS NULL AND p.valid_from <= $2 AND (p.valid_to IS NULL OR p.valid_to >= $2)`;

/**
 * A site's roster, in three queries whatever its size, through the storage port: the badges with their
 * workers and shift states, the workers' employers, their agency placements of the day.
 */
export async function siteRosterView(store: SqlStore, siteId: string | null, now = new Date()): Promise<RosterView> {
  const badges: Roster['badges'] = {};
  const workers = new Map<string, string[]>();
  const result: RosterView = { roster: { v: API_VERSION, updatedAt: toOffsetIso(now), badges }, workers };
  if (!siteId) return result;
  const day = localDate(now);
  const declaration = await declarationOn(store, siteId, day);
  if (!declaration) return result;
  // From the declaration's companies to their workers (and the workers placed with them) to their badges:
  // indexed lookups all the way, whatever the number of workers elsewhere. Badges sorted in code, by code point.
  const rows = (await store.all<{ uid: string; worker_id: string; name: string } & Partial<ShiftRow> & { state: ShiftRow['state'] | null }>(
    `SELECT b.uid, w.id AS worker_id, w.name, s.state, s.site_id, s.last_ms, s.rev
     FROM badges b JOIN workers w ON w.id = b.worker_id LEFT JOIN worker_shifts s ON s.worker_id = w.id
     WHERE b.worker_id IN (${ROSTER_WORKERS})
       AND b.revoked_at IS NULL AND b.valid_from <= $2 AND (b.valid_to IS NULL OR b.valid_to >= $2)`,
    [declaration.number, day],
  )).sort((a, b) => (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0));
  if (rows.length === 0) return result;
  // Each worker's employers in the order they were given; each worker's placements of the day (agency and
  // the user company it places the worker with), in the order they were made. The same workers as above.
  const employersOf = groupBy(await store.all<{ worker_id: string; id: string; name: string }>(
    `SELECT we.worker_id, c.id, c.name FROM worker_employers we JOIN companies c ON c.id = we.company_id
     WHERE we.worker_id IN (${ROSTER_WORKERS}) ORDER BY we.rowid`,
    [declaration.number, day],
  ));
  const placementsOf = groupBy(await store.all<{ worker_id: string; agency_id: string; user_company_id: string; id: string; name: string }>(
    `SELECT p.worker_id, p.agency_id, p.user_company_id, c.id, c.name FROM agency_placements p JOIN companies c ON c.id = p.agency_id
     WHERE p.worker_id IN (${ROSTER_WORKERS}) AND p.deactivated_at IS NULL AND p.valid_from <= $2 AND (p.valid_to IS NULL OR p.valid_to >= $2)
     ORDER BY p.rowid`,
    [declaration.number, day],
  ));
  const choices = new Map<string, Array<{ id: string; name: string }>>();
  for (const r of rows) {
    let employers = choices.get(r.worker_id);
    if (!employers) {
      const all = employersOf.get(r.worker_id) ?? [];
      const placements = placementsOf.get(r.worker_id) ?? [];
      const agencies = placements.filter((p) => declaration.companies.includes(p.user_company_id)).map((p) => p.agency_id);
      const named = new Map<string, { id: string; name: string }>(all.map((c) => [c.id, { id: c.id, name: c.name }]));
      if (agencies.length) for (const p of placements) if (!named.has(p.id)) named.set(p.id, { id: p.id, name: p.name });
      const allowed = employerChoices(all.map((e) => e.id), declaration.companies, agencies);
      employers = allowed.map((id) => named.get(id)!).filter(Boolean);
      choices.set(r.worker_id, employers);
    }
    badges[r.uid] = {
      name: displayName(r.name),
      employers,
      ...(r.state ? { shift: shiftOf(r as ShiftRow) } : {}),
    };
    const list = workers.get(r.worker_id);
    if (list) list.push(r.uid);
    else workers.set(r.worker_id, [r.uid]);
  }
  return result;
}

function groupBy<T extends { worker_id: string }>(rows: T[]): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const r of rows) {
    const list = m.get(r.worker_id);
    if (list) list.push(r);
    else m.set(r.worker_id, [r]);
  }
  return m;
}
