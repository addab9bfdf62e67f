import { fail, ok, type Checked } from '../../shared/problems.ts';

/**
 * Does a contract need a declaration of works, and do CIaO and Checkinatwork apply? (FAQ 3, 4, 6, 10;
 * art. 30bis of the law of 27/06/1969). Each answer names the rule that decided it.
 */
export interface ApplicabilityInput {
  /** Value of the main contract (cleaning and non-cleaning immovable works), EUR excl. VAT. */
  amountEur: number;
  subcontractors: number;
  /** Maintenance or cleaning of immovable property (buildings) under the contract. */
  cleaning: boolean;
  /** Other immovable works (construction...) under the same declaration. Default: no when there is cleaning, yes when there is none. */
  otherWorks?: boolean;
  /** Sum of the main contracts on the same declaration, for Checkinatwork. Default: the amount. */
  declarationTotalEur?: number;
  /** Only movable goods are cleaned (trains, cars, planes): outside CIaO (FAQ 15). */
  movableOnly?: boolean;
  /** A declaration is filed voluntarily below the thresholds (FAQ 4). */
  voluntaryDeclaration?: boolean;
}

export interface Decision {
  applies: boolean;
  rule: string;
  explanation: string;
}

export interface Applicability {
  declarationRequired: Decision;
  ciao: Decision;
  checkinatwork: Decision;
}

const THRESHOLDS = {
  noSubcontractorEur: 30_000,
  oneSubcontractorEur: 5_000,
  checkinatworkEur: 500_000,
} as const;

function declarationRule(amount: number, subs: number): Decision {
  if (subs >= 2) return { applies: true, rule: '30bis-two-or-more-subcontractors', explanation: `with ${subs} subcontractors a declaration of works is required whatever the amount` };
  if (subs === 1) {
    return amount >= THRESHOLDS.oneSubcontractorEur
      ? { applies: true, rule: '30bis-5000-one-subcontractor', explanation: `${amount} EUR >= 5,000 EUR with one subcontractor: a declaration of works is required` }
      : { applies: false, rule: '30bis-5000-one-subcontractor', explanation: `${amount} EUR < 5,000 EUR with one subcontractor: no declaration of works is required` };
  }
  return amount >= THRESHOLDS.noSubcontractorEur
    ? { applies: true, rule: '30bis-30000-no-subcontractor', explanation: `${amount} EUR >= 30,000 EUR without subcontractor: a declaration of works is required` }
    : { applies: false, rule: '30bis-30000-no-subcontractor', explanation: `${amount} EUR < 30,000 EUR without subcontractor: no declaration of works is required` };
}

/**
 * An amount in euros as Belgians type it: `30000`, `30.000` or `30 000` (thousands), `30.000,50` or
 * `30000,50` (cents after a comma), with or without `€`/`EUR`. A dot followed by one or two digits is a
 * decimal point (`30.5`). Anything that could be read two ways is refused with what to type instead:
 * `30,000` is thirty thousand to some and thirty to others, and reading it wrongly decides whether a
 * declaration of works (and so CIaO) is required.
 */
export function parseEuroAmount(input: string, field = 'amount'): Checked<number> {
  const text = String(input ?? '')
    .replace(/[\u00A0\u202F]/g, ' ')
    .trim()
    .replace(/^(€|EUR)\s*/i, '')
    .replace(/\s*(€|EUR)$/i, '')
    .trim();
  const toNumber = (digits: string) => Number(digits);
  let n: number | undefined;
  if (/^\d{1,3}( \d{3})+(,\d{1,2})?$/.test(text)) n = toNumber(text.replace(/ /g, '').replace(',', '.'));
  else if (/^\d{1,3}(\.\d{3})+(,\d{1,2})?$/.test(text)) n = toNumber(text.replace(/\./g, '').replace(',', '.'));
  else if (/^\d+(,\d{1,2})?$/.test(text)) n = toNumber(text.replace(',', '.'));
  else if (/^\d+\.\d{1,2}$/.test(text)) n = toNumber(text);
  else if (/^\d{1,3}(,\d{3})+$/.test(text)) {
    return fail(field, 'ambiguous-amount', `${JSON.stringify(input)} could be read two ways: write ${text.replace(/,/g, '.')} (or ${text.replace(/,/g, '')}) for ${text.replace(/,/g, '')} EUR, or ${text.split(',')[0]},${text.split(',')[1]!.slice(0, 2)} for cents`);
  }
  if (n === undefined || !Number.isFinite(n)) {
    return fail(field, 'amount-format', `must be an amount in EUR as 30000, 30.000, 30 000 or 30.000,50 (cents after a comma), got ${JSON.stringify(input)}`);
  }
  return ok(n);
}

export function decideApplicability(input: ApplicabilityInput): Applicability {
  const declarationRequired = declarationRule(input.amountEur, input.subcontractors);
  const declared = declarationRequired.applies || input.voluntaryDeclaration === true;

  let ciao: Decision;
  if (!input.cleaning) ciao = { applies: false, rule: 'ciao-cleaning-only', explanation: 'CIaO covers only maintenance or cleaning of immovable property; there is none under this contract' };
  else if (input.movableOnly) ciao = { applies: false, rule: 'ciao-immovable-only', explanation: 'cleaning movable goods (trains, cars, planes...) is outside CIaO (FAQ 15)' };
  else if (declarationRequired.applies) ciao = { applies: true, rule: 'ciao-declared-cleaning', explanation: `cleaning under a contract that needs a declaration of works (${declarationRequired.rule}): every cleaner registers IN and OUT in CIaO` };
  else if (input.voluntaryDeclaration) ciao = { applies: true, rule: 'ciao-voluntary-declaration', explanation: 'below the thresholds, but a declaration of works was filed voluntarily, so the cleaning is registered in CIaO (FAQ 4)' };
  else ciao = { applies: false, rule: 'ciao-below-thresholds', explanation: `no declaration of works is required (${declarationRequired.rule}); CIaO can still be used by filing one voluntarily (FAQ 4)` };

  const total = input.declarationTotalEur ?? input.amountEur;
  // A contract with no cleaning is about other immovable works unless said otherwise: that is what
  // Checkinatwork covers.
  const otherWorks = input.otherWorks ?? !input.cleaning;
  let checkinatwork: Decision;
  if (!declared) checkinatwork = { applies: false, rule: 'caw-needs-declaration', explanation: 'Checkinatwork only applies to works under a declaration of works' };
  else if (!otherWorks) checkinatwork = { applies: false, rule: 'caw-not-for-cleaning', explanation: 'Checkinatwork covers 30bis works other than cleaning; cleaners register in CIaO only, and their first IN of the day also counts for Checkinatwork (FAQ 8, 9)' };
  else if (total >= THRESHOLDS.checkinatworkEur) checkinatwork = { applies: true, rule: 'caw-500000', explanation: `main contracts on the declaration total ${total} EUR >= 500,000 EUR: workers doing non-cleaning works register in Checkinatwork (FAQ 6)` };
  else checkinatwork = { applies: false, rule: 'caw-500000', explanation: `main contracts on the declaration total ${total} EUR < 500,000 EUR: Checkinatwork does not apply` };

  return { declarationRequired, ciao, checkinatwork };
}
