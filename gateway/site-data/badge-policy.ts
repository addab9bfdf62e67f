import type { FieldProblem } from '../../shared/problems.ts';
import { writeSiteRule } from './sites.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { byCodePoint } from '../store/sql-binds.ts';
import { notFoundError, problem } from './input.ts';
import { recordChange, SYSTEM_ACTOR, type Actor } from './audit.ts';
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
 * the API and `ciao admin`): the rule, its audit entry and the policy read back in one transaction.
 */
export async function setSiteRequiresSecureBadges(store: SqlStore, siteId: string, required: boolean, actor: Actor = SYSTEM_ACTOR): Promise<SiteBadgePolicy> {
  return store.transaction(async (tx) => {
    const before = (await siteBadgePolicyOf(tx, siteId)).requireSecureBadges;
    await writeSiteRule(tx, siteId, required);
    if (before !== required) await recordChange(tx, { actor, action: 'update', entity: 'site', entityId: siteId, siteId, before: { requireSecureBadges: before }, after: { requireSecureBadges: required } });
    return siteBadgePolicyOf(tx, siteId);
  });
}

const UID_ONLY_BADGES_OF_SITE = `SELECT DISTINCT b.uid, b.worker_id AS "workerId", w.name AS "workerName"
  FROM badges b JOIN workers w ON w.id = b.worker_id
  JOIN worker_employers we ON we.worker_id = b.worker_id
  JOIN declaration_companies dc ON dc.company_id = we.company_id
  JOIN declarations d ON d.number = dc.declaration
  WHERE d.site_id = $1 AND (d.valid_to IS NULL OR d.valid_to >= $2) AND b.kind = 'uid-only' AND b.revoked_at IS NULL`;

/** A site's rule and the UID-only badges of its workers; badges by UID, by code point as SQLite sorts them. */
export async function siteBadgePolicyOf(store: SqlStore, siteId: string, day = today()): Promise<SiteBadgePolicy> {
  const row = await store.one<{ require_secure_badges: number }>('SELECT require_secure_badges FROM sites WHERE id = $1', [siteId]);
  if (!row) throw notFoundError('site', siteId);
  const uidOnlyBadges = (await store.all<SiteBadgePolicy['uidOnlyBadges'][number]>(UID_ONLY_BADGES_OF_SITE, [siteId, day])).sort((a, b) => byCodePoint(a.uid, b.uid));
  return { siteId, requireSecureBadges: row.require_secure_badges === 1, uidOnlyBadges };
}

/** The sites requiring secure badges where the worker works (an employer on a declaration valid `day` or later), by id. */
async function secureSitesOfWorker(store: SqlStore, workerId: string, day = today()): Promise<string[]> {
  const rows = await store.all<{ id: string }>(
    `SELECT DISTINCT s.id FROM sites s
     JOIN declarations d ON d.site_id = s.id
     JOIN declaration_companies dc ON dc.declaration = d.number
     JOIN worker_employers we ON we.company_id = dc.company_id
     WHERE s.require_secure_badges = 1 AND we.worker_id = $1 AND (d.valid_to IS NULL OR d.valid_to >= $2)`,
    [workerId, day],
  );
  return rows.map((r) => r.id).sort(byCodePoint);
}

/** Refuses a UID-only badge for a worker of a site that requires secure badges, naming the sites. */
export async function checkUidOnlyBadgeAllowed(store: SqlStore, workerId: string, problems: FieldProblem[]): Promise<void> {
  const sites = await secureSitesOfWorker(store, workerId);
  if (sites.length === 0) return;
  problems.push(
    problem(
      'kind',
      'secure-badge-required',
      `a UID-only badge cannot be enrolled for worker ${workerId}: site${sites.length > 1 ? 's' : ''} ${sites.join(', ')} require${sites.length > 1 ? '' : 's'} secure badges (NTAG 424 DNA); personalise one for them (console: the worker's "Personalise a blank secure badge"; command line: 'ciao admin badge provision --worker ${workerId}')`,
    ),
  );
}
