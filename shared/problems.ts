import { CiaoError, type FieldProblem } from './errors.ts';

// The shape lives beside the errors that carry it (so shared/errors.ts imports nothing back from here).
export type { FieldProblem } from './errors.ts';

export type Checked<T> = { ok: true; value: T } | { ok: false; problem: FieldProblem };

export function ok<T>(value: T): Checked<T> {
  return { ok: true, value };
}

export function fail<T = never>(field: string, rule: string, message: string): Checked<T> {
  return { ok: false, problem: { field, rule, message: `${field}: ${message}` } };
}

/** Thrown where a caller prefers exceptions (CLI, config loading); carries every problem found (code `ERR_CIAO_INVALID_INPUT`). */
export class InvalidInputError extends CiaoError {
  constructor(problems: FieldProblem[]) {
    super('ERR_CIAO_INVALID_INPUT', problems);
    this.name = 'InvalidInputError';
  }
}
