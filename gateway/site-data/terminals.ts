import type { Db } from '../../shared/sqlite.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { parseTerminalId } from '../../shared/mqtt/topics.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import { generateSecret, hashSecret } from './secrets.ts';
import { getSiteSync } from './sites.ts';
import { check, notFoundError, nowIso, problem, throwIfAny } from './input.ts';
import { LANGUAGES, type Language } from '../../shared/mqtt/payloads.ts';

/** Terminals: one MQTT identity each (client id = username = terminal id), with a secret shown once. */
const BUTTONS = ['IN', 'OUT', 'BREAK'] as const;
export type Button = (typeof BUTTONS)[number];

export interface Terminal {
  id: string;
  siteId: string | null;
  disabled: boolean;
  debounceSeconds: number;
  buttons: Button[];
  armSeconds: number;
  /** The terminal's own language; null: the site's. */
  language: Language | null;
  /** How long the panel shows a tap's result; null: the terminal's own setting. */
  feedbackSeconds: number | null;
  /** Bumped by every change of what the terminal is told; the terminal reports the version it applied. */
  configVersion: number;
  /** Enrolment mode is on until this instant (UTC ISO), else null. */
  enrolmentUntil: string | null;
}

interface TerminalRow {
  id: string;
  site_id: string | null;
  disabled: number;
  debounce_seconds: number;
  buttons: string;
  arm_seconds: number;
  language: Language | null;
  feedback_seconds: number | null;
  config_version: number;
  enrolment_until: string | null;
}

function toTerminal(r: TerminalRow): Terminal {
  return {
    id: r.id,
    siteId: r.site_id,
    disabled: r.disabled === 1,
    debounceSeconds: r.debounce_seconds,
    buttons: r.buttons.split(',').filter(Boolean) as Button[],
    armSeconds: r.arm_seconds,
    language: r.language,
    feedbackSeconds: r.feedback_seconds,
    configVersion: r.config_version,
    enrolmentUntil: r.enrolment_until,
  };
}

export interface TerminalSettings {
  siteId?: string;
  debounceSeconds?: number;
  buttons?: string[];
  armSeconds?: number;
  /** null: back to the site's language. */
  language?: string | null;
  /** null: back to the terminal's own setting. */
  feedbackSeconds?: number | null;
}

function checkSettings(db: Db, s: TerminalSettings, problems: FieldProblem[]): void {
  if (s.siteId !== undefined && !getSiteSync(db, s.siteId)) problems.push(problem('site', 'exists', `site ${s.siteId} does not exist`));
  if (s.debounceSeconds !== undefined && (!Number.isInteger(s.debounceSeconds) || s.debounceSeconds < 0 || s.debounceSeconds > 3600)) {
    problems.push(problem('debounce', 'range', 'must be a whole number of seconds from 0 to 3600'));
  }
  if (s.armSeconds !== undefined && (!Number.isInteger(s.armSeconds) || s.armSeconds < 1 || s.armSeconds > 60)) {
    problems.push(problem('arm', 'range', 'must be a whole number of seconds from 1 to 60'));
  }
  if (s.language !== undefined && s.language !== null && !(LANGUAGES as readonly string[]).includes(s.language)) {
    problems.push(problem('language', 'enum', `must be one of ${LANGUAGES.join(', ')}`));
  }
  if (s.feedbackSeconds !== undefined && s.feedbackSeconds !== null && (typeof s.feedbackSeconds !== 'number' || !(s.feedbackSeconds >= 0.5 && s.feedbackSeconds <= 30))) {
    problems.push(problem('feedback', 'range', 'must be from 0.5 to 30 seconds'));
  }
  if (s.buttons !== undefined && s.buttons.length === 0) problems.push(problem('buttons', 'required', 'at least one button (IN, OUT or BREAK) is required'));
  for (const b of s.buttons ?? []) {
    if (!(BUTTONS as readonly string[]).includes(b)) problems.push(problem('buttons', 'enum', `${b} is not a button; use ${BUTTONS.join(', ')}`));
  }
}

/**
 * Adds a terminal and returns its secret: the only time the secret exists outside the terminal.
 * `shared`: a secret and its hash made once for many terminals (a load test's fleet: an scrypt hash costs
 * tens of milliseconds, thousands of them minutes); never for terminals on a site.
 */
