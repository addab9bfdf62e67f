import { Binds, byCodePoint } from '../store/sql-binds.ts';
import { forbidden } from '../../shared/errors.ts';
import { InvalidInputError, type FieldProblem } from '../../shared/problems.ts';
import { parseWorkerNumber } from '../../shared/identifiers/national-number.ts';
import { localDate } from '../../shared/time.ts';
import { addUser, getUser, grantCreatedSite, listUsers, requirePermission, revokeUser, updateUser, type ApiUser, type UserInput } from '../access/users.ts';
import { recordChange, listAudit, type Actor, type AuditEntry, type AuditQuery } from './audit.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { getCompany, listCompanies, parseCompanyNumber, setCompanyDeactivated, upsertCompany, type Company } from './companies.ts';
import { getSite, listSites, setSiteDeactivated, upsertSite, writeSiteRule, type Site, type SiteInput } from './sites.ts';
import { declarationOn, getDeclaration, listDeclarations, upsertDeclaration, type Declaration, type DeclarationInput } from './declarations.ts';
import { checkWorker, findWorker, getWorker, listWorkers, saveWorker, type Worker, type WorkerInput } from './workers.ts';
import { checkBadge, getBadge, listBadges, provisionedBadgeRecord, revokeBadge, saveBadge, saveSecureBadge, type Badge, type ProvisionedBadgeInput } from './badges.ts';
import { siteBadgePolicyOf } from './badge-policy.ts';
import { activeTerminalIdsOf, addTerminal, bumpSiteTerminals, getTerminal, listTerminals, setEnrolmentMode, setTerminalDisabled, updateTerminal, type Terminal, type TerminalSettings } from './terminals.ts';
import { importBadgesCsv, importWorkersCsv, type ImportResult } from './csv-import.ts';
import { createPairingCode, claimPairingCode, pairingCodeTerminal, type PairingCode, type PairingCredentials } from './pairing.ts';
import { EMPTY_RELEASE, type HeldTapPreview, type HeldTapRelease, type ReleaseResult, type SiteDataChange } from './held-taps.ts';
import { HeldTapReleaser } from './held-tap-release.ts';
import { checkPlacement, getPlacement, listPlacements, savePlacement, setPlacementDeactivated, type Placement, type PlacementInput } from './placements.ts';
import { employerChoices } from '../terminal-sync/terminal-view.ts';
import { notFoundError, parseDay, problem, setDeactivated } from './input.ts';

/**
 * Every site-data operation, one call each, for both faces: the HTTP admin API (the console) and `ciao admin`.
 * Each call takes the caller (who acts, and the user whose role and scope apply), checks the same rules,
 * throws the same errors (code + problems naming field and rule), and records the change in the audit trail
 * with the record before and after. Nothing a registration refers to is ever deleted: "deactivate" keeps
 * the row and its history.
 */
export interface Caller {
  actor: Actor;
  user: ApiUser;
}

export interface ListQuery {
  /** Free text: matched against ids, names and numbers (a NISS is matched exactly). */
  q?: string;
  offset?: number;
  limit?: number;
  /** Include deactivated records (default: only active ones). */
  inactive?: boolean;
  site?: string;
}

export interface Page<T> {
  items: T[];
  total: number;
  offset: number;
  limit: number;
}

const MAX_PAGE = 500;

/** A worker as callers see it: the NISS only for those allowed, else masked. */
export interface WorkerView extends Omit<Worker, 'ssin'> {
  niss: string | null;
}

export interface TerminalView extends Terminal {
  /** What the terminal says it applied (null: never reported one). */
  appliedConfigVersion: number | null;
  state: 'online' | 'offline' | 'never-seen';
  lastSeen: string | null;
}

function maskNiss(ssin: string | null): string | null {
  return ssin === null ? null : `*********${ssin.slice(-2)}`;
}

function page<T>(all: T[], q: ListQuery, text: (t: T) => string, exact?: (t: T) => boolean): Page<T> {
  const needle = (q.q ?? '').trim().toLowerCase();
  const matching = needle ? all.filter((t) => text(t).toLowerCase().includes(needle) || (exact?.(t) ?? false)) : all;
  const limit = Math.min(Math.max(1, q.limit ?? 50), MAX_PAGE);
  const offset = Math.max(0, q.offset ?? 0);
  return { items: matching.slice(offset, offset + limit), total: matching.length, offset, limit };
}

function invalid(field: string, rule: string, message: string): InvalidInputError {
  return new InvalidInputError([problem(field, rule, message)]);
}

/** Thrown inside a preview's transaction to roll the change back, carrying what it would have released. */
class PreviewRollback {
  constructor(readonly released: HeldTapPreview[]) {}
}

export interface SiteDataServiceOptions {
  /** Where held taps are released (default: re-enriched and sent, gateway/site-data/held-tap-release.ts). */
  heldTaps?: HeldTapRelease;
  now?: () => Date;
  /** After a change that released held taps committed (the gateway tells terminals and the forwarder). */
  onReleased?: (r: ReleaseResult) => void;
}

export class SiteDataService {
  private readonly heldTaps: HeldTapRelease;
  private readonly now: () => Date;
  private readonly releaseListeners: Array<(r: ReleaseResult) => void> = [];

  /** `store`: where the site data is read and written (docs/cluster.md "The storage port"), SQLite or PostgreSQL. */
  constructor(private readonly store: SqlStore, opts: SiteDataServiceOptions = {}) {
    this.heldTaps = opts.heldTaps ?? new HeldTapReleaser();
    this.now = opts.now ?? (() => new Date());
    if (opts.onReleased) this.releaseListeners.push(opts.onReleased);
  }

  /** Called after each change that released held taps committed (the gateway tells terminals and the forwarder). */
  onReleased(listener: (r: ReleaseResult) => void): void {
    this.releaseListeners.push(listener);
  }

  get releasesHeldTaps(): boolean {
    return this.heldTaps.enabled;
  }

  // --- scope -------------------------------------------------------------------------------------------

  private siteVisible(user: ApiUser, siteId: string | null): boolean {
    return user.sites === null || (siteId !== null && user.sites.includes(siteId));
  }

  /**
   * The companies whose workers a user may see (FAQ 33): their own and those below it in the contractor
   * chain of every declaration it is on. null: every company. Read through `store` (the service's, or a
   * change's `tx`).
   */
  async visibleCompanies(store: SqlStore, user: ApiUser): Promise<Set<string> | null> {
    if (user.company === null) return null;
    const rows = await store.all<{ company_id: string }>(
      `SELECT dc.company_id FROM declaration_companies dc JOIN declaration_companies me
         ON me.declaration = dc.declaration AND me.company_id = $1 AND dc.rank >= me.rank`,
      [user.company],
    );
    return new Set([user.company, ...rows.map((r) => r.company_id)]);
  }

  private workerVisible(w: Worker, visible: Set<string> | null): boolean {
    return visible === null || w.employers.some((e) => visible.has(e));
  }

  private needSite(user: ApiUser, siteId: string | null, field = 'site'): void {
    if (!this.siteVisible(user, siteId)) {
      throw forbidden({ field, rule: 'site-scope', message: `${field}: ${siteId ?? '(none)'} is not one of your sites (${(user.sites ?? []).join(', ')})` });
    }
  }

  /**
   * A change on the storage port: its statements, its audit entry and the held taps it releases in one
   * transaction, through `tx` only. The releases it made are collected for this call alone (`releases`,
   * made afresh each time the callback runs: a PostgreSQL transaction may run again) and told once the
   * transaction committed, so that two changes running at once never tell each other's, nor one twice.
   */
  private async changeOnPort<T>(caller: Caller, fn: (tx: SqlStore, releases: ReleaseResult[]) => Promise<T>): Promise<T> {
    requirePermission(caller.user, 'change-site-data');
    let releases: ReleaseResult[] = [];
    const result = await this.store.transaction(async (tx) => {
      releases = [];
      return fn(tx, releases);
    });
    this.told(releases);
    return result;
  }

