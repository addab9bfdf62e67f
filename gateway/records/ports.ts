import type { ForwardOutcome, OutageFact, RemarkFacts } from '../remarks/model.ts';

/**
 * What the site-manager features read, as small query ports. The adapter on the storage port
 * (sql-queries.ts) reads the gateway's tables (registrations, site data, taps, terminal status) and the
 * forwarder's (outcomes, outage journal) on SQLite or PostgreSQL; tests can stand in.
 */

export interface SiteRef {
  id: string;
  name: string;
}

/** A registration with the names a person needs to read it. `ssin` is present only for whoever may see it. */
export interface RegistrationRecord {
  seq: number;
  tapId: string;
  terminalId: string;
  siteId: string;
  siteName: string | null;
  workerId: string | null;
  workerName: string | null;
  ssin: string | null;
  limosaId: string | null;
  capacity: string;
  type: 'IN' | 'OUT';
  reason: 'work' | 'break';
  at: string;
  atUtc: string;
  receivedAt: string;
  employerKind: 'enterprise' | 'foreign';
  employerId: string;
  employerName: string | null;
  declaration: string;
  placeOfWork: string;
  /** Forwarding state as the forwarder records it: pending, in-flight, created, not-created. */
  onssState: ForwardOutcome['state'];
  onssId: string | null;
  /** The badge the worker tapped (UID), when the tap is known. */
  badge?: string | null;
  /**
   * The kind of that tap: `secure` when its secure message (NTAG 424 DNA) was verified, `uid-only` when the
   * badge was read by its UID alone; with the secure badge's key version.
   */
  badgeKind?: 'secure' | 'uid-only' | null;
  badgeKeyVersion?: number | null;
}

/** A badge's kind as its record says: `secure` (with its key version) or `uid-only`. */
export interface BadgeKindView {
  kind: 'secure' | 'uid-only';
  keyVersion: number | null;
}

export interface RegistrationFilter {
  /** Inclusive UTC instant (`YYYY-MM-DDTHH:MM:SSZ`). */
  fromUtc: string;
  /** Exclusive UTC instant. */
  toUtc: string;
  /** null: every site (administrator). */
  siteIds: string[] | null;
  workerId?: string;
  companyId?: string;
  declaration?: string;
}

export interface TerminalView {
  terminalId: string;
  siteId: string | null;
  siteName: string | null;
  disabled: boolean;
  state: 'online' | 'offline' | 'never-seen';
  lastSeen: string | null;
  queued: number | null;
  skewMs: number | null;
  version: string | null;
  /** Online but unable to register taps (FAQ 31): the terminal's reasons; empty when it can. */
  cannotRegister: string[];
}

/** On the storage port (gateway/records/sql-queries.ts): every answer is a promise. */
export interface RecordsQueries {
  /** Sorted by name. */
  sites(siteIds: string[] | null): Promise<SiteRef[]>;
  /** In the order of their instant, then of their number. */
  registrations(filter: RegistrationFilter): Promise<RegistrationRecord[]>;
  registration(seq: number): Promise<RegistrationRecord | undefined>;
  /** Display names of workers, by id (never their NISS). */
  workerNames(ids: string[]): Promise<Map<string, string>>;
  /** The kind of each badge known, by UID. */
  badgeKinds(uids: string[]): Promise<Map<string, BadgeKindView>>;
  /** Sorted by terminal id. */
  terminals(siteIds: string[] | null): Promise<TerminalView[]>;
  /** Facts for the remark rules over [fromUtc, toUtc), with registrations limited to the given sites. */
  remarkFacts(fromUtc: string, toUtc: string, siteIds: string[] | null, now: Date): Promise<RemarkFacts>;
  outages(fromUtc: string, toUtc: string): Promise<OutageFact[]>;
  /** Which data sources this gateway does not have (yet): reported on the dashboard, never guessed at. */
  missingSources(): Promise<string[]>;
}
