import type { Db } from '../../shared/sqlite.ts';
import { notFound } from '../../shared/errors.ts';
import { InvalidInputError } from '../../shared/problems.ts';
import type { CorrectionFact } from '../remarks/model.ts';
import { checkTransition, validateCorrection, type CorrectableField, type CorrectionInput, type CorrectionState } from './corrections.ts';
import type { RegistrationRecord } from './ports.ts';

/** Correction requests as recorded: a new row per request, its state and history; registrations untouched. */

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

function toRequest(r: Row): CorrectionRequest {
  return {
    id: r.id, seq: r.seq, tapId: r.tap_id, siteId: r.site_id, field: r.field, currentValue: r.current_value,
    requestedValue: r.requested_value, reason: r.reason, state: r.state, deadline: r.deadline, createdAt: r.created_at,
    createdBy: r.created_by, sentAt: r.sent_at, decidedAt: r.decided_at, decisionNote: r.decision_note, history: JSON.parse(r.history),
  };
}

export function prepareCorrection(db: Db, registration: RegistrationRecord, input: CorrectionInput, by: string, now = new Date()): CorrectionRequest {
  const open = db.prepare('SELECT field, state FROM siteman_corrections WHERE seq = ?').all(registration.seq) as Array<{ field: string; state: CorrectionState }>;
  const v = validateCorrection({ seq: registration.seq, at: registration.at, employerId: registration.employerId, declaration: registration.declaration }, input, now, open);
  if (!v.ok) throw new InvalidInputError(v.problems);
  const at = now.toISOString();
  const r = db.prepare(
    `INSERT INTO siteman_corrections (seq, tap_id, site_id, field, current_value, requested_value, reason, state, deadline, created_at, created_by, history)
     VALUES (?, ?, ?, ?, ?, ?, ?, 'draft', ?, ?, ?, ?)`,
  ).run(registration.seq, registration.tapId, registration.siteId, v.value.field, v.value.currentValue, v.value.requestedValue, v.value.reason, v.value.deadline, at, by, JSON.stringify([{ state: 'draft', at, by }]));
  return getCorrection(db, Number(r.lastInsertRowid))!;
}

export function getCorrection(db: Db, id: number): CorrectionRequest | undefined {
  const r = db.prepare('SELECT * FROM siteman_corrections WHERE id = ?').get(id) as Row | undefined;
  return r ? toRequest(r) : undefined;
}

export function listCorrections(db: Db, filter: { siteIds: string[] | null; state?: string; seq?: number }): CorrectionRequest[] {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.siteIds) { where.push(`site_id IN (${filter.siteIds.map(() => '?').join(', ') || 'NULL'})`); params.push(...filter.siteIds); }
  if (filter.state) { where.push('state = ?'); params.push(filter.state); }
  if (filter.seq !== undefined) { where.push('seq = ?'); params.push(filter.seq); }
  return (db.prepare(`SELECT * FROM siteman_corrections${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC`).all(...params) as Row[]).map(toRequest);
}

export function changeCorrectionState(db: Db, id: number, to: string, registrationAt: string, by: string, note: string | undefined, now = new Date()): CorrectionRequest {
  // IMMEDIATE: read then write while the gateway writes too; take the lock before the read.
  return db.transaction(() => {
    const current = getCorrection(db, id);
    if (!current) throw notFound('id', `id: no correction request ${id}`);
    const p = checkTransition(current.state, to, registrationAt, now);
    if (p) throw new InvalidInputError([p]);
    const at = now.toISOString();
    const history = [...current.history, { state: to as CorrectionState, at, by, ...(note ? { note } : {}) }];
    db.prepare(
      `UPDATE siteman_corrections SET state = ?, sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END,
         decided_at = CASE WHEN ? IN ('accepted', 'refused') THEN ? ELSE decided_at END,
         decision_note = CASE WHEN ? IN ('accepted', 'refused') THEN ? ELSE decision_note END, history = ? WHERE id = ?`,
    ).run(to, to, at, to, at, to, note ?? null, JSON.stringify(history), id);
    return getCorrection(db, id)!;
  }).immediate();
}

export function listCorrectionFacts(db: Db, seqs: number[]): CorrectionFact[] {
  if (db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'siteman_corrections'").get() === undefined || seqs.length === 0) return [];
  const wanted = new Set(seqs);
  return (db.prepare('SELECT seq, field, state FROM siteman_corrections').all() as CorrectionFact[]).filter((c) => wanted.has(c.seq));
}