  /** The held taps a committed change released, told to the listeners (the terminals, the forwarder). */
  private told(all: ReleaseResult[]): void {
    if (all.length === 0 || this.releaseListeners.length === 0) return;
    const merged = all.reduce((a, r) => ({ released: [...a.released, ...r.released], shifts: [...a.shifts, ...r.shifts], registrations: a.registrations + r.registrations, badgeChecks: a.badgeChecks + r.badgeChecks }), EMPTY_RELEASE);
    for (const l of this.releaseListeners) l(merged);
  }

  /** Releases the held taps a change resolves, in its transaction (held-taps.ts), noted in the change's `releases`. */
  private async release(tx: SqlStore, releases: ReleaseResult[], caller: Caller, change: SiteDataChange, auditId: number): Promise<HeldTapPreview[]> {
    const r = await this.heldTaps.release(tx, change, { auditId, actor: caller.actor, at: this.now() });
    if (r.released.length) releases.push(r);
    return r.released;
  }

  /**
   * What a change would release, exactly: the change made and its release computed in a transaction of the
   * port that is then rolled back (nothing is told). Refusals of the change itself (a bad field) come out as
   * they would on confirming.
   */
  private async preview(caller: Caller, fn: (tx: SqlStore, releases: ReleaseResult[]) => Promise<{ released: HeldTapPreview[] }>): Promise<HeldTapPreview[]> {
    requirePermission(caller.user, 'change-site-data');
    try {
      await this.store.transaction(async (tx) => {
        throw new PreviewRollback((await fn(tx, [])).released);
      });
      return [];
    } catch (err) {
      if (err instanceof PreviewRollback) return err.released;
      throw err;
    }
  }

  private async auditOnPort(tx: SqlStore, caller: Caller, action: string, entity: string, entityId: string, siteId: string | null, before: unknown, after: unknown): Promise<number> {
    return recordChange(tx, { actor: caller.actor, action, entity, entityId, siteId, before, after, at: this.now() });
  }

  // --- companies ---------------------------------------------------------------------------------------

  async listCompanies(caller: Caller, q: ListQuery = {}): Promise<Page<Company>> {
    requirePermission(caller.user, 'read');
    const all = (await listCompanies(this.store)).filter((c) => q.inactive || !c.deactivatedAt);
    return page(all, q, (c) => `${c.id} ${c.name}`);
  }

  async getCompany(caller: Caller, id: string): Promise<Company> {
    requirePermission(caller.user, 'read');
    return this.companyOrNotFound(this.store, id);
  }

  private async companyOrNotFound(store: SqlStore, id: string): Promise<Company> {
    const problems: FieldProblem[] = [];
    const n = parseCompanyNumber(id, 'id', problems);
    const c = n && (await getCompany(store, n.id));
    if (!c) throw notFoundError('company', id);
    return c;
  }

  async createCompany(caller: Caller, input: { number: string; name: string }): Promise<Company> {
    return this.changeOnPort(caller, async (tx) => {
      const problems: FieldProblem[] = [];
      const n = parseCompanyNumber(input.number, 'number', problems);
      if (n && (await getCompany(tx, n.id))) throw invalid('number', 'unique', `company ${n.id} already exists`);
      const c = await upsertCompany(tx, input);
      await this.auditOnPort(tx, caller, 'create', 'company', c.id, null, null, c);
      return c;
    });
  }

  async updateCompany(caller: Caller, id: string, input: { name: string }): Promise<Company> {
    return this.changeOnPort(caller, async (tx) => {
      const before = await this.companyOrNotFound(tx, id);
      const after = await upsertCompany(tx, { number: before.id, name: input.name });
      await this.auditOnPort(tx, caller, 'update', 'company', before.id, null, before, after);
      return after;
    });
  }

  async setCompanyActive(caller: Caller, id: string, active: boolean): Promise<Company> {
    return this.changeOnPort(caller, async (tx) => {
      const before = await this.companyOrNotFound(tx, id);
      const after = (await setCompanyDeactivated(tx, before.id, active ? null : this.now()))!;
      await this.auditOnPort(tx, caller, active ? 'reactivate' : 'deactivate', 'company', before.id, null, before, after);
      return after;
    });
  }

  // --- sites ---------------------------------------------------------------------------------------------

  async listSites(caller: Caller, q: ListQuery = {}): Promise<Page<Site>> {
    requirePermission(caller.user, 'read');
    const all = (await listSites(this.store)).filter((s) => (q.inactive || !s.deactivatedAt) && this.siteVisible(caller.user, s.id));
    return page(all, q, (s) => `${s.id} ${s.name} ${s.placeOfWork.address?.municipalityName ?? ''} ${s.placeOfWork.address?.postCode ?? ''} ${s.placeOfWork.address?.streetName ?? ''}`);
  }

  async getSite(caller: Caller, id: string): Promise<Site> {
    requirePermission(caller.user, 'read');
    return this.siteOrNotFound(this.store, caller, id);
  }

  private async siteOrNotFound(store: SqlStore, caller: Caller, id: string): Promise<Site> {
    const s = await getSite(store, id);
    if (!s || !this.siteVisible(caller.user, s.id)) throw notFoundError('site', id);
    return s;
  }

  async createSite(caller: Caller, input: SiteInput): Promise<Site> {
    const u = caller.user;
    const granted = await this.changeOnPort(caller, async (tx) => {
      if (input.id && (await getSite(tx, input.id))) throw invalid('id', 'unique', `site ${input.id} already exists`);
      let s = await upsertSite(tx, input);
      // A new site has no declaration, so no worker: requiring secure badges there flags nobody yet.
      if (input.requireSecureBadges) {
        await writeSiteRule(tx, s.id, true);
        s = (await getSite(tx, s.id))!;
      }
      await this.auditOnPort(tx, caller, 'create', 'site', s.id, s.id, null, s);
      // A site manager scoped to sites gets the site they created: otherwise they could not see it.
      let user: ApiUser | undefined;
      if (u.sites !== null && caller.actor.kind === 'user') {
        const g = await grantCreatedSite(tx, u.id, s.id);
        if (g) {
          await this.auditOnPort(tx, caller, 'update', 'user', u.id, null, g.before, g.after);
          user = g.after;
        }
      }
      return { site: s, user };
    });
    // Told after the commit (the transaction may run again on PostgreSQL).
    if (granted.user) u.sites = granted.user.sites;
    return granted.site;
  }

  async updateSite(caller: Caller, id: string, input: Omit<SiteInput, 'id'>): Promise<Site> {
    return this.changeOnPort(caller, async (tx) => {
      const before = await this.siteOrNotFound(tx, caller, id);
      let after = await upsertSite(tx, { ...input, id: before.id });
      if (input.requireSecureBadges !== undefined && input.requireSecureBadges !== before.requireSecureBadges) {
        await this.checkSiteRuleScope(tx, caller, before.id);
        await writeSiteRule(tx, before.id, input.requireSecureBadges);
        after = (await getSite(tx, before.id))!;
      }
      // A change of what the site's terminals are told (its name or language): each reports it applied.
      if (after.name !== before.name || after.language !== before.language) await bumpSiteTerminals(tx, before.id);
      await this.auditOnPort(tx, caller, 'update', 'site', before.id, before.id, before, after);
      return after;
    });
  }

  async setSiteActive(caller: Caller, id: string, active: boolean): Promise<Site> {
    return this.changeOnPort(caller, async (tx) => {
      const before = await this.siteOrNotFound(tx, caller, id);
      if (!active) {
        const terminals = await activeTerminalIdsOf(tx, before.id);
        if (terminals.length) throw invalid('id', 'no-active-terminals', `site ${id} still has active terminals (${terminals.join(', ')}): disable or move them first`);
      }
      await setSiteDeactivated(tx, before.id, active ? null : this.now());
      const after = (await getSite(tx, before.id))!;
      await this.auditOnPort(tx, caller, active ? 'reactivate' : 'deactivate', 'site', before.id, before.id, before, after);
      return after;
    });
  }

