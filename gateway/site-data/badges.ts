import type { Db } from '../../shared/sqlite.ts';
import { badgeUidSchema } from '../../shared/mqtt/payloads.ts';
import { parseWith } from '../../shared/schema.ts';
import { InvalidInputError, type FieldProblem } from '../../shared/problems.ts';
import { findWorker } from './workers.ts';
import { BADGE_UID_RULE } from '../../shared/identifiers/badge.ts';
import { checkUidOnlyBadgeAllowed } from './badge-policy.ts';
import { notFoundError, nowIso, parseDay, problem, throwIfAny } from './input.ts';
import { localDate } from '../../shared/time.ts';

/**
 * Badges: an NFC UID bound to one worker for a period; revocation keeps the row (history) but refuses it.
 * A badge is `uid-only` (enrolled by its UID) or `secure` (an NTAG 424 DNA personalised by
 * `ciao admin badge provision`, with the key version that personalised it). Re-binding a secure badge to
 * another worker keeps it secure: only personalisation makes a badge secure, and nothing makes it less so.
 */
export type BadgeKind = 'uid-only' | 'secure';

export interface Badge {
  uid: string;
  workerId: string;
  validFrom: string;
  validTo: string | null;
  revokedAt: string | null;
  revokedReason: string | null;
  kind: BadgeKind;
  /** Secure badges: the key version they were personalised with. */
  keyVersion: number | null;
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
  const from = parseDay(input.validFrom, 'from', problems) ?? (input.validFrom ? undefined : localDate(new Date()));
  const to = parseDay(input.validTo, 'to', problems);
  if (from && to && to < from) problems.push(problem('to', 'order', 'must not be before from'));
  // Enrolled by its UID, a badge is UID-only unless personalisation already made it secure. Changing the dates
  // of a UID-only badge the worker already holds (e.g. ending it) is not an enrolment.
  if (uid.ok && workerId) {
    const existing = getBadge(db, uid.value);
    const sameBinding = existing !== undefined && existing.workerId === workerId && existing.revokedAt === null;
    if (existing?.kind !== 'secure' && !sameBinding) checkUidOnlyBadgeAllowed(db, workerId, problems);
  }
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

/** Enrols a personalised secure badge (re-personalisation moves it to the new key version). */
export function saveSecureBadge(db: Db, b: { uid: string; workerId: string; validFrom: string; validTo: string | null; keyVersion: number }): Badge {
  db.prepare(
    `INSERT INTO badges (uid, worker_id, valid_from, valid_to, created_at, kind, key_version) VALUES (?, ?, ?, ?, ?, 'secure', ?)
     ON CONFLICT (uid) DO UPDATE SET worker_id = excluded.worker_id, valid_from = excluded.valid_from, valid_to = excluded.valid_to,
       revoked_at = NULL, revoked_reason = NULL, kind = 'secure', key_version = excluded.key_version`,
  ).run(b.uid, b.workerId, b.validFrom, b.validTo, nowIso(), b.keyVersion);
  return getBadge(db, b.uid)!;
}

/** What enrolling a badge whose personalisation verified needs. */
export interface ProvisionedBadgeInput {
  uid: string;
  keyVersion: number;
  workerId?: string;
  validFrom?: string;
  validTo?: string;
}

/**
 * The record a personalised badge gets: `secure` with its key version, bound to the worker given (or the
 * one it had), valid from the day given, else the one it had, else today at the sites (Europe/Brussels).
 */
export function provisionedBadgeRecord(existing: Badge | null, input: ProvisionedBadgeInput, now = new Date()): { uid: string; workerId: string; validFrom: string; validTo: string | null; keyVersion: number } {
  const workerId = input.workerId ?? existing?.workerId;
  if (!workerId) {
    throw new InvalidInputError([
      problem('worker', 'required', `badge ${input.uid} is personalised but not enrolled to anyone: run the command again with --worker (the badge need not be personalised again)`),
    ]);
  }
  return {
    uid: input.uid,
    workerId,
    validFrom: input.validFrom ?? existing?.validFrom ?? localDate(now),
    validTo: input.validTo ?? (input.validFrom ? null : existing?.validTo ?? null),
    keyVersion: input.keyVersion,
  };
}

interface BadgeRow {
  uid: string;
  worker_id: string;
  valid_from: string;
  valid_to: string | null;
  revoked_at: string | null;
  revoked_reason: string | null;
  kind?: BadgeKind;
  key_version?: number | null;
}

function toBadge(r: BadgeRow): Badge {
  return { uid: r.uid, workerId: r.worker_id, validFrom: r.valid_from, validTo: r.valid_to, revokedAt: r.revoked_at, revokedReason: r.revoked_reason, kind: r.kind ?? 'uid-only', keyVersion: r.key_version ?? null };
}

export function getBadge(db: Db, uid: string): Badge | undefined {
  const r = db.prepare('SELECT * FROM badges WHERE uid = ?').get(uid.toUpperCase()) as BadgeRow | undefined;
  return r ? toBadge(r) : undefined;
}

export function listBadges(db: Db, workerId?: string): Badge[] {
  const rows = (workerId ? db.prepare('SELECT * FROM badges WHERE worker_id = ? ORDER BY uid').all(workerId) : db.prepare('SELECT * FROM badges ORDER BY uid').all()) as BadgeRow[];
  return rows.map(toBadge);
}
