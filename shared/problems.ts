import { CiaoError } from './errors.ts';

/**
 * A problem with one field of some input: which field, which rule it broke, and a sentence for people.
 * Every validator in the product speaks this shape so that a CLI, an MQTT ack and an HTTP problem+json
 * can all name the field and the rule without re-parsing messages.
 */
export interface FieldProblem {
  /** Dotted path of the offending field, e.g. `niss` or `placeOfWork.address.postCode`. */
  field: string;
  /** Short stable code of the rule, e.g. `checksum`, `format`, `max-length`. */
  rule: string;
  /** Human sentence naming the field and the rule. */
  message: string;
}

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
