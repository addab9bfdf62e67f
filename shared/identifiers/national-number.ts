import { fail, ok, type Checked } from '../problems.ts';
import { isDigits, mod97, stripSeparators } from './normalize.ts';

/**
 * Belgian national register (NISS/INSS) and BIS numbers: 11 digits `YYMMDDSSSCC`.
 * `CC = 97 - (YYMMDDSSS mod 97)`; for births from 2000 on the remainder is taken over `2YYMMDDSSS`.
 * A number with two digits of year cannot say its century, so both computations are tried.
 * BIS numbers add 20 (sex unknown) or 40 (sex known) to the month; month and day may be 00 (unknown).
 */
export type WorkerNumberKind = 'niss' | 'bis';

export interface WorkerNumber {
  kind: WorkerNumberKind;
  /** The 11 bare digits. */
  value: string;
  /** 1900 or 2000: which checksum variant matched. */
  century: 1900 | 2000;
}

export function nationalCheckDigits(first9: string, century: 1900 | 2000): string {
  const base = century === 2000 ? `2${first9}` : first9;
  const cc = 97 - mod97(base);
  return String(cc).padStart(2, '0');
}

/** The clock used for the birth-year plausibility rule. */
const now = (): Date => new Date();

function daysInMonth(yy: number, month: number, century: 1900 | 2000): number {
  const year = century + yy;
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** Parses a NISS or a BIS number, telling which it is; the error names the field and the rule. */
export function parseWorkerNumber(input: string, field = 'niss'): Checked<WorkerNumber> {
  if (typeof input !== 'string') return fail(field, 'type', 'must be a string of 11 digits');
  const value = stripSeparators(input);
  if (!isDigits(value)) return fail(field, 'digits', 'must contain only digits (dots, dashes and spaces are allowed as separators)');
  if (value.length !== 11) return fail(field, 'length', `must have 11 digits, got ${value.length}`);

  const first9 = value.slice(0, 9);
  const given = value.slice(9);
  const yy = Number(value.slice(0, 2));
  let century: 1900 | 2000 | undefined;
  if (nationalCheckDigits(first9, 1900) === given) century = 1900;
  else if (nationalCheckDigits(first9, 2000) === given) {
    // The 2000 rule only exists for people born from 2000 on: a birth year after this year is a typo.
    if (2000 + yy > now().getUTCFullYear()) {
      return fail(field, 'checksum', `check digits match only the rule for births from 2000, but 20${value.slice(0, 2)} is in the future`);
    }
    century = 2000;
  }
  if (century === undefined) {
    return fail(field, 'checksum', 'check digits do not match (97 - first 9 digits mod 97, or with a leading 2 for births from 2000)');
  }

  let month = Number(value.slice(2, 4));
  const day = Number(value.slice(4, 6));
  let kind: WorkerNumberKind = 'niss';
  if (month >= 40) {
    kind = 'bis';
    month -= 40;
  } else if (month >= 20) {
    kind = 'bis';
    month -= 20;
  }
  // Month and day 00 mean "unknown" in both registers (people whose birth date is not known).
  if (month > 12) return fail(field, 'birth-date', `month ${value.slice(2, 4)} is not a month (01-12, +20 or +40 for BIS)`);
  if (month !== 0 && day > daysInMonth(yy, month, century)) {
    return fail(field, 'birth-date', `day ${value.slice(4, 6)} does not exist in month ${month}`);
  }
  if (month === 0 && day > 31) return fail(field, 'birth-date', `day ${value.slice(4, 6)} is not a day`);
  return ok({ kind, value, century });
}

/** Only national register numbers (not BIS). */
export function parseNiss(input: string, field = 'niss'): Checked<string> {
  const r = parseWorkerNumber(input, field);
  if (!r.ok) return r;
  if (r.value.kind !== 'niss') return fail(field, 'kind', 'is a BIS number (month +20/+40), not a national register number');
  return ok(r.value.value);
}

/** Only BIS numbers. */
export function parseBis(input: string, field = 'bis'): Checked<string> {
  const r = parseWorkerNumber(input, field);
  if (!r.ok) return r;
  if (r.value.kind !== 'bis') return fail(field, 'kind', 'is a national register number, not a BIS number (month +20 or +40)');
  return ok(r.value.value);
}

/** `85073003328` -> `85.07.30-033.28`, the way it is printed on an eID. */
export function formatWorkerNumber(value: string): string {
  return `${value.slice(0, 2)}.${value.slice(2, 4)}.${value.slice(4, 6)}-${value.slice(6, 9)}.${value.slice(9)}`;
}

/** Masks all but the last two digits, for screens that may show that a number exists but not which. */
export function maskWorkerNumber(value: string): string {
  return `*********${value.slice(-2)}`;
}
