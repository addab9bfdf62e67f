import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Db } from '../../shared/sqlite.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import { InvalidInputError } from '../../shared/problems.ts';

/**
 * Users of the admin API and dashboard. Two roles: a site manager sees only their own sites and no NISS
 * unless allowed; an administrator sees everything. The token is printed once at creation and kept only
 * as a hash.
 */
export const ROLES = ['manager', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface ApiUser {
  id: string;
  name: string;
  role: Role;
  /** Sites a manager may see; null for an administrator (all sites). */
  sites: string[] | null;
  canSeeNiss: boolean;
  createdAt: string;
  revokedAt: string | null;
}

interface UserRow {
  id: string;
  name: string;
  role: Role;
  sites: string;
  can_see_niss: number;
  created_at: string;
  revoked_at: string | null;
}

const TOKEN_PREFIX = 'ciao_';

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function toUser(r: UserRow): ApiUser {
  return {
    id: r.id,
    name: r.name,
    role: r.role,
    sites: r.role === 'admin' ? null : (JSON.parse(r.sites) as string[]),
    canSeeNiss: r.role === 'admin' || r.can_see_niss === 1,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
  };
}

export function addUser(db: Db, input: { name: string; role: string; sites?: string[]; canSeeNiss?: boolean; now?: Date }): { user: ApiUser; token: string } {
  const problems: FieldProblem[] = [];
  const name = (input.name ?? '').trim();
  if (!name) problems.push({ field: 'name', rule: 'required', message: 'name: is required' });
  if (name.length > 100) problems.push({ field: 'name', rule: 'max-length', message: 'name: must have at most 100 characters' });
  if (!(ROLES as readonly string[]).includes(input.role)) problems.push({ field: 'role', rule: 'enum', message: `role: must be manager or admin, got ${JSON.stringify(input.role)}` });
  const sites = [...new Set((input.sites ?? []).map((s) => s.trim()).filter(Boolean))];
  if (input.role === 'manager' && sites.length === 0) problems.push({ field: 'sites', rule: 'required', message: 'sites: a site manager needs at least one site (--sites a,b)' });
  if (input.role === 'manager') {
    const known = new Set((db.prepare("SELECT id FROM sites").all() as Array<{ id: string }>).map((r) => r.id));
    const unknown = sites.filter((s) => !known.has(s));
    if (unknown.length) problems.push({ field: 'sites', rule: 'exists', message: `sites: unknown site(s) ${unknown.join(', ')}` });
  }
  if (problems.length) throw new InvalidInputError(problems);
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const id = randomUUID();
  db.prepare('INSERT INTO siteman_users (id, name, role, sites, can_see_niss, token_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
    id, name, input.role, JSON.stringify(input.role === 'admin' ? [] : sites), input.canSeeNiss ? 1 : 0, hashToken(token), (input.now ?? new Date()).toISOString(),
  );
  return { user: getUser(db, id)!, token };
}

export function getUser(db: Db, id: string): ApiUser | undefined {
  const r = db.prepare('SELECT * FROM siteman_users WHERE id = ?').get(id) as UserRow | undefined;
  return r ? toUser(r) : undefined;
}

export function listUsers(db: Db): ApiUser[] {
  return (db.prepare('SELECT * FROM siteman_users ORDER BY created_at, name').all() as UserRow[]).map(toUser);
}

export function revokeUser(db: Db, id: string, now = new Date()): ApiUser {
  const r = db.prepare('UPDATE siteman_users SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(now.toISOString(), id);
  if (r.changes === 0 && !getUser(db, id)) throw new InvalidInputError([{ field: 'id', rule: 'exists', message: `id: no user ${id}` }]);
  return getUser(db, id)!;
}

/** The active user holding this bearer token, if any. */
export function userForToken(db: Db, token: string): ApiUser | undefined {
  if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return undefined;
  const r = db.prepare('SELECT * FROM siteman_users WHERE token_hash = ? AND revoked_at IS NULL').get(hashToken(token)) as UserRow | undefined;
  return r ? toUser(r) : undefined;
}

/** Whether a user may see a site's data. */
export function maySee(user: ApiUser, siteId: string | null): boolean {
  return user.sites === null || (siteId !== null && user.sites.includes(siteId));
}
