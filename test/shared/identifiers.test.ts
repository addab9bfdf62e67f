import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  formatEnterpriseNumber,
  formatWorkerNumber,
  parseBis,
  parseCompanyId,
  parseDeclarationNumber,
  parseEnterpriseNumber,
  parseForeignCompanyId,
  parseLimosaId,
  parseNiss,
  parseWorkerNumber,
} from '../../shared/identifiers/index.ts';
import { enterpriseNumberArb, nationalNumberArb } from '../support/identifiers.ts';

function problemOf<T>(r: { ok: true; value: T } | { ok: false; problem: { field: string; rule: string; message: string } }) {
  if (r.ok) throw new Error(`expected a problem, got ${JSON.stringify(r.value)}`);
  return r.problem;
}

describe('NISS and BIS numbers', () => {
  it('accepts the DOMAIN.md vectors and tells NISS from BIS', () => {
    expect(parseWorkerNumber('85073003328')).toMatchObject({ ok: true, value: { kind: 'niss', century: 1900 } });
    expect(parseWorkerNumber('17073003384')).toMatchObject({ ok: true, value: { kind: 'niss', century: 2000 } });
    for (const bis of ['98472899765', '01490700185', '97440936363']) {
      expect(parseWorkerNumber(bis)).toMatchObject({ ok: true, value: { kind: 'bis', value: bis } });
    }
  });

  it('normalises printed forms', () => {
    expect(parseNiss('85.07.30-033.28')).toEqual({ ok: true, value: '85073003328' });
    expect(parseNiss(' 85 07 30 033 28 ')).toEqual({ ok: true, value: '85073003328' });
    expect(formatWorkerNumber('85073003328')).toBe('85.07.30-033.28');
  });

  it('names the field and the rule of each failure', () => {
    expect(problemOf(parseNiss('85073003329'))).toMatchObject({ field: 'niss', rule: 'checksum' });
    expect(problemOf(parseNiss('8507300332'))).toMatchObject({ field: 'niss', rule: 'length' });
    expect(problemOf(parseNiss('85O73003328'))).toMatchObject({ field: 'niss', rule: 'digits' });
    expect(problemOf(parseNiss('98472899765'))).toMatchObject({ rule: 'kind' });
    expect(problemOf(parseBis('85073003328', 'worker.bis'))).toMatchObject({ field: 'worker.bis', rule: 'kind' });
    expect(problemOf(parseNiss('85073003329')).message).toMatch(/^niss: check digits/);
  });

  it('refuses a date that does not exist even when the check digits match', () => {
    const withCheck = (first9: string) => first9 + String(97 - (Number(first9) % 97)).padStart(2, '0');
    expect(problemOf(parseNiss(withCheck('850231001')))).toMatchObject({ rule: 'birth-date' }); // 31 February
    expect(problemOf(parseNiss(withCheck('851301001')))).toMatchObject({ rule: 'birth-date' }); // month 13
    expect(problemOf(parseBis(withCheck('856101001')))).toMatchObject({ rule: 'birth-date' }); // BIS month 61
    expect(parseNiss(withCheck('840229001')).ok).toBe(true); // 29 February of a leap year
    expect(parseBis(withCheck('854000001'))).toMatchObject({ ok: true }); // BIS, month and day unknown
  });

  it('refuses a number whose check digits fit only a birth year in the future', () => {
    // 2090-01-01: the 2000 rule matches, but nobody is born in 2090 yet.
    const first9 = '900101001';
    const cc = String(97 - (Number(`2${first9}`) % 97)).padStart(2, '0');
    expect(problemOf(parseNiss(first9 + cc))).toMatchObject({ rule: 'checksum', message: expect.stringContaining('future') });
  });

  it('accepts every number built with correct check digits (property)', () => {
    fc.assert(
      fc.property(nationalNumberArb, ({ value, century, bis }) => {
        const r = parseWorkerNumber(value);
        expect(r).toMatchObject({ ok: true, value: { value, century, kind: bis ? 'bis' : 'niss' } });
      }),
      { numRuns: 5000 },
    );
  });

  it('refuses every single-digit change, except a year change that lands on the other century (property)', () => {
    // The two check-digit rules (with and without the leading 2) can coincide for years six apart:
    // such a changed number is a genuine number of someone born in the other century, and is reported as such.
    fc.assert(
      fc.property(nationalNumberArb, fc.integer({ min: 0, max: 10 }), fc.integer({ min: 1, max: 9 }), ({ value, century }, pos, delta) => {
        const digit = (Number(value[pos]) + delta) % 10;
        const changed = value.slice(0, pos) + digit + value.slice(pos + 1);
        const r = parseWorkerNumber(changed);
        if (r.ok) {
          expect(pos).toBe(1);
          expect(r.value.century).not.toBe(century);
        }
      }),
      { numRuns: 10000 },
    );
  });
});

