import { describe, expect, it } from 'vitest';
import { checkTransition, validateCorrection } from '../../gateway/records/corrections.ts';
import { checkPeriod, exportRegistrations, toCsv } from '../../gateway/records/export.ts';
import { decideApplicability, parseEuroAmount } from '../../gateway/site-data/applicability.ts';
import type { RegistrationRecord } from '../../gateway/records/ports.ts';
import { at, DECLARATION, EMPLOYER_A, EMPLOYER_B, now } from './helpers/facts.ts';

describe('corrections: allowed fields and the 30-day window', () => {
  const registration = { seq: 7, at: at('2026-03-01T08:00'), employerId: EMPLOYER_A, declaration: DECLARATION };

  it('accepts a wrong company number within 30 days, with a reason', () => {
    const r = validateCorrection(registration, { field: 'employer', requestedValue: 'BE 0428.759.497', reason: 'takeover on 1 March' }, now('2026-03-31T23:00'));
    expect(r).toEqual({ ok: true, value: { field: 'employer', currentValue: EMPLOYER_A, requestedValue: EMPLOYER_B, reason: 'takeover on 1 March', deadline: '2026-03-31' } });
  });

  it('accepts a wrong declaration number', () => {
    const r = validateCorrection(registration, { field: 'declaration', requestedValue: '2ab34cd56ef78', reason: 'new declaration after takeover' }, now('2026-03-02T09:00'));
    expect(r.ok && r.value.requestedValue).toBe('2AB34CD56EF78');
  });

  it('refuses on day 31 naming the rule', () => {
    const r = validateCorrection(registration, { field: 'employer', requestedValue: EMPLOYER_B, reason: 'x' }, now('2026-04-01T00:00'));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems).toEqual([expect.objectContaining({ field: 'seq', rule: 'correction-window-30-days' })]);
  });

  it('refuses any other field, a missing reason, a bad or unchanged value, and a second open request', () => {
    const t = now('2026-03-02T09:00');
    const rules = (input: { field: string; requestedValue: string; reason: string }, open: Array<{ field: string; state: 'draft' | 'sent' | 'accepted' | 'refused' }> = []) => {
      const r = validateCorrection(registration, input, t, open);
      return r.ok ? [] : r.problems.map((p) => `${p.field}:${p.rule}`);
    };
    expect(rules({ field: 'at', requestedValue: '2026-03-01T09:00', reason: 'wrong time' })).toEqual(['field:correctable-fields']);
    expect(rules({ field: 'type', requestedValue: 'OUT', reason: 'x' })).toEqual(['field:correctable-fields']);
    expect(rules({ field: 'employer', requestedValue: EMPLOYER_B, reason: '  ' })).toEqual(['reason:required']);
    expect(rules({ field: 'employer', requestedValue: '0403019262', reason: 'x' })).toEqual(['requestedValue:checksum']);
    expect(rules({ field: 'employer', requestedValue: EMPLOYER_A, reason: 'x' })).toEqual(['requestedValue:unchanged']);
    expect(rules({ field: 'declaration', requestedValue: 'IIIIIIIIIIIII', reason: 'x' })).toEqual(['requestedValue:alphabet']);
    expect(rules({ field: 'employer', requestedValue: EMPLOYER_B, reason: 'x' }, [{ field: 'employer', state: 'sent' }])).toEqual(['field:already-requested']);
    expect(rules({ field: 'employer', requestedValue: EMPLOYER_B, reason: 'x' }, [{ field: 'employer', state: 'refused' }])).toEqual([]);
  });

  it('moves draft -> sent -> accepted/refused only, and sends only within the window', () => {
    const a = registration.at;
    expect(checkTransition('draft', 'sent', a, now('2026-03-31T12:00'))).toBeNull();
    expect(checkTransition('draft', 'sent', a, now('2026-04-01T12:00'))?.rule).toBe('correction-window-30-days');
    expect(checkTransition('sent', 'accepted', a, now('2026-05-01T12:00'))).toBeNull();
    expect(checkTransition('sent', 'refused', a, now('2026-05-01T12:00'))).toBeNull();
    expect(checkTransition('draft', 'accepted', a, now('2026-03-02T12:00'))?.rule).toBe('state-transition');
    expect(checkTransition('accepted', 'sent', a, now('2026-03-02T12:00'))?.rule).toBe('state-transition');
    expect(checkTransition('draft', 'deleted', a, now('2026-03-02T12:00'))?.rule).toBe('enum');
  });
});

