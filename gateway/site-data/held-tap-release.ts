import type { Db } from '../../shared/sqlite.ts';
import type { Tap } from '../../shared/mqtt/payloads.ts';
import { parseCompanyId } from '../../shared/identifiers/company.ts';
import { localDate } from '../../shared/time.ts';
import { Enricher, RELEASABLE_STATUSES, type EnrichmentResult } from '../ingest/enrich.ts';
import { ShiftTracker } from '../ingest/shift-tracker.ts';
import { RegistrationRows } from '../store/registration-rows.ts';
import type { BadgeSecurityCheck } from '../ingest/badge-check.ts';
import { recordChangeSync, type Actor } from './audit.ts';
import { EMPTY_RELEASE, type HeldTapPreview, type HeldTapRelease, type ReleaseContext, type ReleaseResult, type SiteDataChange } from './held-taps.ts';

/**
 * Held taps sent once the missing data arrives. A site-data change (a badge enrolled or its validity
 * widened, a declaration added or changed, a worker's employers or agency placement set, an employer chosen
 * by a site manager for a held tap) re-enriches every held tap it may resolve, in the change's transaction:
 * each one that now enriches becomes a registration with its original time (the worker did tap: FAQ 21),
 * recorded in `tap_releases` and in the audit trail (the release's own entry names the change as its cause).
 *
 * Never released automatically: taps of a revoked badge, `possible-copy` and `badge-key-missing` taps
 * (docs/badges.md), future-dated taps, taps of a terminal without a site, and taps older than the horizon
 * (`releaseHorizonDays`, default 30 calendar days: the correction window). A held tap of a badge now
 * enrolled as a **secure** badge is not released blind: it goes to the badge check on the gateway's writer
 * thread, which holds the keys and the read counters (`outcome: 'badge-check'`), and is sent only if its SUN
 * message verifies.
 */
const DEFAULT_RELEASE_HORIZON_DAYS = 30;

function releaseHorizonDays(db: Db): number {
  const v = db.prepare("SELECT value FROM gateway_settings WHERE key = 'releaseHorizonDays'").pluck().get() as string | undefined;
  const n = v === undefined ? NaN : Number(v);
  return Number.isInteger(n) && n >= 0 ? n : DEFAULT_RELEASE_HORIZON_DAYS;
}

