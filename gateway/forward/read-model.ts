import type { Db } from '../../shared/sqlite.ts';
import type { ForwardOutcome, OutageFact } from '../remarks/model.ts';
import { PENDING_VALIDITY, type ForwardStateName, type OutageRow } from './schema.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { tableCheck } from '../store/tables.ts';

/**
 * The one read model of the forwarder's tables (`forward_state`, `outage_journal`): nothing outside
 * gateway/forward/ reads them. Two faces:
 * - `forwardingFacts(store)`: what the site manager's records and remarks need (outcome per registration,
 *   outages over a period), and which of these tables this database lacks (a gateway without forwarding);
 * - the view functions below, each paged by `seq` (or id) with a bounded limit, so a screen never loads a
 *   whole history.
 * NISS numbers are never returned: the views join on `registrations` only for what they show.
 */
export interface Page {
  afterSeq?: number;
  limit?: number;
}
const lim = (p: Page) => Math.max(1, Math.min(p.limit ?? 100, 1000));

export interface ForwardingState {
  seq: number;
  tapId: string;
  clientReference: string;
  /** `waiting` when the forwarder has not picked the registration up yet. */
  state: ForwardStateName | 'waiting';
  attempts: number;
  onssId: string | null;
  validity: string | null;
  remarks: string[];
  errors: unknown[];
  lastFailure: string | null;
  firstSentAt: string | null;
  answeredAt: string | null;
  outageId: number | null;
  duplicatesAtOnss: number;
}

type Joined = {
  seq: number; tap_id: string; client_reference: string | null; state: ForwardStateName | null; attempts: number | null;
  onss_id: string | null; validity: string | null; remarks: string | null; errors: string | null; last_failure: string | null;
  first_sent_at: string | null; answered_at: string | null; outage_id: number | null; duplicates_at_onss: number | null;
};

function toState(r: Joined): ForwardingState {
  return {
    seq: r.seq,
    tapId: r.tap_id,
    clientReference: r.client_reference ?? '',
    state: r.state ?? 'waiting',
    attempts: r.attempts ?? 0,
    onssId: r.onss_id,
    validity: r.validity,
    remarks: r.remarks ? (JSON.parse(r.remarks) as string[]) : [],
    errors: r.errors ? (JSON.parse(r.errors) as unknown[]) : [],
    lastFailure: r.last_failure,
    firstSentAt: r.first_sent_at,
    answeredAt: r.answered_at,
    outageId: r.outage_id,
    duplicatesAtOnss: r.duplicates_at_onss ?? 0,
  };
}

const JOINED = `SELECT r.seq, r.tap_id, f.client_reference, f.state, f.attempts, f.onss_id, f.validity, f.remarks, f.errors,
  f.last_failure, f.first_sent_at, f.answered_at, f.outage_id, f.duplicates_at_onss
  FROM registrations r LEFT JOIN forward_state f ON f.seq = r.seq`;

/** Forwarding state of one registration, by seq or by tap id. */
export function forwardingStateOf(db: Db, key: { seq: number } | { tapId: string }): ForwardingState | undefined {
  const r = 'seq' in key
    ? db.prepare(`${JOINED} WHERE r.seq = ?`).get(key.seq)
    : db.prepare(`${JOINED} WHERE r.tap_id = ?`).get(key.tapId);
  return r ? toState(r as Joined) : undefined;
}

/** Forwarding states in seq order, optionally only one state. */
export function listForwardingStates(db: Db, page: Page & { state?: ForwardStateName } = {}): ForwardingState[] {
  const rows = page.state
    ? db.prepare(`${JOINED} WHERE f.state = ? AND r.seq > ? ORDER BY r.seq LIMIT ?`).all(page.state, page.afterSeq ?? 0, lim(page))
    : db.prepare(`${JOINED} WHERE r.seq > ? ORDER BY r.seq LIMIT ?`).all(page.afterSeq ?? 0, lim(page));
  return (rows as Joined[]).map(toState);
}

/** Registrations ONSS created with remarks (its own checks: duplicates, unknown declaration, ...). */
export function onssRemarks(db: Db, page: Page = {}): ForwardingState[] {
  return (db.prepare(`${JOINED} WHERE f.state = 'created' AND f.remarks IS NOT NULL AND f.remarks <> '[]' AND r.seq > ? ORDER BY r.seq LIMIT ?`)
    .all(page.afterSeq ?? 0, lim(page)) as Joined[]).map(toState);
}

