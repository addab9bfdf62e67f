import { forbidden, notFound } from '../../shared/errors.ts';
import { InvalidInputError } from '../../shared/problems.ts';
import { localDate, toOffsetIso } from '../../shared/time.ts';
import { readMaxShiftHours } from '../store/database.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { computeRemarks } from '../remarks/rules.ts';
import { DEFAULT_REMARK_OPTIONS, type RegistrationFact, type Remark, type RemarkOptions } from '../remarks/model.ts';
import { checkPeriod, exportRegistrations, redactForUser, EXPORT_FORMATS, type ExportFormat, type ExportRow } from './export.ts';
import { presenceNow, timelineBars, type PresenceEntry, type TimelineBar } from './presence.ts';
import { changeCorrectionState, getCorrection, listCorrections, prepareCorrection, type CorrectionRequest } from './corrections-store.ts';
import { correctionDocument, documentLines } from './corrections-document.ts';
import type { RegistrationRecord, RecordsQueries, TerminalView } from './ports.ts';
import { requirePermission, type ApiUser } from '../access/users.ts';
import { companyScope } from './company-scope.ts';
import type { OutageFact } from '../remarks/model.ts';

/**
 * The site-manager features behind one object, each call scoped to what the user may see: a site manager
 * reads only the own sites and sees no NISS unless allowed; an administrator reads everything.
 * The CLI and the HTTP API both call this; neither has logic of its own. On the storage port: every call
 * answers a promise, and runs the same on SQLite and PostgreSQL.
 */


export interface RegistrationQuery {
  from?: string;
  to?: string;
  site?: string;
  worker?: string;
  company?: string;
  declaration?: string;
}

const HOUR = 3_600_000;