  /**
   * FAQ 31: when a terminal cannot register, workers register with the CIaO QR code (or URL) of the site's
   * declaration. The declaration valid today, and its URL when recorded.
   */
  async siteFallback(caller: Caller, id: string): Promise<{ site: { id: string; name: string }; day: string; declaration: string | null; ciaoUrl: string | null }> {
    const site = await this.getSite(caller, id);
    const day = localDate(this.now());
    const d = await declarationOn(this.store, site.id, day);
    return { site: { id: site.id, name: site.name }, day, declaration: d?.number ?? null, ciaoUrl: d?.ciaoUrl ?? null };
  }

  // --- secure badges (NTAG 424 DNA): a site's rule ---------------------------------------------------------

  /**
   * Who may change a site's secure-badge rule: what changes the site (role, site scope), and for a user of a
   * company, a site where that company is on the contractor chain of one of its declarations: the rule
   * flags the badges of everyone who works there.
   */
  private async checkSiteRuleScope(tx: SqlStore, caller: Caller, siteId: string): Promise<void> {
    const company = caller.user.company;
    if (company === null) return;
    const onChain = await tx.one(
      `SELECT 1 AS one FROM declarations d JOIN declaration_companies dc ON dc.declaration = d.number
       WHERE d.site_id = $1 AND d.deactivated_at IS NULL AND dc.company_id = $2 LIMIT 1`,
      [siteId, company],
    );
    if (!onChain) {
      throw forbidden({ field: 'requireSecureBadges', rule: 'company-scope', message: `requireSecureBadges: your company ${company} is on none of the declarations of site ${siteId}: only a site manager of a company working there, or an administrator, sets its secure-badge rule` });
    }
  }

  /**
   * A site's secure-badge rule and the UID-only badges (not revoked) of its workers: flagged on every tap
   * while the rule is on, which is what the console shows before the rule is turned on. Badges of workers
   * the caller may not see (FAQ 33) are counted, not named.
   */
  async siteBadgePolicy(caller: Caller, id: string): Promise<{ siteId: string; requireSecureBadges: boolean; uidOnlyBadges: Array<{ uid: string; workerId: string; workerName: string }>; otherUidOnlyBadges: number }> {
    const site = await this.getSite(caller, id);
    const policy = await siteBadgePolicyOf(this.store, site.id, localDate(this.now()));
    const visible = await this.visibleCompanies(this.store, caller.user);
    const shown: typeof policy.uidOnlyBadges = [];
    for (const b of policy.uidOnlyBadges) {
      const w = visible === null ? undefined : await getWorker(this.store, b.workerId);
      if (visible === null || (w !== undefined && this.workerVisible(w, visible))) shown.push(b);
    }
    return { siteId: site.id, requireSecureBadges: policy.requireSecureBadges, uidOnlyBadges: shown, otherUidOnlyBadges: policy.uidOnlyBadges.length - shown.length };
  }

  /** Turns a site's secure-badge rule on or off (the console's toggle without the rest of the form, and `ciao admin site require-secure-badges`). */
  async setSiteRequiresSecureBadges(caller: Caller, id: string, required: boolean): ReturnType<SiteDataService['siteBadgePolicy']> {
    await this.changeOnPort(caller, async (tx) => {
      const before = await this.siteOrNotFound(tx, caller, id);
      if (before.requireSecureBadges === required) return;
      await this.checkSiteRuleScope(tx, caller, before.id);
      await writeSiteRule(tx, before.id, required);
      await this.auditOnPort(tx, caller, 'update', 'site', before.id, before.id, before, (await getSite(tx, before.id))!);
    });
    return this.siteBadgePolicy(caller, id);
  }

  // --- declarations ----------------------------------------------------------------------------------------

  private declarationVisible(user: ApiUser, d: Declaration): boolean {
    return this.siteVisible(user, d.siteId) && (user.company === null || d.companies.includes(user.company));
  }

  async listDeclarations(caller: Caller, q: ListQuery = {}): Promise<Page<Declaration>> {
    requirePermission(caller.user, 'read');
    if (q.site) this.needSite(caller.user, q.site);
    const all = (await listDeclarations(this.store, q.site)).filter((d) => (q.inactive || !d.deactivatedAt) && this.declarationVisible(caller.user, d));
    return page(all, q, (d) => `${d.number} ${d.siteId} ${d.companies.join(' ')}`);
  }

  async getDeclaration(caller: Caller, number: string): Promise<Declaration> {
    requirePermission(caller.user, 'read');
    return this.declarationOrNotFound(this.store, caller, number);
  }

  private async declarationOrNotFound(store: SqlStore, caller: Caller, number: string): Promise<Declaration> {
    const d = await getDeclaration(store, number.trim().toUpperCase());
    if (!d || !this.declarationVisible(caller.user, d)) throw notFoundError('declaration', number);
    return d;
  }

  private async checkDeclarationScope(tx: SqlStore, caller: Caller, input: DeclarationInput): Promise<void> {
    this.needSite(caller.user, input.siteId ?? null);
    const site = input.siteId ? await getSite(tx, input.siteId) : undefined;
    if (site?.deactivatedAt) throw invalid('site', 'active', `site ${site.id} is deactivated`);
    const company = caller.user.company;
    if (company !== null) {
      const problems: FieldProblem[] = [];
      const chain = (input.companies ?? []).map((c, i) => parseCompanyNumber(c, `company[${i}]`, problems)?.id);
      if (!chain.includes(company)) throw invalid('company', 'own-company', `your company ${company} must be on the contractor chain of a declaration you add`);
    }
    for (const [i, c] of (input.companies ?? []).entries()) {
      const problems: FieldProblem[] = [];
      const id = parseCompanyNumber(c, `company[${i}]`, problems)?.id;
      if (id && (await getCompany(tx, id))?.deactivatedAt) throw invalid(`company[${i}]`, 'active', `company ${id} is deactivated`);
    }
  }

  /** Which held taps a declaration (new, or changed) would send late (the console asks for confirmation when there are some). */
  async previewDeclaration(caller: Caller, input: DeclarationInput): Promise<HeldTapPreview[]> {
    const number = (input.number ?? '').trim().toUpperCase().replace(/[\s.-]/g, '');
    return this.preview(caller, async (tx, releases) => (number && (await getDeclaration(tx, number))
      ? this.changeDeclaration(tx, releases, caller, number, input)
      : this.addDeclaration(tx, releases, caller, input)));
  }

  async createDeclaration(caller: Caller, input: DeclarationInput): Promise<{ declaration: Declaration; released: HeldTapPreview[] }> {
    return this.changeOnPort(caller, (tx, releases) => this.addDeclaration(tx, releases, caller, input));
  }

  private async addDeclaration(tx: SqlStore, releases: ReleaseResult[], caller: Caller, input: DeclarationInput): Promise<{ declaration: Declaration; released: HeldTapPreview[] }> {
    const number = (input.number ?? '').trim().toUpperCase().replace(/[\s.-]/g, '');
    if (number && (await getDeclaration(tx, number))) throw invalid('number', 'unique', `declaration ${number} already exists`);
    await this.checkDeclarationScope(tx, caller, input);
    const d = await upsertDeclaration(tx, input);
    const auditId = await this.auditOnPort(tx, caller, 'create', 'declaration', d.number, d.siteId, null, d);
    return { declaration: d, released: await this.release(tx, releases, caller, { entity: 'declaration', before: null, after: d }, auditId) };
  }

  async updateDeclaration(caller: Caller, number: string, input: Omit<DeclarationInput, 'number'>): Promise<{ declaration: Declaration; released: HeldTapPreview[] }> {
    return this.changeOnPort(caller, (tx, releases) => this.changeDeclaration(tx, releases, caller, number, input));
  }

  private async changeDeclaration(tx: SqlStore, releases: ReleaseResult[], caller: Caller, number: string, input: Omit<DeclarationInput, 'number'>): Promise<{ declaration: Declaration; released: HeldTapPreview[] }> {
    const before = await this.declarationOrNotFound(tx, caller, number);
    const full = { ...input, number: before.number };
    await this.checkDeclarationScope(tx, caller, full);
    const after = await upsertDeclaration(tx, full);
    const auditId = await this.auditOnPort(tx, caller, 'update', 'declaration', after.number, after.siteId, before, after);
    return { declaration: after, released: await this.release(tx, releases, caller, { entity: 'declaration', before, after }, auditId) };
  }

