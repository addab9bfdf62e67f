import { randomUUID } from 'node:crypto';
import type { Db } from '../../shared/sqlite.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import { getCompanySync, parseCompanyNumber } from './companies.ts';
import { findWorker } from './workers.ts';
import { parseDay, problem } from './input.ts';

/**
 * Agency placements (FAQ 26): a temporary agency (intérim, uitzendbureau) places a worker with a user
 * company for a period. Such a worker registers under the **agency's** enterprise number, on the sites where
 * the user company is on the declaration's contractor chain; the user company provides the means of
 * registration (FAQ 25). So a placed worker appears in the rosters of those sites, the agency is offered as
 * the employer there, and the registration carries it without an `employer-not-on-declaration` remark.
 * Deactivated, never deleted.
 */
export interface Placement {
  id: string;
  workerId: string;
  agencyId: string;
  userCompanyId: string;
  validFrom: string;
  validTo: string | null;
  deactivatedAt: string | null;
}

export interface PlacementInput {
  id?: string;
  /** Worker id, NISS/BIS or Limosa id. */
  worker: string;
  agency: string;
  userCompany: string;
  validFrom: string;
  validTo?: string;
}

export function checkPlacement(db: Db, input: PlacementInput, problems: FieldProblem[]): Omit<Placement, 'id' | 'deactivatedAt'> | undefined {
  const before = problems.length;
  const worker = input.worker?.trim() ? findWorker(db, input.worker.trim()) : undefined;
  if (!input.worker?.trim()) problems.push(problem('worker', 'required', 'is required (worker id, NISS/BIS or Limosa id)'));
  else if (!worker) problems.push(problem('worker', 'exists', 'no worker with this id, NISS/BIS or Limosa id'));
  else if (worker.deactivatedAt) problems.push(problem('worker', 'active', `worker ${worker.id} is deactivated`));
  const company = (value: string | undefined, field: string) => {
    if (!value?.trim()) {
      problems.push(problem(field, 'required', 'is required (an enterprise number or foreign id)'));
      return undefined;
    }
    const c = parseCompanyNumber(value, field, problems);
    if (!c) return undefined;
    const known = getCompanySync(db, c.id);
    if (!known) problems.push(problem(field, 'exists', `company ${c.id} is not known: add it first with 'ciao admin company add'`));
    else if (known.deactivatedAt) problems.push(problem(field, 'active', `company ${c.id} is deactivated`));
    return known ? c.id : undefined;
  };
  const agency = company(input.agency, 'agency');
  const userCompany = company(input.userCompany, 'userCompany');
  if (agency && userCompany && agency === userCompany) problems.push(problem('userCompany', 'differs', 'must be another company than the agency that places the worker'));
  if (!input.validFrom) problems.push(problem('from', 'required', 'is required (YYYY-MM-DD)'));
  const from = parseDay(input.validFrom, 'from', problems);
  const to = parseDay(input.validTo, 'to', problems);
  if (from && to && to < from) problems.push(problem('to', 'order', 'must not be before from'));
  if (problems.length > before) return undefined;
  return { workerId: worker!.id, agencyId: agency!, userCompanyId: userCompany!, validFrom: from!, validTo: to ?? null };
}

export function savePlacement(db: Db, p: Omit<Placement, 'id' | 'deactivatedAt'> & { id?: string }): Placement {
  const id = p.id ?? `p-${randomUUID().slice(0, 8)}`;
  db.prepare(
    `INSERT INTO agency_placements (id, worker_id, agency_id, user_company_id, valid_from, valid_to, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (id) DO UPDATE SET worker_id = excluded.worker_id, agency_id = excluded.agency_id, user_company_id = excluded.user_company_id,
       valid_from = excluded.valid_from, valid_to = excluded.valid_to`,
  ).run(id, p.workerId, p.agencyId, p.userCompanyId, p.validFrom, p.validTo, new Date().toISOString());
  return getPlacement(db, id)!;
}

export function setPlacementDeactivated(db: Db, id: string, at: Date | null): boolean {
  return db.prepare('UPDATE agency_placements SET deactivated_at = ? WHERE id = ?').run(at ? at.toISOString() : null, id).changes > 0;
}

interface Row {
  id: string;
  worker_id: string;
  agency_id: string;
  user_company_id: string;
  valid_from: string;
  valid_to: string | null;
  deactivated_at: string | null;
}

const toPlacement = (r: Row): Placement => ({ id: r.id, workerId: r.worker_id, agencyId: r.agency_id, userCompanyId: r.user_company_id, validFrom: r.valid_from, validTo: r.valid_to, deactivatedAt: r.deactivated_at });

export function getPlacement(db: Db, id: string): Placement | undefined {
  const r = db.prepare('SELECT * FROM agency_placements WHERE id = ?').get(id) as Row | undefined;
  return r ? toPlacement(r) : undefined;
}

export function listPlacements(db: Db, workerId?: string): Placement[] {
  const rows = (workerId
    ? db.prepare('SELECT * FROM agency_placements WHERE worker_id = ? ORDER BY valid_from, id').all(workerId)
    : db.prepare('SELECT * FROM agency_placements ORDER BY worker_id, valid_from, id').all()) as Row[];
  return rows.map(toPlacement);
}
