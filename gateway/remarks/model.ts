import { DEFAULT_MAX_SHIFT_HOURS } from '../../shared/mqtt/payloads.ts';

/**
 * The facts the remarks engine reads and the remarks it produces. The engine is pure: a port gathers the
 * facts (registrations, rejected taps, terminal status, forwarding outcomes, the outage journal, corrections)
 * and the engine derives the remarks from them, every time, so a remark whose cause is gone disappears by
 * itself (FAQ 35). Nothing here writes to a registration: registrations are append-only.
 */

export type Lang = 'fr' | 'nl' | 'en';
export type Localized = Record<Lang, string>;

/** One registration as the remark rules see it (a row of `registrations`, plus what ingest knew of the tap). */
export interface RegistrationFact {
  seq: number;
  tapId: string;
  terminalId: string;
  siteId: string;
  workerId: string;
  type: 'IN' | 'OUT';
  reason: 'work' | 'break';
  /** Terminal clock, ISO 8601 with offset. */
  at: string;
  /** Gateway clock when the tap arrived. */
  receivedAt: string;
  employerId: string;
  declaration: string;
  /**
   * Whether the worker chose the employer on the terminal: true (chose), false (several employers on file
   * and no choice on the tap), null (one employer on file, nothing to choose, or not known).
   */
  employerChosen: boolean | null;
}

/**
 * A tap the gateway stored but could not turn into a registration (ingest's enrichment status): its badge is
 * unknown, revoked or not valid that day, the worker has several employers and chose none, or the site data
 * lacked something (no site, no declaration, an employer not the worker's).
 */
export interface UnregisteredTapFact {
  tapId: string;
  terminalId: string;
  siteId: string | null;
  badge: string;
  workerId: string | null;
  at: string;
  cause: 'unknown-badge' | 'revoked-badge' | 'employer-choice-missing' | 'tap-not-registered' | 'possible-badge-copy' | 'badge-key-missing' | 'future-dated';
  /** Ingest's status and its sentence, e.g. `no-declaration`, `site S1 has no declaration of works valid on ...`. */
  status: string;
  /** When the tap reached the gateway (for a future-dated tap: how far ahead it was). */
  receivedAt?: string;
  detail: string | null;
  /**
   * Whether the cause is gone now: the badge was enrolled, the worker has a valid badge again, the worker has
   * since chosen an employer on that site, the site data was completed. Then the remark disappears.
   */
  resolvedNow: boolean;
  /**
   * For a secure badge's tap held by the badge check: what it found (`check`: uid-only-read, replayed,
   * lower-counter, uid-mismatch, bad-mac, undecryptable, no-key) and its facts (counters, the other tap
   * involved and its time `otherAt`, the UID inside the message).
   */
  badgeCheck?: Record<string, unknown> | null;
}

/** A tap made with a UID-only badge on a site that requires secure badges (registered, or held for another reason). */
export interface FlaggedBadgeTapFact {
  tapId: string;
  terminalId: string;
  siteId: string | null;
  badge: string;
  workerId: string | null;
  at: string;
  /** The registration it became, if any. */
  seq: number | null;
}

/**
 * A tap whose time says the terminal's clock or time-zone setting is wrong: an offset that is not Brussels'
 * at that instant, or a wall time that does not exist in Brussels. The registration keeps the true instant.
 */
export interface TimeCheckFact {
  tapId: string;
  terminalId: string;
  siteId: string | null;
  workerId: string | null;
  /** The true instant, with the Brussels offset. */
  at: string;
  /** The time as the terminal sent it. */
  sent: string;
  problem: 'wrong-offset' | 'nonexistent-wall-time';
  given: string;
  expected: string;
}

/** An agency placement (FAQ 26): the worker registers under the agency where the user company is on the chain. */
export interface PlacementFact {
  agencyId: string;
  userCompanyId: string;
  from: string;
  to: string | null;
}

/** What a site-data change that released a held tap was: structured, so the remark says it in each language. */
export interface ReleaseCause {
  /** badge-enrolled, badge-validity, declaration, worker-employers, placement, employer-chosen */
  change: string;
  /** The record changed: badge UID, declaration number, worker id, placement id, the chosen employer. */
  entityId: string;
  /** Who made the change (a user's name, `cli:<system user>`). */
  by: string;
  /** When (ISO). */
  at: string;
}

/** A held tap a site-data change released: sent late, with its original time (the remark history keeps it). */
export interface ReleaseFact {
  tapId: string;
  seq: number | null;
  terminalId: string;
  siteId: string | null;
  workerId: string | null;
  at: string;
  heldAs: string;
  outcome: 'released' | 'badge-check' | 'held-again';
  releasedAt: string;
  because: ReleaseCause;
  /** The audit entries: the change, and the release's own. */
  causeAuditId: number;
  auditId: number | null;
}