  async setDeclarationActive(caller: Caller, number: string, active: boolean): Promise<Declaration> {
    return this.changeOnPort(caller, async (tx, releases) => {
      const before = await this.declarationOrNotFound(tx, caller, number);
      await setDeactivated(tx, 'declarations', 'number', before.number, active ? null : this.now());
      const after = (await getDeclaration(tx, before.number))!;
      const auditId = await this.auditOnPort(tx, caller, active ? 'reactivate' : 'deactivate', 'declaration', before.number, before.siteId, before, after);
      if (active) await this.release(tx, releases, caller, { entity: 'declaration', before, after }, auditId);
      return after;
    });
  }

  // --- workers -----------------------------------------------------------------------------------------------

  private workerView(user: ApiUser, w: Worker): WorkerView {
    const { ssin, ...rest } = w;
    return { ...rest, deactivatedAt: w.deactivatedAt ?? null, niss: user.canSeeNiss ? ssin : maskNiss(ssin) };
  }

  async listWorkers(caller: Caller, q: ListQuery = {}): Promise<Page<WorkerView>> {
    requirePermission(caller.user, 'read');
    const visible = await this.visibleCompanies(this.store, caller.user);
    const all = (await listWorkers(this.store)).filter((w) => (q.inactive || !w.deactivatedAt) && this.workerVisible(w, visible));
    const niss = q.q ? parseWorkerNumber(q.q, 'q') : undefined;
    const p = page(all, q, (w) => `${w.id} ${w.name} ${w.limosaId ?? ''} ${w.employers.join(' ')}`, (w) => niss?.ok === true && w.ssin === niss.value.value);
    return { ...p, items: p.items.map((w) => this.workerView(caller.user, w)) };
  }

  /** A worker the caller may see (FAQ 33), else not found; read through `store`. */
  private async worker(store: SqlStore, caller: Caller, id: string): Promise<Worker> {
    const w = await getWorker(store, id);
    if (!w || !this.workerVisible(w, await this.visibleCompanies(store, caller.user))) throw notFoundError('worker', id);
    return w;
  }

  async getWorker(caller: Caller, id: string): Promise<WorkerView> {
    requirePermission(caller.user, 'read');
    return this.workerView(caller.user, await this.worker(this.store, caller, id));
  }

  private async checkEmployers(tx: SqlStore, caller: Caller, employers: string[]): Promise<void> {
    const visible = await this.visibleCompanies(tx, caller.user);
    for (const [i, e] of employers.entries()) {
      const c = await getCompany(tx, e);
      if (c?.deactivatedAt) throw invalid(`employer[${i}]`, 'active', `company ${e} is deactivated`);
      if (visible !== null && !visible.has(e)) throw forbidden({ field: `employer[${i}]`, rule: 'company-scope', message: `employer[${i}]: ${e} is neither your company nor in its subcontracting chain` });
    }
  }

  async createWorker(caller: Caller, input: WorkerInput): Promise<WorkerView> {
    return this.changeOnPort(caller, async (tx) => {
      const problems: FieldProblem[] = [];
      const w = await checkWorker(tx, { ...input, id: input.id || undefined }, problems);
      if (problems.length) throw new InvalidInputError(problems);
      const clash = (w!.id && (await getWorker(tx, w!.id)))
        || (w!.ssin && (await tx.one('SELECT id FROM workers WHERE ssin = $1', [w!.ssin])))
        || (w!.limosaId && (await tx.one('SELECT id FROM workers WHERE limosa_id = $1', [w!.limosaId])));
      if (clash) throw invalid(w!.ssin ? 'niss' : w!.limosaId ? 'limosa' : 'id', 'unique', 'a worker with this number already exists: open it to change it');
      await this.checkEmployers(tx, caller, w!.employers);
      const saved = await saveWorker(tx, w!);
      await this.auditOnPort(tx, caller, 'create', 'worker', saved.id, null, null, saved);
      return this.workerView(caller.user, saved);
    });
  }

  async updateWorker(caller: Caller, id: string, input: Omit<WorkerInput, 'id'>): Promise<WorkerView & { released: HeldTapPreview[] }> {
    return this.changeOnPort(caller, (tx, releases) => this.changeWorker(tx, releases, caller, id, input));
  }

  private async changeWorker(tx: SqlStore, releases: ReleaseResult[], caller: Caller, id: string, input: Omit<WorkerInput, 'id'>): Promise<WorkerView & { released: HeldTapPreview[] }> {
    const before = await this.worker(tx, caller, id);
    const problems: FieldProblem[] = [];
    // The NISS is kept when the caller leaves it out (a caller who does not see it cannot send it back).
    const w = await checkWorker(tx, { ...input, id: before.id, niss: input.niss ?? (input.limosa ? undefined : before.ssin ?? undefined) }, problems);
    if (problems.length) throw new InvalidInputError(problems);
    if (w!.ssin && (await tx.one('SELECT id FROM workers WHERE ssin = $1 AND id <> $2', [w!.ssin, before.id]))) throw invalid('niss', 'unique', 'another worker has this NISS/BIS number');
    await this.checkEmployers(tx, caller, w!.employers);
    const after = await saveWorker(tx, w!);
    const auditId = await this.auditOnPort(tx, caller, 'update', 'worker', after.id, null, before, after);
    const released = await this.release(tx, releases, caller, { entity: 'worker', before, after }, auditId);
    return { ...this.workerView(caller.user, after), released };
  }

  /** Which held taps a change of a worker's record (their employers) would send late. */
  async previewWorker(caller: Caller, id: string, input: Omit<WorkerInput, 'id'>): Promise<HeldTapPreview[]> {
    return this.preview(caller, (tx, releases) => this.changeWorker(tx, releases, caller, id, input));
  }

  /** Deactivating a worker revokes their badges (recorded each); registrations keep the worker. */
  async setWorkerActive(caller: Caller, id: string, active: boolean): Promise<WorkerView> {
    return this.changeOnPort(caller, async (tx) => {
      const before = await this.worker(tx, caller, id);
      await setDeactivated(tx, 'workers', 'id', before.id, active ? null : this.now());
      if (!active) {
        for (const b of (await listBadges(tx, before.id)).filter((x) => !x.revokedAt)) {
          const revoked = await revokeBadge(tx, b.uid, 'worker deactivated');
          await this.auditOnPort(tx, caller, 'deactivate', 'badge', b.uid, null, b, revoked);
        }
      }
      const after = (await getWorker(tx, before.id))!;
      await this.auditOnPort(tx, caller, active ? 'reactivate' : 'deactivate', 'worker', before.id, null, before, after);
      return this.workerView(caller.user, after);
    });
  }

  // --- badges --------------------------------------------------------------------------------------------------

  async listBadges(caller: Caller, q: ListQuery & { worker?: string } = {}): Promise<Page<Badge & { workerName: string | null }>> {
    requirePermission(caller.user, 'read');
    const visible = await this.visibleCompanies(this.store, caller.user);
    const workers = new Map((await listWorkers(this.store)).map((w) => [w.id, w]));
    const all = (await listBadges(this.store, q.worker))
      .filter((b) => (q.inactive || !b.revokedAt) && (visible === null || this.workerVisible(workers.get(b.workerId)!, visible)))
      .map((b) => ({ ...b, workerName: workers.get(b.workerId)?.name ?? null }));
    return page(all, q, (b) => `${b.uid} ${b.workerId} ${b.workerName ?? ''}`);
  }

  async getBadge(caller: Caller, uid: string): Promise<Badge> {
    requirePermission(caller.user, 'read');
    return this.badgeOrNotFound(this.store, caller, uid);
  }

  /** A badge of a worker the caller may see, else not found; read through `store`. */
  private async badgeOrNotFound(store: SqlStore, caller: Caller, uid: string): Promise<Badge> {
    const b = await getBadge(store, uid.trim());
    if (!b || !this.workerVisible((await getWorker(store, b.workerId))!, await this.visibleCompanies(store, caller.user))) throw notFoundError('badge', uid);
    return b;
  }

