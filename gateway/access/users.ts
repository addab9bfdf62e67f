import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { SqlStore } from '../store/sql-store.ts';
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
async function checkUser(store: SqlStore, input: UserInput, problems: FieldProblem[]): Promise<{ name: string; role: Role; sites: string[] | null; company: string | null; canSeeNiss: boolean }> {
  const name = (input.name ?? '').trim();
  if (!name) problems.push({ field: 'name', rule: 'required', message: 'name: is required' });
  if (name.length > 100) problems.push({ field: 'name', rule: 'max-length', message: 'name: must have at most 100 characters' });
  const role = roleOf(input.role);
  if (!role) problems.push({ field: 'role', rule: 'enum', message: `role: must be one of ${ROLES.join(', ')}, got ${JSON.stringify(input.role)}` });
  const sites = [...new Set((input.sites ?? []).map((s) => s.trim()).filter(Boolean))];
  const scoped = role !== undefined && role !== 'administrator';
  if (scoped && sites.length) {
    const known = new Set((await store.all<{ id: string }>('SELECT id FROM sites')).map((r) => r.id));
    const unknown = sites.filter((s) => !known.has(s));
    if (unknown.length) problems.push({ field: 'sites', rule: 'exists', message: `sites: unknown site(s) ${unknown.join(', ')}` });
  }
  let company: string | null = null;
  if (scoped && input.company) {
    const parsed = parseCompanyId(input.company, 'company');
    if (!parsed.ok) problems.push(parsed.problem);
    else {
      company = 'enterpriseNumber' in parsed.value ? parsed.value.enterpriseNumber : parsed.value.foreignVatNumber;
      if (!(await store.one('SELECT 1 AS known FROM companies WHERE id = $1', [company]))) problems.push({ field: 'company', rule: 'exists', message: `company: ${company} is not known` });
    }
  }
  // A site manager without any scope would change every site: say so rather than guess.
  if (role === 'site-manager' && sites.length === 0 && !input.company) problems.push({ field: 'sites', rule: 'required', message: 'sites: a site manager needs at least one site (--sites a,b) or a company (--company)' });
  return { name, role: role ?? 'read-only', sites: scoped && sites.length ? sites : null, company, canSeeNiss: input.canSeeNiss === true };
}

const USER_COLUMNS = 'id, name, role, company_id, sites, can_see_niss, created_at, revoked_at';

/** Adds a user; answers it with its token, shown this once (only its hash is kept). */
export async function addUser(store: SqlStore, input: UserInput): Promise<{ user: ApiUser; token: string }> {
  const problems: FieldProblem[] = [];
  const u = await checkUser(store, input, problems);
  if (problems.length) throw new InvalidInputError(problems);
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const id = randomUUID();
  await store.run('INSERT INTO siteman_users (id, name, role, company_id, sites, can_see_niss, token_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', [
    id, u.name, u.role, u.company, u.sites ? JSON.stringify(u.sites) : null, u.canSeeNiss ? 1 : 0, hashToken(token), (input.now ?? new Date()).toISOString(),
  ]);
  return { user: (await getUser(store, id))!, token };
}

/** Changes a user's name, role, scope or NISS grant (the token stays). */
export async function updateUser(store: SqlStore, id: string, input: UserInput): Promise<ApiUser> {
  if (!(await getUser(store, id))) throw notFound('id', `id: no user ${id}`);
  const problems: FieldProblem[] = [];
  const u = await checkUser(store, input, problems);
  if (problems.length) throw new InvalidInputError(problems);
  await store.run('UPDATE siteman_users SET name = $1, role = $2, company_id = $3, sites = $4, can_see_niss = $5 WHERE id = $6', [
    u.name, u.role, u.company, u.sites ? JSON.stringify(u.sites) : null, u.canSeeNiss ? 1 : 0, id,
  ]);
  return (await getUser(store, id))!;
}

export async function getUser(store: SqlStore, id: string): Promise<ApiUser | undefined> {
  const r = await store.one<UserRow>(`SELECT ${USER_COLUMNS} FROM siteman_users WHERE id = $1`, [id]);
  return r ? toUser(r) : undefined;
}

export async function listUsers(store: SqlStore): Promise<ApiUser[]> {
  return (await store.all<UserRow>(`SELECT ${USER_COLUMNS} FROM siteman_users ORDER BY created_at, name`)).map(toUser);
}

export async function revokeUser(store: SqlStore, id: string, now = new Date()): Promise<ApiUser> {
  const r = await store.run('UPDATE siteman_users SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [now.toISOString(), id]);
  const after = await getUser(store, id);
  if (r.changes === 0 && !after) throw notFound('id', `id: no user ${id}`);
  return after!;
}

/** The active user holding this bearer token, if any. */
export async function userForToken(store: SqlStore, token: string): Promise<ApiUser | undefined> {
  if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return undefined;
  const r = await store.one<UserRow>(`SELECT ${USER_COLUMNS} FROM siteman_users WHERE token_hash = $1 AND revoked_at IS NULL`, [hashToken(token)]);
  return r ? toUser(r) : undefined;
}

/**
 * A site manager scoped to sites is given the site they just created (else they could not see it), in the
 * site-data service's transaction that creates the site (`store` is its `tx`). Only the scope grows: a NISS
 * grant the user has stays. Answers the user before and after, or undefined for a user not stored (the
 * command line's own).
 */
export async function grantCreatedSite(store: SqlStore, id: string, siteId: string): Promise<{ before: ApiUser; after: ApiUser } | undefined> {
  const before = await getUser(store, id);
  if (!before) return undefined;
  const sites = [...new Set([...(before.sites ?? []), siteId])];
  await store.run('UPDATE siteman_users SET sites = $1 WHERE id = $2', [JSON.stringify(sites), id]);
  return { before, after: (await getUser(store, id))! };
}

export function may(user: ApiUser, permission: Permission): boolean {
  if (permission === 'see-niss') return user.canSeeNiss;
  return roleMay(user.role, permission);
}

/** Throws 403 naming the permission the user's role lacks. */
export function requirePermission(user: ApiUser, permission: Permission): void {
  if (!may(user, permission)) throw forbidden({ field: 'role', rule: `permission-${permission}`, message: `role: a ${user.role} user may not ${permission.replace(/-/g, ' ')}` });
}