export interface TerminalFact {
  terminalId: string;
  siteId: string | null;
  state: 'online' | 'offline' | 'never-seen';
  /** Clock skew of the terminal in ms (terminal minus gateway): measured by the gateway, else reported. */
  skewMs: number | null;
  skewAt: string | null;
}

/** What became of a registration at ONSS; `outageId` links the outage-journal entry that delayed it. */
export type ForwardOutcome =
  | { state: 'pending'; outageId?: string | null }
  | { state: 'in-flight'; since?: string; outageId?: string | null }
  | { state: 'created'; sentAt: string; onssId?: string; remarks: string[]; outageId?: string | null }
  | { state: 'not-created'; sentAt: string; errors: string[]; outageId?: string | null };

export interface OutageFact {
  id: string;
  /** What was out: `network`, `onss`, `gateway`, `terminal:<id>`, ... as the journal names it. */
  scope: string;
  from: string;
  to: string | null;
  cause: string;
}

export interface CorrectionFact {
  seq: number;
  field: 'employer' | 'declaration';
  state: 'draft' | 'sent' | 'accepted' | 'refused';
}

/** Everything the rules need about one stretch of time; the port fills it. */
export interface RemarkFacts {
  registrations: RegistrationFact[];
  unregisteredTaps: UnregisteredTapFact[];
  terminals: TerminalFact[];
  /** Declaration number -> companies on it (the contractor chain). Missing key: the declaration is unknown here. */
  declarationCompanies: Map<string, Set<string>>;
  /** Worker id -> companies the worker works for. */
  workerEmployers: Map<string, Set<string>>;
  /**
   * Registration seq -> forwarding outcome; a missing seq is pending. null: this gateway has no forwarder
   * data at all, so the forwarding remarks (late, not created, ONSS remarks) are not computed.
   */
  forwarding: Map<number, ForwardOutcome> | null;
  outages: OutageFact[];
  corrections: CorrectionFact[];
  /** Taps of UID-only badges on sites that require secure badges (absent where the data has none). */
  flaggedBadgeTaps?: FlaggedBadgeTapFact[];
  /** Taps whose offset or wall time says the terminal's clock or time-zone setting is wrong. */
  timeChecks?: TimeCheckFact[];
  /** Worker id -> agency placements (FAQ 26). */
  placements?: Map<string, PlacementFact[]>;
  /** Held taps released (or handed to the badge check) by a site-data change. */
  releases?: ReleaseFact[];
}

export const REMARK_KINDS = [
  'double-in',
  'out-without-in',
  'missing-out',
  'unknown-badge',
  'revoked-badge',
  'employer-not-on-declaration',
  'employer-choice-missing',
  'tap-not-registered',
  'clock-skew',
  'late-transmission',
  'not-created-by-onss',
  'onss-remark',
  'correction-deadline',
  'possible-badge-copy',
  'badge-key-missing',
  'uid-only-badge',
  'future-dated',
  'terminal-time-zone',
  'sent-late',
] as const;
export type RemarkKind = (typeof REMARK_KINDS)[number];

export type Severity = 'error' | 'warning' | 'info';

export interface Remark {
  /** Stable id: the same cause gives the same id at every recomputation. */
  id: string;
  kind: RemarkKind;
  severity: Severity;
  /** Site day (Europe/Brussels) the remark belongs to. */
  day: string;
  /** The instant it concerns (ISO 8601 with offset). */
  at: string;
  siteId: string | null;
  workerId: string | null;
  terminalId: string | null;
  seq: number | null;
  tapId: string | null;
  /** Kind-specific facts, e.g. the ONSS remark text, the outage that explains a delay, the skew. */
  details: Record<string, unknown>;
  message: Localized;
  advice: Localized;
  /** For registrations a correction can still fix: last site day on which ONSS accepts the request. */
  correctableUntil: string | null;
}

export interface RemarkOptions {
  /**
   * A shift state (working, on break) lapses this many hours after it was set (a shift may cross midnight):
   * the gateway's `maxShiftHours`, the same for ingest, terminals and remarks.
   */
  maxShiftHours: number;
  /** Clock skew beyond which a terminal gets a remark. */
  maxClockSkewMs: number;
  /** A registration that reaches ONSS later than this after the tap is a late transmission. */
  lateAfterMinutes: number;
  /** Days before the end of the 30-day correction window from which the deadline remark shows. */
  deadlineWarningDays: number;
}

export const DEFAULT_REMARK_OPTIONS: RemarkOptions = {
  maxShiftHours: DEFAULT_MAX_SHIFT_HOURS,
  maxClockSkewMs: 60_000,
  lateAfterMinutes: 60,
  deadlineWarningDays: 7,
};

/** FAQ 35 and 36: a correction of company or declaration number is requested within 30 days. */
export const CORRECTION_WINDOW_DAYS = 30;