  private async checkedBadge(tx: SqlStore, caller: Caller, input: { uid: string; worker: string; validFrom?: string; validTo?: string }) {
    const problems: FieldProblem[] = [];
    const b = await checkBadge(tx, input, problems);
    if (problems.length) throw new InvalidInputError(problems);
    const w = await this.worker(tx, caller, b!.workerId);
    if (w.deactivatedAt) throw invalid('worker', 'active', `worker ${w.id} is deactivated`);
    return b!;
  }

  /** Which held taps enrolling a badge (or widening its validity) would send late. */
  async previewBadge(caller: Caller, input: { uid: string; worker: string; validFrom?: string; validTo?: string }): Promise<HeldTapPreview[]> {
    return this.preview(caller, async (tx, releases) => {
      const existing = await getBadge(tx, (input.uid ?? '').trim());
      return existing && !existing.revokedAt ? this.changeBadge(tx, releases, caller, existing.uid, input) : this.addBadge(tx, releases, caller, input);
    });
  }

  async createBadge(caller: Caller, input: { uid: string; worker: string; validFrom?: string; validTo?: string }): Promise<{ badge: Badge; released: HeldTapPreview[] }> {
    return this.changeOnPort(caller, (tx, releases) => this.addBadge(tx, releases, caller, input));
  }

  private async addBadge(tx: SqlStore, releases: ReleaseResult[], caller: Caller, input: { uid: string; worker: string; validFrom?: string; validTo?: string }, action = 'create', causeTapId?: string): Promise<{ badge: Badge; released: HeldTapPreview[] }> {
    const b = await this.checkedBadge(tx, caller, input);
    const before = (await getBadge(tx, b.uid)) ?? null;
    if (before && !before.revokedAt) throw invalid('uid', 'unique', `badge ${b.uid} is already given to worker ${before.workerId}: revoke it first`);
    const after = await saveBadge(tx, b);
    const auditId = await this.auditOnPort(tx, caller, action, 'badge', after.uid, null, before, causeTapId ? { ...after, fromTap: causeTapId } : after);
    return { badge: after, released: await this.release(tx, releases, caller, { entity: 'badge', before, after }, auditId) };
  }

  async updateBadge(caller: Caller, uid: string, input: { worker?: string; validFrom?: string; validTo?: string | null }): Promise<{ badge: Badge; released: HeldTapPreview[] }> {
    return this.changeOnPort(caller, (tx, releases) => this.changeBadge(tx, releases, caller, uid, input));
  }

  private async changeBadge(tx: SqlStore, releases: ReleaseResult[], caller: Caller, uid: string, input: { worker?: string; validFrom?: string; validTo?: string | null }): Promise<{ badge: Badge; released: HeldTapPreview[] }> {
    const before = await this.badgeOrNotFound(tx, caller, uid);
    if (before.revokedAt) throw invalid('uid', 'active', `badge ${before.uid} is revoked: give it again with a new binding`);
    const b = await this.checkedBadge(tx, caller, { uid: before.uid, worker: input.worker ?? before.workerId, validFrom: input.validFrom ?? before.validFrom, validTo: input.validTo === null ? undefined : input.validTo ?? before.validTo ?? undefined });
    const after = await saveBadge(tx, b);
    const auditId = await this.auditOnPort(tx, caller, 'update', 'badge', after.uid, null, before, after);
    return { badge: after, released: await this.release(tx, releases, caller, { entity: 'badge', before, after }, auditId) };
  }

  /** Revocation is the badge's deactivation: the row stays; a revoked badge is never released automatically. */
  async revokeBadge(caller: Caller, uid: string, reason = 'revoked'): Promise<Badge> {
    return this.changeOnPort(caller, async (tx) => {
      const before = await this.badgeOrNotFound(tx, caller, uid);
      const after = await revokeBadge(tx, before.uid, reason.slice(0, 200) || 'revoked');
      await this.auditOnPort(tx, caller, 'deactivate', 'badge', before.uid, null, before, after);
      return after;
    });
  }

  /**
   * Enrols an unknown badge from one of its taps: the badge is bound to the worker from the tap's site day
   * (so the held tap and any later one are covered), with the tap named in the audit entry.
   */
  async enrolFromTap(caller: Caller, input: { tapId: string; worker: string; validTo?: string }): Promise<{ badge: Badge; released: HeldTapPreview[]; tap: HeldTap }> {
    return this.changeOnPort(caller, (tx, releases) => this.enrolTap(tx, releases, caller, input));
  }

  private async enrolTap(tx: SqlStore, releases: ReleaseResult[], caller: Caller, input: { tapId: string; worker: string; validTo?: string }): Promise<{ badge: Badge; released: HeldTapPreview[]; tap: HeldTap }> {
    const tap = await this.heldTap(tx, caller, input.tapId);
    if (tap.enrichment !== 'unknown-badge') throw invalid('tapId', 'unknown-badge', `tap ${tap.tapId} was not held for an unknown badge (${tap.enrichment})`);
    const r = await this.addBadge(tx, releases, caller, { uid: tap.badge, worker: input.worker, validFrom: tap.day, validTo: input.validTo }, 'enrol', tap.tapId);
    return { ...r, tap };
  }

  /**
   * What personalising a blank secure badge for a worker needs checked before the desk reader waits for a
   * badge: the caller may enrol badges, sees the worker (FAQ 33), the worker is active, the dates are days.
   */
  async personalisationTarget(caller: Caller, input: { worker: string; validFrom?: string; validTo?: string }): Promise<{ workerId: string; workerName: string; validFrom?: string; validTo?: string }> {
    requirePermission(caller.user, 'change-site-data');
    const ref = (input.worker ?? '').trim();
    // Worker id, NISS/BIS or Limosa id, as `badge provision --worker`; then the caller must see them.
    const w = await this.worker(this.store, caller, (await findWorker(this.store, ref))?.id ?? ref);
    if (w.deactivatedAt) throw invalid('worker', 'active', `worker ${w.id} is deactivated`);
    const problems: FieldProblem[] = [];
    const validFrom = parseDay(input.validFrom, 'validFrom', problems);
    const validTo = parseDay(input.validTo, 'validTo', problems);
    if (validFrom && validTo && validTo < validFrom) problems.push(problem('validTo', 'order', 'must not be before validFrom'));
    if (problems.length) throw new InvalidInputError(problems);
    return { workerId: w.id, workerName: w.name, ...(validFrom ? { validFrom } : {}), ...(validTo ? { validTo } : {}) };
  }

  /** Whether the caller sees a worker (the console shows the desk reader's run only to those who see its worker). */
  async seesWorker(caller: Caller, workerId: string): Promise<boolean> {
    return this.seesWorkerIn(this.store, caller, workerId);
  }

  private async seesWorkerIn(store: SqlStore, caller: Caller, workerId: string): Promise<boolean> {
    const w = await getWorker(store, workerId);
    return w !== undefined && this.workerVisible(w, await this.visibleCompanies(store, caller.user));
  }

  /**
   * Enrols a badge the desk reader just personalised (its SUN message verified): `secure` with its key
   * version, bound to the worker, recorded as `provision` in the audit trail; its held taps go to the
   * running gateway's badge check. A badge bound to a worker the caller does not see is not taken from them.
   */
  async enrolProvisionedBadge(caller: Caller, input: ProvisionedBadgeInput): Promise<{ badge: Badge; before: Badge | null }> {
    return this.changeOnPort(caller, async (tx, releases) => {
      const existing = (await getBadge(tx, input.uid)) ?? null;
      const record = provisionedBadgeRecord(existing, input, this.now());
      const w = await this.worker(tx, caller, record.workerId);
      if (w.deactivatedAt) throw invalid('worker', 'active', `worker ${w.id} is deactivated`);
      if (existing && existing.workerId !== w.id && !(await this.seesWorkerIn(tx, caller, existing.workerId))) {
        throw forbidden({ field: 'uid', rule: 'company-scope', message: `uid: badge ${existing.uid} is bound to a worker outside your companies; it was personalised but stays theirs: ask an administrator` });
      }
      const badge = await saveSecureBadge(tx, record);
      const auditId = await this.auditOnPort(tx, caller, 'provision', 'badge', badge.uid, null, existing, badge);
      await this.release(tx, releases, caller, { entity: 'badge', before: existing, after: badge }, auditId);
      return { badge, before: existing };
    });
  }

