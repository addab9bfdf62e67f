import type { SqlStore } from '../store/sql-store.ts';
import { byCodePoint } from '../store/sql-binds.ts';
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

export async function checkBadge(store: SqlStore, input: BadgeInput, problems: FieldProblem[]): Promise<{ uid: string; workerId: string; validFrom: string; validTo: string | null } | undefined> {
  const before = problems.length;
  const uid = parseWith(badgeUidSchema, (input.uid ?? '').trim());
  if (!uid.ok) problems.push(problem('uid', 'format', BADGE_UID_RULE));
  let workerId: string | undefined;
  if (!input.worker?.trim()) problems.push(problem('worker', 'required', 'is required (worker id, NISS/BIS or Limosa id)'));
  else {
    workerId = (await findWorker(store, input.worker.trim()))?.id;
    if (!workerId) problems.push(problem('worker', 'exists', 'no worker with this id, NISS/BIS or Limosa id'));
  }
  const from = parseDay(input.validFrom, 'from', problems) ?? (input.validFrom ? undefined : localDate(new Date()));
  const to = parseDay(input.validTo, 'to', problems);
  if (from && to && to < from) problems.push(problem('to', 'order', 'must not be before from'));
  // Enrolled by its UID, a badge is UID-only unless personalisation already made it secure. Changing the dates
  // of a UID-only badge the worker already holds (e.g. ending it) is not an enrolment.
  if (uid.ok && workerId) {
    const existing = await getBadge(store, uid.value);
    const sameBinding = existing !== undefined && existing.workerId === workerId && existing.revokedAt === null;
    if (existing?.kind !== 'secure' && !sameBinding) await checkUidOnlyBadgeAllowed(store, workerId, problems);
  }
  if (problems.length > before) return undefined;
  return { uid: uid.ok ? uid.value : '', workerId: workerId!, validFrom: from!, validTo: to ?? null };
}

/** Binds a badge to a worker (a re-issued badge replaces the old binding and clears a revocation). */
export async function saveBadge(store: SqlStore, b: { uid: string; workerId: string; validFrom: string; validTo: string | null }): Promise<Badge> {
  const row = await store.one<BadgeRow>(
    `INSERT INTO badges (uid, worker_id, valid_from, valid_to, created_at) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (uid) DO UPDATE SET worker_id = excluded.worker_id, valid_from = excluded.valid_from, valid_to = excluded.valid_to,
       revoked_at = NULL, revoked_reason = NULL
     RETURNING ${BADGE_COLUMNS}`,
    [b.uid, b.workerId, b.validFrom, b.validTo, nowIso()],
  );
  return toBadge(row!);
}

/** Checks and binds a badge, in one transaction. */
export async function upsertBadge(store: SqlStore, input: BadgeInput): Promise<Badge> {
  return store.transaction(async (tx) => {
    const problems: FieldProblem[] = [];
    const b = await checkBadge(tx, input, problems);
    throwIfAny(problems);
    return saveBadge(tx, b!);
  });
}

export async function revokeBadge(store: SqlStore, uid: string, reason = 'revoked'): Promise<Badge> {
  const key = uid.trim().toUpperCase();
  const row = await store.one<BadgeRow>(`UPDATE badges SET revoked_at = $1, revoked_reason = $2 WHERE uid = $3 RETURNING ${BADGE_COLUMNS}`, [nowIso(), reason, key]);
  if (!row) throw notFoundError('badge', key);
  return toBadge(row);
}

/** Enrols a personalised secure badge (re-personalisation moves it to the new key version). */
export async function saveSecureBadge(store: SqlStore, b: { uid: string; workerId: string; validFrom: string; validTo: string | null; keyVersion: number }): Promise<Badge> {
  const row = await store.one<BadgeRow>(
    `INSERT INTO badges (uid, worker_id, valid_from, valid_to, created_at, kind, key_version) VALUES ($1, $2, $3, $4, $5, 'secure', $6)
     ON CONFLICT (uid) DO UPDATE SET worker_id = excluded.worker_id, valid_from = excluded.valid_from, valid_to = excluded.valid_to,
       revoked_at = NULL, revoked_reason = NULL, kind = 'secure', key_version = excluded.key_version
     RETURNING ${BADGE_COLUMNS}`,
    [b.uid, b.workerId, b.validFrom, b.validTo, nowIso(), b.keyVersion],
  );
  return toBadge(row!);
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

const BADGE_COLUMNS = 'uid, worker_id, valid_from, valid_to, revoked_at, revoked_reason, kind, key_version';

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

export async function getBadge(store: SqlStore, uid: string): Promise<Badge | undefined> {
  const r = await store.one<BadgeRow>(`SELECT ${BADGE_COLUMNS} FROM badges WHERE uid = $1`, [uid.toUpperCase()]);
  return r ? toBadge(r) : undefined;
}

/** A worker's badges (or every one), by UID, by code point as SQLite orders them. */
export async function listBadges(store: SqlStore, workerId?: string): Promise<Badge[]> {
  const rows = workerId ? await store.all<BadgeRow>(`SELECT ${BADGE_COLUMNS} FROM badges WHERE worker_id = $1`, [workerId]) : await store.all<BadgeRow>(`SELECT ${BADGE_COLUMNS} FROM badges`);
  return rows.sort((a, b) => byCodePoint(a.uid, b.uid)).map(toBadge);
}
