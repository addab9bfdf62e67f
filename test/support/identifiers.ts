import fc from 'fast-check';
import { enterpriseCheckDigits, nationalCheckDigits } from '../../shared/identifiers/index.ts';

/** Generators of identifiers with correct check digits, built from the rules (not from the validators). */
const pad = (n: number, w: number) => String(n).padStart(w, '0');

export const nationalNumberArb = fc
  .record({
    century: fc.constantFrom<1900 | 2000>(1900, 2000),
    yy: fc.integer({ min: 0, max: 99 }),
    month: fc.integer({ min: 1, max: 12 }),
    day: fc.integer({ min: 1, max: 28 }),
    serial: fc.integer({ min: 1, max: 997 }),
    bisOffset: fc.constantFrom(0, 20, 40),
  })
  .filter((r) => r.century === 1900 || 2000 + r.yy <= 2025)
  .map((r) => {
    const first9 = `${pad(r.yy, 2)}${pad(r.month + r.bisOffset, 2)}${pad(r.day, 2)}${pad(r.serial, 3)}`;
    return { value: first9 + nationalCheckDigits(first9, r.century), century: r.century, bis: r.bisOffset > 0 };
  });

export const enterpriseNumberArb = fc
  .record({ prefix: fc.constantFrom('0', '1'), body: fc.integer({ min: 0, max: 9_999_999 }) })
  .map(({ prefix, body }) => {
    const first8 = prefix + pad(body, 7);
    return first8 + enterpriseCheckDigits(first8);
  })
  .filter((v) => v.length === 10);
