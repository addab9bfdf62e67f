import { fail, ok, type Checked } from '../problems.ts';
import { isDigits, mod97, stripSeparators } from './normalize.ts';

/**
 * A company on a registration: a Belgian enterprise number (KBO/BCE), or for foreign companies their
 * foreign VAT or identification number. A self-employed person gives their own enterprise number.
 */
export type CompanyId = { enterpriseNumber: string } | { foreignVatNumber: string };

/**
 * Enterprise number: 10 digits, first digit 0 or 1, `97 - (first 8 mod 97)` equals the last two.
 * Accepts `BE`, dots and spaces; an old 9-digit number gains its leading 0.
 */
export function parseEnterpriseNumber(input: string, field = 'enterpriseNumber'): Checked<string> {
  if (typeof input !== 'string') return fail(field, 'type', 'must be a string of 10 digits');
  let value = stripSeparators(input.trim()).toUpperCase();
  if (value.startsWith('BE')) value = value.slice(2);
  if (!isDigits(value)) return fail(field, 'digits', 'must contain only digits (an optional BE prefix, dots and spaces are allowed)');
  if (value.length === 9) value = `0${value}`;
  if (value.length !== 10) return fail(field, 'length', `must have 10 digits, got ${value.length}`);
  if (value[0] !== '0' && value[0] !== '1') return fail(field, 'prefix', 'must start with 0 or 1');
  if (97 - mod97(value.slice(0, 8)) !== Number(value.slice(8))) {
    return fail(field, 'checksum', 'check digits do not match (97 - first 8 digits mod 97)');
  }
  return ok(value);
}

export function enterpriseCheckDigits(first8: string): string {
  return String(97 - mod97(first8)).padStart(2, '0');
}

/** `0403019261` -> `0403.019.261`. */
export function formatEnterpriseNumber(value: string): string {
  return `${value.slice(0, 4)}.${value.slice(4, 7)}.${value.slice(7)}`;
}

/**
 * Foreign VAT or company id: a two-letter country code (not BE) followed by 2 to 28 letters, digits or
 * `+ * .` characters. Spaces and dashes are removed; letters are upper-cased.
 */
export function parseForeignCompanyId(input: string, field = 'foreignVatNumber'): Checked<string> {
  if (typeof input !== 'string') return fail(field, 'type', 'must be a string');
  const value = input.replace(/[\s\-]/g, '').toUpperCase();
  if (value.length === 0) return fail(field, 'required', 'must not be empty');
  if (!/^[A-Z]{2}/.test(value)) return fail(field, 'country', 'must start with a two-letter country code, e.g. FR or NL');
  if (value.startsWith('BE')) return fail(field, 'country', 'a Belgian company uses its enterprise number, not a foreign id');
  if (value.length > 30) return fail(field, 'max-length', `must have at most 30 characters, got ${value.length}`);
  if (!/^[A-Z]{2}[A-Z0-9+*.]{2,28}$/.test(value)) {
    return fail(field, 'format', 'after the country code, 2 to 28 letters, digits or + * . are allowed');
  }
  return ok(value);
}

/** Parses either kind from one input: Belgian when it looks like one, foreign otherwise. */
export function parseCompanyId(input: string, field = 'employer'): Checked<CompanyId> {
  const bare = stripSeparators(String(input ?? '').trim()).toUpperCase();
  if (/^(BE)?[0-9]{9,10}$/.test(bare)) {
    const r = parseEnterpriseNumber(input, field);
    return r.ok ? ok({ enterpriseNumber: r.value }) : r;
  }
  const r = parseForeignCompanyId(input, field);
  return r.ok ? ok({ foreignVatNumber: r.value }) : r;
}

export function companyIdKey(id: CompanyId): string {
  return 'enterpriseNumber' in id ? id.enterpriseNumber : id.foreignVatNumber;
}
