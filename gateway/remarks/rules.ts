import { localDate, localParts, parseInstant, toOffsetIso } from '../../shared/time.ts';
import { localize } from './advice.ts';
import {
  CORRECTION_WINDOW_DAYS,
  DEFAULT_REMARK_OPTIONS,
  type CorrectionFact,
  type OutageFact,
  type RegistrationFact,
  type Remark,
  type RemarkFacts,
  type RemarkKind,
  type RemarkOptions,
  type ReleaseFact,
  type Severity,
} from './model.ts';
import { groupByWorker, instantOf, pairWorkerRegistrations } from './shifts.ts';

/**
 * The remark rules. `computeRemarks` is a pure function of the facts and the clock: called again after the
 * data changed, it gives the remarks that still hold, so a resolved remark is simply no longer there.
 */

const SEVERITY: Record<RemarkKind, Severity> = {
  'double-in': 'warning',
  'out-without-in': 'warning',
  'missing-out': 'warning',
  'unknown-badge': 'error',
  'revoked-badge': 'error',
  'employer-not-on-declaration': 'error',
  'employer-choice-missing': 'error',
  'tap-not-registered': 'error',
  'clock-skew': 'warning',
  'late-transmission': 'info',
  'not-created-by-onss': 'error',
  'onss-remark': 'warning',
  'correction-deadline': 'error',
  'possible-badge-copy': 'error',
  'badge-key-missing': 'error',
  'uid-only-badge': 'warning',
  'future-dated': 'error',
  'terminal-time-zone': 'warning',
  'sent-late': 'info',
};

/** ONSS remarks a correction of the company or declaration number can resolve (FAQ 36). */
const CORRECTABLE_ONSS_REMARKS = new Set([
  'COMPANY IS NOT KNOWN AS BUILDER OR SUBCONTRACTOR IN THIS DUC',
  'DUC IS NOT EXISTING',
  'DUC IS NOT ACTIVE AT THIS DATE',
  'EMPLOYER NOT ACTIVE',
  'THE COMPANY DOESN\'T EXISTS',
  'EMPLOYER IS NOT KNOWN AS COMPANY FOUNDER',
  'THE COMPANY ID ASSOCIATED AT A NOT ACTIVE CONTRACT',
]);

export function siteTime(at: string): string {
  const p = localParts(parseInstant(at));
  return `${localDate(at)} ${String(p.hour).padStart(2, '0')}:${String(p.minute).padStart(2, '0')}`;
}

function addDays(day: string, days: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000);
}

/** Last site day on which a correction of this registration can be requested (FAQ 35, 36: 30 days). */
export function correctionDeadline(at: string): string {
  return addDays(localDate(at), CORRECTION_WINDOW_DAYS);
}

export function withinCorrectionWindow(at: string, now: Date): boolean {
  return localDate(now) <= correctionDeadline(at);
}

/** A remark before its id, day, severity and texts are derived from it. */
type Draft = Pick<Remark, 'kind' | 'at' | 'siteId' | 'workerId' | 'terminalId' | 'seq' | 'tapId' | 'details'> & {
  key: string;
  correctable?: boolean;
};

function fromRegistration(kind: RemarkKind, r: RegistrationFact, details: Record<string, unknown>, correctable = false, keySuffix = ''): Draft {
  return {
    kind,
    key: `${r.seq}${keySuffix}`,
    at: r.at,
    siteId: r.siteId,
    workerId: r.workerId,
    terminalId: r.terminalId,
    seq: r.seq,
    tapId: r.tapId,
    details,
    correctable,
  };
}

/**
 * The journal entry that explains a delay: the one the forwarder linked, else one overlapping the wait. A
 * terminal's outage explains only that terminal's taps; the gateway's and ONSS's explain every tap.
 */
