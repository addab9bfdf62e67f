import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Db } from '../../shared/sqlite.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import { InvalidInputError } from '../../shared/problems.ts';
import { forbidden, notFound } from '../../shared/errors.ts';
import { parseCompanyId } from '../../shared/identifiers/company.ts';
import { ROLES, roleMay, roleOf, type Permission, type Role } from './roles.ts';

/**
 * Users of the admin API and the console. Each has a role (gateway/access/roles.ts) and a scope: a company
 * (its own workers and its subcontracting chain, FAQ 33) and/or a list of sites; no scope means everything.
 * The token is printed once at creation and kept only as a hash.
 */
export { type Role } from './roles.ts';

export interface ApiUser {
  id: string;
  name: string;
  role: Role;
  /** Sites the user may see; null for every site. */
  sites: string[] | null;
  /** Company whose workers (and subcontracting chain) the user may see; null for every company. */
  company: string | null;
  canSeeNiss: boolean;
  createdAt: string;
  revokedAt: string | null;
}

interface UserRow {
  id: string;
  name: string;
  role: Role;
  company_id: string | null;
  sites: string | null;
  can_see_niss: number;
  created_at: string;
  revoked_at: string | null;
}

const TOKEN_PREFIX = 'ciao_';

function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function toUser(r: UserRow): ApiUser {
  return {
    id: r.id,
    name: r.name,
    role: r.role,
    sites: r.role === 'administrator' || r.sites === null ? null : (JSON.parse(r.sites) as string[]),
    company: r.role === 'administrator' ? null : r.company_id,
    canSeeNiss: roleMay(r.role, 'see-niss') || r.can_see_niss === 1,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
  };
}

export interface UserInput {
  name: string;
  role: string;
  sites?: string[];
  company?: string;
  canSeeNiss?: boolean;
  now?: Date;
}

/** Checks a user's fields; answers what would be stored. */
function checkUser(db: Db, input: UserInput, problems: FieldProblem[]): { name: string; role: Role; sites: string[] | null; company: string | null; canSeeNiss: boolean } {
  const name = (input.name ?? '').trim();
  if (!name) problems.push({ field: 'name', rule: 'required', message: 'name: is required' });
  if (name.length > 100) problems.push({ field: 'name', rule: 'max-length', message: 'name: must have at most 100 characters' });
  const role = roleOf(input.role);
  if (!role) problems.push({ field: 'role', rule: 'enum', message: `role: must be one of ${ROLES.join(', ')}, got ${JSON.stringify(input.role)}` });
  const sites = [...new Set((input.sites ?? []).map((s) => s.trim()).filter(Boolean))];
  const scoped = role !== undefined && role !== 'administrator';
  if (scoped && sites.length) {
    const known = new Set((db.prepare('SELECT id FROM sites').all() as Array<{ id: string }>).map((r) => r.id));
    const unknown = sites.filter((s) => !known.has(s));
    if (unknown.length) problems.push({ field: 'sites', rule: 'exists', message: `sites: unknown site(s) ${unknown.join(', ')}` });
  }
  let company: string | null = null;
  if (scoped && input.company) {
    const parsed = parseCompanyId(input.company, 'company');
    if (!parsed.ok) problems.push(parsed.problem);
    else {
      company = 'enterpriseNumber' in parsed.value ? parsed.value.enterpriseNumber : parsed.value.foreignVatNumber;
      if (!db.prepare('SELECT 1 FROM companies WHERE id = ?').get(company)) problems.push({ field: 'company', rule: 'exists', message: `company: ${company} is not known` });
    }
  }
  // A site manager without any scope would change every site: say so rather than guess.
  if (role === 'site-manager' && sites.length === 0 && !input.company) problems.push({ field: 'sites', rule: 'required', message: 'sites: a site manager needs at least one site (--sites a,b) or a company (--company)' });
  return { name, role: role ?? 'read-only', sites: scoped && sites.length ? sites : null, company, canSeeNiss: input.canSeeNiss === true };
}

export function addUser(db: Db, input: UserInput): { user: ApiUser; token: string } {
  const problems: FieldProblem[] = [];
  const u = checkUser(db, input, problems);
  if (problems.length) throw new InvalidInputError(problems);
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const id = randomUUID();
  db.prepare('INSERT INTO siteman_users (id, name, role, company_id, sites, can_see_niss, token_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(
    id, u.name, u.role, u.company, u.sites ? JSON.stringify(u.sites) : null, u.canSeeNiss ? 1 : 0, hashToken(token), (input.now ?? new Date()).toISOString(),
  );
  return { user: getUser(db, id)!, token };
}

/** Changes a user's name, role, scope or NISS grant (the token stays). */
export function updateUser(db: Db, id: string, input: UserInput): ApiUser {
  if (!getUser(db, id)) throw notFound('id', `id: no user ${id}`);
  const problems: FieldProblem[] = [];
  const u = checkUser(db, input, problems);
  if (problems.length) throw new InvalidInputError(problems);
  db.prepare('UPDATE siteman_users SET name = ?, role = ?, company_id = ?, sites = ?, can_see_niss = ? WHERE id = ?').run(
    u.name, u.role, u.company, u.sites ? JSON.stringify(u.sites) : null, u.canSeeNiss ? 1 : 0, id,
  );
  return getUser(db, id)!;
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
  if (r.changes === 0 && !getUser(db, id)) throw notFound('id', `id: no user ${id}`);
  return getUser(db, id)!;
}

/** The active user holding this bearer token, if any. */
export function userForToken(db: Db, token: string): ApiUser | undefined {
  if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return undefined;
  const r = db.prepare('SELECT * FROM siteman_users WHERE token_hash = ? AND revoked_at IS NULL').get(hashToken(token)) as UserRow | undefined;
  return r ? toUser(r) : undefined;
}

export function may(user: ApiUser, permission: Permission): boolean {
  if (permission === 'see-niss') return user.canSeeNiss;
  return roleMay(user.role, permission);
}

/** Throws 403 naming the permission the user's role lacks. */
export function requirePermission(user: ApiUser, permission: Permission): void {
  if (!may(user, permission)) throw forbidden({ field: 'role', rule: `permission-${permission}`, message: `role: a ${user.role} user may not ${permission.replace(/-/g, ' ')}` });
}
