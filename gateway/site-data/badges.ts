import type { Db } from '../../shared/sqlite.ts';
import { badgeUidSchema } from '../../shared/mqtt/payloads.ts';
import { parseWith } from '../../shared/schema.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import { findWorker } from './workers.ts';
import { BADGE_UID_RULE } from '../../shared/identifiers/badge.ts';
import { notFoundError, nowIso, parseDay, problem, throwIfAny } from './input.ts';

/** Badges: an NFC UID bound to one worker for a period; revocation keeps the row (history) but refuses it. */
export interface Badge {
  uid: string;
  workerId: string;
  validFrom: string;
  validTo: string | null;
  revokedAt: string | null;
  revokedReason: string | null;
}

export interface BadgeInput {
  uid: string;
  worker: string;
  validFrom?: string;
  validTo?: string;
}

export function checkBadge(db: Db, input: BadgeInput, problems: FieldProblem[]): { uid: string; workerId: string; validFrom: string; validTo: string | null } | undefined {
  const before = problems.length;
  const uid = parseWith(badgeUidSchema, (input.uid ?? '').trim());
  if (!uid.ok) problems.push(problem('uid', 'format', BADGE_UID_RULE));
  let workerId: string | undefined;
  if (!input.worker?.trim()) problems.push(problem('worker', 'required', 'is required (worker id, NISS/BIS or Limosa id)'));
  else {
    workerId = findWorker(db, input.worker.trim())?.id;
    if (!workerId) problems.push(problem('worker', 'exists', 'no worker with this id, NISS/BIS or Limosa id'));
  }
  const from = parseDay(input.validFrom, 'from', problems) ?? (input.validFrom ? undefined : new Date().toISOString().slice(0, 10));
  const to = parseDay(input.validTo, 'to', problems);
  if (from && to && to < from) problems.push(problem('to', 'order', 'must not be before from'));
  if (problems.length > before) return undefined;
  return { uid: uid.ok ? uid.value : '', workerId: workerId!, validFrom: from!, validTo: to ?? null };
}

/** Binds a badge to a worker (a re-issued badge replaces the old binding and clears a revocation). */
export function saveBadge(db: Db, b: { uid: string; workerId: string; validFrom: string; validTo: string | null }): Badge {
  db.prepare(
    `INSERT INTO badges (uid, worker_id, valid_from, valid_to, created_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (uid) DO UPDATE SET worker_id = excluded.worker_id, valid_from = excluded.valid_from, valid_to = excluded.valid_to,
       revoked_at = NULL, revoked_reason = NULL`,
  ).run(b.uid, b.workerId, b.validFrom, b.validTo, nowIso());
  return getBadge(db, b.uid)!;
}

export function upsertBadge(db: Db, input: BadgeInput): Badge {
  const problems: FieldProblem[] = [];
  const b = checkBadge(db, input, problems);
  throwIfAny(problems);
  return saveBadge(db, b!);
}

export function revokeBadge(db: Db, uid: string, reason = 'revoked'): Badge {
  const key = uid.trim().toUpperCase();
  const r = db.prepare('UPDATE badges SET revoked_at = ?, revoked_reason = ? WHERE uid = ?').run(nowIso(), reason, key);
  if (r.changes === 0) throw notFoundError('badge', key);
  return getBadge(db, key)!;
}

interface BadgeRow {
  uid: string;
  worker_id: string;
  valid_from: string;
  valid_to: string | null;
  revoked_at: string | null;
  revoked_reason: string | null;
}

function toBadge(r: BadgeRow): Badge {
  return { uid: r.uid, workerId: r.worker_id, validFrom: r.valid_from, validTo: r.valid_to, revokedAt: r.revoked_at, revokedReason: r.revoked_reason };
}

export function getBadge(db: Db, uid: string): Badge | undefined {
  const r = db.prepare('SELECT * FROM badges WHERE uid = ?').get(uid.toUpperCase()) as BadgeRow | undefined;
  return r ? toBadge(r) : undefined;
}

export function listBadges(db: Db, workerId?: string): Badge[] {
  const rows = (workerId ? db.prepare('SELECT * FROM badges WHERE worker_id = ? ORDER BY uid').all(workerId) : db.prepare('SELECT * FROM badges ORDER BY uid').all()) as BadgeRow[];
  return rows.map(toBadge);
}
