import type { Db } from '../../shared/sqlite.ts';
import type { Tap } from '../../shared/mqtt/payloads.ts';
import { companyIdKey } from '../../shared/identifiers/company.ts';
import { localDate, toOnssUtc } from '../../shared/time.ts';
import { placeOfWorkOf } from '../site-data/sites.ts';
import { employerChoices } from '../terminal-sync/terminal-view.ts';
import type { RegistrationRow } from '../store/registrations-schema.ts';

/**
 * Enrichment: a stored tap becomes a registration when the gateway knows who (badge -> worker, capacity,
 * employer) and where (terminal -> site -> declaration valid that day, place of work). When it cannot, the
 * tap keeps a status saying why, for the site manager; nothing is dropped.
 * Runs inside the group-commit transaction, with prepared statements only.
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
] as const;
export type EnrichmentStatus = (typeof ENRICHMENT_STATUSES)[number];

/** A row of `registrations` as enrichment makes it (the database assigns `seq`); always with its worker. */
export type EnrichedRegistration = Omit<RegistrationRow, 'seq' | 'worker_id'> & { worker_id: string };

export type EnrichmentResult =
  | { status: 'enriched'; siteId: string; registration: EnrichedRegistration }
  | { status: Exclude<EnrichmentStatus, 'enriched'>; siteId: string | null; detail: string };

/**
 * Lookups that are the same for many taps of one batch (terminal -> site, the site's declaration of the day,
 * the chain, a worker's employers) are remembered for the batch only: inside one write transaction no other
 * connection can change them, and a new batch starts afresh, so admin changes apply from the next batch.
 */
class BatchMemo {
  private readonly maps = new Map<string, Map<string, unknown>>();
  get<T>(kind: string, key: string, load: () => T): T {
    let m = this.maps.get(kind);
    if (!m) this.maps.set(kind, (m = new Map()));
    if (m.has(key)) return m.get(key) as T;
    const v = load();
    m.set(key, v);
    return v;
  }
}

/** The site's calendar day of a tap; Brussels offsets are whole hours, so the day is fixed per UTC hour. */
function siteDay(memo: BatchMemo, at: string): string {
  const hour = Math.floor(Date.parse(at) / 3_600_000);
  return memo.get('day', String(hour), () => localDate(at));
}

export class Enricher {
  private memo = new BatchMemo();

  private readonly terminalSite;
  private readonly site;
  private readonly declaration;
  private readonly chain;
  private readonly badge;
  private readonly worker;
  private readonly employers;

  constructor(db: Db) {
    this.terminalSite = db.prepare('SELECT site_id FROM terminals WHERE id = ?').pluck();
    this.site = db.prepare('SELECT * FROM sites WHERE id = ?');
    this.declaration = db
      .prepare(`SELECT number FROM declarations WHERE site_id = ? AND valid_from <= ? AND (valid_to IS NULL OR valid_to >= ?) AND deactivated_at IS NULL ORDER BY valid_from DESC, number LIMIT 1`)
      .pluck();
    this.chain = db.prepare('SELECT company_id FROM declaration_companies WHERE declaration = ? ORDER BY rank').pluck();
    this.badge = db.prepare('SELECT worker_id, valid_from, valid_to, revoked_at FROM badges WHERE uid = ?');
    this.worker = db.prepare('SELECT id, ssin, limosa_id, capacity FROM workers WHERE id = ?');
    this.employers = db.prepare('SELECT c.id, c.kind FROM worker_employers we JOIN companies c ON c.id = we.company_id WHERE we.worker_id = ? ORDER BY we.rowid');
  }

  /** Starts a new batch: forget what the previous transaction looked up. */
  beginBatch(): void {
    this.memo = new BatchMemo();
  }

  enrich(terminalId: string, tap: Tap, receivedAt: string): EnrichmentResult {
    const memo = this.memo;
    const siteId = memo.get('terminal', terminalId, () => this.terminalSite.get(terminalId) as string | null | undefined);
    if (!siteId) return { status: 'no-site', siteId: null, detail: `terminal ${terminalId} is not assigned to a site` };
    const day = siteDay(memo, tap.at);
    const badge = this.badge.get(tap.badge) as { worker_id: string; valid_from: string; valid_to: string | null; revoked_at: string | null } | undefined;
    if (!badge) return { status: 'unknown-badge', siteId, detail: `badge ${tap.badge} is not known` };
    if (badge.revoked_at !== null) return { status: 'revoked-badge', siteId, detail: `badge ${tap.badge} was revoked at ${badge.revoked_at}` };
    if (badge.valid_from > day || (badge.valid_to !== null && badge.valid_to < day)) {
      return { status: 'badge-not-valid', siteId, detail: `badge ${tap.badge} is valid ${badge.valid_from} to ${badge.valid_to ?? '(open)'}, not on ${day}` };
    }
    const declaration = memo.get('declaration', `${siteId}\n${day}`, () => this.declaration.get(siteId, day, day) as string | undefined);
    if (!declaration) return { status: 'no-declaration', siteId, detail: `site ${siteId} has no declaration of works valid on ${day}` };
    const worker = memo.get('worker', badge.worker_id, () => this.worker.get(badge.worker_id) as { id: string; ssin: string | null; limosa_id: string | null; capacity: string });
    const all = memo.get('employers', worker.id, () => this.employers.all(worker.id) as Array<{ id: string; kind: 'enterprise' | 'foreign' }>);
    let employer: { id: string; kind: 'enterprise' | 'foreign' } | undefined;
    if (tap.employer) {
      const chosen = companyIdKey(tap.employer);
      employer = all.find((e) => e.id === chosen);
      if (!employer) return { status: 'unknown-employer', siteId, detail: `employer ${chosen} chosen on the terminal is not one of the worker's employers` };
    } else {
      const chain = memo.get('chain', declaration, () => this.chain.all(declaration) as string[]);
      const choices = employerChoices(all.map((e) => e.id), chain);
      if (choices.length !== 1) return { status: 'employer-choice-needed', siteId, detail: `the worker has ${choices.length} employers for this site and none was chosen` };
      employer = all.find((e) => e.id === choices[0]);
    }
    const placeOfWork = memo.get('place', siteId, () => JSON.stringify(placeOfWorkOf(this.site.get(siteId) as Parameters<typeof placeOfWorkOf>[0])));
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
        at_utc: toOnssUtc(tap.at),
        ssin: worker.ssin,
        limosa_id: worker.limosa_id,
        capacity: worker.capacity,
        employer_kind: employer!.kind,
        employer_id: employer!.id,
        declaration,
        place_of_work: placeOfWork,
        received_at: receivedAt,
      },
    };
  }
}