function explainingOutage(outages: OutageFact[], linkedId: string | null | undefined, from: number, to: number, terminalId: string): OutageFact | undefined {
  if (linkedId) {
    const linked = outages.find((o) => o.id === linkedId);
    if (linked) return linked;
  }
  return outages.find((o) => {
    if (o.scope.startsWith('terminal:') && o.scope !== `terminal:${terminalId}`) return false;
    const start = Date.parse(o.from);
    const end = o.to ? Date.parse(o.to) : Number.POSITIVE_INFINITY;
    return start <= to && end >= from;
  });
}

function correctionsBySeq(corrections: CorrectionFact[]): Map<number, CorrectionFact[]> {
  const m = new Map<number, CorrectionFact[]>();
  for (const c of corrections) m.set(c.seq, [...(m.get(c.seq) ?? []), c]);
  return m;
}

/** What a release says in a remark: why the tap was held, what change sent it, who, when. */
function releaseDetails(r: ReleaseFact): Record<string, unknown> {
  return { heldAs: r.heldAs, releasedAt: siteTime(r.releasedAt), change: r.because.change, changedRecord: r.because.entityId, changedBy: r.because.by, changedAt: siteTime(r.because.at), causeAuditId: r.causeAuditId, releaseAuditId: r.auditId };
}

/** The badge check's facts as a remark shows them: the other tap's time on the site clock. */
function badgeCheckDetails(check: Record<string, unknown> | null | undefined): Record<string, unknown> {
  if (!check) return {};
  const { otherAt, ...rest } = check;
  return { ...rest, ...(typeof otherAt === 'string' ? { otherTime: siteTime(otherAt) } : {}) };
}

