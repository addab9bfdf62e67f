import { parseCompanyId, companyIdKey } from '../../shared/identifiers/company.ts';
import { parseDeclarationNumber } from '../../shared/identifiers/declaration.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import { correctionDeadline, withinCorrectionWindow } from '../remarks/rules.ts';

/**
 * Correction requests (FAQ 33-36, 51): nothing can be cancelled; the company that registered may ask ONSS
 * to correct only a wrong company number or a wrong declaration number, within 30 days of the registration,
 * with a reason. The request is ours to prepare and track; ONSS makes the change. The registration itself
 * is never touched here.
 */

export const CORRECTABLE_FIELDS = ['employer', 'declaration'] as const;
export type CorrectableField = (typeof CORRECTABLE_FIELDS)[number];

export const CORRECTION_STATES = ['draft', 'sent', 'accepted', 'refused'] as const;
export type CorrectionState = (typeof CORRECTION_STATES)[number];

/** Allowed moves: a draft is sent; ONSS accepts or refuses what was sent. */
const NEXT: Record<CorrectionState, CorrectionState[]> = {
  draft: ['sent'],
  sent: ['accepted', 'refused'],
  accepted: [],
  refused: [],
};

export interface RegistrationForCorrection {
  seq: number;
  at: string;
  employerId: string;
  declaration: string;
}

export interface CorrectionInput {
  field: string;
  requestedValue: string;
  reason: string;
}

export interface ValidCorrection {
  field: CorrectableField;
  currentValue: string;
  requestedValue: string;
  reason: string;
  deadline: string;
}

const problem = (field: string, rule: string, message: string): FieldProblem => ({ field, rule, message: `${field}: ${message}` });

export function validateCorrection(
  registration: RegistrationForCorrection,
  input: CorrectionInput,
  now: Date,
  open: Array<{ field: string; state: CorrectionState }> = [],
): { ok: true; value: ValidCorrection } | { ok: false; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const deadline = correctionDeadline(registration.at);

  if (!(CORRECTABLE_FIELDS as readonly string[]).includes(input.field)) {
    problems.push(problem('field', 'correctable-fields', `only the company number (employer) or the declaration number (declaration) can be corrected; everything else stays as registered (FAQ 34, 36), got ${JSON.stringify(input.field)}`));
  }
  if (!withinCorrectionWindow(registration.at, now)) {
    problems.push(problem('seq', 'correction-window-30-days', `a correction must be requested within 30 days of the registration; the last day for registration ${registration.seq} was ${deadline} (FAQ 35, 36)`));
  }
  const reason = (input.reason ?? '').trim();
  if (reason.length === 0) problems.push(problem('reason', 'required', 'a reason is required: say what was wrong and why'));
  else if (reason.length > 500) problems.push(problem('reason', 'max-length', `must have at most 500 characters, got ${reason.length}`));

  let requested: string | undefined;
  let current: string | undefined;
  if (input.field === 'employer') {
    const r = parseCompanyId(input.requestedValue ?? '', 'requestedValue');
    if (r.ok) requested = companyIdKey(r.value);
    else problems.push(r.problem);
    current = registration.employerId;
  } else if (input.field === 'declaration') {
    const r = parseDeclarationNumber(input.requestedValue ?? '', 'requestedValue');
    if (r.ok) requested = r.value;
    else problems.push(r.problem);
    current = registration.declaration;
  }
  if (requested !== undefined && requested === current) {
    problems.push(problem('requestedValue', 'unchanged', `is the value already registered (${current}); a correction must change it`));
  }
  if (open.some((o) => o.field === input.field && (o.state === 'draft' || o.state === 'sent'))) {
    problems.push(problem('field', 'already-requested', `a correction of ${input.field} for registration ${registration.seq} is already open (draft or sent)`));
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, value: { field: input.field as CorrectableField, currentValue: current!, requestedValue: requested!, reason, deadline } };
}

/** Checks a state change; sending is also bound to the 30-day window. */
export function checkTransition(from: CorrectionState, to: string, registrationAt: string, now: Date): FieldProblem | null {
  if (!(CORRECTION_STATES as readonly string[]).includes(to)) {
    return problem('state', 'enum', `must be one of ${CORRECTION_STATES.join(', ')}, got ${JSON.stringify(to)}`);
  }
  if (!NEXT[from].includes(to as CorrectionState)) {
    return problem('state', 'state-transition', `a ${from} request cannot become ${to} (allowed: ${NEXT[from].join(', ') || 'none, it is final'})`);
  }
  if (to === 'sent' && !withinCorrectionWindow(registrationAt, now)) {
    return problem('state', 'correction-window-30-days', `the 30 days to request a correction ended on ${correctionDeadline(registrationAt)} (FAQ 35, 36)`);
  }
  return null;
}
