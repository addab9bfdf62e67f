import type { Db } from '../../shared/sqlite.ts';
import { localDate, toOffsetIso, toOnssUtc } from '../../shared/time.ts';
import type { FlaggedBadgeTapFact, UnregisteredTapFact, ForwardOutcome, OutageFact, PlacementFact, RegistrationFact, ReleaseFact, RemarkFacts, TerminalFact, TimeCheckFact } from '../remarks/model.ts';
import { outagesBetween as ownOutages } from '../status/outage-journal.ts';
import { listCorrectionFacts } from './corrections-store.ts';
import { forwardingFacts, type ForwardingFacts } from '../forward/read-model.ts';
import type { RegistrationFilter, RegistrationRecord, RecordsQueries, SiteRef, TerminalView } from './ports.ts';

/**
 * The SQLite adapter of the site-manager queries: reads the gateway database (the `registrations` contract
 * table, the site-data tables, `taps`, `terminal_status`), and what the forwarder knows through its own
 * read model (gateway/forward/read-model.ts). Read-only: it never writes to any of these tables.
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

/** Without the taps table (a database of registrations alone), the tap's columns are absent. */
const SELECT_REGISTRATIONS_WITHOUT_TAPS = SELECT_REGISTRATIONS
  .replace('t.employer AS tap_employer', 'NULL AS tap_employer')
  .replace('t.badge AS badge, t.sun_counter AS sun_counter, b.key_version AS badge_key_version', 'NULL AS badge, NULL AS sun_counter, NULL AS badge_key_version')
  .replace(/LEFT JOIN taps t ON t.tap_id = r.tap_id\nLEFT JOIN badges b ON b.uid = t.badge/, '');

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

function hasTable(db: Db, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?").get(name) !== undefined;
}

function inList(column: string, values: string[], params: unknown[]): string {
  params.push(...values);
  return `${column} IN (${values.map(() => '?').join(', ') || 'NULL'})`;
}

