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
 * Both read through the storage port (gateway/store/sql-store.ts), in SQL both databases take.
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
export async function forwardingStateOf(store: SqlStore, key: { seq: number } | { tapId: string }): Promise<ForwardingState | undefined> {
  const r = 'seq' in key
    ? await store.one<Joined>(`${JOINED} WHERE r.seq = $1`, [key.seq])
    : await store.one<Joined>(`${JOINED} WHERE r.tap_id = $1`, [key.tapId]);
  return r ? toState(r) : undefined;
}

/** Forwarding states in seq order, optionally only one state. */
export async function listForwardingStates(store: SqlStore, page: Page & { state?: ForwardStateName } = {}): Promise<ForwardingState[]> {
  const rows = page.state
    ? await store.all<Joined>(`${JOINED} WHERE f.state = $1 AND r.seq > $2 ORDER BY r.seq LIMIT $3`, [page.state, page.afterSeq ?? 0, lim(page)])
    : await store.all<Joined>(`${JOINED} WHERE r.seq > $1 ORDER BY r.seq LIMIT $2`, [page.afterSeq ?? 0, lim(page)]);
  return rows.map(toState);
}

/** Registrations ONSS created with remarks (its own checks: duplicates, unknown declaration, ...). */
export async function onssRemarks(store: SqlStore, page: Page = {}): Promise<ForwardingState[]> {
  return (await store.all<Joined>(`${JOINED} WHERE f.state = 'created' AND f.remarks IS NOT NULL AND f.remarks <> '[]' AND r.seq > $1 ORDER BY r.seq LIMIT $2`,
    [page.afterSeq ?? 0, lim(page)])).map(toState);
}

/** Registrations ONSS refused, with its errors. They are never resent without someone's decision. */
export async function notCreatedRegistrations(store: SqlStore, page: Page = {}): Promise<ForwardingState[]> {
  return (await store.all<Joined>(`${JOINED} WHERE f.state = 'not_created' AND r.seq > $1 ORDER BY r.seq LIMIT $2`,
    [page.afterSeq ?? 0, lim(page)])).map(toState);
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
export async function outageJournal(store: SqlStore, page: { beforeId?: number; limit?: number } = {}): Promise<OutageEntry[]> {
  const rows = await store.all<OutageRow>(`SELECT id, started_at, ended_at, cause, last_cause, failures, registrations_delayed FROM outage_journal
    WHERE id < $1 ORDER BY id DESC LIMIT $2`, [page.beforeId ?? Number.MAX_SAFE_INTEGER, Math.max(1, Math.min(page.limit ?? 100, 1000))]);
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

type LateRow = Joined & {
  site_id: string; at: string; received_at: string; o_id: number; o_started_at: string; o_ended_at: string | null;
  o_cause: string; o_last_cause: string; o_failures: number; o_delayed: number;
};

/** Registrations that reached ONSS late because of an outage, with the outage that is their proof. */
export async function lateRegistrations(store: SqlStore, page: Page & { outageId?: number } = {}): Promise<LateRegistration[]> {
  const oneOutage = page.outageId !== undefined;
  const rows = await store.all<LateRow>(`SELECT r.seq, r.tap_id, r.site_id, r.at, r.received_at, x.client_reference, x.state, x.attempts, x.onss_id, x.validity,
      x.remarks, x.errors, x.last_failure, x.first_sent_at, x.answered_at, x.outage_id, x.duplicates_at_onss,
      o.id AS o_id, o.started_at AS o_started_at, o.ended_at AS o_ended_at, o.cause AS o_cause, o.last_cause AS o_last_cause,
      o.failures AS o_failures, o.registrations_delayed AS o_delayed
    FROM forward_state x JOIN registrations r ON r.seq = x.seq JOIN outage_journal o ON o.id = x.outage_id
    WHERE x.outage_id IS NOT NULL ${oneOutage ? 'AND x.outage_id = $3' : ''} AND x.seq > $1
    ORDER BY x.seq LIMIT $2`, oneOutage ? [page.afterSeq ?? 0, lim(page), page.outageId] : [page.afterSeq ?? 0, lim(page)]);
  return rows.map((r) => ({
    ...toState(r),
    siteId: r.site_id, at: r.at, receivedAt: r.received_at,
    outage: { id: r.o_id, startedAt: r.o_started_at, endedAt: r.o_ended_at, cause: r.o_cause, lastCause: r.o_last_cause, failures: r.o_failures, registrationsDelayed: r.o_delayed },
  }));
}

/** Counts per state (waiting = not picked up yet), for a dashboard. */
export async function forwardingSummary(store: SqlStore): Promise<Record<ForwardStateName | 'waiting' | 'pendingValidity' | 'withRemarks' | 'outages', number>> {
  const counts = Object.fromEntries((await store.all<{ state: string; n: number }>('SELECT state, COUNT(*) AS n FROM forward_state GROUP BY state')).map((r) => [r.state, r.n]));
  const count = async (sql: string) => (await store.one<{ n: number }>(sql))!.n;
  // What the forwarder has not picked up yet: registrations after the last one it has a row for.
  const waiting = await count('SELECT COUNT(*) AS n FROM registrations WHERE seq > (SELECT COALESCE(MAX(seq), 0) FROM forward_state)');
  return {
    waiting,
    in_flight: counts.in_flight ?? 0,
    retry: counts.retry ?? 0,
    created: counts.created ?? 0,
    not_created: counts.not_created ?? 0,
    pendingValidity: await count(`SELECT COUNT(*) AS n FROM forward_state WHERE state = 'created' AND validity = '${PENDING_VALIDITY}'`),
    withRemarks: await count("SELECT COUNT(*) AS n FROM forward_state WHERE state = 'created' AND remarks IS NOT NULL AND remarks <> '[]'"),
    outages: await count('SELECT COUNT(*) AS n FROM outage_journal'),
  };
}

/**
 * How far forwarding has come, cheaply enough to ask often while a backlog drains (the partial indexes
 * answer it): the last registration picked up, what is in flight or to retry, and what awaits ONSS's
 * checks counted up to PROGRESS_COUNT_CAP only (forwardingSummary counts them all).
 */
const PROGRESS_COUNT_CAP = 10_000;

export async function forwardingProgress(store: SqlStore): Promise<{ lastPicked: number; inFlight: number; retry: number; pendingValidity: number }> {
  return (await store.one<{ lastPicked: number; inFlight: number; retry: number; pendingValidity: number }>(`SELECT
      (SELECT COALESCE(MAX(seq), 0) FROM forward_state) AS "lastPicked",
      (SELECT COUNT(*) FROM forward_state WHERE state = 'in_flight') AS "inFlight",
      (SELECT COUNT(*) FROM forward_state WHERE state = 'retry') AS retry,
      (SELECT COUNT(*) FROM (SELECT 1 FROM forward_state WHERE state = 'created' AND validity = '${PENDING_VALIDITY}' LIMIT ${PROGRESS_COUNT_CAP}) AS due) AS "pendingValidity"`))!;
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
