/**
 * People type identifiers the way they are printed: `85.07.30-033.28`, `BE 0403.019.261`, `1y10 2m7n zf7pz`.
 * These helpers strip the punctuation that carries no meaning so validators see the bare value.
 */
const SEPARATORS = /[\s.\-/]/g;

export function stripSeparators(input: string): string {
  return input.replace(SEPARATORS, '');
}

/** The mod-97 remainder of a decimal string of any length, without BigInt. */
export function mod97(digits: string): number {
  let rest = 0;
  for (let i = 0; i < digits.length; i++) {
    rest = (rest * 10 + (digits.charCodeAt(i) - 48)) % 97;
  }
  return rest;
}

export function isDigits(value: string): boolean {
  return /^[0-9]+$/.test(value);
}
