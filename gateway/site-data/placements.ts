import { randomUUID } from 'node:crypto';
import type { SqlStore } from '../store/sql-store.ts';
import { byCodePoint } from '../store/sql-binds.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import { getCompany, parseCompanyNumber } from './companies.ts';
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

export async function checkPlacement(store: SqlStore, input: PlacementInput, problems: FieldProblem[]): Promise<Omit<Placement, 'id' | 'deactivatedAt'> | undefined> {
  const before = problems.length;
  const worker = input.worker?.trim() ? await findWorker(store, input.worker.trim()) : undefined;
  if (!input.worker?.trim()) problems.push(problem('worker', 'required', 'is required (worker id, NISS/BIS or Limosa id)'));
  else if (!worker) problems.push(problem('worker', 'exists', 'no worker with this id, NISS/BIS or Limosa id'));
  else if (worker.deactivatedAt) problems.push(problem('worker', 'active', `worker ${worker.id} is deactivated`));
  const company = async (value: string | undefined, field: string): Promise<string | undefined> => {
    if (!value?.trim()) {
      problems.push(problem(field, 'required', 'is required (an enterprise number or foreign id)'));
      return undefined;
    }
    const c = parseCompanyNumber(value, field, problems);
    if (!c) return undefined;
    const known = await getCompany(store, c.id);
    if (!known) problems.push(problem(field, 'exists', `company ${c.id} is not known: add it first with 'ciao admin company add'`));
    else if (known.deactivatedAt) problems.push(problem(field, 'active', `company ${c.id} is deactivated`));
    return known ? c.id : undefined;
  };
  const agency = await company(input.agency, 'agency');
  const userCompany = await company(input.userCompany, 'userCompany');
  if (agency && userCompany && agency === userCompany) problems.push(problem('userCompany', 'differs', 'must be another company than the agency that places the worker'));
  if (!input.validFrom) problems.push(problem('from', 'required', 'is required (YYYY-MM-DD)'));
  const from = parseDay(input.validFrom, 'from', problems);
  const to = parseDay(input.validTo, 'to', problems);
  if (from && to && to < from) problems.push(problem('to', 'order', 'must not be before from'));
  if (problems.length > before) return undefined;
  return { workerId: worker!.id, agencyId: agency!, userCompanyId: userCompany!, validFrom: from!, validTo: to ?? null };
}

export async function savePlacement(store: SqlStore, p: Omit<Placement, 'id' | 'deactivatedAt'> & { id?: string }): Promise<Placement> {
  const id = p.id ?? `p-${randomUUID().slice(0, 8)}`;
  const row = await store.one<Row>(
    `INSERT INTO agency_placements (id, worker_id, agency_id, user_company_id, valid_from, valid_to, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (id) DO UPDATE SET worker_id = excluded.worker_id, agency_id = excluded.agency_id, user_company_id = excluded.user_company_id,
       valid_from = excluded.valid_from, valid_to = excluded.valid_to
     RETURNING ${COLUMNS}`,
    [id, p.workerId, p.agencyId, p.userCompanyId, p.validFrom, p.validTo, new Date().toISOString()],
  );
  return toPlacement(row!);
}

/** Marks a placement deactivated (or active again); answers it as it now is. */
export async function setPlacementDeactivated(store: SqlStore, id: string, at: Date | null): Promise<Placement | undefined> {
  const row = await store.one<Row>(`UPDATE agency_placements SET deactivated_at = $1 WHERE id = $2 RETURNING ${COLUMNS}`, [at ? at.toISOString() : null, id]);
  return row ? toPlacement(row) : undefined;
}

const COLUMNS = 'id, worker_id, agency_id, user_company_id, valid_from, valid_to, deactivated_at';

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

export async function getPlacement(store: SqlStore, id: string): Promise<Placement | undefined> {
  const r = await store.one<Row>(`SELECT ${COLUMNS} FROM agency_placements WHERE id = $1`, [id]);
  return r ? toPlacement(r) : undefined;
}

/** A worker's placements (or every one: by worker first), by first day then id, by code point as SQLite orders them. */
export async function listPlacements(store: SqlStore, workerId?: string): Promise<Placement[]> {
  const rows = workerId ? await store.all<Row>(`SELECT ${COLUMNS} FROM agency_placements WHERE worker_id = $1`, [workerId]) : await store.all<Row>(`SELECT ${COLUMNS} FROM agency_placements`);
  return rows.sort((a, b) => byCodePoint(a.worker_id, b.worker_id) || byCodePoint(a.valid_from, b.valid_from) || byCodePoint(a.id, b.id)).map(toPlacement);
}
