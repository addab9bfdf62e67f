import { nationalCheckDigits } from './national-number.ts';
import { enterpriseCheckDigits } from './company.ts';

/**
 * Builds identifiers with correct check digits: for demo data, test data and simulators, which must use
 * numbers that pass every check without being anyone's real number by design choice of the caller.
 */
export function makeWorkerNumber(birth: { year: number; month: number; day: number }, serial: number, kind: 'niss' | 'bis' = 'niss'): string {
  const yy = String(birth.year % 100).padStart(2, '0');
  const mm = String(birth.month + (kind === 'bis' ? 40 : 0)).padStart(2, '0');
  const dd = String(birth.day).padStart(2, '0');
  const first9 = `${yy}${mm}${dd}${String(serial).padStart(3, '0')}`;
  return first9 + nationalCheckDigits(first9, birth.year >= 2000 ? 2000 : 1900);
}

export function makeEnterpriseNumber(first8: string): string {
  if (!/^[01][0-9]{7}$/.test(first8)) throw new RangeError('first8 must be 8 digits starting with 0 or 1');
  return first8 + enterpriseCheckDigits(first8);
}
