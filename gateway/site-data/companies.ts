import { parseCompanyId } from '../../shared/identifiers/company.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { byCodePoint } from '../store/sql-binds.ts';
import { check, nowIso, requireText, throwIfAny } from './input.ts';

/** Companies: employers and contractors, by Belgian enterprise number or foreign VAT/id. */
export interface Company {
  id: string;
  kind: 'enterprise' | 'foreign';
  name: string;
  /** Deactivated (never deleted): not offered for new employers or chains; history keeps it. */
  deactivatedAt: string | null;
}

const COLUMNS = 'id, kind, name, deactivated_at AS "deactivatedAt"';

export function parseCompanyNumber(input: string, field: string, problems: FieldProblem[]): { id: string; kind: Company['kind'] } | undefined {
  const r = check(parseCompanyId(input ?? '', field), problems);
  if (!r) return undefined;
  return 'enterpriseNumber' in r ? { id: r.enterpriseNumber, kind: 'enterprise' } : { id: r.foreignVatNumber, kind: 'foreign' };
}

/** Adds a company, or renames it when the number is already known (through the storage port). */
export async function upsertCompany(store: SqlStore, input: { number: string; name: string }): Promise<Company> {
  const problems: FieldProblem[] = [];
  const number = parseCompanyNumber(input.number, 'number', problems);
  const name = requireText(input.name, 'name', problems);
  throwIfAny(problems);
  const row = await store.one<Company>(
    `INSERT INTO companies (id, kind, name, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET name = excluded.name RETURNING ${COLUMNS}`,
    [number!.id, number!.kind, name!, nowIso()],
  );
  return row!;
}

/** Marks a company deactivated (or active again): kept, since registrations refer to it. */
export async function setCompanyDeactivated(store: SqlStore, id: string, at: Date | null): Promise<Company | undefined> {
  return store.one<Company>(`UPDATE companies SET deactivated_at = $1 WHERE id = $2 RETURNING ${COLUMNS}`, [at ? at.toISOString() : null, id]);
}

/** Sorted in code (name, then id, by code point), as SQLite sorts them, whatever a PostgreSQL server's collation. */
export async function listCompanies(store: SqlStore): Promise<Company[]> {
  const rows = await store.all<Company>(`SELECT ${COLUMNS} FROM companies`);
  return rows.sort((a, b) => byCodePoint(a.name, b.name) || byCodePoint(a.id, b.id));
}

export async function getCompany(store: SqlStore, id: string): Promise<Company | undefined> {
  return store.one<Company>(`SELECT ${COLUMNS} FROM companies WHERE id = $1`, [id]);
}
