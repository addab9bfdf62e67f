import type { Db } from '../../shared/sqlite.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import { getSiteSync } from './sites.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { byCodePoint } from '../store/sql-binds.ts';
import { notFoundError, problem } from './input.ts';
import { recordChangeSync, SYSTEM_ACTOR, type Actor } from './audit.ts';
import { localDate } from '../../shared/time.ts';

/**
 * Sites that require secure badges (NTAG 424 DNA, which sign every read): there, a UID-only badge, which a
 * cheap card can copy, is refused at enrolment for the site's workers and flagged on every tap. A site's
 * workers are, as for its terminals' roster, the workers with an employer on the contractor chain of one of
 * the site's declarations that is still valid (today or later).
 */
export interface SiteBadgePolicy {
  siteId: string;
  requireSecureBadges: boolean;
  /** UID-only badges, not revoked, of the site's workers: flagged on every tap until replaced. */
  uidOnlyBadges: Array<{ uid: string; workerId: string; workerName: string }>;
}

/** Today at the sites (Europe/Brussels), not the UTC date: they differ for an hour or two after midnight. */
const today = () => localDate(new Date());


/**
 * Sets the site's rule, recorded in the audit trail as a change of the site by `actor`, without the checks
 * of a user's role and scope (`SiteDataService.setSiteRequiresSecureBadges` makes them, for the console,
 * the API and `ciao admin`).
 */
export function setSiteRequiresSecureBadges(db: Db, siteId: string, required: boolean, actor: Actor = SYSTEM_ACTOR): SiteBadgePolicy {
  if (!getSiteSync(db, siteId)) throw notFoundError('site', siteId);
  return db.transaction(() => {
    const before = siteBadgePolicy(db, siteId).requireSecureBadges;
    // The service writes the same rule through the storage port (sites.ts `writeSiteRule`); this path, without a user, is still synchronous.
    db.prepare('UPDATE sites SET require_secure_badges = ? WHERE id = ?').run(required ? 1 : 0, siteId);
    if (before !== required) recordChangeSync(db, { actor, action: 'update', entity: 'site', entityId: siteId, siteId, before: { requireSecureBadges: before }, after: { requireSecureBadges: required } });
    return siteBadgePolicy(db, siteId);
  }).immediate();
}

const UID_ONLY_BADGES_OF_SITE = `SELECT DISTINCT b.uid, b.worker_id AS "workerId", w.name AS "workerName"
  FROM badges b JOIN workers w ON w.id = b.worker_id
  JOIN worker_employers we ON we.worker_id = b.worker_id
  JOIN declaration_companies dc ON dc.company_id = we.company_id
  JOIN declarations d ON d.number = dc.declaration
  WHERE d.site_id = $1 AND (d.valid_to IS NULL OR d.valid_to >= $2) AND b.kind = 'uid-only' AND b.revoked_at IS NULL`;

export function siteBadgePolicy(db: Db, siteId: string, day = today()): SiteBadgePolicy {
  const row = db.prepare('SELECT require_secure_badges FROM sites WHERE id = ?').get(siteId) as { require_secure_badges: number } | undefined;
  if (!row) throw notFoundError('site', siteId);
  const uidOnlyBadges = db.prepare(`${UID_ONLY_BADGES_OF_SITE.replace(/\$\d/g, '?')} ORDER BY b.uid`).all(siteId, day) as SiteBadgePolicy['uidOnlyBadges'];
  return { siteId, requireSecureBadges: row.require_secure_badges === 1, uidOnlyBadges };
}

/** The same policy read through the storage port (the service's); badges by UID, by code point as SQLite sorts them. */
export async function siteBadgePolicyOf(store: SqlStore, siteId: string, day = today()): Promise<SiteBadgePolicy> {
  const row = await store.one<{ require_secure_badges: number }>('SELECT require_secure_badges FROM sites WHERE id = $1', [siteId]);
  if (!row) throw notFoundError('site', siteId);
  const uidOnlyBadges = (await store.all<SiteBadgePolicy['uidOnlyBadges'][number]>(UID_ONLY_BADGES_OF_SITE, [siteId, day])).sort((a, b) => byCodePoint(a.uid, b.uid));
  return { siteId, requireSecureBadges: row.require_secure_badges === 1, uidOnlyBadges };
}

/** The sites requiring secure badges where the worker works (an employer on a declaration valid `day` or later). */
function secureSitesOfWorker(db: Db, workerId: string, day = today()): string[] {
  return (
    db
      .prepare(
        `SELECT DISTINCT s.id FROM sites s
         JOIN declarations d ON d.site_id = s.id
         JOIN declaration_companies dc ON dc.declaration = d.number
         JOIN worker_employers we ON we.company_id = dc.company_id
         WHERE s.require_secure_badges = 1 AND we.worker_id = ? AND (d.valid_to IS NULL OR d.valid_to >= ?)
         ORDER BY s.id`,
      )
      .all(workerId, day) as Array<{ id: string }>
  ).map((r) => r.id);
}

/** Refuses a UID-only badge for a worker of a site that requires secure badges, naming the sites. */
export function checkUidOnlyBadgeAllowed(db: Db, workerId: string, problems: FieldProblem[]): void {
  const sites = secureSitesOfWorker(db, workerId);
  if (sites.length === 0) return;
  problems.push(
    problem(
      'kind',
      'secure-badge-required',
      `a UID-only badge cannot be enrolled for worker ${workerId}: site${sites.length > 1 ? 's' : ''} ${sites.join(', ')} require${sites.length > 1 ? '' : 's'} secure badges (NTAG 424 DNA); personalise one for them (console: the worker's "Personalise a blank secure badge"; command line: 'ciao admin badge provision --worker ${workerId}')`,
    ),
  );
}