export function createSqliteQueries(db: Db, forwarding: ForwardingFacts = forwardingFacts(db)): RecordsQueries {
  const hasTaps = () => hasTable(db, 'taps');

  function selectRegistrations(where: string[], params: unknown[]): RegistrationJoinRow[] {
    const sql = (hasTaps() ? SELECT_REGISTRATIONS : SELECT_REGISTRATIONS_WITHOUT_TAPS) +
      (where.length ? ` WHERE ${where.join(' AND ')}` : '') + ' ORDER BY r.at_s, r.seq';
    return db.prepare(sql).all(...params) as RegistrationJoinRow[];
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

  function filterWhere(f: RegistrationFilter, params: unknown[]): string[] {
    const where = ['r.at_s >= ?', 'r.at_s < ?'];
    params.push(seconds(f.fromUtc), seconds(f.toUtc));
    if (f.siteIds) where.push(inList('r.site_id', f.siteIds, params));
    if (f.workerId) { where.push('r.worker_id = ?'); params.push(f.workerId); }
    if (f.companyId) { where.push('r.employer_id = ?'); params.push(f.companyId); }
    if (f.declaration) { where.push('r.declaration = ?'); params.push(f.declaration); }
    return where;
  }

  function workerEmployerSets(): Map<string, Set<string>> {
    const m = new Map<string, Set<string>>();
    if (!hasTable(db, 'worker_employers')) return m;
    for (const r of db.prepare('SELECT worker_id, company_id FROM worker_employers').all() as Array<{ worker_id: string; company_id: string }>) {
      (m.get(r.worker_id) ?? m.set(r.worker_id, new Set()).get(r.worker_id)!).add(r.company_id);
    }
    return m;
  }

  function terminalViews(siteIds: string[] | null): TerminalView[] {
    if (!hasTable(db, 'terminals')) return [];
    const params: unknown[] = [];
    const where = siteIds ? ` WHERE ${inList('t.site_id', siteIds, params)}` : '';
    const statusJoin = hasTable(db, 'terminal_status');
    // The skew a terminal reports is its raw clock against the gateway's acks: the figure to fix. The skew
    // measured from tap times is only a fallback for terminals that do not report: a terminal corrects its
    // taps, and taps replayed after a network cut arrive late, so tap times understate or distort it.
    const rows = db.prepare(
      `SELECT t.id, t.site_id, s.name AS site_name, t.disabled,
              ${statusJoin ? 'st.state, st.queued, st.version, COALESCE(st.reported_skew_ms, st.measured_skew_ms) AS skew, st.updated_at, st.last_tap_at, st.reported_at, st.cannot_register' : 'NULL AS state, NULL AS queued, NULL AS version, NULL AS skew, NULL AS updated_at, NULL AS last_tap_at, NULL AS reported_at, NULL AS cannot_register'}
       FROM terminals t LEFT JOIN sites s ON s.id = t.site_id ${statusJoin ? 'LEFT JOIN terminal_status st ON st.terminal_id = t.id' : ''}${where} ORDER BY t.id`,
    ).all(...params) as Array<{ id: string; site_id: string | null; site_name: string | null; disabled: number; state: string | null; queued: number | null; version: string | null; skew: number | null; updated_at: string | null; last_tap_at: string | null; reported_at: string | null; cannot_register: string | null }>;
    return rows.map((r) => {
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
  function unregisteredTaps(fromUtc: string, toUtc: string, siteIds: string[] | null, now: Date): UnregisteredTapFact[] {
    if (!hasTaps()) return [];
    const params: unknown[] = [];
    const where = ["t.enrichment <> 'enriched'"];
    if (siteIds) {
      where.push(`COALESCE(t.site_id, tr.site_id) IN (${siteIds.map(() => '?').join(', ') || 'NULL'})`);
      params.push(...siteIds);
    }
    const checks = hasTable(db, 'tap_badge_checks');
    const rows = (db.prepare(
      `SELECT t.tap_id, t.terminal_id, COALESCE(t.site_id, tr.site_id) AS site_id, t.badge, t.at, t.received_at, t.employer, t.enrichment, t.enrichment_detail, b.worker_id,
              ${checks ? 'c.outcome AS check_outcome, c.details AS check_details' : 'NULL AS check_outcome, NULL AS check_details'}
       FROM taps t LEFT JOIN terminals tr ON tr.id = t.terminal_id LEFT JOIN badges b ON b.uid = t.badge
       ${checks ? 'LEFT JOIN tap_badge_checks c ON c.tap_id = t.tap_id' : ''}
       WHERE ${where.join(' AND ')}`,
    ).all(...params) as Array<{ tap_id: string; terminal_id: string; site_id: string | null; badge: string; at: string; received_at: string; employer: string | null; enrichment: string; enrichment_detail: string | null; worker_id: string | null; check_outcome: string | null; check_details: string | null }>)
      .filter((r) => {
        // A future-dated tap's own time cannot be trusted (it may lie beyond today): it belongs to when it arrived.
        const u = r.enrichment === 'future-dated' ? toOnssUtc(new Date(r.received_at)) : toOnssUtc(r.at);
        return u >= fromUtc && u < toUtc;
      });
    if (rows.length === 0) return [];
    const today = localDate(now);
    const validBadge = db.prepare('SELECT 1 FROM badges WHERE worker_id = ? AND revoked_at IS NULL AND valid_from <= ? AND (valid_to IS NULL OR valid_to >= ?)');
    const badgeActive = db.prepare('SELECT 1 FROM badges WHERE uid = ? AND revoked_at IS NULL AND valid_from <= ? AND (valid_to IS NULL OR valid_to >= ?)');
    const choseSince = hasTable(db, 'registrations')
      ? db.prepare("SELECT 1 FROM registrations r JOIN taps t2 ON t2.tap_id = r.tap_id WHERE r.worker_id = ? AND r.site_id = ? AND r.at_s > ? AND t2.employer IS NOT NULL LIMIT 1")
      : undefined;
    const terminalSite = db.prepare('SELECT site_id FROM terminals WHERE id = ?');
    const declarationOn = db.prepare('SELECT 1 FROM declarations WHERE site_id = ? AND valid_from <= ? AND (valid_to IS NULL OR valid_to >= ?)');
    const employerOf = db.prepare('SELECT 1 FROM worker_employers WHERE worker_id = ? AND company_id = ?');
    return rows.map((r): UnregisteredTapFact => {
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
          resolvedNow = badgeActive.get(r.badge, today, today) !== undefined;
          break;
        case 'revoked-badge':
        case 'badge-not-valid':
          cause = 'revoked-badge';
          resolvedNow = r.worker_id !== null && validBadge.get(r.worker_id, today, today) !== undefined;
          break;
        case 'employer-choice-needed':
          cause = 'employer-choice-missing';
          resolvedNow = r.worker_id !== null && r.site_id !== null && choseSince?.get(r.worker_id, r.site_id, seconds(toOnssUtc(r.at))) !== undefined;
          break;
        default: {
          cause = 'tap-not-registered';
          const site = (terminalSite.get(r.terminal_id) as { site_id: string | null } | undefined)?.site_id ?? null;
          if (r.enrichment === 'no-site') resolvedNow = site !== null;
          else if (r.enrichment === 'no-declaration') resolvedNow = r.site_id !== null && declarationOn.get(r.site_id, tapDay, tapDay) !== undefined;
          else if (r.enrichment === 'unknown-employer') resolvedNow = r.worker_id !== null && r.employer !== null && employerOf.get(r.worker_id, r.employer.replace(/[^0-9A-Z+*.]/gi, '').toUpperCase()) !== undefined;
          else resolvedNow = false;
        }
      }
      const badgeCheck = r.check_outcome ? { check: r.check_outcome, ...(JSON.parse(r.check_details ?? '{}') as Record<string, unknown>) } : null;
      return { tapId: r.tap_id, terminalId: r.terminal_id, siteId: r.site_id, badge: r.badge, workerId: r.worker_id, at: r.at, receivedAt: r.received_at, cause, status: r.enrichment, detail: r.enrichment_detail, resolvedNow, badgeCheck };
    });
  }

  /** Taps of UID-only badges on sites requiring secure badges, as ingest flagged them (tap_badge_checks). */
  function flaggedBadgeTaps(fromUtc: string, toUtc: string, siteIds: string[] | null): FlaggedBadgeTapFact[] {
    if (!hasTaps() || !hasTable(db, 'tap_badge_checks')) return [];
    const params: unknown[] = [];
    const where = ["c.outcome = 'uid-only-on-secure-site'"];
    if (siteIds) where.push(inList('t.site_id', siteIds, params));
    const rows = db.prepare(
      `SELECT t.tap_id, t.terminal_id, t.site_id, t.badge, t.at, b.worker_id, r.seq
       FROM tap_badge_checks c JOIN taps t ON t.tap_id = c.tap_id LEFT JOIN badges b ON b.uid = t.badge LEFT JOIN registrations r ON r.tap_id = c.tap_id
       WHERE ${where.join(' AND ')}`,
    ).all(...params) as Array<{ tap_id: string; terminal_id: string; site_id: string | null; badge: string; at: string; worker_id: string | null; seq: number | null }>;
    return rows
      .filter((r) => { const u = toOnssUtc(r.at); return u >= fromUtc && u < toUtc; })
      .map((r) => ({ tapId: r.tap_id, terminalId: r.terminal_id, siteId: r.site_id, badge: r.badge, workerId: r.worker_id, at: r.at, seq: r.seq }));
  }

  /** Taps whose offset or wall time showed a wrong clock or time-zone setting (ingest's tap_time_checks). */
  function timeChecks(fromUtc: string, toUtc: string, siteIds: string[] | null): TimeCheckFact[] {
    if (!hasTable(db, 'tap_time_checks')) return [];
    const rows = db.prepare(
      `SELECT c.tap_id, c.problem, c.details, t.terminal_id, COALESCE(t.site_id, tr.site_id) AS site_id, t.worker_id
       FROM tap_time_checks c JOIN taps t ON t.tap_id = c.tap_id LEFT JOIN terminals tr ON tr.id = t.terminal_id`,
    ).all() as Array<{ tap_id: string; problem: TimeCheckFact['problem']; details: string; terminal_id: string; site_id: string | null; worker_id: string | null }>;
    return rows.flatMap((r) => {
      const d = JSON.parse(r.details) as { at: string; given: string; expected: string; trueAt: string };
      const u = toOnssUtc(d.trueAt);
      if (u < fromUtc || u >= toUtc || (siteIds && (r.site_id === null || !siteIds.includes(r.site_id)))) return [];
      return [{ tapId: r.tap_id, terminalId: r.terminal_id, siteId: r.site_id, workerId: r.worker_id, at: d.trueAt, sent: d.at, problem: r.problem, given: d.given, expected: d.expected }];
    });
  }

  /** Every worker's agency placements (FAQ 26). */
  function placements(): Map<string, PlacementFact[]> {
    const m = new Map<string, PlacementFact[]>();
    if (!hasTable(db, 'agency_placements')) return m;
    for (const p of db.prepare('SELECT worker_id, agency_id, user_company_id, valid_from, valid_to FROM agency_placements WHERE deactivated_at IS NULL').all() as Array<{ worker_id: string; agency_id: string; user_company_id: string; valid_from: string; valid_to: string | null }>) {
      const list = m.get(p.worker_id) ?? [];
      list.push({ agencyId: p.agency_id, userCompanyId: p.user_company_id, from: p.valid_from, to: p.valid_to });
      m.set(p.worker_id, list);
    }
    return m;
  }

  /** Held taps that site-data changes released, with the change (from the audit trail). */
  function releases(fromUtc: string, toUtc: string, siteIds: string[] | null): ReleaseFact[] {
    if (!hasTable(db, 'tap_releases')) return [];
    const rows = db.prepare(
      `SELECT x.tap_id, x.outcome, x.held_as, x.seq, x.cause_audit_id, x.audit_id, x.because, x.done_at, x.requested_at,
              t.terminal_id, COALESCE(t.site_id, tr.site_id) AS site_id, t.worker_id, t.at
       FROM tap_releases x JOIN taps t ON t.tap_id = x.tap_id LEFT JOIN terminals tr ON tr.id = t.terminal_id`,
    ).all() as Array<{ tap_id: string; outcome: ReleaseFact['outcome']; held_as: string; seq: number | null; cause_audit_id: number; audit_id: number | null; because: string; done_at: string | null; requested_at: string; terminal_id: string; site_id: string | null; worker_id: string | null; at: string }>;
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
  function outages(from: string, to: string): OutageFact[] {
    return [...forwarding.outages(from, to), ...ownOutages(db, from, to)].sort((a, b) => Date.parse(a.from) - Date.parse(b.from));
  }

  const queries: RecordsQueries = {
    sites(siteIds) {
      if (!hasTable(db, 'sites')) return [];
      const params: unknown[] = [];
      const where = siteIds ? ` WHERE ${inList('id', siteIds, params)}` : '';
      return db.prepare(`SELECT id, name FROM sites${where} ORDER BY name`).all(...params) as SiteRef[];
    },

    registrations(f) {
      const params: unknown[] = [];
      const rows = selectRegistrations(filterWhere(f, params), params);
      const outcomes = forwarding.outcomes(rows.map((r) => r.seq));
      return rows.map((r) => toRecord(r, outcomes?.get(r.seq)));
    },

    registration(seq) {
      const rows = selectRegistrations(['r.seq = ?'], [seq]);
      if (!rows[0]) return undefined;
      return toRecord(rows[0], forwarding.outcomes([seq])?.get(seq));
    },

    terminals: terminalViews,

    badgeKinds(uids) {
      const m = new Map<string, { kind: 'secure' | 'uid-only'; keyVersion: number | null }>();
      const unique = [...new Set(uids)];
      if (unique.length === 0 || !hasTable(db, 'badges')) return m;
      for (let i = 0; i < unique.length; i += 500) {
        const chunk = unique.slice(i, i + 500);
        for (const r of db.prepare(`SELECT uid, kind, key_version FROM badges WHERE uid IN (${chunk.map(() => '?').join(', ')})`).all(...chunk) as Array<{ uid: string; kind: 'secure' | 'uid-only'; key_version: number | null }>) {
          m.set(r.uid, { kind: r.kind, keyVersion: r.kind === 'secure' ? r.key_version : null });
        }
      }
      return m;
    },

    workerNames(ids) {
      const m = new Map<string, string>();
      const unique = [...new Set(ids)];
      if (unique.length === 0 || !hasTable(db, 'workers')) return m;
      for (let i = 0; i < unique.length; i += 500) {
        const chunk = unique.slice(i, i + 500);
        for (const r of db.prepare(`SELECT id, name FROM workers WHERE id IN (${chunk.map(() => '?').join(', ')})`).all(...chunk) as Array<{ id: string; name: string }>) m.set(r.id, r.name);
      }
      return m;
    },

    remarkFacts(fromUtc, toUtc, siteIds, now) {
      const params: unknown[] = [];
      const where = ['r.at_s >= ?', 'r.at_s < ?', 'r.worker_id IS NOT NULL'];
      params.push(seconds(fromUtc), seconds(toUtc));
      // A worker's shifts pair across sites (IN on one site, OUT on another), so take every registration of
      // the workers seen on the asked sites; the remarks are filtered by site afterwards.
      if (siteIds) {
        const inner: unknown[] = [seconds(fromUtc), seconds(toUtc)];
        where.push(`r.worker_id IN (SELECT worker_id FROM registrations WHERE at_s >= ? AND at_s < ? AND ${inList('site_id', siteIds, inner)})`);
        params.push(...inner);
      }
      // A lean select: the rules need neither names nor NISS nor the place of work.
      const rows = db.prepare(
        `SELECT r.seq, r.tap_id, r.terminal_id, r.site_id, r.worker_id, r.type, r.reason, r.at, r.received_at, r.employer_id, r.declaration,
                ${hasTaps() ? 't.employer' : 'NULL'} AS tap_employer
         FROM registrations r ${hasTaps() ? 'LEFT JOIN taps t ON t.tap_id = r.tap_id' : ''} WHERE ${where.join(' AND ')}`,
      ).all(...params) as Array<Pick<RegistrationJoinRow, 'seq' | 'tap_id' | 'terminal_id' | 'site_id' | 'worker_id' | 'type' | 'reason' | 'at' | 'received_at' | 'employer_id' | 'declaration' | 'tap_employer'>>;
      const employers = workerEmployerSets();
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
      if (hasTable(db, 'declarations')) {
        for (const d of db.prepare('SELECT number FROM declarations').all() as Array<{ number: string }>) declarationCompanies.set(d.number, new Set());
        for (const dc of db.prepare('SELECT declaration, company_id FROM declaration_companies').all() as Array<{ declaration: string; company_id: string }>) {
          declarationCompanies.get(dc.declaration)?.add(dc.company_id);
        }
      }
      const terminals: TerminalFact[] = terminalViews(siteIds).map((t) => ({ terminalId: t.terminalId, siteId: t.siteId, state: t.state, skewMs: t.skewMs, skewAt: t.lastSeen }));
      return {
        registrations,
        unregisteredTaps: unregisteredTaps(fromUtc, toUtc, siteIds, now),
        terminals,
        declarationCompanies,
        workerEmployers: employers,
        forwarding: forwarding.outcomes(registrations.map((r) => r.seq)),
        outages: outages(fromUtc, toOffsetIso(now)),
        corrections: listCorrectionFacts(db, registrations.map((r) => r.seq)),
        flaggedBadgeTaps: flaggedBadgeTaps(fromUtc, toUtc, siteIds),
        timeChecks: timeChecks(fromUtc, toUtc, siteIds),
        placements: placements(),
        releases: releases(fromUtc, toUtc, siteIds),
      } satisfies RemarkFacts;
    },

    outages(fromUtc, toUtc) {
      return outages(fromUtc, toUtc);
    },

    missingSources() {
      const missing = ['registrations', 'sites', 'workers', 'companies', 'declarations', 'declaration_companies', 'worker_employers', 'badges', 'terminals', 'terminal_status', 'taps'].filter((t) => !hasTable(db, t));
      return [...missing, ...forwarding.missing()];
    },
  };
  return queries;
}

export type { OutageFact };