  /**
   * What enrolling a held tap's badge does: the held taps it sends late, and the kind the badge gets
   * (UID-only: enrolled by its UID; a revoked secure badge given again stays secure). A tap that carried a
   * secure message came from an NTAG 424 DNA already personalised with this gateway's keys: enrolled by its
   * UID, its taps would not be checked; the console says to personalise it instead.
   */
  async previewEnrolment(caller: Caller, input: { tapId: string; worker: string; validTo?: string }): Promise<{ tap: HeldTap; heldTaps: HeldTapPreview[]; releasesHeldTaps: boolean; badge: { uid: string; kind: Badge['kind']; keyVersion: number | null }; tapCarriedSecureMessage: boolean }> {
    requirePermission(caller.user, 'change-site-data');
    const tap = await this.heldTap(this.store, caller, input.tapId);
    const heldTaps = await this.preview(caller, (tx, releases) => this.enrolTap(tx, releases, caller, input));
    const existing = await getBadge(this.store, tap.badge);
    const secure = existing?.kind === 'secure';
    const carried = (await this.store.one('SELECT 1 AS one FROM held_tap_sun WHERE tap_id = $1', [tap.tapId])) !== undefined;
    return { tap, heldTaps, releasesHeldTaps: this.heldTaps.enabled, badge: { uid: tap.badge, kind: secure ? 'secure' : 'uid-only', keyVersion: secure ? existing.keyVersion : null }, tapCarriedSecureMessage: carried };
  }

  /**
   * The employer of a held tap, chosen by a site manager: the worker tapped without choosing among several
   * employers (or chose one that is not theirs); the employer must be one the worker may register under on
   * that site. The tap is then re-enriched with it and sent with its original time.
   */
  async chooseEmployer(caller: Caller, input: { tapId: string; employer: string }): Promise<{ tap: HeldTap; released: HeldTapPreview[] }> {
    return this.changeOnPort(caller, (tx, releases) => this.chooseEmployerIn(tx, releases, caller, input));
  }

  private async chooseEmployerIn(tx: SqlStore, releases: ReleaseResult[], caller: Caller, input: { tapId: string; employer: string }): Promise<{ tap: HeldTap; released: HeldTapPreview[] }> {
    const tap = await this.heldTap(tx, caller, input.tapId);
    if (tap.enrichment !== 'employer-choice-needed' && tap.enrichment !== 'unknown-employer') {
      throw invalid('tapId', 'employer-choice', `tap ${tap.tapId} was not held for its employer (${tap.enrichment})`);
    }
    const problems: FieldProblem[] = [];
    const employer = parseCompanyNumber(input.employer, 'employer', problems);
    if (!employer) throw new InvalidInputError(problems);
    const choices = await this.employerChoicesOf(tx, tap);
    if (!choices.includes(employer.id)) throw invalid('employer', 'employer-choice', `employer ${employer.id} is not one the worker may register under on that site (${choices.join(', ') || 'none'})`);
    const auditId = await this.auditOnPort(tx, caller, 'choose-employer', 'tap', tap.tapId, tap.siteId, null, { employer: employer.id, badge: tap.badge, at: tap.at });
    return { tap, released: await this.release(tx, releases, caller, { entity: 'employer-choice', before: null, after: { tapId: tap.tapId, employer: employer.id } }, auditId) };
  }

  async previewEmployerChoice(caller: Caller, input: { tapId: string; employer: string }): Promise<HeldTapPreview[]> {
    return this.preview(caller, (tx, releases) => this.chooseEmployerIn(tx, releases, caller, input));
  }

  /** The employers a held tap's worker may register under on the tap's site that day, read through `store`. */
  async employerChoicesOf(store: SqlStore, tap: HeldTap): Promise<string[]> {
    const workerId = (await store.one<{ worker_id: string }>('SELECT worker_id FROM badges WHERE uid = $1', [tap.badge]))?.worker_id ?? null;
    if (!workerId || !tap.siteId) return [];
    const declaration = await declarationOn(store, tap.siteId, tap.day);
    const w = await getWorker(store, workerId);
    if (!w) return [];
    const agencies = (await listPlacements(store, w.id)).filter((p) => !p.deactivatedAt && p.validFrom <= tap.day && (p.validTo === null || p.validTo >= tap.day) && (declaration?.companies.includes(p.userCompanyId) ?? false)).map((p) => p.agencyId);
    return employerChoices(w.employers, declaration?.companies, agencies);
  }

  /** Taps held for review (not turned into registrations), newest first, of the caller's sites. */
  async listHeldTaps(caller: Caller, q: ListQuery & { terminal?: string; reason?: string; since?: string } = {}): Promise<Page<HeldTap>> {
    requirePermission(caller.user, 'read');
    const b = new Binds();
    const where = ["enrichment <> 'enriched'"];
    if (q.terminal) where.push(`terminal_id = ${b.add(q.terminal)}`);
    if (q.reason) where.push(`enrichment = ${b.add(q.reason)}`);
    if (q.since) where.push(`received_at >= ${b.add(q.since)}`);
    // Instants are ISO text of one format, ordered alike by any collation; the page then by code point, newest first.
    const rows = await this.store.all<TapRow>(`SELECT ${HELD_TAP_COLUMNS} FROM taps WHERE ${where.join(' AND ')} ORDER BY received_at DESC LIMIT 2000`, b.values);
    const all = rows.sort((x, y) => byCodePoint(y.received_at, x.received_at)).map(toHeldTap).filter((t) => this.siteVisible(caller.user, t.siteId));
    const p = page(all, q, (t) => `${t.badge} ${t.terminalId} ${t.enrichment}`);
    // A tap held for its employer: the employers a site manager may choose for it.
    const items: HeldTap[] = [];
    for (const t of p.items) items.push(t.enrichment === 'employer-choice-needed' || t.enrichment === 'unknown-employer' ? { ...t, employerChoices: await this.employerChoicesOf(this.store, t) } : t);
    return { ...p, items };
  }

  /** A held tap of the caller's sites, else not found; read through `store`. */
  private async heldTap(store: SqlStore, caller: Caller, tapId: string): Promise<HeldTap> {
    requirePermission(caller.user, 'read');
    const row = await store.one<TapRow>(`SELECT ${HELD_TAP_COLUMNS} FROM taps WHERE tap_id = $1 AND enrichment <> 'enriched'`, [tapId]);
    const t = row && toHeldTap(row);
    if (!t || !this.siteVisible(caller.user, t.siteId)) throw notFoundError('tap', tapId);
    return t;
  }

  // --- agency placements (FAQ 26) ----------------------------------------------------------------------------------

  private placementVisible(p: Placement, visible: Set<string> | null): boolean {
    return visible === null || visible.has(p.agencyId) || visible.has(p.userCompanyId);
  }

  async listPlacements(caller: Caller, q: ListQuery & { worker?: string } = {}): Promise<Page<Placement & { workerName: string | null }>> {
    requirePermission(caller.user, 'read');
    const visible = await this.visibleCompanies(this.store, caller.user);
    const names = new Map((await listWorkers(this.store)).map((w) => [w.id, w.name]));
    const all = (await listPlacements(this.store, q.worker))
      .filter((p) => (q.inactive || !p.deactivatedAt) && this.placementVisible(p, visible))
      .map((p) => ({ ...p, workerName: names.get(p.workerId) ?? null }));
    return page(all, q, (p) => `${p.id} ${p.workerId} ${p.workerName ?? ''} ${p.agencyId} ${p.userCompanyId}`);
  }

  async getPlacement(caller: Caller, id: string): Promise<Placement> {
    requirePermission(caller.user, 'read');
    return this.placementOrNotFound(this.store, caller, id);
  }

  private async placementOrNotFound(store: SqlStore, caller: Caller, id: string): Promise<Placement> {
    const p = await getPlacement(store, id);
    if (!p || !this.placementVisible(p, await this.visibleCompanies(store, caller.user))) throw notFoundError('placement', id);
    return p;
  }