describe('enterprise numbers', () => {
  it('accepts the DOMAIN.md vectors in every printed form', () => {
    for (const input of ['0403019261', '0403.019.261', 'BE 0403.019.261', 'be0403019261', '403019261']) {
      expect(parseEnterpriseNumber(input)).toEqual({ ok: true, value: '0403019261' });
    }
    expect(parseEnterpriseNumber('0428759497')).toEqual({ ok: true, value: '0428759497' });
    expect(formatEnterpriseNumber('0403019261')).toBe('0403.019.261');
  });

  it('names the rule of each failure', () => {
    expect(problemOf(parseEnterpriseNumber('0403019262'))).toMatchObject({ field: 'enterpriseNumber', rule: 'checksum' });
    expect(problemOf(parseEnterpriseNumber('2403019261'))).toMatchObject({ rule: 'prefix' });
    expect(problemOf(parseEnterpriseNumber('04030192'))).toMatchObject({ rule: 'length' });
    expect(problemOf(parseEnterpriseNumber('04O3019261', 'employer'))).toMatchObject({ field: 'employer', rule: 'digits' });
  });

  it('accepts every number built with correct check digits and refuses every single-digit change (property)', () => {
    fc.assert(
      fc.property(enterpriseNumberArb, fc.integer({ min: 0, max: 9 }), fc.integer({ min: 1, max: 9 }), (value, pos, delta) => {
        expect(parseEnterpriseNumber(value)).toEqual({ ok: true, value });
        const changed = value.slice(0, pos) + ((Number(value[pos]) + delta) % 10) + value.slice(pos + 1);
        expect(parseEnterpriseNumber(changed).ok).toBe(false);
      }),
      { numRuns: 10000 },
    );
  });
});

describe('foreign company ids, declarations and Limosa ids', () => {
  it('takes a foreign VAT number with its country code', () => {
    expect(parseForeignCompanyId('fr 123 456 789 01')).toEqual({ ok: true, value: 'FR12345678901' });
    expect(parseForeignCompanyId('NL123456789B01')).toEqual({ ok: true, value: 'NL123456789B01' });
    expect(problemOf(parseForeignCompanyId('123456'))).toMatchObject({ rule: 'country' });
    expect(problemOf(parseForeignCompanyId('BE0403019261'))).toMatchObject({ rule: 'country' });
    expect(problemOf(parseForeignCompanyId('FR12_34'))).toMatchObject({ rule: 'format' });
  });

  it('tells a Belgian number from a foreign id', () => {
    expect(parseCompanyId('BE 0403.019.261')).toEqual({ ok: true, value: { enterpriseNumber: '0403019261' } });
    expect(parseCompanyId('DE123456789')).toEqual({ ok: true, value: { foreignVatNumber: 'DE123456789' } });
    expect(problemOf(parseCompanyId('0403019262'))).toMatchObject({ field: 'employer', rule: 'checksum' });
  });

  it('checks declaration-of-works numbers', () => {
    expect(parseDeclarationNumber('1Y102M7NZF7PZ')).toEqual({ ok: true, value: '1Y102M7NZF7PZ' });
    expect(parseDeclarationNumber('1y10 2m7n zf7pz')).toEqual({ ok: true, value: '1Y102M7NZF7PZ' });
    expect(problemOf(parseDeclarationNumber('1Y102M7NZF7P'))).toMatchObject({ field: 'declaration', rule: 'length' });
    expect(problemOf(parseDeclarationNumber('1Y102M7NZF7PO'))).toMatchObject({ rule: 'alphabet' });
    expect(problemOf(parseDeclarationNumber('1Y102M7NZF7P!'))).toMatchObject({ rule: 'format' });
  });

  it('checks Limosa ids', () => {
    expect(parseLimosaId(' ab-1234 ')).toEqual({ ok: true, value: 'AB-1234' });
    expect(problemOf(parseLimosaId(''))).toMatchObject({ field: 'limosaId', rule: 'required' });
    expect(problemOf(parseLimosaId('x'.repeat(31)))).toMatchObject({ rule: 'max-length' });
  });
});

describe('making identifiers for demo and test data', () => {
  it('builds numbers that the validators accept, of the requested kind', async () => {
    const { makeWorkerNumber, makeEnterpriseNumber } = await import('../../shared/identifiers/make.ts');
    expect(makeWorkerNumber({ year: 1985, month: 7, day: 30 }, 33)).toBe('85073003328');
    expect(makeWorkerNumber({ year: 2017, month: 7, day: 30 }, 33)).toBe('17073003384');
    const bis = makeWorkerNumber({ year: 1990, month: 3, day: 12 }, 101, 'bis');
    expect(parseWorkerNumber(bis)).toMatchObject({ ok: true, value: { kind: 'bis' } });
    expect(makeEnterpriseNumber('04030192')).toBe('0403019261');
    expect(() => makeEnterpriseNumber('2403019')).toThrow(/first8/);
  });
});
