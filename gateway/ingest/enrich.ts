import type { SqlStore } from '../store/sql-store.ts';
import type { Tap } from '../../shared/mqtt/payloads.ts';
import { companyIdKey } from '../../shared/identifiers/company.ts';
import { localDate } from '../../shared/time.ts';
import { placeOfWorkOf } from '../site-data/sites.ts';
import { employerChoices } from '../terminal-sync/terminal-view.ts';
import type { RegistrationFields } from '../store/registration-rows.ts';
import type { BadgeKind } from '../site-data/badges.ts';
import type { BadgeCheckResult, BadgeSecurityCheck } from './badge-check.ts';
import { selectIn } from '../store/multi-row.ts';

/**
 * Enrichment: a stored tap becomes a registration when the gateway knows who (badge -> worker, capacity,
 * employer) and where (terminal -> site -> declaration valid that day, place of work). When it cannot, the
 * tap keeps a status saying why, for the site manager; nothing is dropped.
 * Runs inside the group-commit transaction (or a release's), through its `tx` on the storage port.
 */
export const ENRICHMENT_STATUSES = [
  'enriched',
  'no-site',
  'unknown-badge',
  'revoked-badge',
  'badge-not-valid',
  'no-declaration',
  'employer-choice-needed',
  'unknown-employer',
  // A secure badge's tap whose SUN message failed (badge-check.ts): held, never registered.
  'possible-copy',
  'badge-key-missing',
  // A tap dated further in the future of its arrival than the allowed clock skew: its time cannot be true.
  'future-dated',
] as const;
export type EnrichmentStatus = (typeof ENRICHMENT_STATUSES)[number];

/**
 * A registration as enrichment makes it (its number and instant in seconds are given when it is written:
 * gateway/store/registration-rows.ts); always with its worker.
 */
export type EnrichedRegistration = RegistrationFields & { worker_id: string };

/**
 * `badgeCheck`: what the badge check found, to be recorded with the tap (absent when it did not run).
 * `workerId`: the worker the tap is attributed to (its badge known, valid that day, not revoked, not held by
 * the badge check), also when the tap is held for missing site data: the worker did tap, so it counts for
 * their shift state.
 */
export type EnrichmentResult =
  | { status: 'enriched'; siteId: string; registration: EnrichedRegistration; badgeCheck?: BadgeCheckResult; workerId: string }
  | { status: Exclude<EnrichmentStatus, 'enriched'>; siteId: string | null; detail: string; badgeCheck?: BadgeCheckResult; workerId?: string };

/**
 * Statuses a site-data change can resolve: the tap is then re-enriched and sent late (held-tap release).
 * Never: a revoked badge, a possible copy or a missing key (docs/badges.md), a future-dated tap (its time
 * cannot be true), a terminal without a site (where it stood then is not known).
 */
export const RELEASABLE_STATUSES = ['unknown-badge', 'badge-not-valid', 'no-declaration', 'employer-choice-needed', 'unknown-employer'] as const satisfies readonly EnrichmentStatus[];

/**
 * Lookups that are the same for many taps (terminal -> site, a badge, the site's declaration of the day, the
 * chain, a worker and their employers) are remembered while the site data stays as it is: every site-data
 * table bumps `site_data_version` (gateway-schema.ts), the writer reads it at the start of each transaction
 * (inside it: no other connection can change the data until the COMMIT), and forgets everything when it
 * moved, so an admin change applies from the next batch. Each kind is bounded, so a very large staff does not
 * grow the writer's memory without end (it is then looked up again).
 */
const MEMO_ENTRIES_PER_KIND = 50_000;

class BatchMemo {
  private readonly maps = new Map<string, Map<string, unknown>>();

  private mapOf(kind: string): Map<string, unknown> {
    let m = this.maps.get(kind);
    if (!m) this.maps.set(kind, (m = new Map()));
    return m;
  }

  private keep(m: Map<string, unknown>, key: string, v: unknown): void {
    if (m.size >= MEMO_ENTRIES_PER_KIND) m.clear();
    m.set(key, v);
  }

  get<T>(kind: string, key: string, load: () => T): T {
    const m = this.mapOf(kind);
    if (m.has(key)) return m.get(key) as T;
    const v = load();
    this.keep(m, key, v);
    return v;
  }

  has(kind: string, key: string): boolean {
    return this.mapOf(kind).has(key);
  }

  /** What is remembered, without looking anything up (undefined: nothing, or not remembered). */
  peek<T>(kind: string, key: string): T | undefined {
    return this.mapOf(kind).get(key) as T | undefined;
  }

