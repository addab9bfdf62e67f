import { randomUUID } from 'node:crypto';
import type { SqlStore } from '../store/sql-store.ts';
import { byCodePoint } from '../store/sql-binds.ts';
import { parseWorkerNumber } from '../../shared/identifiers/national-number.ts';
import { parseLimosaId } from '../../shared/identifiers/declaration.ts';
import { CAPACITIES, type Capacity } from '../../shared/registration.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import { getCompany, parseCompanyNumber } from './companies.ts';
import { check, nowIso, problem, requireText, throwIfAny } from './input.ts';

/**
 * Workers: identified by NISS/BIS (or a Limosa id for some posted workers), with their capacity and
 * employers. The NISS stays in the gateway: listings mask it, terminals never receive it.
 */
export interface Worker {
  id: string;
  ssin: string | null;
  limosaId: string | null;
  name: string;
  capacity: Capacity;
  employers: string[];
  /** Deactivated (never deleted): the worker's badges are revoked; registrations keep the worker. */
  deactivatedAt?: string | null;
}

export interface WorkerInput {
  id?: string;
  niss?: string;
  limosa?: string;
  name: string;
  capacity?: string;
  employers: string[];
}

/** Validates a worker without touching the database except to check employers exist. */
export async function checkWorker(store: SqlStore, input: WorkerInput, problems: FieldProblem[]): Promise<(Omit<Worker, 'id'> & { id?: string }) | undefined> {
  const before = problems.length;
  let ssin: string | null = null;
  let limosaId: string | null = null;
  if (input.niss) {
    const r = check(parseWorkerNumber(input.niss, 'niss'), problems);
    if (r) ssin = r.value;
  }
  if (input.limosa) limosaId = check(parseLimosaId(input.limosa, 'limosa'), problems) ?? null;
  if (!input.niss && !input.limosa) problems.push(problem('niss', 'required', 'a NISS/BIS number (or a Limosa id) is required'));
  const name = requireText(input.name, 'name', problems, 100);
  const capacity = (input.capacity || 'employee') as Capacity;
  if (!(CAPACITIES as readonly string[]).includes(capacity)) problems.push(problem('capacity', 'enum', `must be one of ${CAPACITIES.join(', ')}`));
  const employers: string[] = [];
  for (const [i, e] of (input.employers ?? []).entries()) {
    const c = parseCompanyNumber(e, `employer[${i}]`, problems);
    if (!c) continue;
    if (!(await getCompany(store, c.id))) problems.push(problem(`employer[${i}]`, 'exists', `company ${c.id} is not known: add it first with 'ciao admin company add'`));
    else if (!employers.includes(c.id)) employers.push(c.id);
  }
  if ((input.employers ?? []).length === 0) problems.push(problem('employer', 'required', 'at least one employer is required'));
  if (problems.length > before) return undefined;
  return { id: input.id, ssin, limosaId, name: name!, capacity, employers };
}

/** Adds a worker, or updates the one with the same NISS / Limosa id / worker id (in one transaction). */
export async function upsertWorker(store: SqlStore, input: WorkerInput): Promise<Worker> {
  return store.transaction(async (tx) => {
    const problems: FieldProblem[] = [];
    const w = await checkWorker(tx, input, problems);
    throwIfAny(problems);
    return saveWorker(tx, w!);
  });
}

