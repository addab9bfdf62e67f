import type { Db } from '../../shared/sqlite.ts';
import { parseCompanyId } from '../../shared/identifiers/company.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import { check, nowIso, requireText, throwIfAny } from './input.ts';

/** Companies: employers and contractors, by Belgian enterprise number or foreign VAT/id. */
export interface Company {
  id: string;
  kind: 'enterprise' | 'foreign';
  name: string;
  /** Deactivated (never deleted): not offered for new employers or chains; history keeps it. */
  deactivatedAt: string | null;
}

export function parseCompanyNumber(input: string, field: string, problems: FieldProblem[]): { id: string; kind: Company['kind'] } | undefined {
  const r = check(parseCompanyId(input ?? '', field), problems);
  if (!r) return undefined;
  return 'enterpriseNumber' in r ? { id: r.enterpriseNumber, kind: 'enterprise' } : { id: r.foreignVatNumber, kind: 'foreign' };
}

/** Adds a company, or renames it when the number is already known. */
export function upsertCompany(db: Db, input: { number: string; name: string }): Company {
  const problems: FieldProblem[] = [];
  const number = parseCompanyNumber(input.number, 'number', problems);
  const name = requireText(input.name, 'name', problems);
  throwIfAny(problems);
  db.prepare('INSERT INTO companies (id, kind, name, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name')
    .run(number!.id, number!.kind, name!, nowIso());
  return getCompany(db, number!.id)!;
}

export function listCompanies(db: Db): Company[] {
  return db.prepare('SELECT id, kind, name, deactivated_at AS deactivatedAt FROM companies ORDER BY name, id').all() as Company[];
}

export function getCompany(db: Db, id: string): Company | undefined {
  return db.prepare('SELECT id, kind, name, deactivated_at AS deactivatedAt FROM companies WHERE id = ?').get(id) as Company | undefined;
}