  /** What a lookup made for many keys at once found (undefined: nothing). */
  set(kind: string, key: string, v: unknown): void {
    this.keep(this.mapOf(kind), key, v);
  }

  /** A lookup through the database: awaited only when it is not remembered. */
  async fetch<T>(kind: string, key: string, load: () => Promise<T>): Promise<T> {
    const m = this.mapOf(kind);
    if (m.has(key)) return m.get(key) as T;
    const v = await load();
    this.keep(m, key, v);
    return v;
  }
}

/** The site's calendar day of a tap; Brussels offsets are whole hours, so the day is fixed per UTC hour. */
function siteDay(memo: BatchMemo, at: string): string {
  const hour = Math.floor(Date.parse(at) / 3_600_000);
  return memo.get('day', String(hour), () => localDate(at));
}

const TERMINAL_SITE = 'SELECT site_id FROM terminals WHERE id = $1';
const SITE = 'SELECT * FROM sites WHERE id = $1';
const DECLARATION = `SELECT number FROM declarations WHERE site_id = $1 AND valid_from <= $2 AND (valid_to IS NULL OR valid_to >= $2) AND deactivated_at IS NULL
  ORDER BY valid_from DESC, number LIMIT 1`;
const CHAIN = 'SELECT company_id FROM declaration_companies WHERE declaration = $1 ORDER BY rank';
const BADGE = 'SELECT worker_id, valid_from, valid_to, revoked_at, kind, key_version FROM badges WHERE uid = $1';
const WORKER = 'SELECT id, ssin, limosa_id, capacity FROM workers WHERE id = $1';
const EMPLOYERS = 'SELECT c.id, c.kind FROM worker_employers we JOIN companies c ON c.id = we.company_id WHERE we.worker_id = $1 ORDER BY we.rowid';
const PLACEMENTS = `SELECT agency_id, user_company_id FROM agency_placements WHERE worker_id = $1 AND valid_from <= $2 AND (valid_to IS NULL OR valid_to >= $2) AND deactivated_at IS NULL
  ORDER BY valid_from, id`;
const COMPANY = 'SELECT id, kind FROM companies WHERE id = $1';
const VERSION = 'SELECT version FROM site_data_version WHERE id = 1';
// The same lookups for many keys at once (multi-row.ts): what a batch's taps need, read before them.
const TERMINAL_SITES = 'SELECT id, site_id FROM terminals WHERE id IN';
const BADGES = 'SELECT uid, worker_id, valid_from, valid_to, revoked_at, kind, key_version FROM badges WHERE uid IN';
const WORKERS = 'SELECT id, ssin, limosa_id, capacity FROM workers WHERE id IN';
const EMPLOYERS_OF = 'SELECT we.worker_id, c.id, c.kind FROM worker_employers we JOIN companies c ON c.id = we.company_id WHERE we.worker_id IN';
const PLACEMENTS_OF = `SELECT worker_id, agency_id, user_company_id FROM agency_placements WHERE valid_from <= $1 AND (valid_to IS NULL OR valid_to >= $1) AND deactivated_at IS NULL
  AND worker_id IN`;

type BadgeRow = { worker_id: string; valid_from: string; valid_to: string | null; revoked_at: string | null; kind: BadgeKind; key_version: number | null };
type CompanyRow = { id: string; kind: 'enterprise' | 'foreign' };

export class Enricher {
  private memo = new BatchMemo();
  /** The site data version the memo was filled at (undefined: not known yet). */
  private memoVersion: number | undefined;
  /** The running transaction, given by `beginBatch`. */
  private tx: SqlStore | undefined;

  constructor(private readonly badgeCheck?: BadgeSecurityCheck) {}

  private inBatch(): SqlStore {
    if (!this.tx) throw new Error('enrichment runs inside a transaction: call beginBatch(tx) first');
    return this.tx;
  }

  /** The terminal's site (null: none), as enrichment sees it in this batch. */
  async siteOf(terminalId: string): Promise<string | null> {
    return (await this.terminalSite(terminalId)) ?? null;
  }

  private terminalSite(terminalId: string): Promise<string | null | undefined> {
    return this.memo.fetch('terminal', terminalId, async () => (await this.inBatch().one<{ site_id: string | null }>(TERMINAL_SITE, [terminalId]))?.site_id);
  }

  /** Starts a new transaction (`tx`): what was looked up is forgotten if the site data changed since. */
  async beginBatch(tx: SqlStore): Promise<void> {
    this.tx = tx;
    const version = (await tx.one<{ version: number }>(VERSION))!.version;
    if (version !== this.memoVersion) {
      this.memo = new BatchMemo();
      this.memoVersion = version;
    }
    this.badgeCheck?.beginBatch(tx);
  }