/** Writes a checked worker, found by id, NISS or Limosa id, else new; its employers replaced, in their order. */
export async function saveWorker(store: SqlStore, w: Omit<Worker, 'id'> & { id?: string }): Promise<Worker> {
  const existing = (w.id && (await getWorkerRow(store, 'id', w.id))) || (w.ssin && (await getWorkerRow(store, 'ssin', w.ssin))) || (w.limosaId && (await getWorkerRow(store, 'limosa_id', w.limosaId))) || undefined;
  let id = existing?.id ?? w.id;
  // Short generated ids collide now and then (32 bits: likely among tens of thousands of workers); draw again.
  while (!id || (!existing && !w.id && (await getWorkerRow(store, 'id', id)))) id = `w-${randomUUID().slice(0, 8)}`;
  if (existing) {
    await store.run('UPDATE workers SET ssin = $1, limosa_id = $2, name = $3, capacity = $4 WHERE id = $5', [w.ssin, w.limosaId, w.name, w.capacity, id]);
  } else {
    await store.run('INSERT INTO workers (id, ssin, limosa_id, name, capacity, created_at) VALUES ($1, $2, $3, $4, $5, $6)', [id, w.ssin, w.limosaId, w.name, w.capacity, nowIso()]);
  }
  await store.run('DELETE FROM worker_employers WHERE worker_id = $1', [id]);
  for (const e of w.employers) await store.run('INSERT INTO worker_employers (worker_id, company_id) VALUES ($1, $2)', [id, e]);
  return (await getWorker(store, id))!;
}

interface WorkerRow {
  id: string;
  ssin: string | null;
  limosa_id: string | null;
  name: string;
  capacity: Capacity;
  deactivated_at: string | null;
}

const WORKER_COLUMNS = 'id, ssin, limosa_id, name, capacity, deactivated_at';

function getWorkerRow(store: SqlStore, column: 'id' | 'ssin' | 'limosa_id', value: string): Promise<WorkerRow | undefined> {
  return store.one<WorkerRow>(`SELECT ${WORKER_COLUMNS} FROM workers WHERE ${column} = $1`, [value]);
}

function toWorker(r: WorkerRow, employers: string[]): Worker {
  return { id: r.id, ssin: r.ssin, limosaId: r.limosa_id, name: r.name, capacity: r.capacity, employers, deactivatedAt: r.deactivated_at };
}

/** A worker's employers in the order they were given (the rowid, an identity column on PostgreSQL). */
async function employersOf(store: SqlStore, id: string): Promise<string[]> {
  return (await store.all<{ company_id: string }>('SELECT company_id FROM worker_employers WHERE worker_id = $1 ORDER BY rowid', [id])).map((r) => r.company_id);
}

export async function getWorker(store: SqlStore, id: string): Promise<Worker | undefined> {
  const r = await getWorkerRow(store, 'id', id);
  return r ? toWorker(r, await employersOf(store, r.id)) : undefined;
}

/** Finds a worker by worker id, NISS/BIS (any printed form) or Limosa id. */
export async function findWorker(store: SqlStore, ref: string): Promise<Worker | undefined> {
  const byId = await getWorkerRow(store, 'id', ref);
  if (byId) return toWorker(byId, await employersOf(store, byId.id));
  const n = parseWorkerNumber(ref, 'worker');
  if (n.ok) {
    const r = await getWorkerRow(store, 'ssin', n.value.value);
    if (r) return toWorker(r, await employersOf(store, r.id));
  }
  const l = await getWorkerRow(store, 'limosa_id', ref.trim().toUpperCase());
  return l ? toWorker(l, await employersOf(store, l.id)) : undefined;
}

/**
 * Every worker with their employers, in two reads whatever their number; by name, then id, by code point as
 * SQLite orders them, whatever a PostgreSQL server's collation.
 */
export async function listWorkers(store: SqlStore): Promise<Worker[]> {
  const rows = await store.all<WorkerRow>(`SELECT ${WORKER_COLUMNS} FROM workers`);
  const links = await store.all<{ worker_id: string; company_id: string }>('SELECT worker_id, company_id FROM worker_employers ORDER BY rowid');
  const employers = new Map<string, string[]>();
  for (const l of links) {
    const list = employers.get(l.worker_id);
    if (list) list.push(l.company_id);
    else employers.set(l.worker_id, [l.company_id]);
  }
  return rows.sort((a, b) => byCodePoint(a.name, b.name) || byCodePoint(a.id, b.id)).map((r) => toWorker(r, employers.get(r.id) ?? []));
}