  private async checkedPlacement(tx: SqlStore, caller: Caller, input: PlacementInput) {
    const problems: FieldProblem[] = [];
    const p = await checkPlacement(tx, input, problems);
    if (problems.length) throw new InvalidInputError(problems);
    const visible = await this.visibleCompanies(tx, caller.user);
    if (visible !== null && !visible.has(p!.agencyId) && !visible.has(p!.userCompanyId)) {
      throw forbidden({ field: 'userCompany', rule: 'company-scope', message: `userCompany: neither ${p!.agencyId} nor ${p!.userCompanyId} is your company or in its subcontracting chain` });
    }
    return p!;
  }

  /** Places an agency worker with a user company; held taps it resolves are sent late. */
  async createPlacement(caller: Caller, input: PlacementInput): Promise<{ placement: Placement; released: HeldTapPreview[] }> {
    return this.changeOnPort(caller, (tx, releases) => this.addPlacement(tx, releases, caller, input));
  }

  private async addPlacement(tx: SqlStore, releases: ReleaseResult[], caller: Caller, input: PlacementInput): Promise<{ placement: Placement; released: HeldTapPreview[] }> {
    const p = await this.checkedPlacement(tx, caller, input);
    if (input.id && (await getPlacement(tx, input.id))) throw invalid('id', 'unique', `placement ${input.id} already exists`);
    const after = await savePlacement(tx, { ...p, ...(input.id ? { id: input.id } : {}) });
    const auditId = await this.auditOnPort(tx, caller, 'create', 'placement', after.id, null, null, after);
    return { placement: after, released: await this.release(tx, releases, caller, { entity: 'placement', before: null, after }, auditId) };
  }

  async updatePlacement(caller: Caller, id: string, input: Omit<PlacementInput, 'id'>): Promise<{ placement: Placement; released: HeldTapPreview[] }> {
    return this.changeOnPort(caller, (tx, releases) => this.changePlacement(tx, releases, caller, id, input));
  }

  private async changePlacement(tx: SqlStore, releases: ReleaseResult[], caller: Caller, id: string, input: Omit<PlacementInput, 'id'>): Promise<{ placement: Placement; released: HeldTapPreview[] }> {
    const before = await this.placementOrNotFound(tx, caller, id);
    const p = await this.checkedPlacement(tx, caller, input);
    const after = await savePlacement(tx, { ...p, id: before.id });
    const auditId = await this.auditOnPort(tx, caller, 'update', 'placement', after.id, null, before, after);
    return { placement: after, released: await this.release(tx, releases, caller, { entity: 'placement', before, after }, auditId) };
  }

  async previewPlacement(caller: Caller, input: PlacementInput): Promise<HeldTapPreview[]> {
    return this.preview(caller, async (tx, releases) => (input.id && (await getPlacement(tx, input.id))
      ? this.changePlacement(tx, releases, caller, input.id, input)
      : this.addPlacement(tx, releases, caller, input)));
  }

  async setPlacementActive(caller: Caller, id: string, active: boolean): Promise<Placement> {
    return this.changeOnPort(caller, async (tx, releases) => {
      const before = await this.placementOrNotFound(tx, caller, id);
      const after = (await setPlacementDeactivated(tx, before.id, active ? null : this.now()))!;
      const auditId = await this.auditOnPort(tx, caller, active ? 'reactivate' : 'deactivate', 'placement', before.id, null, before, after);
      if (active) await this.release(tx, releases, caller, { entity: 'placement', before, after }, auditId);
      return after;
    });
  }

  // --- terminals -------------------------------------------------------------------------------------------------

  /** A terminal with what it last reported (terminal_status), read through `store`: the service's own, or a change's `tx`. */
  private async terminalView(store: SqlStore, t: Terminal): Promise<TerminalView> {
    const s = await store.one<{ state: 'online' | 'offline'; config_version: number | null; updated_at: string }>(
      'SELECT state, config_version, updated_at FROM terminal_status WHERE terminal_id = $1',
      [t.id],
    );
    return { ...t, appliedConfigVersion: s?.config_version ?? null, state: s?.state ?? 'never-seen', lastSeen: s?.updated_at ?? null };
  }

  async listTerminals(caller: Caller, q: ListQuery = {}): Promise<Page<TerminalView>> {
    requirePermission(caller.user, 'read');
    if (q.site) this.needSite(caller.user, q.site);
    const all = (await listTerminals(this.store)).filter((t) => (q.inactive || !t.disabled) && this.siteVisible(caller.user, t.siteId) && (!q.site || t.siteId === q.site));
    const p = page(all, q, (t) => `${t.id} ${t.siteId ?? ''}`);
    return { ...p, items: await Promise.all(p.items.map((t) => this.terminalView(this.store, t))) };
  }

  async getTerminal(caller: Caller, id: string): Promise<TerminalView> {
    requirePermission(caller.user, 'read');
    return this.terminalOrNotFound(this.store, caller, id);
  }

  /** A terminal the caller may see (its site in their scope), else not found. */
  private async terminalOrNotFound(store: SqlStore, caller: Caller, id: string): Promise<TerminalView> {
    const t = await getTerminal(store, id);
    if (!t || !this.siteVisible(caller.user, t.siteId)) throw notFoundError('terminal', id);
    return this.terminalView(store, t);
  }

  private async checkTerminalSite(tx: SqlStore, caller: Caller, siteId: string | undefined): Promise<void> {
    if (siteId === undefined) {
      if (caller.user.sites !== null) throw invalid('site', 'required', 'is required (one of your sites)');
      return;
    }
    this.needSite(caller.user, siteId);
    if ((await getSite(tx, siteId))?.deactivatedAt) throw invalid('site', 'active', `site ${siteId} is deactivated`);
  }

  /** Adds a terminal; its secret is never shown: the device gets its identity by pairing (or `rotate-secret`). */
  async createTerminal(caller: Caller, input: { id: string } & TerminalSettings): Promise<TerminalView> {
    return this.changeOnPort(caller, async (tx) => this.terminalView(tx, (await this.addTerminalAudited(tx, caller, input)).terminal));
  }

  /** The CLI's `terminal add`: the same creation, answering the secret once for a hand-written config. */
  async createTerminalWithSecret(caller: Caller, input: { id: string } & TerminalSettings): Promise<{ terminal: Terminal; secret: string }> {
    return this.changeOnPort(caller, (tx) => this.addTerminalAudited(tx, caller, input));
  }

  private async addTerminalAudited(tx: SqlStore, caller: Caller, input: { id: string } & TerminalSettings): Promise<{ terminal: Terminal; secret: string }> {
    await this.checkTerminalSite(tx, caller, input.siteId);
    const r = await addTerminal(tx, input);
    await this.auditOnPort(tx, caller, 'create', 'terminal', r.terminal.id, r.terminal.siteId, null, r.terminal);
    return r;
  }

  async updateTerminal(caller: Caller, id: string, settings: TerminalSettings): Promise<TerminalView> {
    return this.changeOnPort(caller, async (tx) => {
      const before = await this.terminalOrNotFound(tx, caller, id);
      if (settings.siteId !== undefined) await this.checkTerminalSite(tx, caller, settings.siteId);
      const after = await updateTerminal(tx, before.id, settings);
      await this.auditOnPort(tx, caller, 'update', 'terminal', before.id, after.siteId, stripStatus(before), after);
      return this.terminalView(tx, after);
    });
  }

  async setTerminalActive(caller: Caller, id: string, active: boolean): Promise<TerminalView> {
    return this.changeOnPort(caller, async (tx) => {
      const before = await this.terminalOrNotFound(tx, caller, id);
      const after = await setTerminalDisabled(tx, before.id, !active);
      await this.auditOnPort(tx, caller, active ? 'reactivate' : 'deactivate', 'terminal', before.id, before.siteId, stripStatus(before), after);
      return this.terminalView(tx, after);
    });
  }

