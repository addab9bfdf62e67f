import type { Db } from '../../shared/sqlite.ts';

/**
 * Where the release of held taps plugs in (the "day-correct" issue). A tap held for review (unknown badge,
 * badge not valid that day, no declaration, employer choice missing) is kept in `taps`; when a site-data
 * change resolves it, it is to be re-enriched and forwarded with its original time.
 *
 * The site-data service calls this port around every change that may resolve held taps (a badge enrolled
 * or its validity widened, a declaration added or changed, a worker's employers set):
 * - `preview` answers, before the change is made, which held taps it would send late, so the console can
 *   show them and ask for confirmation;
 * - `release` is called in the same transaction as the change, after it, with the audit entry of the change
 *   (`auditId`), so each release links to the change that caused it (`audit_log.cause_id`).
 *
 * Until that issue lands the gateway runs `NO_HELD_TAP_RELEASE`: nothing is previewed or released, and the
 * held taps stay held (never dropped), as before.
 */
export interface SiteDataChange {
  entity: 'badge' | 'declaration' | 'worker';
  /** The record as it will be after the change. */
  after: unknown;
  /** The record before the change; null for a creation. */
  before: unknown;
}

export interface HeldTapPreview {
  tapId: string;
  terminalId: string;
  badge: string;
  at: string;
  /** Why it was held. */
  heldBecause: string;
}

export interface HeldTapRelease {
  /** Whether this gateway releases held taps at all (the console says so when it does not). */
  readonly enabled: boolean;
  preview(db: Db, change: SiteDataChange): HeldTapPreview[];
  release(db: Db, change: SiteDataChange, auditId: number): HeldTapPreview[];
}

export const NO_HELD_TAP_RELEASE: HeldTapRelease = {
  enabled: false,
  preview: () => [],
  release: () => [],
};
