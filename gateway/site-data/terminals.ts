import type { SqlStore } from '../store/sql-store.ts';
import { byCodePoint } from '../store/sql-binds.ts';
import { parseTerminalId } from '../../shared/mqtt/topics.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import { generateSecret, hashSecret } from './secrets.ts';
import { getSite } from './sites.ts';
import { check, notFoundError, nowIso, problem, throwIfAny } from './input.ts';
import { LANGUAGES, type Language } from '../../shared/mqtt/payloads.ts';

/**
 * Terminals: one MQTT identity each (client id = username = terminal id), with a secret shown once. Read and
 * written through the storage port (docs/cluster.md, "The storage port"). Whether a terminal is in enrolment
 * mode when an unknown badge taps is read by the ingest's transaction (gateway/ingest/batch-writer.ts).
 */
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

/** The settings' own rules, which need no read. */
function checkPanelSettings(s: TerminalSettings, problems: FieldProblem[]): void {
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

async function checkSettings(store: SqlStore, s: TerminalSettings, problems: FieldProblem[]): Promise<void> {
  if (s.siteId !== undefined && !(await getSite(store, s.siteId))) problems.push(problem('site', 'exists', `site ${s.siteId} does not exist`));
  checkPanelSettings(s, problems);
}

/**
 * Adds a terminal and returns its secret: the only time the secret exists outside the terminal.
 * `shared`: a secret and its hash made once for many terminals (a load test's fleet: an scrypt hash costs
 * tens of milliseconds, thousands of them minutes); never for terminals on a site.
 */
export async function addTerminal(store: SqlStore, input: { id: string } & TerminalSettings, shared?: { secret: string; hash: string }): Promise<{ terminal: Terminal; secret: string }> {
  const problems: FieldProblem[] = [];
  const id = check(parseTerminalId(input.id, 'id'), problems);
  if (id && (await getTerminal(store, id))) problems.push(problem('id', 'unique', `terminal ${id} already exists (use 'terminal rotate-secret' for a new secret)`));
  await checkSettings(store, input, problems);
  throwIfAny(problems);
  const secret = shared?.secret ?? generateSecret();
  const now = nowIso();
  const row = await store.one<TerminalRow>(
    `INSERT INTO terminals (id, site_id, secret_hash, disabled, debounce_seconds, buttons, arm_seconds, language, feedback_seconds, created_at, secret_rotated_at)
     VALUES ($1, $2, $3, 0, $4, $5, $6, $7, $8, $9, $9) RETURNING *`,
    [id!, input.siteId ?? null, shared?.hash ?? hashSecret(secret), input.debounceSeconds ?? 60, (input.buttons ?? BUTTONS).join(','), input.armSeconds ?? 10, input.language ?? null, input.feedbackSeconds ?? null, now],
  );
  return { terminal: toTerminal(row!), secret };
}

export async function updateTerminal(store: SqlStore, id: string, settings: TerminalSettings): Promise<Terminal> {
  const t = await getTerminal(store, id);
  if (!t) throw notFoundError('terminal', id);
  const problems: FieldProblem[] = [];
  await checkSettings(store, settings, problems);
  throwIfAny(problems);
  const row = await store.one<TerminalRow>(
    'UPDATE terminals SET site_id = $1, debounce_seconds = $2, buttons = $3, arm_seconds = $4, language = $5, feedback_seconds = $6, config_version = config_version + 1 WHERE id = $7 RETURNING *',
    [
      settings.siteId ?? t.siteId,
      settings.debounceSeconds ?? t.debounceSeconds,
      (settings.buttons ?? t.buttons).join(','),
      settings.armSeconds ?? t.armSeconds,
      settings.language === undefined ? t.language : settings.language,
      settings.feedbackSeconds === undefined ? t.feedbackSeconds : settings.feedbackSeconds,
      id,
    ],
  );
  return toTerminal(row!);
}

/** The terminal an UPDATE … RETURNING changed, or not found. */
function changedOrNotFound(row: TerminalRow | undefined, id: string): Terminal {
  if (!row) throw notFoundError('terminal', id);
  return toTerminal(row);
}

/** A change of what the terminals of a site are told (its name or language): each reports it applied. */
export async function bumpSiteTerminals(store: SqlStore, siteId: string): Promise<void> {
  await store.run('UPDATE terminals SET config_version = config_version + 1 WHERE site_id = $1', [siteId]);
}

/** The ids of a site's terminals still enabled, by code point. */
export async function activeTerminalIdsOf(store: SqlStore, siteId: string): Promise<string[]> {
  const rows = await store.all<{ id: string }>('SELECT id FROM terminals WHERE site_id = $1 AND disabled = 0', [siteId]);
  return rows.map((r) => r.id).sort(byCodePoint);
}

/** Turns enrolment mode on until `until` (null: off). */
export async function setEnrolmentMode(store: SqlStore, id: string, until: Date | null): Promise<Terminal> {
  const row = await store.one<TerminalRow>('UPDATE terminals SET enrolment_until = $1 WHERE id = $2 RETURNING *', [until ? until.toISOString() : null, id]);
  return changedOrNotFound(row, id);
}

export async function setTerminalDisabled(store: SqlStore, id: string, disabled: boolean): Promise<Terminal> {
  const row = await store.one<TerminalRow>('UPDATE terminals SET disabled = $1 WHERE id = $2 RETURNING *', [disabled ? 1 : 0, id]);
  return changedOrNotFound(row, id);
}

/** Replaces the secret; the old one stops working at the terminal's next connection. */
export async function rotateTerminalSecret(store: SqlStore, id: string): Promise<string> {
  const secret = generateSecret();
  const r = await store.run('UPDATE terminals SET secret_hash = $1, secret_rotated_at = $2 WHERE id = $3', [hashSecret(secret), nowIso(), id]);
  if (r.changes === 0) throw notFoundError('terminal', id);
  return secret;
}

export async function getTerminal(store: SqlStore, id: string): Promise<Terminal | undefined> {
  const row = await store.one<TerminalRow>('SELECT * FROM terminals WHERE id = $1', [id]);
  return row ? toTerminal(row) : undefined;
}

/** By id, compared by code point as SQLite sorts them, whatever a PostgreSQL server's collation. */
export async function listTerminals(store: SqlStore): Promise<Terminal[]> {
  return (await store.all<TerminalRow>('SELECT * FROM terminals')).sort((a, b) => byCodePoint(a.id, b.id)).map(toTerminal);
}

/** What the broker needs to authenticate: the hash and whether the terminal may connect (through the storage port). */
export async function terminalCredentials(store: SqlStore, id: string): Promise<{ secretHash: string; disabled: boolean } | undefined> {
  const row = await store.one<{ secret_hash: string; disabled: number }>('SELECT secret_hash, disabled FROM terminals WHERE id = $1', [id]);
  return row ? { secretHash: row.secret_hash, disabled: row.disabled === 1 } : undefined;
}