  /** Enrolment mode: for `minutes`, the console lists the unknown badges tapped on this terminal to enrol them. */
  async setEnrolment(caller: Caller, id: string, minutes: number): Promise<TerminalView> {
    return this.changeOnPort(caller, async (tx) => {
      const before = await this.terminalOrNotFound(tx, caller, id);
      if (!Number.isInteger(minutes) || minutes < 0 || minutes > 240) throw invalid('minutes', 'range', 'must be a whole number of minutes from 0 (off) to 240');
      const after = await setEnrolmentMode(tx, before.id, minutes === 0 ? null : new Date(this.now().getTime() + minutes * 60_000));
      await this.auditOnPort(tx, caller, minutes === 0 ? 'enrolment-off' : 'enrolment-on', 'terminal', before.id, before.siteId, stripStatus(before), after);
      return this.terminalView(tx, after);
    });
  }

  async createPairingCode(caller: Caller, id: string): Promise<PairingCode> {
    requirePermission(caller.user, 'change-site-data');
    const now = this.now();
    return this.store.transaction(async (tx) => {
      const t = await tx.one<{ id: string; siteId: string | null; disabled: number }>('SELECT id, site_id AS "siteId", disabled FROM terminals WHERE id = $1', [id]);
      if (!t || !this.siteVisible(caller.user, t.siteId)) throw notFoundError('terminal', id);
      if (t.disabled) throw invalid('id', 'active', `terminal ${id} is disabled: enable it first`);
      const code = await createPairingCode(tx, t.id, caller.actor.name, now);
      await recordChange(tx, { actor: caller.actor, action: 'pairing-code', entity: 'terminal', entityId: t.id, siteId: t.siteId, after: { expiresAt: code.expiresAt }, at: now });
      return code;
    });
  }

  /**
   * The device's side of pairing (no user: the code is the credential): the code spent, the identity made
   * and the audit entry written in one transaction. `credentials` makes a certificate instead of a secret,
   * through the transaction it is given.
   */
  async claimPairing(code: string, from: string, credentials?: (tx: SqlStore, terminalId: string) => Promise<PairingCredentials>): Promise<{ terminalId: string; credentials: PairingCredentials }> {
    const now = this.now();
    return this.store.transaction(async (tx) => {
      const r = await claimPairingCode(tx, code, from, now, credentials);
      const t = await tx.one<{ siteId: string | null }>('SELECT site_id AS "siteId" FROM terminals WHERE id = $1', [r.terminalId]);
      await recordChange(tx, { actor: { kind: 'terminal', id: r.terminalId, name: from.slice(0, 100) }, action: 'paired', entity: 'terminal', entityId: r.terminalId, siteId: t!.siteId, after: { pairedFrom: from.slice(0, 100), credentials: r.credentials.kind }, at: now });
      return r;
    });
  }

  /** Which terminal a pairing code is for, without spending it (refused alike when it cannot be spent). */
  pairingTerminal(code: string): Promise<string> {
    return pairingCodeTerminal(this.store, code, this.now());
  }

  // --- imports ---------------------------------------------------------------------------------------------------

  /** An import: every good row is saved with its audit entry (and releases what it resolves) in one transaction; the releases are told once it committed. */
  async importWorkers(caller: Caller, csv: string): Promise<ImportResult> {
    return this.changeOnPort(caller, (tx, releases) => importWorkersCsv(tx, csv, {
      check: (row, w) => this.checkEmployers(row, caller, w.employers),
      saved: async (row, before, after) => {
        const auditId = await this.auditOnPort(row, caller, before ? 'update' : 'create', 'worker', after.id, null, before, after);
        if (before) await this.release(row, releases, caller, { entity: 'worker', before, after }, auditId);
      },
    }));
  }

  async importBadges(caller: Caller, csv: string): Promise<ImportResult> {
    return this.changeOnPort(caller, (tx, releases) => importBadgesCsv(tx, csv, {
      check: async (row, b) => {
        await this.worker(row, caller, b.workerId);
      },
      saved: async (row, before, after) => {
        const auditId = await this.auditOnPort(row, caller, before ? 'update' : 'create', 'badge', after.uid, null, before, after);
        await this.release(row, releases, caller, { entity: 'badge', before, after }, auditId);
      },
    }));
  }

  // --- users -------------------------------------------------------------------------------------------------------

  async listUsers(caller: Caller, q: ListQuery = {}): Promise<Page<ApiUser>> {
    requirePermission(caller.user, 'manage-users');
    return page((await listUsers(this.store)).filter((u) => q.inactive || !u.revokedAt), q, (u) => `${u.name} ${u.role} ${u.company ?? ''} ${(u.sites ?? []).join(' ')}`);
  }

  async getUser(caller: Caller, id: string): Promise<ApiUser> {
    requirePermission(caller.user, 'manage-users');
    return this.userOrNotFound(this.store, id);
  }

  private async userOrNotFound(store: SqlStore, id: string): Promise<ApiUser> {
    const u = await getUser(store, id);
    if (!u) throw notFoundError('user', id);
    return u;
  }

  /** The change and its audit entry in one transaction of the storage port. */
  private async auditAsync(tx: SqlStore, caller: Caller, action: string, entity: string, entityId: string, before: unknown, after: unknown): Promise<void> {
    await recordChange(tx, { actor: caller.actor, action, entity, entityId, siteId: null, before, after, at: this.now() });
  }

  async createUser(caller: Caller, input: UserInput): Promise<{ user: ApiUser; token: string }> {
    requirePermission(caller.user, 'manage-users');
    const now = this.now();
    return this.store.transaction(async (tx) => {
      const r = await addUser(tx, { ...input, now });
      await this.auditAsync(tx, caller, 'create', 'user', r.user.id, null, r.user);
      return r;
    });
  }

  async updateUser(caller: Caller, id: string, input: UserInput): Promise<ApiUser> {
    requirePermission(caller.user, 'manage-users');
    return this.store.transaction(async (tx) => {
      const before = await this.userOrNotFound(tx, id);
      const after = await updateUser(tx, id, input);
      await this.auditAsync(tx, caller, 'update', 'user', id, before, after);
      return after;
    });
  }

  async revokeUser(caller: Caller, id: string): Promise<ApiUser> {
    requirePermission(caller.user, 'manage-users');
    const now = this.now();
    return this.store.transaction(async (tx) => {
      const before = await this.userOrNotFound(tx, id);
      if (id === caller.user.id) throw invalid('id', 'not-self', 'you cannot revoke your own access');
      const after = await revokeUser(tx, id, now);
      await this.auditAsync(tx, caller, 'deactivate', 'user', id, before, after);
      return after;
    });
  }

  // --- audit -------------------------------------------------------------------------------------------------------

  async auditTrail(caller: Caller, q: AuditQuery): Promise<{ items: AuditEntry[]; total: number }> {
    requirePermission(caller.user, 'read-audit');
    return listAudit(this.store, { ...q, siteIds: caller.user.sites, limit: Math.min(q.limit ?? 100, 10_000) });
  }
}

/** A held tap's own columns (the taps table also holds registrations, NISS included: never selected here). */
const HELD_TAP_COLUMNS = 'tap_id, terminal_id, site_id, badge, direction, reason, at, local_at, received_at, enrichment, enrichment_detail';

interface TapRow {
  tap_id: string;
  terminal_id: string;
  site_id: string | null;
  badge: string;
  direction: string;
  reason: string;
  at: string;
  local_at: string | null;
  received_at: string;
  enrichment: string;
  enrichment_detail: string | null;
}

export interface HeldTap {
  tapId: string;
  terminalId: string;
  siteId: string | null;
  badge: string;
  direction: string;
  reason: string;
  at: string;
  /** The tap's site day (Europe/Brussels): an enrolled badge is valid from this day. */
  day: string;
  receivedAt: string;
  enrichment: string;
  detail: string | null;
  /** For a tap held for its employer: the employers the worker may register under on that site. */
  employerChoices?: string[];
}

function toHeldTap(r: TapRow): HeldTap {
  return {
    tapId: r.tap_id, terminalId: r.terminal_id, siteId: r.site_id, badge: r.badge, direction: r.direction, reason: r.reason, at: r.at,
    day: localDate(new Date(r.at)), receivedAt: r.received_at, enrichment: r.enrichment, detail: r.enrichment_detail,
  };
}

function stripStatus(t: TerminalView): Terminal {
  const { appliedConfigVersion: _a, state: _s, lastSeen: _l, ...rest } = t;
  return rest;
}
