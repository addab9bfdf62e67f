/**
 * What each role of the console may do (FAQ 33: a company's manager sees its own workers and those of its
 * subcontracting chain, nobody else's). One table, read by the HTTP API, the CLI's local user and the
 * console (through `GET /api/v1/me`), so a screen never offers what the server would refuse.
 *
 * - administrator: everything, every site and company, NISS included; manages users; uploads terminal
 *   releases and rolls them out (the fleet is shared by every site).
 * - site-manager: reads the records of their scope; changes site data (companies, declarations and terminals of
 *   their sites, workers, badges), enrols badges, pairs terminals, prepares corrections, exports (no NISS
 *   unless granted).
 * - payroll: reads the records of their scope with NISS, exports; changes nothing.
 * - read-only: reads the records of their scope without NISS; no export, changes nothing.
 */
export const ROLES = ['administrator', 'site-manager', 'payroll', 'read-only'] as const;
export type Role = (typeof ROLES)[number];

/** Names of the roles before the console (kept as aliases on input: `ciao admin user add --role manager`). */
const LEGACY_ROLES: Record<string, Role> = { admin: 'administrator', manager: 'site-manager' };

export const PERMISSIONS = ['read', 'export', 'see-niss', 'change-site-data', 'corrections', 'manage-users', 'read-audit', 'manage-releases'] as const;
export type Permission = (typeof PERMISSIONS)[number];

export const ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  administrator: ['read', 'export', 'see-niss', 'change-site-data', 'corrections', 'manage-users', 'read-audit', 'manage-releases'],
  'site-manager': ['read', 'export', 'change-site-data', 'corrections', 'read-audit'],
  payroll: ['read', 'export', 'see-niss'],
  'read-only': ['read'],
};

export function roleOf(input: string): Role | undefined {
  if ((ROLES as readonly string[]).includes(input)) return input as Role;
  return LEGACY_ROLES[input];
}

export function roleMay(role: Role, permission: Permission): boolean {
  return ROLE_PERMISSIONS[role].includes(permission);
}