describe('export period', () => {
  it('allows 100 calendar days and refuses 101 naming the rule', () => {
    const ok = checkPeriod('2026-01-01', '2026-04-10');
    expect(ok.ok && ok.value.days).toBe(100);
    const refused = checkPeriod('2026-01-01', '2026-04-11');
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.problems[0]).toMatchObject({ field: 'to', rule: 'max-100-calendar-days' });
      expect(refused.problems[0]!.message).toContain('101 days');
    }
  });

  it('counts DST days as whole calendar days and bounds the period at site midnights', () => {
    const p = checkPeriod('2026-03-29', '2026-03-29');
    expect(p.ok && [p.value.fromUtc, p.value.toUtc]).toEqual(['2026-03-28T23:00:00Z', '2026-03-29T22:00:00Z']);
    const q = checkPeriod('2026-10-25', '2026-10-25');
    expect(q.ok && [q.value.fromUtc, q.value.toUtc]).toEqual(['2026-10-24T22:00:00Z', '2026-10-25T23:00:00Z']);
  });

  it('refuses bad dates and reversed periods', () => {
    const rules = (f?: string, t?: string) => { const r = checkPeriod(f, t); return r.ok ? [] : r.problems.map((p) => `${p.field}:${p.rule}`); };
    expect(rules(undefined, '2026-01-01')).toEqual(['from:required']);
    expect(rules('2026-02-30', '2026-03-01')).toEqual(['from:format']);
    expect(rules('2026-03-02', '2026-03-01')).toEqual(['to:order']);
  });
});

describe('export formats and NISS', () => {
  const row: RegistrationRecord = {
    seq: 1, tapId: 't1', terminalId: 'T1', siteId: 'S1', siteName: 'Tour, "Nord"', workerId: 'W1', workerName: '=cmd', ssin: '85073003328', limosaId: null,
    capacity: 'employee', type: 'IN', reason: 'work', at: at('2026-03-02T08:00'), atUtc: '2026-03-02T07:00:00Z', receivedAt: at('2026-03-02T08:00'),
    employerKind: 'enterprise', employerId: EMPLOYER_A, employerName: 'Net', declaration: DECLARATION, placeOfWork: '{}', onssState: 'created', onssId: 'X1',
  };
  const period = (() => { const p = checkPeriod('2026-03-01', '2026-03-31'); if (!p.ok) throw new Error(); return p.value; })();

  it('leaves the NISS out (column and values) unless the user may see it', () => {
    const hidden = exportRegistrations([row], { format: 'csv', canSeeNiss: false, period, filters: {} });
    expect(hidden.body).not.toContain('85073003328');
    expect(hidden.body.split('\r\n')[0]).not.toContain('ssin');
    const shown = exportRegistrations([row], { format: 'json', canSeeNiss: true, period, filters: {} });
    expect(JSON.parse(shown.body).registrations[0].ssin).toBe('85073003328');
    expect(JSON.parse(exportRegistrations([row], { format: 'json', canSeeNiss: false, period, filters: {} }).body).registrations[0]).not.toHaveProperty('ssin');
  });

  it('quotes CSV cells and neutralises spreadsheet formulas', () => {
    const csv = toCsv(['siteName', 'workerName'], [{ siteName: 'Tour, "Nord"', workerName: '=cmd' }]);
    expect(csv).toBe('siteName,workerName\r\n"Tour, ""Nord""",\'=cmd\r\n');
  });
});

