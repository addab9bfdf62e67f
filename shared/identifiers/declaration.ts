import { fail, ok, type Checked } from '../problems.ts';

/**
 * Declaration-of-works number (ONSS `contractualRelationshipReference`, SOAP `WorkPlaceId`):
 * 13 upper-case letters and digits, never I or O. No public checksum exists.
 */
const DECLARATION_PATTERN = /^[A-HJ-NP-Z0-9]{13}$/;

export function parseDeclarationNumber(input: string, field = 'declaration'): Checked<string> {
  if (typeof input !== 'string') return fail(field, 'type', 'must be a string of 13 characters');
  const value = input.replace(/[\s\-]/g, '').toUpperCase();
  if (value.length !== 13) return fail(field, 'length', `must have 13 characters, got ${value.length}`);
  if (/[IO]/.test(value)) return fail(field, 'alphabet', 'must not contain the letters I or O');
  if (!DECLARATION_PATTERN.test(value)) return fail(field, 'format', 'must contain only letters A-Z (no I, O) and digits');
  return ok(value);
}

/**
 * Limosa id (posted workers): free text at ONSS. We accept 1 to 30 letters, digits and dashes, so that a
 * typo with stray characters is caught at entry rather than at ONSS.
 */
export function parseLimosaId(input: string, field = 'limosaId'): Checked<string> {
  if (typeof input !== 'string') return fail(field, 'type', 'must be a string');
  const value = input.trim().toUpperCase();
  if (value.length === 0) return fail(field, 'required', 'must not be empty');
  if (value.length > 30) return fail(field, 'max-length', `must have at most 30 characters, got ${value.length}`);
  if (!/^[A-Z0-9\-]+$/.test(value)) return fail(field, 'format', 'must contain only letters, digits and dashes');
  return ok(value);
}