/** Registrations ONSS refused, with its errors. They are never resent without someone's decision. */
export function notCreatedRegistrations(db: Db, page: Page = {}): ForwardingState[] {
  return (db.prepare(`${JOINED} WHERE f.state = 'not_created' AND r.seq > ? ORDER BY r.seq LIMIT ?`)
    .all(page.afterSeq ?? 0, lim(page)) as Joined[]).map(toState);
}

export interface OutageEntry {
  id: number;
  startedAt: string;
  endedAt: string | null;
  cause: string;
  lastCause: string;
  failures: number;
  registrationsDelayed: number;
}

/** The outage journal, newest first. */
export function outageJournal(db: Db, page: { beforeId?: number; limit?: number } = {}): OutageEntry[] {
  const rows = db.prepare('SELECT * FROM outage_journal WHERE id < ? ORDER BY id DESC LIMIT ?')
    .all(page.beforeId ?? Number.MAX_SAFE_INTEGER, Math.max(1, Math.min(page.limit ?? 100, 1000))) as OutageRow[];
  return rows.map((o) => ({
    id: o.id, startedAt: o.started_at, endedAt: o.ended_at, cause: o.cause, lastCause: o.last_cause,
    failures: o.failures, registrationsDelayed: o.registrations_delayed,
  }));
}

export interface LateRegistration extends ForwardingState {
  siteId: string;
  at: string;
  receivedAt: string;
  outage: OutageEntry;
}

/** Registrations that reached ONSS late because of an outage, with the outage that is their proof. */
export function lateRegistrations(db: Db, page: Page & { outageId?: number } = {}): LateRegistration[] {
  const rows = db.prepare(`SELECT r.site_id, r.at, r.received_at, r.tap_id, o.id AS o_id, o.started_at AS o_started_at, o.ended_at AS o_ended_at,
      o.cause AS o_cause, o.last_cause AS o_last_cause, o.failures AS o_failures, o.registrations_delayed AS o_delayed, x.*
    FROM forward_state x JOIN registrations r ON r.seq = x.seq JOIN outage_journal o ON o.id = x.outage_id
    WHERE x.outage_id IS NOT NULL ${page.outageId !== undefined ? 'AND x.outage_id = @outageId' : ''} AND x.seq > @afterSeq
    ORDER BY x.seq LIMIT @limit`).all({ outageId: page.outageId, afterSeq: page.afterSeq ?? 0, limit: lim(page) }) as Array<Joined & Record<string, never>>;
  return rows.map((r) => ({
    ...toState(r),
    siteId: r.site_id, at: r.at, receivedAt: r.received_at,
    outage: { id: r.o_id, startedAt: r.o_started_at, endedAt: r.o_ended_at, cause: r.o_cause, lastCause: r.o_last_cause, failures: r.o_failures, registrationsDelayed: r.o_delayed },
  }));
}

/** Counts per state (waiting = not picked up yet), for a dashboard. */
export function forwardingSummary(db: Db): Record<ForwardStateName | 'waiting' | 'pendingValidity' | 'withRemarks' | 'outages', number> {
  const counts = Object.fromEntries((db.prepare('SELECT state, COUNT(*) AS n FROM forward_state GROUP BY state').all() as Array<{ state: string; n: number }>).map((r) => [r.state, r.n]));
  const maxSeq = (db.prepare('SELECT COALESCE(MAX(seq), 0) AS m FROM forward_state').get() as { m: number }).m;
  const waiting = (db.prepare('SELECT COUNT(*) AS n FROM registrations WHERE seq > ?').get(maxSeq) as { n: number }).n;
  const one = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
  return {
    waiting,
    in_flight: counts.in_flight ?? 0,
    retry: counts.retry ?? 0,
    created: counts.created ?? 0,
    not_created: counts.not_created ?? 0,
    pendingValidity: one(`SELECT COUNT(*) AS n FROM forward_state WHERE state = 'created' AND validity = '${PENDING_VALIDITY}'`),
    withRemarks: one("SELECT COUNT(*) AS n FROM forward_state WHERE state = 'created' AND remarks IS NOT NULL AND remarks <> '[]'"),
    outages: one('SELECT COUNT(*) AS n FROM outage_journal'),
  };
}

/**
 * How far forwarding has come, cheaply enough to ask often while a backlog drains (the partial indexes
 * answer it): the last registration picked up, what is in flight or to retry, and what awaits ONSS's
 * checks counted up to PROGRESS_COUNT_CAP only (forwardingSummary counts them all).
 */
const PROGRESS_COUNT_CAP = 10_000;

