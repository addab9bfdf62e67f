/**
 * One error style for the product, as Node and fastify do it: every error the product throws on purpose
 * carries a stable `code` (callers branch on `err.code`, never on a class) and, where a person must act,
 * the problems naming each field and rule. The HTTP layer maps codes to statuses in one table
 * (gateway/http/problems.ts); the CLI prints the message.
 */
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

export const ERROR_CODES = [
  /** Input broke a rule: `problems` names each field. */
  'ERR_CIAO_INVALID_INPUT',
  /** The thing asked for does not exist (or is not visible to the caller). */
  'ERR_CIAO_NOT_FOUND',
  /** The caller is known but may not do this. */
  'ERR_CIAO_FORBIDDEN',
  /** The caller did not say who they are, or the credentials are unknown or revoked. */
  'ERR_CIAO_UNAUTHENTICATED',
  /** The request is well formed but the gateway's set-up does not allow it now (e.g. no pairing listener). */
  'ERR_CIAO_CONFLICT',
  /** Something the gateway needs for this is absent now (e.g. no desk reader, pcscd not running): try again once it is there. */
  'ERR_CIAO_UNAVAILABLE',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export class CiaoError extends Error {
  readonly code: ErrorCode;
  readonly problems: FieldProblem[];
  constructor(code: ErrorCode, problems: FieldProblem[], message = problems.map((p) => p.message).join('; ')) {
    super(message);
    this.name = 'CiaoError';
    this.code = code;
    this.problems = problems;
  }
}

/** The stable code of any error (the product's, Node's `ERR_*`, SQLite's `SQLITE_*`), if it has one. */
export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function notFound(field: string, message: string): CiaoError {
  return new CiaoError('ERR_CIAO_NOT_FOUND', [{ field, rule: 'exists', message }]);
}

export function forbidden(problem: FieldProblem): CiaoError {
  return new CiaoError('ERR_CIAO_FORBIDDEN', [problem]);
}

export function unauthenticated(problem: FieldProblem): CiaoError {
  return new CiaoError('ERR_CIAO_UNAUTHENTICATED', [problem]);
}

export function conflict(problem: FieldProblem): CiaoError {
  return new CiaoError('ERR_CIAO_CONFLICT', [problem]);
}

export function unavailable(problem: FieldProblem): CiaoError {
  return new CiaoError('ERR_CIAO_UNAVAILABLE', [problem]);
}
