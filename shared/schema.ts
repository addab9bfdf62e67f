import { z } from 'zod';
import type { Checked, FieldProblem } from './problems.ts';

/**
 * Glue between zod and the product's FieldProblem: zod does the structure, our own validators do the
 * identifier rules, and either way the caller gets `field` + `rule` + a sentence.
 */

/** Wraps a Checked-returning validator as a zod transform that reports the validator's rule code. */
export function refineWith<T>(check: (value: string, field: string) => Checked<T>) {
  return (value: string, ctx: z.RefinementCtx): T => {
    const r = check(value, 'value');
    if (r.ok) return r.value;
    // zod prefixes the path itself; keep only the sentence after the placeholder field name.
    ctx.addIssue({ code: 'custom', message: r.problem.message.replace(/^value: /, ''), params: { rule: r.problem.rule } });
    return z.NEVER;
  };
}

const RULE_BY_CODE: Record<string, string> = {
  invalid_type: 'type',
  too_big: 'max',
  too_small: 'min',
  invalid_format: 'format',
  invalid_value: 'enum',
  unrecognized_keys: 'unknown-field',
  invalid_union: 'one-of',
  custom: 'rule',
};

/** Converts zod issues into FieldProblems with dotted field paths and a stable rule code. */
export function problemsFromZod(error: z.ZodError, input?: unknown): FieldProblem[] {
  return error.issues.map((issue) => {
    const field = issue.path.length ? issue.path.map(String).join('.') : '(root)';
    const params = (issue as { params?: { rule?: string } }).params;
    let rule = params?.rule ?? RULE_BY_CODE[issue.code] ?? issue.code;
    if (issue.code === 'invalid_type' && valueAt(input, issue.path) === undefined) rule = 'required';
    let message = issue.message;
    if (rule === 'required') message = 'is required';
    if (issue.code === 'unrecognized_keys') {
      // An empty key would make an empty field name; show it as "" so the problem still names it.
      const keys = (issue as { keys: string[] }).keys.map((k) => (k === '' ? '""' : k));
      return { field: keys.map((k) => (field === '(root)' ? k : `${field}.${k}`)).join(', '), rule, message: `${keys.join(', ')}: unknown field` };
    }
    return { field, rule, message: `${field}: ${message}` };
  });
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  let cur = input;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; problems: FieldProblem[] };

/** Runs a schema and answers with FieldProblems instead of a ZodError. */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown): Parsed<z.output<S>> {
  const r = schema.safeParse(input);
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, problems: problemsFromZod(r.error, input) };
}
