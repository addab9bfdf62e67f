import { Conditions } from '../store/conditions.ts';
import type { Db } from '../../shared/sqlite.ts';

/**
 * The audit trail: every change to site data, users and terminals, with who made it, when, and the record
 * before and after (NISS masked: the trail is shown and exported, a NISS never is). A change made because
 * of another one names it in `causeId`, so a release of held taps (issue "day-correct") can point at the
 * enrolment or declaration that caused it.
 */
export type ActorKind = 'user' | 'cli' | 'system' | 'terminal';

export interface Actor {
  kind: ActorKind;
  id: string;
  name: string;
}

export const SYSTEM_ACTOR: Actor = { kind: 'system', id: 'gateway', name: 'gateway' };

export interface AuditEntry {
  id: number;
  at: string;
  actor: Actor;
  action: string;
  entity: string;
  entityId: string;
  siteId: string | null;
  before: unknown;
  after: unknown;
  causeId: number | null;
}

interface AuditRow {
  id: number;
  at: string;
  actor_kind: ActorKind;
  actor_id: string;
  actor_name: string;
  action: string;
  entity: string;
  entity_id: string;
  site_id: string | null;
  before: string | null;
  after: string | null;
  cause_id: number | null;
}

/**
 * Masks every NISS/BIS (a standalone run of 11 digits, as the `ssin` field holds it), at any depth. Runs
 * inside longer tokens (a UUID's hex groups, a badge UID) are left alone.
 */
function maskForAudit(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(/(?<![0-9A-Za-z-])\d{11}(?![0-9A-Za-z-])/g, (d) => `*********${d.slice(-2)}`);
  if (Array.isArray(value)) return value.map(maskForAudit);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, maskForAudit(v)]));
  }
  return value;
}

export function recordChange(
  db: Db,
  change: { actor: Actor; action: string; entity: string; entityId: string; siteId?: string | null; before?: unknown; after?: unknown; causeId?: number | null; at?: Date },
): number {
  const json = (v: unknown) => (v === undefined || v === null ? null : JSON.stringify(maskForAudit(v)));
  const r = db.prepare(
    `INSERT INTO audit_log (at, actor_kind, actor_id, actor_name, action, entity, entity_id, site_id, before, after, cause_id)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    (change.at ?? new Date()).toISOString(), change.actor.kind, change.actor.id, change.actor.name, change.action, change.entity, change.entityId,
    change.siteId ?? null, json(change.before), json(change.after), change.causeId ?? null,
  );
  return Number(r.lastInsertRowid);
}

function toEntry(r: AuditRow): AuditEntry {
  return {
    id: r.id,
    at: r.at,
    actor: { kind: r.actor_kind, id: r.actor_id, name: r.actor_name },
    action: r.action,
    entity: r.entity,
    entityId: r.entity_id,
    siteId: r.site_id,
    before: r.before === null ? null : JSON.parse(r.before),
    after: r.after === null ? null : JSON.parse(r.after),
    causeId: r.cause_id,
  };
}

export interface AuditQuery {
  entity?: string;
  entityId?: string;
  from?: string;
  to?: string;
  /** Only entries about these sites, or about no site (null: every entry). */
  siteIds?: string[] | null;
  offset?: number;
  limit?: number;
}

export function listAudit(db: Db, q: AuditQuery = {}): { items: AuditEntry[]; total: number } {
  const c = new Conditions();
  if (q.entity) c.add('entity = ?', q.entity);
  if (q.entityId) c.add('entity_id = ?', q.entityId);
  if (q.from) c.add('at >= ?', q.from);
  if (q.to) c.add('at < ?', q.to);
  if (q.siteIds) c.add(`(site_id IS NULL OR site_id IN (${q.siteIds.map(() => '?').join(',') || "''"}))`, ...q.siteIds);
  const clause = c.sql;
  const args = c.args;
  const total = (db.prepare(`SELECT count(*) AS n FROM audit_log ${clause}`).get(...args) as { n: number }).n;
  const rows = db.prepare(`SELECT * FROM audit_log ${clause} ORDER BY id DESC LIMIT ? OFFSET ?`).all(...args, q.limit ?? 100, q.offset ?? 0) as AuditRow[];
  return { items: rows.map(toEntry), total };
}

function csvCell(v: unknown): string {
  let s = v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
  // A cell a spreadsheet would run as a formula is defused, as in the registrations export.
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r;]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function auditCsv(entries: AuditEntry[]): string {
  const header = ['id', 'at', 'actor_kind', 'actor_id', 'actor_name', 'action', 'entity', 'entity_id', 'site_id', 'before', 'after', 'cause_id'];
  const lines = entries.map((e) => [e.id, e.at, e.actor.kind, e.actor.id, e.actor.name, e.action, e.entity, e.entityId, e.siteId, e.before, e.after, e.causeId].map(csvCell).join(','));
  return `${[header.join(','), ...lines].join('\r\n')}\r\n`;
}