export function forwardingProgress(db: Db): { lastPicked: number; inFlight: number; retry: number; pendingValidity: number } {
  return db.prepare(`SELECT (SELECT COALESCE(MAX(seq), 0) FROM forward_state) AS lastPicked,
      (SELECT COUNT(*) FROM forward_state WHERE state = 'in_flight') AS inFlight,
      (SELECT COUNT(*) FROM forward_state WHERE state = 'retry') AS retry,
      (SELECT COUNT(*) FROM (SELECT 1 FROM forward_state WHERE state = 'created' AND validity = '${PENDING_VALIDITY}' LIMIT ${PROGRESS_COUNT_CAP})) AS pendingValidity`).get() as
    { lastPicked: number; inFlight: number; retry: number; pendingValidity: number };
}

/**
 * What the site manager's records and remark rules read about forwarding: on the storage port
 * (gateway/store/sql-store.ts), as the records' queries are, so they read the same on SQLite and PostgreSQL.
 */
export interface ForwardingFacts {
  /** Outcome at ONSS per registration seq; null when this database has no forwarder outcomes to read. */
  outcomes(seqs: number[]): Promise<Map<number, ForwardOutcome> | null>;
  /** Outages that overlap [from, to] (ISO instants). */
  outages(from: string, to: string): Promise<OutageFact[]>;
  /** Names of the forwarder tables this database does not have. */
  missing(): Promise<string[]>;
}

function parseJsonArray(text: string | null): unknown[] {
  if (!text) return [];
  try {
    const v = JSON.parse(text) as unknown;
    return Array.isArray(v) ? v : [v];
  } catch {
    return [text];
  }
}

/** An ONSS error as one readable line, whatever shape the forwarder kept it in. */
function errorText(e: unknown): string {
  if (typeof e === 'string') return e;
  if (e && typeof e === 'object') {
    const o = e as Record<string, unknown>;
    const parts = [o.code, o.title, o.detail, o.message, o.field ? `field ${String(o.field)}` : undefined].filter((x) => typeof x === 'string' && x.length > 0);
    if (parts.length) return parts.join(': ');
  }
  return JSON.stringify(e);
}

type OutcomeRow = Pick<Joined, 'seq' | 'onss_id' | 'remarks' | 'errors' | 'outage_id'> & {
  state: ForwardStateName; first_sent_at: string | null; last_sent_at: string | null; answered_at: string | null;
};

function toOutcome(r: OutcomeRow): ForwardOutcome {
  const sentAt = r.answered_at ?? r.last_sent_at ?? r.first_sent_at ?? '';
  const outageId = r.outage_id === null ? null : String(r.outage_id);
  switch (r.state) {
    case 'created':
      return { state: 'created', sentAt, onssId: r.onss_id ?? undefined, remarks: parseJsonArray(r.remarks).map(errorText), outageId };
    case 'not_created':
      return { state: 'not-created', sentAt, errors: parseJsonArray(r.errors).map(errorText), outageId };
    case 'in_flight':
      return { state: 'in-flight', since: r.last_sent_at ?? undefined, outageId };
    case 'retry':
      // Certainly not at ONSS yet, to be sent again.
      return { state: 'pending', outageId };
  }
}

const CHUNK = 500;

export function forwardingFacts(store: SqlStore): ForwardingFacts {
  const hasTable = tableCheck(store);
  return {
    async outcomes(seqs) {
      if (!(await hasTable('forward_state'))) return null;
      const out = new Map<number, ForwardOutcome>();
      for (let i = 0; i < seqs.length; i += CHUNK) {
        const chunk = seqs.slice(i, i + CHUNK);
        const rows = await store.all<OutcomeRow>(`SELECT seq, state, first_sent_at, last_sent_at, answered_at, onss_id, remarks, errors, outage_id FROM forward_state
          WHERE seq IN (${chunk.map((_, k) => `$${k + 1}`).join(', ')})`, chunk);
        for (const r of rows) out.set(r.seq, toOutcome(r));
      }
      return out;
    },

    async outages(from, to) {
      if (!(await hasTable('outage_journal'))) return [];
      const start = Date.parse(from);
      const end = Date.parse(to);
      return (await store.all<OutageRow>('SELECT id, started_at, ended_at, cause, last_cause FROM outage_journal ORDER BY id'))
        .filter((o) => Date.parse(o.started_at) <= end && (o.ended_at === null || Date.parse(o.ended_at) >= start))
        .map((o) => ({ id: String(o.id), scope: 'onss', from: o.started_at, to: o.ended_at, cause: o.last_cause && o.last_cause !== o.cause ? `${o.cause}; last: ${o.last_cause}` : o.cause }));
    },

    async missing() {
      return [
        ...((await hasTable('forward_state')) ? [] : ['forward_state (forwarder outcomes)']),
        ...((await hasTable('outage_journal')) ? [] : ['outage_journal']),
      ];
    },
  };
}