export function saveReleaseHorizonDays(db: Db, days: number): void {
  db.prepare("INSERT INTO gateway_settings (key, value) VALUES ('releaseHorizonDays', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(String(days));
}

/** A held tap as stored, with what the release needs about it. */
export interface HeldTapRow {
  tap_id: string;
  terminal_id: string;
  site_id: string | null;
  seq: number;
  badge: string;
  direction: 'IN' | 'OUT';
  reason: 'work' | 'break';
  at: string;
  local_at: string | null;
  employer: string | null;
  received_at: string;
  enrichment: string;
  sun_counter: number | null;
  worker_id: string | null;
}

/** The tap a terminal sent, rebuilt from its row (the employer replaced when a site manager chose it). */
function tapOfRow(r: HeldTapRow, sun?: { picc: string; mac: string }, employer?: string): Tap {
  const chosen = employer ?? r.employer;
  const parsed = chosen ? parseCompanyId(chosen, 'employer') : undefined;
  return {
    v: 1, id: r.tap_id, seq: r.seq, badge: r.badge, direction: r.direction, reason: r.reason, at: r.at,
    ...(r.local_at ? { localAt: r.local_at } : {}),
    ...(parsed?.ok ? { employer: parsed.value } : {}),
    ...(sun ? { sun } : {}),
  };
}

/** What a release says about its cause, for the remark history. */
export interface Because {
  change: 'badge-enrolled' | 'badge-validity' | 'declaration' | 'worker-employers' | 'placement' | 'employer-chosen';
  entityId: string;
  by: string;
  at: string;
}

/**
 * The writes of a release, shared by the site-data transaction and the writer thread's badge check: the
 * registration, the tap's new status, the release record with its audit entry, the worker's shift state.
 */
export class ReleaseWrites {
  private readonly registrations: RegistrationRows;
  private readonly markTap;
  private readonly insertRelease;
  private readonly finishRelease;
  private readonly timeCheck;
  readonly shifts: ShiftTracker;

  /**
   * `registrations`: shared with ingest's transaction on the writer thread (it numbers that transaction's
   * registrations); a release made in a site-data transaction brings its own.
   */
  constructor(private readonly db: Db, shifts?: ShiftTracker, registrations?: RegistrationRows) {
    if (registrations) this.registrations = registrations;
    else {
      this.registrations = new RegistrationRows(db);
      this.registrations.beginTransaction();
    }
    this.markTap = db.prepare('UPDATE taps SET enrichment = ?, enrichment_detail = ?, worker_id = COALESCE(?, worker_id), site_id = COALESCE(?, site_id), sun_counter = COALESCE(?, sun_counter) WHERE tap_id = ?');
    this.insertRelease = db.prepare(
      `INSERT INTO tap_releases (tap_id, outcome, held_as, seq, cause_audit_id, audit_id, because, requested_at, done_at) VALUES (@tapId, @outcome, @heldAs, @seq, @cause, @audit, @because, @requested, @done)
       ON CONFLICT (tap_id) DO UPDATE SET outcome = excluded.outcome, seq = excluded.seq, audit_id = excluded.audit_id, done_at = excluded.done_at`,
    );
    this.finishRelease = db.prepare('DELETE FROM tap_releases WHERE tap_id = ?');
    this.timeCheck = db.prepare('SELECT details FROM tap_time_checks WHERE tap_id = ?').pluck();
    this.shifts = shifts ?? new ShiftTracker(db);
  }

  /**
   * Applies what re-enrichment found. Enriched: registered with its original time (at its true instant when
   * the terminal's offset was wrong), recorded as released. Still held: its new status is kept (it may now
   * be attributed to a worker), and it stays free for a later change.
   */
  apply(row: HeldTapRow, tap: Tap, e: EnrichmentResult, o: { causeAuditId: number; because: Because; actor: Actor; at: Date; sunCounter?: number | null }): { released: boolean; seq: number | null } {
    const atMs = Date.parse(tap.at);
    if (e.status === 'enriched') {
      const checked = this.timeCheck.get(tap.id) as string | undefined;
      if (checked) e.registration.at = (JSON.parse(checked) as { trueAt: string }).trueAt;
      // The tap's row gets its registration (gateway/store/tap-rows-schema.ts), with the tap's new status.
      const seq = this.registrations.registerHeld(e.registration, tap.at, o.sunCounter ?? null);
      const auditId = recordChangeSync(this.db, {
        actor: o.actor, action: 'release-late', entity: 'tap', entityId: tap.id, siteId: e.siteId,
        after: { seq, at: tap.at, terminalId: row.terminal_id, badge: row.badge, direction: row.direction, heldAs: row.enrichment, employer: e.registration.employer_id, declaration: e.registration.declaration },
        causeId: o.causeAuditId, at: o.at,
      });
      this.insertRelease.run({ tapId: tap.id, outcome: 'released', heldAs: row.enrichment, seq, cause: o.causeAuditId, audit: auditId, because: JSON.stringify(o.because), requested: o.at.toISOString(), done: o.at.toISOString() });
      this.shifts.apply(e.workerId, { tapId: tap.id, atMs, direction: tap.direction, reason: tap.reason, siteId: e.siteId });
      return { released: true, seq };
    }
    this.markTap.run(e.status, e.detail, e.workerId ?? null, e.siteId, o.sunCounter ?? null, tap.id);
    if (e.workerId && e.siteId && !row.worker_id) this.shifts.apply(e.workerId, { tapId: tap.id, atMs, direction: tap.direction, reason: tap.reason, siteId: e.siteId });
    this.finishRelease.run(tap.id);
    return { released: false, seq: null };
  }

  /** A tap handed to the badge check (a secure badge's): recorded now, settled by the writer thread. */
  queueBadgeCheck(row: HeldTapRow, o: { causeAuditId: number; because: Because; at: Date }): void {
    this.insertRelease.run({ tapId: row.tap_id, outcome: 'badge-check', heldAs: row.enrichment, seq: null, cause: o.causeAuditId, audit: null, because: JSON.stringify(o.because), requested: o.at.toISOString(), done: null });
  }

  /** The badge check held the tap again (a possible copy): recorded, never released. */
  heldAgain(tapId: string, at: Date): void {
    this.db.prepare("UPDATE tap_releases SET outcome = 'held-again', done_at = ? WHERE tap_id = ?").run(at.toISOString(), tapId);
  }
}

const HELD = RELEASABLE_STATUSES.map((s) => `'${s}'`).join(', ');
const SELECT_HELD = `SELECT t.tap_id, t.terminal_id, t.site_id, t.seq, t.badge, t.direction, t.reason, t.at, t.local_at, t.employer, t.received_at, t.enrichment, t.sun_counter, t.worker_id
  FROM taps t WHERE t.enrichment IN (${HELD}) AND NOT EXISTS (SELECT 1 FROM tap_releases x WHERE x.tap_id = t.tap_id)`;

function addDays(day: string, n: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
}

export class HeldTapReleaser implements HeldTapRelease {
  readonly enabled = true;

  /** The held taps a change may resolve, oldest first, within the horizon. */
  private candidates(db: Db, change: SiteDataChange, at: Date): HeldTapRow[] {
    const a = (change.after ?? {}) as Record<string, unknown>;
    const b = (change.before ?? {}) as Record<string, unknown>;
    let rows: HeldTapRow[];
    switch (change.entity) {
      case 'badge':
        rows = db.prepare(`${SELECT_HELD} AND t.badge = ?`).all(String(a.uid)) as HeldTapRow[];
        break;
      case 'declaration': {
        const sites = [...new Set([a.siteId, b.siteId].filter((x): x is string => typeof x === 'string'))];
        rows = sites.flatMap((s) => db.prepare(`${SELECT_HELD} AND t.site_id = ?`).all(s) as HeldTapRow[]);
        break;
      }
      case 'worker':
      case 'placement': {
        const worker = String(change.entity === 'worker' ? a.id : a.workerId);
        rows = db.prepare(`${SELECT_HELD} AND (t.worker_id = ? OR t.badge IN (SELECT uid FROM badges WHERE worker_id = ?))`).all(worker, worker) as HeldTapRow[];
        break;
      }
      case 'employer-choice':
        rows = db.prepare(`${SELECT_HELD} AND t.tap_id = ?`).all(String(a.tapId)) as HeldTapRow[];
        break;
    }
    const oldest = addDays(localDate(at), -releaseHorizonDays(db));
    return rows.filter((r) => localDate(r.at) >= oldest).sort((x, y) => Date.parse(x.at) - Date.parse(y.at) || (x.tap_id < y.tap_id ? -1 : 1));
  }

  private because(change: SiteDataChange, ctx: ReleaseContext): Because {
    const a = (change.after ?? {}) as Record<string, unknown>;
    const b = change.before as Record<string, unknown> | null;
    const base = { by: ctx.actor.name, at: ctx.at.toISOString() };
    switch (change.entity) {
      case 'badge':
        return { ...base, change: b && !b.revokedAt && b.workerId === a.workerId ? 'badge-validity' : 'badge-enrolled', entityId: String(a.uid) };
      case 'declaration':
        return { ...base, change: 'declaration', entityId: String(a.number) };
      case 'worker':
        return { ...base, change: 'worker-employers', entityId: String(a.id) };
      case 'placement':
        return { ...base, change: 'placement', entityId: String(a.id) };
      case 'employer-choice':
        return { ...base, change: 'employer-chosen', entityId: String(a.employer) };
    }
  }

  release(db: Db, change: SiteDataChange, ctx: ReleaseContext): ReleaseResult {
    const rows = this.candidates(db, change, ctx.at);
    if (rows.length === 0) return EMPTY_RELEASE;
    const enricher = new Enricher(db);
    enricher.beginBatch();
    const writes = new ReleaseWrites(db);
    writes.shifts.beginBatch();
    const because = this.because(change, ctx);
    const secure = db.prepare("SELECT 1 FROM badges WHERE uid = ? AND kind = 'secure'").pluck();
    const chosen = change.entity === 'employer-choice' ? String((change.after as { employer: string }).employer) : undefined;
    const released: HeldTapPreview[] = [];
    let registrations = 0;
    let badgeChecks = 0;
    for (const row of rows) {
      const preview = (outcome: HeldTapPreview['outcome']): HeldTapPreview => ({ tapId: row.tap_id, terminalId: row.terminal_id, siteId: row.site_id, badge: row.badge, direction: row.direction, at: row.at, heldBecause: row.enrichment, outcome });
      // A secure badge's tap whose SUN message was never verified goes through the badge check, not blind.
      if (row.sun_counter === null && secure.get(row.badge)) {
        writes.queueBadgeCheck(row, { causeAuditId: ctx.auditId, because, at: ctx.at });
        released.push(preview('badge-check'));
        badgeChecks++;
        continue;
      }
      const tap = tapOfRow(row, undefined, chosen);
      const e = enricher.enrich(row.terminal_id, tap, row.received_at, { noBadgeCheck: true });
      const r = writes.apply(row, tap, e, { causeAuditId: ctx.auditId, because, actor: ctx.actor, at: ctx.at });
      if (r.released) {
        released.push(preview('send'));
        registrations++;
      }
    }
    const shifts = writes.shifts.takeChanges();
    // A release made by `ciao admin` in another process: the running gateway's next poll republishes the
    // rosters, with the states these taps changed (in the gateway's own process the terminals are also told
    // at once).
    if (shifts.length > 0) db.prepare('UPDATE site_data_version SET version = version + 1 WHERE id = 1').run();
    return { released, shifts, registrations, badgeChecks };
  }
}

/**
 * The writer thread's side: taps queued for the badge check by a release, verified with the keys and read
 * counters only that thread holds, in an ingest transaction. A tap that verifies is registered (released);
 * one that does not is held as a possible copy (never released); one still missing other data waits for a
 * later change.
 */
export function settleBadgeChecks(db: Db, enricher: Enricher, badgeCheck: BadgeSecurityCheck, writes: ReleaseWrites, now: Date): { registrations: number } {
  const rows = db.prepare(
    `SELECT t.tap_id, t.terminal_id, t.site_id, t.seq, t.badge, t.direction, t.reason, t.at, t.local_at, t.employer, t.received_at, t.enrichment, t.sun_counter, t.worker_id,
            x.cause_audit_id, x.because, s.picc, s.mac
     FROM tap_releases x JOIN taps t ON t.tap_id = x.tap_id LEFT JOIN held_tap_sun s ON s.tap_id = x.tap_id
     WHERE x.outcome = 'badge-check' ORDER BY x.requested_at, t.at`,
  ).all() as Array<HeldTapRow & { cause_audit_id: number; because: string; picc: string | null; mac: string | null }>;
  let registrations = 0;
  const actor: Actor = { kind: 'system', id: 'gateway', name: 'gateway (badge check)' };
  for (const row of rows) {
    const tap = tapOfRow(row, row.picc && row.mac ? { picc: row.picc, mac: row.mac } : undefined);
    const e = enricher.enrich(row.terminal_id, tap, row.received_at);
    const counter = e.badgeCheck?.result === 'verified' ? e.badgeCheck.counter : null;
    if (e.badgeCheck) badgeCheck.record(tap, e.badgeCheck);
    if (e.status === 'possible-copy' || e.status === 'badge-key-missing') {
      db.prepare('UPDATE taps SET enrichment = ?, enrichment_detail = ? WHERE tap_id = ?').run(e.status, e.detail, tap.id);
      writes.heldAgain(tap.id, now);
      continue;
    }
    const r = writes.apply(row, tap, e, { causeAuditId: row.cause_audit_id, because: JSON.parse(row.because) as Because, actor, at: now, sunCounter: counter });
    if (r.released) registrations++;
  }
  return { registrations };
}