export function computeRemarks(facts: RemarkFacts, now: Date, options: Partial<RemarkOptions> = {}): Remark[] {
  const opt = { ...DEFAULT_REMARK_OPTIONS, ...options };
  const drafts: Draft[] = [];
  const nowMs = now.getTime();
  const corrections = correctionsBySeq(facts.corrections);
  const accepted = (seq: number) => (corrections.get(seq) ?? []).some((c) => c.state === 'accepted');
  const releaseBySeq = new Map((facts.releases ?? []).flatMap((r) => (r.seq !== null ? [[r.seq, r] as const] : [])));

  // Shifts: double IN, OUT without IN, missing OUT.
  for (const regs of groupByWorker(facts.registrations).values()) {
    const f = pairWorkerRegistrations(regs, opt.maxShiftHours);
    for (const d of f.doubleIns) {
      drafts.push(fromRegistration('double-in', d.registration, { time: siteTime(d.registration.at), openTime: siteTime(d.openIn.at), openSeq: d.openIn.seq }));
    }
    for (const r of f.outsWithoutIn) {
      drafts.push(fromRegistration('out-without-in', r, { time: siteTime(r.at) }));
    }
    for (const u of f.unclosedIns) {
      // Exactly at the lapse an OUT still closes the shift (gateway/shifts/fold.ts): shown only after it.
      if (nowMs <= u.visibleFrom.getTime()) continue;
      drafts.push(fromRegistration('missing-out', u.registration, { time: siteTime(u.registration.at), maxShiftHours: opt.maxShiftHours, lapsedAt: siteTime(toOffsetIso(u.visibleFrom)) }));
    }
  }

  for (const r of facts.registrations) {
    // Employer on the declaration (FAQ 5: after a takeover the previous employer yields a remark).
    const onDeclaration = facts.declarationCompanies.get(r.declaration);
    // An agency worker registers under the agency's number (FAQ 26): right when the user company is on the chain.
    const placedHere = (facts.placements?.get(r.workerId) ?? []).some((p) => p.agencyId === r.employerId && onDeclaration?.has(p.userCompanyId) && p.from <= localDate(r.at) && (p.to === null || p.to >= localDate(r.at)));
    if ((!onDeclaration || !onDeclaration.has(r.employerId)) && !placedHere && !accepted(r.seq)) {
      drafts.push(fromRegistration('employer-not-on-declaration', r, { employerId: r.employerId, declaration: r.declaration, declarationKnown: onDeclaration !== undefined }, true));
    }
    // Several employers and no choice on the tap.
    const employers = facts.workerEmployers.get(r.workerId);
    if (r.employerChosen === false && employers && employers.size > 1 && !accepted(r.seq)) {
      drafts.push(fromRegistration('employer-choice-missing', r, { employerId: r.employerId, choices: [...employers].sort() }, true));
    }

    // Forwarding: late, not created, remarks from ONSS.
    if (!facts.forwarding) continue;
    const outcome = facts.forwarding.get(r.seq) ?? { state: 'pending' as const };
    const tapMs = instantOf(r);
    const sentParsed = outcome.state === 'created' || outcome.state === 'not-created' ? Date.parse(outcome.sentAt) : Number.NaN;
    const sentMs = Number.isNaN(sentParsed) ? null : sentParsed;
    const delayMs = (sentMs ?? nowMs) - tapMs;
    if (delayMs > opt.lateAfterMinutes * 60_000) {
      const outage = explainingOutage(facts.outages, outcome.outageId, tapMs, sentMs ?? nowMs, r.terminalId);
      // A held tap sent late once its site data arrived: the release explains the wait, and names its change.
      const release = releaseBySeq.get(r.seq);
      // An outage outside the employer's hands (ONSS, the network it reports) is force majeure (FAQ 57-59):
      // once ONSS created the registration, the journal entry is the proof and the remark goes. A terminal's
      // or the gateway's own outage is named as the reason but the remark stays: check that equipment.
      const external = outage !== undefined && !outage.scope.startsWith('terminal:') && outage.scope !== 'gateway';
      const explained = outcome.state === 'created' && (external || release !== undefined);
      if (!explained) {
        drafts.push(fromRegistration('late-transmission', r, {
          delayMinutes: Math.round(delayMs / 60_000),
          sentAt: sentMs === null ? null : toOffsetIso(new Date(sentMs)),
          receivedAt: r.receivedAt,
          outage: outage ? `${outage.scope} ${siteTime(outage.from)} → ${outage.to ? siteTime(outage.to) : '…'} (${outage.cause})` : null,
          outageId: outage?.id ?? null,
          ...(release ? releaseDetails(release) : {}),
        }));
      }
    }
    if (outcome.state === 'not-created') {
      drafts.push(fromRegistration('not-created-by-onss', r, { errors: outcome.errors.join('; ') || 'no reason given' }));
    }
    if (outcome.state === 'created') {
      for (const text of new Set(outcome.remarks)) {
        const correctable = CORRECTABLE_ONSS_REMARKS.has(text);
        if (correctable && accepted(r.seq)) continue;
        drafts.push(fromRegistration('onss-remark', r, { onssRemark: text, onssId: outcome.onssId ?? null }, correctable, `:${text}`));
      }
    }
  }

  // Taps that produced no registration.
  for (const b of facts.unregisteredTaps) {
    if (b.resolvedNow) continue;
    drafts.push({
      kind: b.cause,
      key: b.tapId,
      // A future-dated tap is dated when it arrived: its own time is what is wrong with it.
      at: b.cause === 'future-dated' && b.receivedAt ? toOffsetIso(new Date(b.receivedAt)) : b.at,
      siteId: b.siteId,
      workerId: b.workerId,
      terminalId: b.terminalId,
      seq: null,
      tapId: b.tapId,
      details: {
        badge: b.badge, terminalId: b.terminalId, time: siteTime(b.at), status: b.status, detail: b.detail, fromTap: true, ...badgeCheckDetails(b.badgeCheck),
        ...(b.cause === 'future-dated' && b.receivedAt ? { aheadSeconds: Math.round((Date.parse(b.at) - Date.parse(b.receivedAt)) / 1000) } : {}),
      },
    });
  }

  // UID-only badges on sites that require secure ones: every tap is flagged.
  for (const f of facts.flaggedBadgeTaps ?? []) {
    drafts.push({
      kind: 'uid-only-badge',
      key: f.tapId,
      at: f.at,
      siteId: f.siteId,
      workerId: f.workerId,
      terminalId: f.terminalId,
      seq: f.seq,
      tapId: f.tapId,
      details: { badge: f.badge, terminalId: f.terminalId, siteId: f.siteId, time: siteTime(f.at), registered: f.seq !== null },
    });
  }

  // Clocks and time-zone settings that made a tap's time say something impossible.
  for (const c of facts.timeChecks ?? []) {
    drafts.push({
      kind: 'terminal-time-zone',
      key: c.tapId,
      at: c.at,
      siteId: c.siteId,
      workerId: c.workerId,
      terminalId: c.terminalId,
      seq: null,
      tapId: c.tapId,
      details: { terminalId: c.terminalId, problem: c.problem, sent: c.sent, given: c.given, expected: c.expected, time: siteTime(c.at) },
    });
  }

  // Held taps sent late because their site data arrived: kept as history (FAQ 21: the worker did tap).
  for (const r of facts.releases ?? []) {
    if (r.outcome !== 'released') continue;
    drafts.push({
      kind: 'sent-late',
      key: r.tapId,
      at: r.at,
      siteId: r.siteId,
      workerId: r.workerId,
      terminalId: r.terminalId,
      seq: r.seq,
      tapId: r.tapId,
      details: { terminalId: r.terminalId, time: siteTime(r.at), outcome: r.outcome, ...releaseDetails(r) },
    });
  }

  // Terminal clocks.
  for (const t of facts.terminals) {
    if (t.skewMs === null || Math.abs(t.skewMs) <= opt.maxClockSkewMs) continue;
    drafts.push({
      kind: 'clock-skew',
      key: t.terminalId,
      at: t.skewAt ?? toOffsetIso(now),
      siteId: t.siteId,
      workerId: null,
      terminalId: t.terminalId,
      seq: null,
      tapId: null,
      details: { terminalId: t.terminalId, skewMs: t.skewMs, skewSeconds: Math.round(t.skewMs / 1000), limitSeconds: Math.round(opt.maxClockSkewMs / 1000) },
    });
  }

  // Correction deadline: a correctable remark with no request sent yet and the 30 days nearly over.
  const today = localDate(now);
  const deadlineDone = new Set<number>();
  for (const d of drafts) {
    if (!d.correctable || d.seq === null || deadlineDone.has(d.seq)) continue;
    const sentOrDecided = (corrections.get(d.seq) ?? []).some((c) => c.state !== 'draft');
    const until = correctionDeadline(d.at);
    const daysLeft = daysBetween(today, until);
    if (sentOrDecided || daysLeft < 0 || daysLeft > opt.deadlineWarningDays) continue;
    deadlineDone.add(d.seq);
    drafts.push({ ...d, kind: 'correction-deadline', key: String(d.seq), correctable: true, details: { daysLeft, until, because: d.kind } });
  }

  return drafts
    .map((d): Remark => {
      const texts = localize(d.kind, d.details);
      const until = d.correctable ? correctionDeadline(d.at) : null;
      return {
        id: `${d.kind}:${d.key}`,
        kind: d.kind,
        severity: SEVERITY[d.kind],
        day: localDate(d.at),
        at: d.at,
        siteId: d.siteId,
        workerId: d.workerId,
        terminalId: d.terminalId,
        seq: d.seq,
        tapId: d.tapId,
        details: d.details,
        message: texts.message,
        advice: texts.advice,
        correctableUntil: until !== null && until >= today ? until : null,
      };
    })
    .sort((a, b) => instantOf(a) - instantOf(b) || a.id.localeCompare(b.id));
}
