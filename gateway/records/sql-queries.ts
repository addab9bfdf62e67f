import { localDate, toOffsetIso, toOnssUtc } from '../../shared/time.ts';
import type { FlaggedBadgeTapFact, UnregisteredTapFact, ForwardOutcome, OutageFact, PlacementFact, RegistrationFact, ReleaseFact, RemarkFacts, TerminalFact, TimeCheckFact } from '../remarks/model.ts';
import { outagesBetween as ownOutages } from '../status/outage-journal.ts';
import { listCorrectionFacts } from './corrections-store.ts';
import { forwardingFacts, type ForwardingFacts } from '../forward/read-model.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { tableCheck } from '../store/tables.ts';
import { Binds, byCodePoint } from '../store/sql-binds.ts';
import type { RegistrationFilter, RegistrationRecord, RecordsQueries, SiteRef, TerminalView } from './ports.ts';

/**
 * The site-manager queries on the storage port (gateway/store/sql-store.ts): the same SQL on the gateway's
 * SQLite file and on PostgreSQL. Reads the gateway database (the `registrations` view, the site-data tables,
 * `taps`, `terminal_status`), and what the forwarder knows through its own read model
 * (gateway/forward/read-model.ts). Read-only: it never writes to any of these tables.
 *
 * Every list has its order said: by a number in SQL (the registrations' instant and number, a table's
 * `rowid`, which PostgreSQL's schema keeps as a column for the taps and placements), and by a text key in
 * code, compared by code point as SQLite compares it: a PostgreSQL server sorts text by its own collation.
 */
interface RegistrationJoinRow {
  seq: number;
  tap_id: string;
  terminal_id: string;
  site_id: string;
  site_name: string | null;
  worker_id: string | null;
  worker_name: string | null;
  ssin: string | null;
  limosa_id: string | null;
  capacity: string;
  type: 'IN' | 'OUT';
  reason: 'work' | 'break';
  at: string;
  at_utc: string;
  received_at: string;
  employer_kind: 'enterprise' | 'foreign';
  employer_id: string;
  employer_name: string | null;
  declaration: string;
  place_of_work: string;
  tap_employer: string | null;
  badge: string | null;
  sun_counter: number | null;
  badge_key_version: number | null;
}

const SELECT_REGISTRATIONS = `
SELECT r.seq, r.tap_id, r.terminal_id, r.site_id, s.name AS site_name, r.worker_id, w.name AS worker_name,
       r.ssin, r.limosa_id, r.capacity, r.type, r.reason, r.at, r.at_utc, r.received_at, r.employer_kind,
       r.employer_id, c.name AS employer_name, r.declaration, r.place_of_work, t.employer AS tap_employer,
       t.badge AS badge, t.sun_counter AS sun_counter, b.key_version AS badge_key_version
FROM registrations r
LEFT JOIN sites s ON s.id = r.site_id
LEFT JOIN workers w ON w.id = r.worker_id
LEFT JOIN companies c ON c.id = r.employer_id
LEFT JOIN taps t ON t.tap_id = r.tap_id
LEFT JOIN badges b ON b.uid = t.badge`;

/**
 * An instant written as ONSS takes it (`YYYY-MM-DDTHH:MM:SSZ`) as whole seconds, for the registrations'
 * `at_s` (their indexes hold the instant as a number). For such a text, `at_utc >= t` is `at_s >= seconds(t)`
 * and `at_utc < t` is `at_s < seconds(t)` (a bound with a fraction of a second counts from the next whole
 * second).
 */
function seconds(text: string): number {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new Error(`not an instant: ${text}`);
  return Math.ceil(ms / 1000);
}

/** Gateway tables the dashboard names when a database lacks them (a gateway database has them all). */
const GATEWAY_SOURCES = ['registrations', 'sites', 'workers', 'companies', 'declarations', 'declaration_companies', 'worker_employers', 'badges', 'terminals', 'terminal_status', 'taps'];

/** Rows of `IN (...)` lists are read this many keys at a time. */
const CHUNK = 500;

