import type { SqlStore } from '../store/sql-store.ts';
import type { Tap } from '../../shared/mqtt/payloads.ts';
import { parseCompanyId } from '../../shared/identifiers/company.ts';
import { localDate } from '../../shared/time.ts';
import { Enricher, RELEASABLE_STATUSES, type EnrichmentResult } from '../ingest/enrich.ts';
import { ShiftTracker } from '../ingest/shift-tracker.ts';
import { RegistrationRows } from '../store/registration-rows.ts';
import type { BadgeSecurityCheck } from '../ingest/badge-check.ts';
import { recordChange, type Actor } from './audit.ts';
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

async function releaseHorizonDays(tx: SqlStore): Promise<number> {
  const v = (await tx.one<{ value: string }>("SELECT value FROM gateway_settings WHERE key = 'releaseHorizonDays'"))?.value;
  const n = v === undefined ? NaN : Number(v);
  return Number.isInteger(n) && n >= 0 ? n : DEFAULT_RELEASE_HORIZON_DAYS;
}

export async function saveReleaseHorizonDays(store: SqlStore, days: number): Promise<void> {
  await store.run("INSERT INTO gateway_settings (key, value) VALUES ('releaseHorizonDays', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [String(days)]);
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

const MARK_TAP = 'UPDATE taps SET enrichment = $1, enrichment_detail = $2, worker_id = COALESCE($3, worker_id), site_id = COALESCE($4, site_id), sun_counter = COALESCE($5, sun_counter) WHERE tap_id = $6';
const INSERT_RELEASE = `INSERT INTO tap_releases (tap_id, outcome, held_as, seq, cause_audit_id, audit_id, because, requested_at, done_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
  ON CONFLICT (tap_id) DO UPDATE SET outcome = excluded.outcome, seq = excluded.seq, audit_id = excluded.audit_id, done_at = excluded.done_at`;
const FINISH_RELEASE = 'DELETE FROM tap_releases WHERE tap_id = $1';
const TIME_CHECK = 'SELECT details FROM tap_time_checks WHERE tap_id = $1';
const HELD_AGAIN = "UPDATE tap_releases SET outcome = 'held-again', done_at = $1 WHERE tap_id = $2";

/**
 * The writes of a release, shared by the site-data transaction and the writer thread's badge check: the
 * registration, the tap's new status, the release record with its audit entry, the worker's shift state.
 * Each runs through the transaction's `tx`.
 */
export class ReleaseWrites {
  /**
   * `registrations`: shared with ingest's transaction on the writer thread (it numbers that transaction's
   * registrations); a release made in a site-data transaction brings its own, begun on its `tx`.
   */
  constructor(readonly shifts: ShiftTracker, private readonly registrations: RegistrationRows) {}

  /**
   * Applies what re-enrichment found. Enriched: registered with its original time (at its true instant when
   * the terminal's offset was wrong), recorded as released. Still held: its new status is kept (it may now
   * be attributed to a worker), and it stays free for a later change.
   */
  async apply(tx: SqlStore, row: HeldTapRow, tap: Tap, e: EnrichmentResult, o: { causeAuditId: number; because: Because; actor: Actor; at: Date; sunCounter?: number | null }): Promise<{ released: boolean; seq: number | null }> {
    const atMs = Date.parse(tap.at);
    if (e.status === 'enriched') {
      const checked = (await tx.one<{ details: string }>(TIME_CHECK, [tap.id]))?.details;
      if (checked) e.registration.at = (JSON.parse(checked) as { trueAt: string }).trueAt;
      // The tap's row gets its registration (gateway/store/tap-rows-schema.ts), with the tap's new status.
      const seq = await this.registrations.registerHeld(e.registration, tap.at, o.sunCounter ?? null);
      const auditId = await recordChange(tx, {
        actor: o.actor, action: 'release-late', entity: 'tap', entityId: tap.id, siteId: e.siteId,
        after: { seq, at: tap.at, terminalId: row.terminal_id, badge: row.badge, direction: row.direction, heldAs: row.enrichment, employer: e.registration.employer_id, declaration: e.registration.declaration },
        causeId: o.causeAuditId, at: o.at,
      });
      await tx.run(INSERT_RELEASE, [tap.id, 'released', row.enrichment, seq, o.causeAuditId, auditId, JSON.stringify(o.because), o.at.toISOString(), o.at.toISOString()]);
      this.shifts.apply(e.workerId, { tapId: tap.id, atMs, direction: tap.direction, reason: tap.reason, siteId: e.siteId });
      return { released: true, seq };
    }
    await tx.run(MARK_TAP, [e.status, e.detail, e.workerId ?? null, e.siteId, o.sunCounter ?? null, tap.id]);
    if (e.workerId && e.siteId && !row.worker_id) this.shifts.apply(e.workerId, { tapId: tap.id, atMs, direction: tap.direction, reason: tap.reason, siteId: e.siteId });
    await tx.run(FINISH_RELEASE, [tap.id]);
    return { released: false, seq: null };
  }

  /** A tap handed to the badge check (a secure badge's): recorded now, settled by the writer thread. */
  async queueBadgeCheck(tx: SqlStore, row: HeldTapRow, o: { causeAuditId: number; because: Because; at: Date }): Promise<void> {
    await tx.run(INSERT_RELEASE, [row.tap_id, 'badge-check', row.enrichment, null, o.causeAuditId, null, JSON.stringify(o.because), o.at.toISOString(), null]);
  }

  /** The badge check held the tap again (a possible copy): recorded, never released. */
  async heldAgain(tx: SqlStore, tapId: string, at: Date): Promise<void> {
    await tx.run(HELD_AGAIN, [at.toISOString(), tapId]);
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
  private async candidates(tx: SqlStore, change: SiteDataChange, at: Date): Promise<HeldTapRow[]> {
    const a = (change.after ?? {}) as Record<string, unknown>;
    const b = (change.before ?? {}) as Record<string, unknown>;
    let rows: HeldTapRow[];
    switch (change.entity) {
      case 'badge':
        rows = await tx.all<HeldTapRow>(`${SELECT_HELD} AND t.badge = $1`, [String(a.uid)]);
        break;
      case 'declaration': {
        const sites = [...new Set([a.siteId, b.siteId].filter((x): x is string => typeof x === 'string'))];
        rows = [];
        for (const site of sites) rows.push(...(await tx.all<HeldTapRow>(`${SELECT_HELD} AND t.site_id = $1`, [site])));
        break;
      }
      case 'worker':
      case 'placement': {
        const worker = String(change.entity === 'worker' ? a.id : a.workerId);
        rows = await tx.all<HeldTapRow>(`${SELECT_HELD} AND (t.worker_id = $1 OR t.badge IN (SELECT uid FROM badges WHERE worker_id = $1))`, [worker]);
        break;
      }
      case 'employer-choice':
        rows = await tx.all<HeldTapRow>(`${SELECT_HELD} AND t.tap_id = $1`, [String(a.tapId)]);
        break;
    }
    const oldest = addDays(localDate(at), -(await releaseHorizonDays(tx)));
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

  async release(tx: SqlStore, change: SiteDataChange, ctx: ReleaseContext): Promise<ReleaseResult> {
    const rows = await this.candidates(tx, change, ctx.at);
    if (rows.length === 0) return EMPTY_RELEASE;
    const enricher = new Enricher();
    await enricher.beginBatch(tx);
    const registrations = new RegistrationRows();
    registrations.beginTransaction(tx);
    const writes = new ReleaseWrites(new ShiftTracker(), registrations);
    writes.shifts.beginBatch();
    const because = this.because(change, ctx);
    const chosen = change.entity === 'employer-choice' ? String((change.after as { employer: string }).employer) : undefined;
    const released: HeldTapPreview[] = [];
    let registered = 0;
    let badgeChecks = 0;
    for (const row of rows) {
      const preview = (outcome: HeldTapPreview['outcome']): HeldTapPreview => ({ tapId: row.tap_id, terminalId: row.terminal_id, siteId: row.site_id, badge: row.badge, direction: row.direction, at: row.at, heldBecause: row.enrichment, outcome });
      // A secure badge's tap whose SUN message was never verified goes through the badge check, not blind.
      if (row.sun_counter === null && (await tx.one("SELECT 1 AS secure FROM badges WHERE uid = $1 AND kind = 'secure'", [row.badge]))) {
        await writes.queueBadgeCheck(tx, row, { causeAuditId: ctx.auditId, because, at: ctx.at });
        released.push(preview('badge-check'));
        badgeChecks++;
        continue;
      }
      const tap = tapOfRow(row, undefined, chosen);
      const e = await enricher.enrich(row.terminal_id, tap, row.received_at, { noBadgeCheck: true });
      const r = await writes.apply(tx, row, tap, e, { causeAuditId: ctx.auditId, because, actor: ctx.actor, at: ctx.at });
      if (r.released) {
        released.push(preview('send'));
        registered++;
      }
    }
    const shifts = await writes.shifts.takeChanges(tx);
    enricher.endBatch();
    // A release made by `ciao admin` in another process: the running gateway's next poll republishes the
    // rosters, with the states these taps changed (in the gateway's own process the terminals are also told
    // at once).
    if (shifts.length > 0) await tx.run('UPDATE site_data_version SET version = version + 1 WHERE id = 1');
    return { released, shifts, registrations: registered, badgeChecks };
  }
}

/**
 * The writer thread's side: taps queued for the badge check by a release, verified with the keys and read
 * counters only that thread holds, in an ingest transaction. A tap that verifies is registered (released);
 * one that does not is held as a possible copy (never released); one still missing other data waits for a
 * later change.
 */
export async function settleBadgeChecks(tx: SqlStore, enricher: Enricher, badgeCheck: BadgeSecurityCheck, writes: ReleaseWrites, now: Date): Promise<{ registrations: number }> {
  const rows = await tx.all<HeldTapRow & { cause_audit_id: number; because: string; picc: string | null; mac: string | null }>(
    `SELECT t.tap_id, t.terminal_id, t.site_id, t.seq, t.badge, t.direction, t.reason, t.at, t.local_at, t.employer, t.received_at, t.enrichment, t.sun_counter, t.worker_id,
            x.cause_audit_id, x.because, s.picc, s.mac
     FROM tap_releases x JOIN taps t ON t.tap_id = x.tap_id LEFT JOIN held_tap_sun s ON s.tap_id = x.tap_id
     WHERE x.outcome = 'badge-check' ORDER BY x.requested_at, t.at`,
  );
  let registrations = 0;
  const actor: Actor = { kind: 'system', id: 'gateway', name: 'gateway (badge check)' };
  for (const row of rows) {
    const tap = tapOfRow(row, row.picc && row.mac ? { picc: row.picc, mac: row.mac } : undefined);
    const e = await enricher.enrich(row.terminal_id, tap, row.received_at);
    const counter = e.badgeCheck?.result === 'verified' ? e.badgeCheck.counter : null;
    if (e.badgeCheck) await badgeCheck.record(tap, e.badgeCheck);
    if (e.status === 'possible-copy' || e.status === 'badge-key-missing') {
      await tx.run('UPDATE taps SET enrichment = $1, enrichment_detail = $2 WHERE tap_id = $3', [e.status, e.detail, tap.id]);
      await writes.heldAgain(tx, tap.id, now);
      continue;
    }
    const r = await writes.apply(tx, row, tap, e, { causeAuditId: row.cause_audit_id, because: JSON.parse(row.because) as Because, actor, at: now, sunCounter: counter });
    if (r.released) registrations++;
  }
  return { registrations };
}
