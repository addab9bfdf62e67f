import { notFound, type CiaoError } from '../../shared/errors.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { InvalidInputError, type Checked, type FieldProblem } from '../../shared/problems.ts';

/** Small helpers shared by the site-data operations: unwrap checks, collect problems, validate dates. */
export function check<T>(r: Checked<T>, problems: FieldProblem[]): T | undefined {
  if (r.ok) return r.value;
  problems.push(r.problem);
  return undefined;
}

export function throwIfAny(problems: FieldProblem[]): void {
  if (problems.length) throw new InvalidInputError(problems);
}

export function problem(field: string, rule: string, message: string): FieldProblem {
  return { field, rule, message: `${field}: ${message}` };
}

/** A calendar day `YYYY-MM-DD` that exists. */
export function parseDay(input: string | undefined, field: string, problems: FieldProblem[]): string | undefined {
  if (input === undefined || input === '') return undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(input.trim());
  if (!m) {
    problems.push(problem(field, 'format', 'must be a date YYYY-MM-DD'));
    return undefined;
  }
  const d = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!));
  if (d.getUTCMonth() !== +m[2]! - 1 || d.getUTCDate() !== +m[3]!) {
    problems.push(problem(field, 'date', `${input} is not a calendar day`));
    return undefined;
  }
  return input.trim();
}

export function requireText(input: string | undefined, field: string, problems: FieldProblem[], max = 200): string | undefined {
  const v = input?.trim();
  if (!v) {
    problems.push(problem(field, 'required', 'is required'));
    return undefined;
  }
  if (v.length > max) {
    problems.push(problem(field, 'max-length', `must have at most ${max} characters, got ${v.length}`));
    return undefined;
  }
  return v;
}

/** A site-data record that does not exist (code `ERR_CIAO_NOT_FOUND`). */
export function notFoundError(what: string, id: string): CiaoError {
  return notFound(what, `${what} ${id} does not exist`);
}

export function nowIso(): string {
  return new Date().toISOString();
}

/** Marks a record deactivated (or active again): nothing a registration refers to is ever deleted. */
export async function setDeactivated(store: SqlStore, table: 'companies' | 'sites' | 'declarations' | 'workers', key: string, id: string, at: Date | null): Promise<boolean> {
  return (await store.run(`UPDATE ${table} SET deactivated_at = $1 WHERE ${key} = $2`, [at ? at.toISOString() : null, id])).changes > 0;
}