export function addTerminal(db: Db, input: { id: string } & TerminalSettings, shared?: { secret: string; hash: string }): { terminal: Terminal; secret: string } {
  const problems: FieldProblem[] = [];
  const id = check(parseTerminalId(input.id, 'id'), problems);
  if (id && getTerminal(db, id)) problems.push(problem('id', 'unique', `terminal ${id} already exists (use 'terminal rotate-secret' for a new secret)`));
  checkSettings(db, input, problems);
  throwIfAny(problems);
  const secret = shared?.secret ?? generateSecret();
  const now = nowIso();
  db.prepare(
    `INSERT INTO terminals (id, site_id, secret_hash, disabled, debounce_seconds, buttons, arm_seconds, language, feedback_seconds, created_at, secret_rotated_at)
     VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(id!, input.siteId ?? null, shared?.hash ?? hashSecret(secret), input.debounceSeconds ?? 60, (input.buttons ?? BUTTONS).join(','), input.armSeconds ?? 10, input.language ?? null, input.feedbackSeconds ?? null, now, now);
  return { terminal: getTerminal(db, id!)!, secret };
}

export function updateTerminal(db: Db, id: string, settings: TerminalSettings): Terminal {
  const t = getTerminal(db, id);
  if (!t) throw notFoundError('terminal', id);
  const problems: FieldProblem[] = [];
  checkSettings(db, settings, problems);
  throwIfAny(problems);
  db.prepare('UPDATE terminals SET site_id = ?, debounce_seconds = ?, buttons = ?, arm_seconds = ?, language = ?, feedback_seconds = ?, config_version = config_version + 1 WHERE id = ?').run(
    settings.siteId ?? t.siteId,
    settings.debounceSeconds ?? t.debounceSeconds,
    (settings.buttons ?? t.buttons).join(','),
    settings.armSeconds ?? t.armSeconds,
    settings.language === undefined ? t.language : settings.language,
    settings.feedbackSeconds === undefined ? t.feedbackSeconds : settings.feedbackSeconds,
    id,
  );
  return getTerminal(db, id)!;
}

/** A change of what the terminals of a site are told (its name or language): each reports it applied. */
export function bumpSiteTerminals(db: Db, siteId: string): void {
  db.prepare('UPDATE terminals SET config_version = config_version + 1 WHERE site_id = ?').run(siteId);
}

/** Turns enrolment mode on until `until` (null: off). */
export function setEnrolmentMode(db: Db, id: string, until: Date | null): Terminal {
  const r = db.prepare('UPDATE terminals SET enrolment_until = ? WHERE id = ?').run(until ? until.toISOString() : null, id);
  if (r.changes === 0) throw notFoundError('terminal', id);
  return getTerminal(db, id)!;
}

export function setTerminalDisabled(db: Db, id: string, disabled: boolean): Terminal {
  const r = db.prepare('UPDATE terminals SET disabled = ? WHERE id = ?').run(disabled ? 1 : 0, id);
  if (r.changes === 0) throw notFoundError('terminal', id);
  return getTerminal(db, id)!;
}

/** Replaces the secret; the old one stops working at the terminal's next connection. */
export function rotateTerminalSecret(db: Db, id: string): string {
  const secret = generateSecret();
  const r = db.prepare('UPDATE terminals SET secret_hash = ?, secret_rotated_at = ? WHERE id = ?').run(hashSecret(secret), nowIso(), id);
  if (r.changes === 0) throw notFoundError('terminal', id);
  return secret;
}

export function getTerminal(db: Db, id: string): Terminal | undefined {
  const row = db.prepare('SELECT * FROM terminals WHERE id = ?').get(id) as TerminalRow | undefined;
  return row ? toTerminal(row) : undefined;
}

export function listTerminals(db: Db): Terminal[] {
  return (db.prepare('SELECT * FROM terminals ORDER BY id').all() as TerminalRow[]).map(toTerminal);
}

/** What the broker needs to authenticate: the hash and whether the terminal may connect (through the storage port). */
export async function terminalCredentials(store: SqlStore, id: string): Promise<{ secretHash: string; disabled: boolean } | undefined> {
  const row = await store.one<{ secret_hash: string; disabled: number }>('SELECT secret_hash, disabled FROM terminals WHERE id = $1', [id]);
  return row ? { secretHash: row.secret_hash, disabled: row.disabled === 1 } : undefined;
}

/** Whether a terminal's enrolment mode is on at `now`. */
export function inEnrolmentMode(db: Db, id: string, now: Date): boolean {
  const row = db.prepare('SELECT enrolment_until FROM terminals WHERE id = ?').get(id) as { enrolment_until: string | null } | undefined;
  return !!row?.enrolment_until && row.enrolment_until > now.toISOString();
}
