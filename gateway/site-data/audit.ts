import type { SqlStore } from '../store/sql-store.ts';
import { Binds } from '../store/sql-binds.ts';

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

export interface AuditChange {
  actor: Actor;
  action: string;
  entity: string;
  entityId: string;
  siteId?: string | null;
  before?: unknown;
  after?: unknown;
  causeId?: number | null;
  at?: Date;
}

const INSERT_AUDIT = `INSERT INTO audit_log (at, actor_kind, actor_id, actor_name, action, entity, entity_id, site_id, before, after, cause_id)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`;

function auditValues(change: AuditChange): Array<string | number | null> {
  const json = (v: unknown) => (v === undefined || v === null ? null : JSON.stringify(maskForAudit(v)));
  return [
    (change.at ?? new Date()).toISOString(), change.actor.kind, change.actor.id, change.actor.name, change.action, change.entity, change.entityId,
    change.siteId ?? null, json(change.before), json(change.after), change.causeId ?? null,
  ];
}

/** Records a change through the storage port (in the caller's transaction when given its `tx`); answers its id. */
export async function recordChange(store: SqlStore, change: AuditChange): Promise<number> {
  const row = await store.one<{ id: number }>(INSERT_AUDIT, auditValues(change));
  return Number(row!.id);
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

export async function listAudit(store: SqlStore, q: AuditQuery = {}): Promise<{ items: AuditEntry[]; total: number }> {
  const clauses: string[] = [];
  const b = new Binds();
  if (q.entity) clauses.push(`entity = ${b.add(q.entity)}`);
  if (q.entityId) clauses.push(`entity_id = ${b.add(q.entityId)}`);
  if (q.from) clauses.push(`at >= ${b.add(q.from)}`);
  if (q.to) clauses.push(`at < ${b.add(q.to)}`);
  if (q.siteIds) clauses.push(`(site_id IS NULL OR ${b.in('site_id', q.siteIds)})`);
  const where = clauses.length ? `WHERE ${clauses.join(' AND ')}` : '';
  const total = await store.one<{ n: number }>(`SELECT count(*) AS n FROM audit_log ${where}`, [...b.values]);
  const page = `LIMIT ${b.add(q.limit ?? 100)} OFFSET ${b.add(q.offset ?? 0)}`;
  const rows = await store.all<AuditRow>(
    `SELECT id, at, actor_kind, actor_id, actor_name, action, entity, entity_id, site_id, before, after, cause_id FROM audit_log ${where} ORDER BY id DESC ${page}`,
    b.values,
  );
  return { items: rows.map(toEntry), total: Number(total!.n) };
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
