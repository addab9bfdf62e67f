import type { SqlStore } from '../store/sql-store.ts';
import type { Actor } from './audit.ts';
import type { ShiftChange } from '../shifts/change.ts';

/**
 * Where the release of held taps plugs in. A tap held for review (unknown badge, badge not valid that day,
 * no declaration, employer choice missing, an employer that is not the worker's) is kept in `taps`; when a
 * site-data change resolves it, it is re-enriched and forwarded with its original time
 * (gateway/site-data/held-tap-release.ts).
 *
 * The site-data service calls this port in the same transaction as every change that may resolve held taps
 * (a badge enrolled or its validity widened, a declaration added or changed, a worker's employers set, an
 * agency placement set, an employer chosen by a site manager for a held tap), after the change, with the
 * change's audit entry (`auditId`), so each release links to the change that caused it
 * (`audit_log.cause_id`). What a change *would* release (the console shows it and asks for confirmation) is
 * the same call on the change made and rolled back: exactly what confirming it does.
 */
export interface SiteDataChange {
  entity: 'badge' | 'declaration' | 'worker' | 'placement' | 'employer-choice';
  /** The record as it is after the change (for `employer-choice`: `{tapId, employer}`). */
  after: unknown;
  /** The record before the change; null for a creation. */
  before: unknown;
}

export interface HeldTapPreview {
  tapId: string;
  terminalId: string;
  siteId: string | null;
  badge: string;
  direction: string;
  at: string;
  /** Why it was held (its enrichment status). */
  heldBecause: string;
  /**
   * `send`: re-enriched now and sent with its original time. `badge-check`: a tap of a badge now enrolled as
   * a secure badge, sent only if its SUN message passes the badge check (or held as a possible copy).
   */
  outcome: 'send' | 'badge-check';
}

export interface ReleaseContext {
  /** The audit entry of the change that releases. */
  auditId: number;
  /** Who made the change. */
  actor: Actor;
  at: Date;
}

export interface ReleaseResult {
  released: HeldTapPreview[];
  /** Workers' shift states the released taps changed, for the terminals once the transaction committed. */
  shifts: ShiftChange[];
  /** Registrations appended (the forwarder sends them). */
  registrations: number;
  /** Taps handed to the badge check of the gateway's writer thread. */
  badgeChecks: number;
}

export interface HeldTapRelease {
  /** Whether this gateway releases held taps at all (the console says so when it does not). */
  readonly enabled: boolean;
  /**
   * Runs inside the change's port transaction (`tx`), reading and writing only through it: on PostgreSQL the
   * transaction may run again after a serialization failure, and a release must then be made again.
   */
  release(tx: SqlStore, change: SiteDataChange, ctx: ReleaseContext): Promise<ReleaseResult>;
}

export const EMPTY_RELEASE: ReleaseResult = { released: [], shifts: [], registrations: 0, badgeChecks: 0 };
