import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { FieldProblem } from '../../shared/problems.ts';
import { CiaoError, errorCode, type ErrorCode } from '../../shared/errors.ts';

/**
 * Errors as RFC 9457 problem+json, always naming the field and the rule (`problems[]`), so the dashboard and
 * any client can show the person what to change.
 */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  problems: FieldProblem[];
}

/** How each of the product's error codes is answered over HTTP. */
const PROBLEM_TYPES: Record<ErrorCode, Pick<Problem, 'type' | 'title' | 'status'>> = {
  ERR_CIAO_INVALID_INPUT: { type: 'urn:problem-type:ciao:invalid-input', title: 'Invalid input', status: 400 },
  ERR_CIAO_FORBIDDEN: { type: 'urn:problem-type:ciao:forbidden', title: 'Forbidden', status: 403 },
  ERR_CIAO_UNAUTHENTICATED: { type: 'urn:problem-type:ciao:unauthenticated', title: 'Authentication required', status: 401 },
  ERR_CIAO_NOT_FOUND: { type: 'urn:problem-type:ciao:not-found', title: 'Not found', status: 404 },
  ERR_CIAO_CONFLICT: { type: 'urn:problem-type:ciao:conflict', title: 'Conflict', status: 409 },
  ERR_CIAO_UNAVAILABLE: { type: 'urn:problem-type:ciao:unavailable', title: 'Unavailable', status: 503 },
};

export const PROBLEM_SCHEMA = {
  type: 'object',
  description: 'RFC 9457 problem details; problems[] names each field and rule',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    problems: { type: 'array', items: { type: 'object', properties: { field: { type: 'string' }, rule: { type: 'string' }, message: { type: 'string' } } } },
  },
} as const;

function problemOf(err: unknown): Problem {
  const known = PROBLEM_TYPES[errorCode(err) as ErrorCode];
  if (known && err instanceof CiaoError) return { ...known, detail: err.message, problems: err.problems };
  const fe = err as FastifyError & { validation?: Array<{ instancePath?: string; keyword?: string; message?: string; params?: Record<string, unknown> }>; validationContext?: string };
  if (fe && Array.isArray(fe.validation)) {
    const problems = fe.validation.map((v) => {
      const missing = v.params?.missingProperty as string | undefined;
      const extra = v.keyword === 'additionalProperties' ? (v.params?.additionalProperty as string | undefined) : undefined;
      const path = (v.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
      const named = missing ?? extra;
      const field = named ? (path ? `${path}.${named}` : named) : path || fe.validationContext || '(root)';
      if (extra) return { field, rule: 'additionalProperties', message: `${field}: is not a field of this request` };
      const rule = v.keyword === 'required' ? 'required' : v.keyword === 'enum' ? 'enum' : v.keyword === 'type' ? 'type' : v.keyword === 'pattern' ? 'format' : v.keyword ?? 'schema';
      const allowed = v.keyword === 'enum' && Array.isArray(v.params?.allowedValues) ? `: one of ${(v.params!.allowedValues as unknown[]).join(', ')}` : '';
      return { field, rule, message: `${field}: ${missing ? 'is required' : `${v.message ?? 'is invalid'}${allowed}`}` };
    });
    return { type: 'urn:problem-type:ciao:invalid-input', title: 'Invalid input', status: 400, detail: problems.map((p) => p.message).join('; '), problems };
  }
  // The gateway's writer holds the database for a moment (a commit of taps): a change from the console that
  // waited its busy timeout is answered "try again", not "internal error".
  if (errorCode(err)?.startsWith('SQLITE_BUSY')) {
    return { type: 'urn:problem-type:ciao:busy', title: 'Busy', status: 503, detail: 'the database is busy committing taps; try again in a moment', problems: [{ field: '(request)', rule: 'database-busy', message: '(request): the database is busy committing taps; try again in a moment' }] };
  }
  if (fe && typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { type: 'urn:problem-type:ciao:bad-request', title: 'Bad request', status: fe.statusCode, detail: fe.message, problems: [{ field: '(request)', rule: fe.code ?? 'request', message: fe.message }] };
  }
  return { type: 'urn:problem-type:ciao:internal', title: 'Internal error', status: 500, detail: 'the gateway could not answer; the error is in its log', problems: [] };
}

export function sendProblem(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const p = problemOf(err);
  // A 503 the product chose (no desk reader, pcscd absent) is an answer, not a fault of the gateway.
  if (p.status >= 500 && !(err instanceof CiaoError)) request.log.error({ err }, 'admin API error');
  return reply.code(p.status).type('application/problem+json').send(JSON.stringify({ ...p, instance: request.url.split('?')[0] }));
}