function utc(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

function addDays(day: string, n: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
}

function toFact(r: RegistrationRecord): RegistrationFact | null {
  if (!r.workerId) return null;
  return { seq: r.seq, tapId: r.tapId, terminalId: r.terminalId, siteId: r.siteId, workerId: r.workerId, type: r.type, reason: r.reason, at: r.at, receivedAt: r.receivedAt, employerId: r.employerId, declaration: r.declaration, employerChosen: null };
}

export class RecordsService {
  private readonly now: () => Date;
  private options: Promise<RemarkOptions> | undefined;

  constructor(private readonly store: SqlStore, private readonly queries: RecordsQueries, private readonly opts: { now?: () => Date; remarkOptions?: Partial<RemarkOptions> } = {}) {
    this.now = opts.now ?? (() => new Date());
  }

  /**
   * The remark rules' options, with the gateway's own maximum shift length (written at its start), so remarks
   * pair shifts as ingest does. Read at the first call that needs it, and kept.
   */
  remarkOptions(): Promise<RemarkOptions> {
    this.options ??= readMaxShiftHours(this.store).then(
      (maxShiftHours) => ({ ...DEFAULT_REMARK_OPTIONS, maxShiftHours, ...this.opts.remarkOptions }),
      (err: unknown) => {
        this.options = undefined;
        throw err;
      },
    );
    return this.options;
  }

  /** The sites a call may read: the user's, narrowed to one site when asked (refused outside the user's). */
  scope(user: ApiUser, site?: string): string[] | null {
    if (site) {
      if (user.sites !== null && !user.sites.includes(site)) {
        throw forbidden({ field: 'site', rule: 'site-scope', message: `site: ${site} is not one of your sites (${user.sites.join(', ')})` });
      }
      return [site];
    }
    return user.sites;
  }

  sites(user: ApiUser) {
    return this.queries.sites(user.sites);
  }

  missingSources(): Promise<string[]> {
    return this.queries.missingSources();
  }

  async terminals(user: ApiUser, site?: string): Promise<TerminalView[]> {
    return this.queries.terminals(this.scope(user, site));
  }

  async presence(user: ApiUser, site?: string): Promise<Array<PresenceEntry & { workerName: string | null; siteName: string | null }>> {
    const now = this.now();
    const w = (await this.remarkOptions()).maxShiftHours;
    requirePermission(user, 'read');
    const records = await this.inCompanyScope(user, await this.queries.registrations({ fromUtc: utc(new Date(now.getTime() - w * HOUR)), toUtc: utc(new Date(now.getTime() + 1000)), siteIds: this.scope(user, site) }));
    const byWorker = new Map(records.map((r) => [r.workerId, r]));
    const facts = records.map(toFact).filter((f): f is RegistrationFact => f !== null);
    return presenceNow(facts, now, w).map((p) => ({ ...p, workerName: byWorker.get(p.workerId)?.workerName ?? null, siteName: byWorker.get(p.workerId)?.siteName ?? null }));
  }

  private period(q: RegistrationQuery) {
    const p = checkPeriod(q.from, q.to);
    if (!p.ok) throw new InvalidInputError(p.problems);
    return p.value;
  }

  /** Registrations the user may see: their sites, and their company's chain (FAQ 33). */
  private async inCompanyScope<T extends { declaration: string | null; employerId: string | null }>(user: ApiUser, rows: T[]): Promise<T[]> {
    const visible = await companyScope(this.store, user);
    return visible ? rows.filter((r) => visible(r.declaration, r.employerId)) : rows;
  }

  async registrations(user: ApiUser, q: RegistrationQuery): Promise<{ period: { from: string; to: string; days: number }; registrations: ExportRow[] }> {
    requirePermission(user, 'read');
    const period = this.period(q);
    const rows = await this.inCompanyScope(user, await this.queries.registrations({ fromUtc: period.fromUtc, toUtc: period.toUtc, siteIds: this.scope(user, q.site), workerId: q.worker, companyId: q.company, declaration: q.declaration }));
    return { period: { from: period.from, to: period.to, days: period.days }, registrations: redactForUser(rows, user.canSeeNiss) };
  }

  async export(user: ApiUser, q: RegistrationQuery & { format?: string }) {
    requirePermission(user, 'export');
    const format = (q.format ?? 'csv') as ExportFormat;
    if (!EXPORT_FORMATS.includes(format)) throw new InvalidInputError([{ field: 'format', rule: 'enum', message: `format: must be csv or json, got ${JSON.stringify(q.format)}` }]);
    const period = this.period(q);
    const rows = await this.inCompanyScope(user, await this.queries.registrations({ fromUtc: period.fromUtc, toUtc: period.toUtc, siteIds: this.scope(user, q.site), workerId: q.worker, companyId: q.company, declaration: q.declaration }));
    return { ...exportRegistrations(rows, { format, canSeeNiss: user.canSeeNiss, period, filters: { site: q.site, worker: q.worker, company: q.company, declaration: q.declaration } }), count: rows.length };
  }

  /** Remarks of the site days from..to (default: the last 31 days), recomputed from the data now. */
  async remarks(user: ApiUser, q: { from?: string; to?: string; site?: string; kind?: string } = {}): Promise<Array<Remark & { siteName: string | null; workerName: string | null; badge?: { uid: string; kind: 'secure' | 'uid-only' | null; keyVersion: number | null } }>> {
    const now = this.now();
    const today = localDate(now);
    const period = this.period({ from: q.from ?? addDays(today, -30), to: q.to ?? today });
    const siteIds = this.scope(user, q.site);
    const options = await this.remarkOptions();
    const w = options.maxShiftHours * HOUR;
    // Look a shift window beyond both ends so a night shift at the edge pairs correctly.
    requirePermission(user, 'read');
    const visible = await companyScope(this.store, user);
    const allFacts = await this.queries.remarkFacts(utc(new Date(Date.parse(period.fromUtc) - w)), utc(new Date(Math.min(Date.parse(period.toUtc) + w, now.getTime() + 1000))), siteIds, now);
    const facts = visible ? { ...allFacts, registrations: allFacts.registrations.filter((r) => visible(r.declaration, r.employerId)) } : allFacts;
    const remarks = computeRemarks(facts, now, options).filter(
      (r) => r.day >= period.from && r.day <= period.to && (siteIds === null || (r.siteId !== null && siteIds.includes(r.siteId))) && (!q.kind || r.kind === q.kind),
    );
    const siteNames = new Map((await this.queries.sites(null)).map((s) => [s.id, s.name]));
    const workerNames = await this.queries.workerNames(remarks.flatMap((r) => (r.workerId ? [r.workerId] : [])));
    // A remark about a badge (a possible copy, a UID-only badge on a secure site, an unknown badge) says what kind the badge is.
    const badgeOf = (r: Remark) => (typeof r.details.badge === 'string' ? r.details.badge : null);
    const kinds = await this.queries.badgeKinds(remarks.flatMap((r) => badgeOf(r) ?? []));
    return remarks.map((r) => {
      const uid = badgeOf(r);
      const kind = uid === null ? undefined : kinds.get(uid);
      return {
        ...r, siteName: r.siteId ? siteNames.get(r.siteId) ?? null : null, workerName: r.workerId ? workerNames.get(r.workerId) ?? null : null,
        ...(uid === null ? {} : { badge: { uid, kind: kind?.kind ?? null, keyVersion: kind?.keyVersion ?? null } }),
      };
    });
  }

  async outages(user: ApiUser, q: { from?: string; to?: string } = {}): Promise<OutageFact[]> {
    void user;
    const today = localDate(this.now());
    const period = this.period({ from: q.from ?? addDays(today, -30), to: q.to ?? today });
    return this.queries.outages(period.fromUtc, period.toUtc);
  }

  async timeline(user: ApiUser, q: { worker?: string; day?: string; site?: string }): Promise<{ worker: string; day: string; dayStart: string; dayEnd: string; bars: TimelineBar[]; registrations: ExportRow[] }> {
    if (!q.worker) throw new InvalidInputError([{ field: 'worker', rule: 'required', message: 'worker: is required' }]);
    const day = q.day ?? localDate(this.now());
    const period = this.period({ from: day, to: day });
    const maxShiftHours = (await this.remarkOptions()).maxShiftHours;
    const w = maxShiftHours * HOUR;
    requirePermission(user, 'read');
    const rows = await this.inCompanyScope(user, await this.queries.registrations({ fromUtc: utc(new Date(Date.parse(period.fromUtc) - w)), toUtc: utc(new Date(Date.parse(period.toUtc) + w)), siteIds: this.scope(user, q.site), workerId: q.worker }));
    const facts = rows.map(toFact).filter((f): f is RegistrationFact => f !== null);
    const bars = timelineBars(facts, day, (at) => localDate(at), maxShiftHours);
    const seqs = new Set(bars.flatMap((b) => [b.fromSeq, b.toSeq]));
    // The day's real bounds: 23 or 25 hours on DST days, so the bars sit at their true place.
    return { worker: q.worker, day, dayStart: toOffsetIso(new Date(Date.parse(period.fromUtc))), dayEnd: toOffsetIso(new Date(Date.parse(period.toUtc))), bars, registrations: redactForUser(rows.filter((r) => seqs.has(r.seq) || localDate(r.at) === day), user.canSeeNiss) };
  }

  private async visibleRegistration(user: ApiUser, seq: number): Promise<RegistrationRecord> {
    const r = Number.isInteger(seq) ? await this.queries.registration(seq) : undefined;
    const visible = await companyScope(this.store, user);
    if (!r || (user.sites !== null && !user.sites.includes(r.siteId)) || (visible && !visible(r.declaration, r.employerId))) throw notFound('seq', `seq: no registration ${seq} on your sites`);
    return r;
  }

  corrections(user: ApiUser, q: { state?: string; seq?: number } = {}): Promise<CorrectionRequest[]> {
    return listCorrections(this.store, { siteIds: user.sites, state: q.state, seq: q.seq });
  }

  async prepareCorrection(user: ApiUser, input: { seq: number; field: string; requestedValue: string; reason: string }): Promise<CorrectionRequest> {
    requirePermission(user, 'corrections');
    const r = await this.visibleRegistration(user, input.seq);
    return prepareCorrection(this.store, r, input, user.name, this.now());
  }

  async changeCorrection(user: ApiUser, id: number, to: string, note?: string): Promise<CorrectionRequest> {
    requirePermission(user, 'corrections');
    const c = await getCorrection(this.store, id);
    if (!c || (user.sites !== null && !user.sites.includes(c.siteId))) throw notFound('id', `id: no correction request ${id} on your sites`);
    const r = await this.visibleRegistration(user, c.seq);
    return changeCorrectionState(this.store, id, to, r.at, user.name, note, this.now());
  }

  async correctionDocument(user: ApiUser, ids: number[], format: string) {
    if (!['csv', 'json', 'html'].includes(format)) throw new InvalidInputError([{ field: 'format', rule: 'enum', message: `format: must be csv, json or html, got ${JSON.stringify(format)}` }]);
    const items = [];
    for (const id of ids) {
      const c = await getCorrection(this.store, id);
      if (!c || (user.sites !== null && !user.sites.includes(c.siteId))) throw notFound('id', `id: no correction request ${id} on your sites`);
      items.push({ request: c, registration: await this.visibleRegistration(user, c.seq) });
    }
    return correctionDocument(documentLines(items, user.canSeeNiss), format as 'csv' | 'json' | 'html', user.canSeeNiss);
  }

  nowIso(): string {
    return toOffsetIso(this.now());
  }
}
