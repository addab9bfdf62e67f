import { notFound } from '../../shared/errors.ts';
import { InvalidInputError } from '../../shared/problems.ts';
import type { CorrectionFact } from '../remarks/model.ts';
import { checkTransition, validateCorrection, type CorrectableField, type CorrectionInput, type CorrectionState } from './corrections.ts';
import type { RegistrationRecord } from './ports.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { Binds } from '../store/sql-binds.ts';

/**
 * Correction requests as recorded: a new row per request, its state and history; registrations untouched.
 * On the storage port: the same SQL on SQLite and PostgreSQL.
 */

export interface CorrectionRequest {
  id: number;
  seq: number;
  tapId: string;
  siteId: string;
  field: CorrectableField;
  currentValue: string;
  requestedValue: string;
  reason: string;
  state: CorrectionState;
  deadline: string;
  createdAt: string;
  createdBy: string;
  sentAt: string | null;
  decidedAt: string | null;
  decisionNote: string | null;
  history: Array<{ state: CorrectionState; at: string; by: string; note?: string }>;
}

interface Row {
  id: number; seq: number; tap_id: string; site_id: string; field: CorrectableField; current_value: string; requested_value: string;
  reason: string; state: CorrectionState; deadline: string; created_at: string; created_by: string; sent_at: string | null;
  decided_at: string | null; decision_note: string | null; history: string;
}

const COLUMNS = 'id, seq, tap_id, site_id, field, current_value, requested_value, reason, state, deadline, created_at, created_by, sent_at, decided_at, decision_note, history';

function toRequest(r: Row): CorrectionRequest {
  return {
    id: r.id, seq: r.seq, tapId: r.tap_id, siteId: r.site_id, field: r.field, currentValue: r.current_value,
    requestedValue: r.requested_value, reason: r.reason, state: r.state, deadline: r.deadline, createdAt: r.created_at,
    createdBy: r.created_by, sentAt: r.sent_at, decidedAt: r.decided_at, decisionNote: r.decision_note, history: JSON.parse(r.history),
  };
}

/**
 * A new draft. Its checks read the registration's other requests, so the read and the insert are one
 * transaction: two people preparing the same correction at once make one request, the other is refused.
 */
export async function prepareCorrection(store: SqlStore, registration: RegistrationRecord, input: CorrectionInput, by: string, now = new Date()): Promise<CorrectionRequest> {
  const at = now.toISOString();
  const id = await store.transaction(async (tx) => {
    const open = await tx.all<{ field: string; state: CorrectionState }>('SELECT field, state FROM siteman_corrections WHERE seq = $1 ORDER BY id', [registration.seq]);
    const v = validateCorrection({ seq: registration.seq, at: registration.at, employerId: registration.employerId, declaration: registration.declaration }, input, now, open);
    if (!v.ok) throw new InvalidInputError(v.problems);
    const row = await tx.one<{ id: number }>(
      `INSERT INTO siteman_corrections (seq, tap_id, site_id, field, current_value, requested_value, reason, state, deadline, created_at, created_by, history)
       VALUES ($1, $2, $3, $4, $5, $6, $7, 'draft', $8, $9, $10, $11) RETURNING id`,
      [registration.seq, registration.tapId, registration.siteId, v.value.field, v.value.currentValue, v.value.requestedValue, v.value.reason, v.value.deadline, at, by, JSON.stringify([{ state: 'draft', at, by }])],
    );
    return row!.id;
  });
  return (await getCorrection(store, id))!;
}

export async function getCorrection(store: SqlStore, id: number): Promise<CorrectionRequest | undefined> {
  const r = await store.one<Row>(`SELECT ${COLUMNS} FROM siteman_corrections WHERE id = $1`, [id]);
  return r ? toRequest(r) : undefined;
}

/** Newest first. */
export async function listCorrections(store: SqlStore, filter: { siteIds: string[] | null; state?: string; seq?: number }): Promise<CorrectionRequest[]> {
  const where: string[] = [];
  const binds = new Binds();
  if (filter.siteIds) where.push(binds.in('site_id', filter.siteIds));
  if (filter.state) where.push(`state = ${binds.add(filter.state)}`);
  if (filter.seq !== undefined) where.push(`seq = ${binds.add(filter.seq)}`);
  return (await store.all<Row>(`SELECT ${COLUMNS} FROM siteman_corrections${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC`, binds.values)).map(toRequest);
}

export async function changeCorrectionState(store: SqlStore, id: number, to: string, registrationAt: string, by: string, note: string | undefined, now = new Date()): Promise<CorrectionRequest> {
  // Read then write while others may change the same request: one transaction, serializable on both databases.
  return store.transaction(async (tx) => {
    const current = await getCorrection(tx, id);
    if (!current) throw notFound('id', `id: no correction request ${id}`);
    const p = checkTransition(current.state, to, registrationAt, now);
    if (p) throw new InvalidInputError([p]);
    const at = now.toISOString();
    const history = [...current.history, { state: to as CorrectionState, at, by, ...(note ? { note } : {}) }];
    const binds = new Binds();
    const set = [`state = ${binds.add(to)}`, `history = ${binds.add(JSON.stringify(history))}`];
    // Sending stamps when it was sent; ONSS's decision stamps when, and its note.
    if (to === 'sent') set.push(`sent_at = ${binds.add(at)}`);
    if (to === 'accepted' || to === 'refused') set.push(`decided_at = ${binds.add(at)}`, `decision_note = ${binds.add(note ?? null)}`);
    await tx.run(`UPDATE siteman_corrections SET ${set.join(', ')} WHERE id = ${binds.add(id)}`, binds.values);
    return (await getCorrection(tx, id))!;
  });
}

/** The correction requests of these registrations, for the remark rules. */
export async function listCorrectionFacts(store: SqlStore, seqs: number[]): Promise<CorrectionFact[]> {
  if (seqs.length === 0) return [];
  const wanted = new Set(seqs);
  return (await store.all<CorrectionFact>('SELECT seq, field, state FROM siteman_corrections ORDER BY id')).filter((c) => wanted.has(c.seq));
}
