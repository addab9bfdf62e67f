import { randomUUID } from 'node:crypto';
import type { Db } from '../../shared/sqlite.ts';
import { parseWorkerNumber } from '../../shared/identifiers/national-number.ts';
import { parseLimosaId } from '../../shared/identifiers/declaration.ts';
import { CAPACITIES, type Capacity } from '../../shared/registration.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import { getCompanySync, parseCompanyNumber } from './companies.ts';
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
export function checkWorker(db: Db, input: WorkerInput, problems: FieldProblem[]): Omit<Worker, 'id'> & { id?: string } | undefined {
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
  (input.employers ?? []).forEach((e, i) => {
    const c = parseCompanyNumber(e, `employer[${i}]`, problems);
    if (!c) return;
    if (!getCompanySync(db, c.id)) problems.push(problem(`employer[${i}]`, 'exists', `company ${c.id} is not known: add it first with 'ciao admin company add'`));
    else if (!employers.includes(c.id)) employers.push(c.id);
  });
  if ((input.employers ?? []).length === 0) problems.push(problem('employer', 'required', 'at least one employer is required'));
  if (problems.length > before) return undefined;
  return { id: input.id, ssin, limosaId, name: name!, capacity, employers };
}

/** Adds a worker, or updates the one with the same NISS / Limosa id / worker id. */
export function upsertWorker(db: Db, input: WorkerInput): Worker {
  const problems: FieldProblem[] = [];
  const w = checkWorker(db, input, problems);
  throwIfAny(problems);
  // IMMEDIATE: the gateway writes concurrently; a read-then-write transaction begun deferred would fail
  // with SQLITE_BUSY at its first write instead of waiting for the lock.
  return db.transaction(() => saveWorker(db, w!)).immediate();
}

export function saveWorker(db: Db, w: Omit<Worker, 'id'> & { id?: string }): Worker {
  const existing = (w.id && getWorkerRow(db, 'id', w.id)) || (w.ssin && getWorkerRow(db, 'ssin', w.ssin)) || (w.limosaId && getWorkerRow(db, 'limosa_id', w.limosaId)) || undefined;
  let id = existing?.id ?? w.id;
  // Short generated ids collide now and then (32 bits: likely among tens of thousands of workers); draw again.
  while (!id || (!existing && !w.id && getWorkerRow(db, 'id', id))) id = `w-${randomUUID().slice(0, 8)}`;
  if (existing) {
    db.prepare('UPDATE workers SET ssin = ?, limosa_id = ?, name = ?, capacity = ? WHERE id = ?').run(w.ssin, w.limosaId, w.name, w.capacity, id);
  } else {
    db.prepare('INSERT INTO workers (id, ssin, limosa_id, name, capacity, created_at) VALUES (?, ?, ?, ?, ?, ?)').run(id, w.ssin, w.limosaId, w.name, w.capacity, nowIso());
  }
  db.prepare('DELETE FROM worker_employers WHERE worker_id = ?').run(id);
  const add = db.prepare('INSERT INTO worker_employers (worker_id, company_id) VALUES (?, ?)');
  for (const e of w.employers) add.run(id, e);
  return getWorker(db, id)!;
}

interface WorkerRow {
  id: string;
  ssin: string | null;
  limosa_id: string | null;
  name: string;
  capacity: Capacity;
  deactivated_at: string | null;
}

function getWorkerRow(db: Db, column: 'id' | 'ssin' | 'limosa_id', value: string): WorkerRow | undefined {
  return db.prepare(`SELECT id, ssin, limosa_id, name, capacity, deactivated_at FROM workers WHERE ${column} = ?`).get(value) as WorkerRow | undefined;
}

function employersOf(db: Db, id: string): string[] {
  return (db.prepare('SELECT company_id FROM worker_employers WHERE worker_id = ? ORDER BY rowid').all(id) as Array<{ company_id: string }>).map((r) => r.company_id);
}

export function getWorker(db: Db, id: string): Worker | undefined {
  const r = getWorkerRow(db, 'id', id);
  return r ? { id: r.id, ssin: r.ssin, limosaId: r.limosa_id, name: r.name, capacity: r.capacity, employers: employersOf(db, r.id), deactivatedAt: r.deactivated_at } : undefined;
}

/** Finds a worker by worker id, NISS/BIS (any printed form) or Limosa id. */
export function findWorker(db: Db, ref: string): Worker | undefined {
  const byId = getWorkerRow(db, 'id', ref);
  if (byId) return getWorker(db, byId.id);
  const n = parseWorkerNumber(ref, 'worker');
  if (n.ok) {
    const r = getWorkerRow(db, 'ssin', n.value.value);
    if (r) return getWorker(db, r.id);
  }
  const l = getWorkerRow(db, 'limosa_id', ref.trim().toUpperCase());
  return l ? getWorker(db, l.id) : undefined;
}

export function listWorkers(db: Db): Worker[] {
  return (db.prepare('SELECT id FROM workers ORDER BY name, id').all() as Array<{ id: string }>).map((r) => getWorker(db, r.id)!);
}