  /**
   * Reads at once what enriching `taps` will look up and the memo does not hold yet: their terminals' sites,
   * their badges, those badges' workers, the workers' employers and their placements on the taps' days. A
   * statement per kind (per chunk of keys) instead of one per key: after a site-data change empties the memo,
   * a batch of many workers' taps would otherwise wait on a round trip per worker and kind on PostgreSQL.
   * Rows come in the order the single lookups give them, so enrichment finds exactly what it would have read.
   */
  async prefetch(taps: ReadonlyArray<{ terminalId: string; tap: Tap }>): Promise<void> {
    const memo = this.memo;
    const tx = this.inBatch();
    const missing = (kind: string, keys: Iterable<string>) => [...new Set(keys)].filter((k) => !memo.has(kind, k));
    const terminals = missing('terminal', taps.map((t) => t.terminalId));
    const sites = new Map((await selectIn<{ id: string; site_id: string | null }>(tx, TERMINAL_SITES, terminals)).map((r) => [r.id, r.site_id]));
    for (const id of terminals) memo.set('terminal', id, sites.get(id));
    const uids = missing('badge', taps.map((t) => t.tap.badge));
    const badges = new Map((await selectIn<BadgeRow & { uid: string }>(tx, BADGES, uids)).map(({ uid, ...badge }) => [uid, badge]));
    for (const uid of uids) memo.set('badge', uid, badges.get(uid));
    const workerIds = new Set<string>();
    for (const t of taps) {
      const badge = memo.peek<BadgeRow>('badge', t.tap.badge);
      if (badge) workerIds.add(badge.worker_id);
    }
    const workers = missing('worker', workerIds);
    const found = new Map((await selectIn<{ id: string; ssin: string | null; limosa_id: string | null; capacity: string }>(tx, WORKERS, workers)).map((w) => [w.id, w]));
    for (const id of workers) memo.set('worker', id, found.get(id));
    const employed = missing('employers', workerIds);
    const employers = new Map<string, CompanyRow[]>(employed.map((id) => [id, []]));
    // One worker's employers all come in the statement of its chunk, in their order.
    for (const { worker_id, ...company } of await selectIn<CompanyRow & { worker_id: string }>(tx, EMPLOYERS_OF, employed, 'ORDER BY we.rowid')) employers.get(worker_id)!.push(company);
    for (const [id, list] of employers) memo.set('employers', id, list);
    const days = new Map<string, Set<string>>();
    for (const t of taps) {
      const badge = memo.peek<BadgeRow>('badge', t.tap.badge);
      if (!badge) continue;
      const day = siteDay(memo, t.tap.at);
      if (!memo.has('placements', `${badge.worker_id}\n${day}`)) days.set(day, (days.get(day) ?? new Set()).add(badge.worker_id));
    }
    for (const [day, ids] of days) {
      const placed = new Map<string, Array<{ agency: string; userCompany: string }>>([...ids].map((id) => [id, []]));
      for (const p of await selectIn<{ worker_id: string; agency_id: string; user_company_id: string }>(tx, PLACEMENTS_OF, [...ids], 'ORDER BY valid_from, id', [day])) {
        placed.get(p.worker_id)!.push({ agency: p.agency_id, userCompany: p.user_company_id });
      }
      for (const [id, list] of placed) memo.set('placements', `${id}\n${day}`, list);
    }
  }

  /** The transaction ended: nothing is read through it any more. */
  endBatch(): void {
    this.tx = undefined;
  }

  /**
   * `options.noBadgeCheck`: the re-enrichment of a held tap of a UID-only badge (a release), where no SUN
   * message is checked. A secure badge's held tap goes through the badge check on the writer thread instead.
   */
  async enrich(terminalId: string, tap: Tap, receivedAt: string, options: { noBadgeCheck?: boolean } = {}): Promise<EnrichmentResult> {
    const memo = this.memo;
    const tx = this.inBatch();
    const siteId = await this.terminalSite(terminalId);
    if (!siteId) return { status: 'no-site', siteId: null, detail: `terminal ${terminalId} is not assigned to a site` };
    const day = siteDay(memo, tap.at);
    const badge = await memo.fetch('badge', tap.badge, () => tx.one<BadgeRow>(BADGE, [tap.badge]));
    if (!badge) return { status: 'unknown-badge', siteId, detail: `badge ${tap.badge} is not known` };
    if (badge.revoked_at !== null) return { status: 'revoked-badge', siteId, detail: `badge ${tap.badge} was revoked at ${badge.revoked_at}` };
    if (badge.valid_from > day || (badge.valid_to !== null && badge.valid_to < day)) {
      return { status: 'badge-not-valid', siteId, detail: `badge ${tap.badge} is valid ${badge.valid_from} to ${badge.valid_to ?? '(open)'}, not on ${day}` };
    }
    // Before anything else about the registration: a tap that may come from a copy is held whatever else holds.
    const badgeCheck = options.noBadgeCheck ? undefined : await this.badgeCheck?.check(tap, badge, siteId);
    if (badgeCheck?.result === 'held') return { status: badgeCheck.status, siteId, detail: badgeCheck.detail, badgeCheck };
    const result = { ...(await this.registration(memo, tx, terminalId, siteId, day, tap, badge.worker_id, receivedAt)), workerId: badge.worker_id };
    return badgeCheck && badgeCheck.result !== 'none' ? { ...result, badgeCheck } : result;
  }

