import type { Db } from '../../shared/sqlite.ts';
import { parseTerminalId } from '../../shared/mqtt/topics.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import { generateSecret, hashSecret } from './secrets.ts';
import { getSite } from './sites.ts';
import { check, notFoundError, nowIso, problem, throwIfAny } from './input.ts';

/** Terminals: one MQTT identity each (client id = username = terminal id), with a secret shown once. */
export const BUTTONS = ['IN', 'OUT', 'BREAK'] as const;
export type Button = (typeof BUTTONS)[number];

export interface Terminal {
  id: string;
  siteId: string | null;
  disabled: boolean;
  debounceSeconds: number;
  buttons: Button[];
  armSeconds: number;
}

interface TerminalRow {
  id: string;
  site_id: string | null;
  disabled: number;
  debounce_seconds: number;
  buttons: string;
  arm_seconds: number;
}

function toTerminal(r: TerminalRow): Terminal {
  return {
    id: r.id,
    siteId: r.site_id,
    disabled: r.disabled === 1,
    debounceSeconds: r.debounce_seconds,
    buttons: r.buttons.split(',').filter(Boolean) as Button[],
    armSeconds: r.arm_seconds,
  };
}

export interface TerminalSettings {
  siteId?: string;
  debounceSeconds?: number;
  buttons?: string[];
  armSeconds?: number;
}

function checkSettings(db: Db, s: TerminalSettings, problems: FieldProblem[]): void {
  if (s.siteId !== undefined && !getSite(db, s.siteId)) problems.push(problem('site', 'exists', `site ${s.siteId} does not exist`));
  if (s.debounceSeconds !== undefined && (!Number.isInteger(s.debounceSeconds) || s.debounceSeconds < 0 || s.debounceSeconds > 3600)) {
    problems.push(problem('debounce', 'range', 'must be a whole number of seconds from 0 to 3600'));
  }
  if (s.armSeconds !== undefined && (!Number.isInteger(s.armSeconds) || s.armSeconds < 1 || s.armSeconds > 60)) {
    problems.push(problem('arm', 'range', 'must be a whole number of seconds from 1 to 60'));
  }
  for (const b of s.buttons ?? []) {
    if (!(BUTTONS as readonly string[]).includes(b)) problems.push(problem('buttons', 'enum', `${b} is not a button; use ${BUTTONS.join(', ')}`));
  }
}

/** Adds a terminal and returns its secret: the only time the secret exists outside the terminal. */
export function addTerminal(db: Db, input: { id: string } & TerminalSettings): { terminal: Terminal; secret: string } {
  const problems: FieldProblem[] = [];
  const id = check(parseTerminalId(input.id, 'id'), problems);
  if (id && getTerminal(db, id)) problems.push(problem('id', 'unique', `terminal ${id} already exists (use 'terminal rotate-secret' for a new secret)`));
  checkSettings(db, input, problems);
  throwIfAny(problems);
  const secret = generateSecret();
  const now = nowIso();
  db.prepare(
    `INSERT INTO terminals (id, site_id, secret_hash, disabled, debounce_seconds, buttons, arm_seconds, created_at, secret_rotated_at)
     VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?)`,
  ).run(id!, input.siteId ?? null, hashSecret(secret), input.debounceSeconds ?? 60, (input.buttons ?? BUTTONS).join(','), input.armSeconds ?? 10, now, now);
  return { terminal: getTerminal(db, id!)!, secret };
}

export function updateTerminal(db: Db, id: string, settings: TerminalSettings): Terminal {
  const t = getTerminal(db, id);
  if (!t) throw notFoundError('terminal', id);
  const problems: FieldProblem[] = [];
  checkSettings(db, settings, problems);
  throwIfAny(problems);
  db.prepare('UPDATE terminals SET site_id = ?, debounce_seconds = ?, buttons = ?, arm_seconds = ? WHERE id = ?').run(
    settings.siteId ?? t.siteId,
    settings.debounceSeconds ?? t.debounceSeconds,
    (settings.buttons ?? t.buttons).join(','),
    settings.armSeconds ?? t.armSeconds,
    id,
  );
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

/** What the broker needs to authenticate: the hash and whether the terminal may connect. */
export function terminalCredentials(db: Db, id: string): { secretHash: string; disabled: boolean } | undefined {
  const row = db.prepare('SELECT secret_hash, disabled FROM terminals WHERE id = ?').get(id) as { secret_hash: string; disabled: number } | undefined;
  return row ? { secretHash: row.secret_hash, disabled: row.disabled === 1 } : undefined;
}
