import type { Db } from '../../shared/sqlite.ts';
import { API_VERSION, type Roster, type TerminalConfig } from '../../shared/mqtt/payloads.ts';
import { localDate, toOffsetIso } from '../../shared/time.ts';
import { getTerminal } from '../site-data/terminals.ts';
import { getSite } from '../site-data/sites.ts';
import { declarationOn } from '../site-data/declarations.ts';
import { updateOfferFor } from '../fleet/releases.ts';

/**
 * What a terminal is told: its config (site, language, debounce, buttons, server time, the release it is
 * offered) and its roster
 * (badges allowed on its site today, with the employer choices to offer). Never a NISS.
 */
export function terminalConfigFor(db: Db, terminalId: string, opts: { maxClockSkewMs: number; now?: Date }): TerminalConfig | undefined {
  const t = getTerminal(db, terminalId);
  if (!t || !t.siteId) return undefined;
  const site = getSite(db, t.siteId);
  if (!site) return undefined;
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
    ...withOffer(updateOfferFor(db, t.id)),
  };
}

/** The release the terminal is offered, if any (gateway/fleet/releases.ts). */
function withOffer(offer: ReturnType<typeof updateOfferFor>): { update?: NonNullable<ReturnType<typeof updateOfferFor>> } {
  return offer ? { update: offer } : {};
}

/** A short name for a 16-character LCD line: first name and the initial of the last. */
export function displayName(name: string): string {
  const parts = name.trim().split(/\s+/);
  const short = parts.length > 1 ? `${parts[0]} ${parts[parts.length - 1]![0]}.` : parts[0] ?? '';
  return short.slice(0, 16);
}

/**
 * The employers a worker may register under on a site: those of the worker's employers that are on the
 * contractor chain of the declaration; when none is (a takeover not yet recorded), all of the worker's
 * employers, so the registration is still made and the remark raised later.
 */
export function employerChoices(workerEmployers: string[], chain: string[] | undefined): string[] {
  if (!chain) return workerEmployers;
  const onChain = workerEmployers.filter((e) => chain.includes(e));
  return onChain.length ? onChain : workerEmployers;
}

export function rosterFor(db: Db, terminalId: string, now = new Date()): Roster {
  const t = getTerminal(db, terminalId);
  const badges: Roster['badges'] = {};
  const result: Roster = { v: API_VERSION, updatedAt: toOffsetIso(now), badges };
  if (!t?.siteId) return result;
  const day = localDate(now);
  const declaration = declarationOn(db, t.siteId, day);
  if (!declaration) return result;
  const rows = db.prepare(
    `SELECT b.uid, w.id AS worker_id, w.name FROM badges b JOIN workers w ON w.id = b.worker_id
     WHERE b.revoked_at IS NULL AND b.valid_from <= ? AND (b.valid_to IS NULL OR b.valid_to >= ?)
       AND EXISTS (SELECT 1 FROM worker_employers we JOIN declaration_companies dc ON dc.company_id = we.company_id
                   WHERE we.worker_id = w.id AND dc.declaration = ?)
     ORDER BY b.uid`,
  ).all(day, day, declaration.number) as Array<{ uid: string; worker_id: string; name: string }>;
  const employersOf = db.prepare('SELECT c.id, c.name FROM worker_employers we JOIN companies c ON c.id = we.company_id WHERE we.worker_id = ? ORDER BY we.rowid');
  for (const r of rows) {
    const all = employersOf.all(r.worker_id) as Array<{ id: string; name: string }>;
    const allowed = employerChoices(all.map((e) => e.id), declaration.companies);
    badges[r.uid] = { name: displayName(r.name), employers: all.filter((e) => allowed.includes(e.id)) };
  }
  return result;
}