describe('applicability (FAQ 3, 6, 10)', () => {
  const d = (amountEur: number, subcontractors: number, extra: Partial<Parameters<typeof decideApplicability>[0]> = {}) => decideApplicability({ amountEur, subcontractors, cleaning: true, ...extra });

  it('needs a declaration from 30,000 EUR without subcontractor', () => {
    expect(d(29_999.99, 0).declarationRequired).toMatchObject({ applies: false, rule: '30bis-30000-no-subcontractor' });
    expect(d(30_000, 0).declarationRequired).toMatchObject({ applies: true, rule: '30bis-30000-no-subcontractor' });
    expect(d(30_000, 0).ciao).toMatchObject({ applies: true, rule: 'ciao-declared-cleaning' });
    expect(d(29_999, 0).ciao).toMatchObject({ applies: false, rule: 'ciao-below-thresholds' });
  });

  it('needs a declaration from 5,000 EUR with one subcontractor, and at any amount with two or more', () => {
    expect(d(4_999, 1).declarationRequired).toMatchObject({ applies: false, rule: '30bis-5000-one-subcontractor' });
    expect(d(5_000, 1).declarationRequired).toMatchObject({ applies: true, rule: '30bis-5000-one-subcontractor' });
    expect(d(100, 2).declarationRequired).toMatchObject({ applies: true, rule: '30bis-two-or-more-subcontractors' });
    expect(d(100, 2).ciao.applies).toBe(true);
  });

  it('applies CIaO only to cleaning of buildings, and to a voluntary declaration', () => {
    expect(d(50_000, 0, { cleaning: false }).ciao).toMatchObject({ applies: false, rule: 'ciao-cleaning-only' });
    expect(d(50_000, 0, { movableOnly: true }).ciao).toMatchObject({ applies: false, rule: 'ciao-immovable-only' });
    expect(d(1_000, 0, { voluntaryDeclaration: true }).ciao).toMatchObject({ applies: true, rule: 'ciao-voluntary-declaration' });
  });

  it('applies Checkinatwork to other works from 500,000 EUR on the declaration', () => {
    expect(d(499_999, 0, { otherWorks: true }).checkinatwork).toMatchObject({ applies: false, rule: 'caw-500000' });
    expect(d(500_000, 0, { otherWorks: true }).checkinatwork).toMatchObject({ applies: true, rule: 'caw-500000' });
    expect(d(100_000, 0, { otherWorks: true, declarationTotalEur: 600_000 }).checkinatwork).toMatchObject({ applies: true, rule: 'caw-500000' });
    expect(d(600_000, 0).checkinatwork).toMatchObject({ applies: false, rule: 'caw-not-for-cleaning' });
    expect(d(1_000, 0, { otherWorks: true }).checkinatwork).toMatchObject({ applies: false, rule: 'caw-needs-declaration' });
  });

  it('takes a contract with no cleaning as other works by default: Checkinatwork from 500,000 EUR', () => {
    expect(d(600_000, 0, { cleaning: false }).checkinatwork).toMatchObject({ applies: true, rule: 'caw-500000' });
    expect(d(400_000, 0, { cleaning: false }).checkinatwork).toMatchObject({ applies: false, rule: 'caw-500000' });
    expect(d(600_000, 0, { cleaning: false, otherWorks: false }).checkinatwork).toMatchObject({ applies: false, rule: 'caw-not-for-cleaning' });
  });
});

describe('amounts as Belgians type them', () => {
  const read = (s: string) => parseEuroAmount(s);
  it('reads thousands with a dot or a space, cents after a comma, and a euro sign', () => {
    for (const [text, value] of [['30000', 30_000], ['30.000', 30_000], ['30 000', 30_000], ['30\u00a0000', 30_000], ['30.000,50', 30_000.5], ['30000,5', 30_000.5], ['1.234.567,89', 1_234_567.89], ['€ 30.000', 30_000], ['30.000 EUR', 30_000], ['29.999,99', 29_999.99], ['30.5', 30.5], ['0', 0]] as const) {
      expect(read(text), text).toEqual({ ok: true, value });
    }
  });

  it('refuses what could be read two ways, or is no amount, saying what to type', () => {
    const bad = read('30,000');
    expect(bad).toMatchObject({ ok: false, problem: { field: 'amount', rule: 'ambiguous-amount' } });
    expect(!bad.ok && bad.problem.message).toContain('30.000');
    for (const text of ['30,000.50', '30.0000', '3.00.000', 'lots', '-5', '30 00', '', '1e5']) {
      expect(read(text), text).toMatchObject({ ok: false, problem: { field: 'amount' } });
    }
  });
});