export function createSqlQueries(store: SqlStore, forwarding: ForwardingFacts = forwardingFacts(store)): RecordsQueries {
  const hasTable = tableCheck(store);

  async function selectRegistrations(where: string[], binds: Binds): Promise<RegistrationJoinRow[]> {
    const sql = SELECT_REGISTRATIONS + (where.length ? ` WHERE ${where.join(' AND ')}` : '') + ' ORDER BY r.at_s, r.seq';
    return store.all<RegistrationJoinRow>(sql, binds.values);
  }

  function toRecord(row: RegistrationJoinRow, outcome: ForwardOutcome | undefined): RegistrationRecord {
    return {
      seq: row.seq,
      tapId: row.tap_id,
      terminalId: row.terminal_id,
      siteId: row.site_id,
      siteName: row.site_name,
      workerId: row.worker_id,
      workerName: row.worker_name,
      ssin: row.ssin,
      limosaId: row.limosa_id,
      capacity: row.capacity,
      type: row.type,
      reason: row.reason,
      at: row.at,
      atUtc: row.at_utc,
      receivedAt: row.received_at,
      employerKind: row.employer_kind,
      employerId: row.employer_id,
      employerName: row.employer_name,
      declaration: row.declaration,
      placeOfWork: row.place_of_work,
      onssState: outcome?.state ?? 'pending',
      onssId: outcome?.state === 'created' ? outcome.onssId ?? null : null,
      badge: row.badge,
      // The tap's own fact: a verified secure message left its read counter in the tap's row.
      badgeKind: row.badge === null ? null : row.sun_counter !== null ? 'secure' : 'uid-only',
      badgeKeyVersion: row.sun_counter !== null ? row.badge_key_version : null,
    };
  }

  function filterWhere(f: RegistrationFilter, binds: Binds): string[] {
    const where = [`r.at_s >= ${binds.add(seconds(f.fromUtc))}`, `r.at_s < ${binds.add(seconds(f.toUtc))}`];
    if (f.siteIds) where.push(binds.in('r.site_id', f.siteIds));
    if (f.workerId) where.push(`r.worker_id = ${binds.add(f.workerId)}`);
    if (f.companyId) where.push(`r.employer_id = ${binds.add(f.companyId)}`);
    if (f.declaration) where.push(`r.declaration = ${binds.add(f.declaration)}`);
    return where;
  }

  async function workerEmployerSets(): Promise<Map<string, Set<string>>> {
    const m = new Map<string, Set<string>>();
    for (const r of await store.all<{ worker_id: string; company_id: string }>('SELECT worker_id, company_id FROM worker_employers ORDER BY rowid')) {
      (m.get(r.worker_id) ?? m.set(r.worker_id, new Set()).get(r.worker_id)!).add(r.company_id);
    }
    return m;
  }

  async function terminalViews(siteIds: string[] | null): Promise<TerminalView[]> {
    const binds = new Binds();
    const where = siteIds ? ` WHERE ${binds.in('t.site_id', siteIds)}` : '';
    // The skew a terminal reports is its raw clock against the gateway's acks: the figure to fix. The skew
    // measured from tap times is only a fallback for terminals that do not report: a terminal corrects its
    // taps, and taps replayed after a network cut arrive late, so tap times understate or distort it.
    const rows = await store.all<{ id: string; site_id: string | null; site_name: string | null; disabled: number; state: string | null; queued: number | null; version: string | null; skew: number | null; updated_at: string | null; last_tap_at: string | null; reported_at: string | null; cannot_register: string | null }>(
      `SELECT t.id, t.site_id, s.name AS site_name, t.disabled,
              st.state, st.queued, st.version, COALESCE(st.reported_skew_ms, st.measured_skew_ms) AS skew, st.updated_at, st.last_tap_at, st.reported_at, st.cannot_register
       FROM terminals t LEFT JOIN sites s ON s.id = t.site_id LEFT JOIN terminal_status st ON st.terminal_id = t.id${where}`,
      binds.values,
    );
    return rows.sort((a, b) => byCodePoint(a.id, b.id)).map((r) => {
      const seen = [r.updated_at, r.last_tap_at].filter((x): x is string => !!x).sort((a, b) => Date.parse(b) - Date.parse(a))[0] ?? null;
      return {
        terminalId: r.id,
        siteId: r.site_id,
        siteName: r.site_name,
        disabled: r.disabled === 1,
        state: r.state === 'online' ? 'online' : r.state === 'offline' ? 'offline' : 'never-seen',
        lastSeen: seen ? toOffsetIso(new Date(seen)) : null,
        queued: r.queued,
        skewMs: r.skew,
        version: r.version,
        cannotRegister: r.state === 'online' && r.cannot_register ? r.cannot_register.split(',') : [],
      };
    });
  }

  /**
   * Taps ingest stored without a registration (enrichment status other than `enriched`), with whether the
   * cause is gone now. Status names are ingest's (gateway/ingest/enrich.ts ENRICHMENT_STATUSES).
   */
  async function unregisteredTaps(fromUtc: string, toUtc: string, siteIds: string[] | null, now: Date): Promise<UnregisteredTapFact[]> {
    const binds = new Binds();
    const where = ["t.enrichment <> 'enriched'"];
    if (siteIds) where.push(binds.in('COALESCE(t.site_id, tr.site_id)', siteIds));
    const rows = (await store.all<{ tap_id: string; terminal_id: string; site_id: string | null; badge: string; at: string; received_at: string; employer: string | null; enrichment: string; enrichment_detail: string | null; worker_id: string | null; check_outcome: string | null; check_details: string | null }>(
      `SELECT t.tap_id, t.terminal_id, COALESCE(t.site_id, tr.site_id) AS site_id, t.badge, t.at, t.received_at, t.employer, t.enrichment, t.enrichment_detail, b.worker_id,
              c.outcome AS check_outcome, c.details AS check_details
       FROM taps t LEFT JOIN terminals tr ON tr.id = t.terminal_id LEFT JOIN badges b ON b.uid = t.badge
       LEFT JOIN tap_badge_checks c ON c.tap_id = t.tap_id
       WHERE ${where.join(' AND ')} ORDER BY t.rowid`,
      binds.values,
    )).filter((r) => {
      // A future-dated tap's own time cannot be trusted (it may lie beyond today): it belongs to when it arrived.
      const u = r.enrichment === 'future-dated' ? toOnssUtc(new Date(r.received_at)) : toOnssUtc(r.at);
      return u >= fromUtc && u < toUtc;
    });
    if (rows.length === 0) return [];
    const today = localDate(now);
    const exists = async (sql: string, params: Array<string | number>) => (await store.one(sql, params)) !== undefined;
    const validBadge = (workerId: string) => exists('SELECT 1 FROM badges WHERE worker_id = $1 AND revoked_at IS NULL AND valid_from <= $2 AND (valid_to IS NULL OR valid_to >= $2)', [workerId, today]);
    const badgeActive = (uid: string) => exists('SELECT 1 FROM badges WHERE uid = $1 AND revoked_at IS NULL AND valid_from <= $2 AND (valid_to IS NULL OR valid_to >= $2)', [uid, today]);
    const choseSince = (workerId: string, siteId: string, afterS: number) =>
      exists('SELECT 1 FROM registrations r JOIN taps t2 ON t2.tap_id = r.tap_id WHERE r.worker_id = $1 AND r.site_id = $2 AND r.at_s > $3 AND t2.employer IS NOT NULL LIMIT 1', [workerId, siteId, afterS]);
    const terminalSite = async (terminalId: string) => (await store.one<{ site_id: string | null }>('SELECT site_id FROM terminals WHERE id = $1', [terminalId]))?.site_id ?? null;
    const declarationOn = (siteId: string, day: string) => exists('SELECT 1 FROM declarations WHERE site_id = $1 AND valid_from <= $2 AND (valid_to IS NULL OR valid_to >= $2)', [siteId, day]);
    const employerOf = (workerId: string, companyId: string) => exists('SELECT 1 FROM worker_employers WHERE worker_id = $1 AND company_id = $2', [workerId, companyId]);
    const facts: UnregisteredTapFact[] = [];
    for (const r of rows) {
      const tapDay = localDate(r.at);
      let cause: UnregisteredTapFact['cause'];
      let resolvedNow: boolean;
      switch (r.enrichment) {
        // Held by the badge check: what happened at that tap does not change afterwards.
        case 'possible-copy':
          cause = 'possible-badge-copy';
          resolvedNow = false;
          break;
        case 'badge-key-missing':
          cause = 'badge-key-missing';
          resolvedNow = false;
          break;
        // Its time cannot be true: never sent, whatever changes.
        case 'future-dated':
          cause = 'future-dated';
          resolvedNow = false;
          break;
        case 'unknown-badge':
          cause = 'unknown-badge';
          resolvedNow = await badgeActive(r.badge);
          break;
        case 'revoked-badge':
        case 'badge-not-valid':
          cause = 'revoked-badge';
          resolvedNow = r.worker_id !== null && (await validBadge(r.worker_id));
          break;
        case 'employer-choice-needed':
          cause = 'employer-choice-missing';
          resolvedNow = r.worker_id !== null && r.site_id !== null && (await choseSince(r.worker_id, r.site_id, seconds(toOnssUtc(r.at))));
          break;
        default: {
          cause = 'tap-not-registered';
          if (r.enrichment === 'no-site') resolvedNow = (await terminalSite(r.terminal_id)) !== null;
          else if (r.enrichment === 'no-declaration') resolvedNow = r.site_id !== null && (await declarationOn(r.site_id, tapDay));
          else if (r.enrichment === 'unknown-employer') resolvedNow = r.worker_id !== null && r.employer !== null && (await employerOf(r.worker_id, r.employer.replace(/[^0-9A-Z+*.]/gi, '').toUpperCase()));
          else resolvedNow = false;
        }
      }
      const badgeCheck = r.check_outcome ? { check: r.check_outcome, ...(JSON.parse(r.check_details ?? '{}') as Record<string, unknown>) } : null;
      facts.push({ tapId: r.tap_id, terminalId: r.terminal_id, siteId: r.site_id, badge: r.badge, workerId: r.worker_id, at: r.at, receivedAt: r.received_at, cause, status: r.enrichment, detail: r.enrichment_detail, resolvedNow, badgeCheck });
    }
    return facts;
  }

  /** Taps of UID-only badges on sites requiring secure badges, as ingest flagged them (tap_badge_checks). */
  async function flaggedBadgeTaps(fromUtc: string, toUtc: string, siteIds: string[] | null): Promise<FlaggedBadgeTapFact[]> {
    const binds = new Binds();
    const where = ["c.outcome = 'uid-only-on-secure-site'"];
    if (siteIds) where.push(binds.in('t.site_id', siteIds));
    const rows = await store.all<{ tap_id: string; terminal_id: string; site_id: string | null; badge: string; at: string; worker_id: string | null; seq: number | null }>(
      `SELECT t.tap_id, t.terminal_id, t.site_id, t.badge, t.at, b.worker_id, r.seq
       FROM tap_badge_checks c JOIN taps t ON t.tap_id = c.tap_id LEFT JOIN badges b ON b.uid = t.badge LEFT JOIN registrations r ON r.tap_id = c.tap_id
       WHERE ${where.join(' AND ')} ORDER BY t.rowid`,
      binds.values,
    );
    return rows
      .filter((r) => { const u = toOnssUtc(r.at); return u >= fromUtc && u < toUtc; })
      .map((r) => ({ tapId: r.tap_id, terminalId: r.terminal_id, siteId: r.site_id, badge: r.badge, workerId: r.worker_id, at: r.at, seq: r.seq }));
  }

  /** Taps whose offset or wall time showed a wrong clock or time-zone setting (ingest's tap_time_checks). */
  async function timeChecks(fromUtc: string, toUtc: string, siteIds: string[] | null): Promise<TimeCheckFact[]> {
    const rows = await store.all<{ tap_id: string; problem: TimeCheckFact['problem']; details: string; terminal_id: string; site_id: string | null; worker_id: string | null }>(
      `SELECT c.tap_id, c.problem, c.details, t.terminal_id, COALESCE(t.site_id, tr.site_id) AS site_id, t.worker_id
       FROM tap_time_checks c JOIN taps t ON t.tap_id = c.tap_id LEFT JOIN terminals tr ON tr.id = t.terminal_id ORDER BY t.rowid`,
    );
    return rows.flatMap((r) => {
      const d = JSON.parse(r.details) as { at: string; given: string; expected: string; trueAt: string };
      const u = toOnssUtc(d.trueAt);
      if (u < fromUtc || u >= toUtc || (siteIds && (r.site_id === null || !siteIds.includes(r.site_id)))) return [];
      return [{ tapId: r.tap_id, terminalId: r.terminal_id, siteId: r.site_id, workerId: r.worker_id, at: d.trueAt, sent: d.at, problem: r.problem, given: d.given, expected: d.expected }];
    });
  }

  /** Every worker's agency placements (FAQ 26), in the order they were made. */
  async function placements(): Promise<Map<string, PlacementFact[]>> {
    const m = new Map<string, PlacementFact[]>();
    for (const p of await store.all<{ worker_id: string; agency_id: string; user_company_id: string; valid_from: string; valid_to: string | null }>('SELECT worker_id, agency_id, user_company_id, valid_from, valid_to FROM agency_placements WHERE deactivated_at IS NULL ORDER BY rowid')) {
      const list = m.get(p.worker_id) ?? [];
      list.push({ agencyId: p.agency_id, userCompanyId: p.user_company_id, from: p.valid_from, to: p.valid_to });
      m.set(p.worker_id, list);
    }
    return m;
  }

  /** Held taps that site-data changes released, with the change (from the audit trail). */
  async function releases(fromUtc: string, toUtc: string, siteIds: string[] | null): Promise<ReleaseFact[]> {
    const rows = await store.all<{ tap_id: string; outcome: ReleaseFact['outcome']; held_as: string; seq: number | null; cause_audit_id: number; audit_id: number | null; because: string; done_at: string | null; requested_at: string; terminal_id: string; site_id: string | null; worker_id: string | null; at: string }>(
      `SELECT x.tap_id, x.outcome, x.held_as, x.seq, x.cause_audit_id, x.audit_id, x.because, x.done_at, x.requested_at,
              t.terminal_id, COALESCE(t.site_id, tr.site_id) AS site_id, t.worker_id, t.at
       FROM tap_releases x JOIN taps t ON t.tap_id = x.tap_id LEFT JOIN terminals tr ON tr.id = t.terminal_id ORDER BY t.rowid`,
    );
    return rows.flatMap((r) => {
      const u = toOnssUtc(r.at);
      if (u < fromUtc || u >= toUtc || (siteIds && (r.site_id === null || !siteIds.includes(r.site_id)))) return [];
      return [{
        tapId: r.tap_id, seq: r.seq, terminalId: r.terminal_id, siteId: r.site_id, workerId: r.worker_id, at: r.at, heldAs: r.held_as, outcome: r.outcome,
        releasedAt: r.done_at ?? r.requested_at, because: JSON.parse(r.because) as ReleaseFact['because'], causeAuditId: r.cause_audit_id, auditId: r.audit_id,
      }];
    });
  }

  /** The ONSS outage journal (the forwarder's) beside the gateway's own journal of terminal and gateway outages. */
  async function outages(from: string, to: string): Promise<OutageFact[]> {
    return [...(await forwarding.outages(from, to)), ...(await ownOutages(store, from, to))].sort((a, b) => Date.parse(a.from) - Date.parse(b.from));
  }

  /** Rows of a table by a list of keys, CHUNK keys per statement. */
  async function byKeys<T>(select: string, column: string, keys: string[]): Promise<T[]> {
    const out: T[] = [];
    const unique = [...new Set(keys)];
    for (let i = 0; i < unique.length; i += CHUNK) {
      const binds = new Binds();
      out.push(...(await store.all<T>(`${select} WHERE ${binds.in(column, unique.slice(i, i + CHUNK))}`, binds.values)));
    }
    return out;
  }

  const queries: RecordsQueries = {
    async sites(siteIds) {
      const binds = new Binds();
      const where = siteIds ? ` WHERE ${binds.in('id', siteIds)}` : '';
      return (await store.all<SiteRef>(`SELECT id, name FROM sites${where}`, binds.values)).sort((a, b) => byCodePoint(a.name, b.name) || byCodePoint(a.id, b.id));
    },

    async registrations(f) {
      const binds = new Binds();
      const rows = await selectRegistrations(filterWhere(f, binds), binds);
      const outcomes = await forwarding.outcomes(rows.map((r) => r.seq));
      return rows.map((r) => toRecord(r, outcomes?.get(r.seq)));
    },

    async registration(seq) {
      const binds = new Binds();
      const rows = await selectRegistrations([`r.seq = ${binds.add(seq)}`], binds);
      if (!rows[0]) return undefined;
      return toRecord(rows[0], (await forwarding.outcomes([seq]))?.get(seq));
    },

    terminals: terminalViews,

    async badgeKinds(uids) {
      const m = new Map<string, { kind: 'secure' | 'uid-only'; keyVersion: number | null }>();
      for (const r of await byKeys<{ uid: string; kind: 'secure' | 'uid-only'; key_version: number | null }>('SELECT uid, kind, key_version FROM badges', 'uid', uids)) {
        m.set(r.uid, { kind: r.kind, keyVersion: r.kind === 'secure' ? r.key_version : null });
      }
      return m;
    },

    async workerNames(ids) {
      const m = new Map<string, string>();
      for (const r of await byKeys<{ id: string; name: string }>('SELECT id, name FROM workers', 'id', ids)) m.set(r.id, r.name);
      return m;
    },

    async remarkFacts(fromUtc, toUtc, siteIds, now) {
      const binds = new Binds();
      const from = binds.add(seconds(fromUtc));
      const to = binds.add(seconds(toUtc));
      const where = [`r.at_s >= ${from}`, `r.at_s < ${to}`, 'r.worker_id IS NOT NULL'];
      // A worker's shifts pair across sites (IN on one site, OUT on another), so take every registration of
      // the workers seen on the asked sites; the remarks are filtered by site afterwards.
      if (siteIds) where.push(`r.worker_id IN (SELECT worker_id FROM registrations WHERE at_s >= ${from} AND at_s < ${to} AND ${binds.in('site_id', siteIds)})`);
      // A lean select: the rules need neither names nor NISS nor the place of work.
      const rows = await store.all<Pick<RegistrationJoinRow, 'seq' | 'tap_id' | 'terminal_id' | 'site_id' | 'worker_id' | 'type' | 'reason' | 'at' | 'received_at' | 'employer_id' | 'declaration' | 'tap_employer'>>(
        `SELECT r.seq, r.tap_id, r.terminal_id, r.site_id, r.worker_id, r.type, r.reason, r.at, r.received_at, r.employer_id, r.declaration, t.employer AS tap_employer
         FROM registrations r LEFT JOIN taps t ON t.tap_id = r.tap_id WHERE ${where.join(' AND ')} ORDER BY r.at_s, r.seq`,
        binds.values,
      );
      const registrations: RegistrationFact[] = rows.map((r) => ({
        seq: r.seq,
        tapId: r.tap_id,
        terminalId: r.terminal_id,
        siteId: r.site_id,
        workerId: r.worker_id!,
        type: r.type,
        reason: r.reason,
        at: r.at,
        receivedAt: r.received_at,
        employerId: r.employer_id,
        declaration: r.declaration,
        // Ingest registers a tap without a choice only when one employer fits the site, so no choice was missing.
        employerChosen: r.tap_employer ? true : null,
      }));
      const declarationCompanies = new Map<string, Set<string>>();
      for (const d of await store.all<{ number: string }>('SELECT number FROM declarations')) declarationCompanies.set(d.number, new Set());
      for (const dc of await store.all<{ declaration: string; company_id: string }>('SELECT declaration, company_id FROM declaration_companies ORDER BY rank')) {
        declarationCompanies.get(dc.declaration)?.add(dc.company_id);
      }
      const seqs = registrations.map((r) => r.seq);
      const terminals: TerminalFact[] = (await terminalViews(siteIds)).map((t) => ({ terminalId: t.terminalId, siteId: t.siteId, state: t.state, skewMs: t.skewMs, skewAt: t.lastSeen }));
      return {
        registrations,
        unregisteredTaps: await unregisteredTaps(fromUtc, toUtc, siteIds, now),
        terminals,
        declarationCompanies,
        workerEmployers: await workerEmployerSets(),
        forwarding: await forwarding.outcomes(seqs),
        outages: await outages(fromUtc, toOffsetIso(now)),
        corrections: await listCorrectionFacts(store, seqs),
        flaggedBadgeTaps: await flaggedBadgeTaps(fromUtc, toUtc, siteIds),
        timeChecks: await timeChecks(fromUtc, toUtc, siteIds),
        placements: await placements(),
        releases: await releases(fromUtc, toUtc, siteIds),
      } satisfies RemarkFacts;
    },

    outages(fromUtc, toUtc) {
      return outages(fromUtc, toUtc);
    },

    async missingSources() {
      const missing: string[] = [];
      for (const t of GATEWAY_SOURCES) if (!(await hasTable(t))) missing.push(t);
      return [...missing, ...(await forwarding.missing())];
    },
  };
  return queries;
}

export type { OutageFact };