  /** The user companies the worker is placed with by an agency on that day (FAQ 26), by agency. */
  private placedAgencies(memo: BatchMemo, tx: SqlStore, workerId: string, day: string): Promise<Array<{ agency: string; userCompany: string }>> {
    return memo.fetch('placements', `${workerId}\n${day}`, async () =>
      (await tx.all<{ agency_id: string; user_company_id: string }>(PLACEMENTS, [workerId, day])).map((p) => ({ agency: p.agency_id, userCompany: p.user_company_id })),
    );
  }

  private async registration(memo: BatchMemo, tx: SqlStore, terminalId: string, siteId: string, day: string, tap: Tap, workerId: string, receivedAt: string): Promise<Exclude<EnrichmentResult, { status: 'enriched' }> | Omit<Extract<EnrichmentResult, { status: 'enriched' }>, 'workerId'>> {
    const declaration = await memo.fetch('declaration', `${siteId}\n${day}`, async () => (await tx.one<{ number: string }>(DECLARATION, [siteId, day]))?.number);
    if (!declaration) return { status: 'no-declaration', siteId, detail: `site ${siteId} has no declaration of works valid on ${day}`, workerId };
    const worker = (await memo.fetch('worker', workerId, () => tx.one<{ id: string; ssin: string | null; limosa_id: string | null; capacity: string }>(WORKER, [workerId])))!;
    const all = await memo.fetch('employers', worker.id, () => tx.all<CompanyRow>(EMPLOYERS, [worker.id]));
    const chain = await memo.fetch('chain', declaration, async () => (await tx.all<{ company_id: string }>(CHAIN, [declaration])).map((r) => r.company_id));
    // An agency worker registers under the agency's number (FAQ 26) where the user company is on the chain.
    const agencies = (await this.placedAgencies(memo, tx, worker.id, day)).filter((p) => chain.includes(p.userCompany)).map((p) => p.agency);
    const companyOf = async (id: string) => all.find((e) => e.id === id) ?? (await memo.fetch('company', id, () => tx.one<CompanyRow>(COMPANY, [id])));
    let employer: CompanyRow | undefined;
    if (tap.employer) {
      const chosen = companyIdKey(tap.employer);
      employer = all.some((e) => e.id === chosen) || agencies.includes(chosen) ? await companyOf(chosen) : undefined;
      if (!employer) return { status: 'unknown-employer', siteId, detail: `employer ${chosen} chosen on the terminal is not one of the worker's employers`, workerId };
    } else {
      const choices = employerChoices(all.map((e) => e.id), chain, agencies);
      if (choices.length !== 1) return { status: 'employer-choice-needed', siteId, detail: `the worker has ${choices.length} employers for this site and none was chosen`, workerId };
      employer = await companyOf(choices[0]!);
      if (!employer) return { status: 'unknown-employer', siteId, detail: `employer ${choices[0]} is not known here`, workerId };
    }
    const placeOfWork = await memo.fetch('place', siteId, async () => JSON.stringify(placeOfWorkOf((await tx.one(SITE, [siteId])) as Parameters<typeof placeOfWorkOf>[0])));
    return {
      status: 'enriched',
      siteId,
      registration: {
        tap_id: tap.id,
        terminal_id: terminalId,
        site_id: siteId,
        worker_id: worker.id,
        type: tap.direction,
        reason: tap.reason,
        at: tap.at,
        ssin: worker.ssin,
        limosa_id: worker.limosa_id,
        capacity: worker.capacity,
        employer_kind: employer.kind,
        employer_id: employer.id,
        declaration,
        place_of_work: placeOfWork,
        received_at: receivedAt,
      },
    };
  }
}
