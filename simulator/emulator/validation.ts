import { parseDeclarationNumber, parseEnterpriseNumber, parseForeignCompanyId, parseLimosaId, parseWorkerNumber } from '../../shared/identifiers/index.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import type { NewRegistration } from './store.ts';
import { ONSS_CAPACITY_FIELD, ONSS_CAPACITY_VALUES } from '../../gateway/onss/shapes.ts';

/**
 * Per-item checks of a registerInBulk item, the way the service refuses an item outright (as opposed to
 * remarks, which come later): identifiers with their check digits, the declaration number's format, the type,
 * the worker's capacity (the adapter's provisional code list), and a registration date that is not in the
 * future beyond a clock tolerance.
 */
export interface ItemError extends FieldProblem {
  /** Stable error code of the emulated service. */
  code: string;
}

const UTC_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
const CLIENT_REFERENCE_MAX = 24;

function err(code: string, field: string, rule: string, message: string): ItemError {
  return { code, field, rule, message: `${field}: ${message}` };
}

export function checkItem(
  item: unknown,
  index: number,
  options: { now: number; futureToleranceMs: number },
): { ok: true; value: NewRegistration } | { ok: false; clientReference: string | null; errors: ItemError[] } {
  const at = (f: string) => `items[${index}].${f}`;
  if (item === null || typeof item !== 'object' || Array.isArray(item)) {
    return { ok: false, clientReference: null, errors: [err('invalidItem', `items[${index}]`, 'type', 'must be an object')] };
  }
  const it = item as Record<string, unknown>;
  const errors: ItemError[] = [];
  let clientReference: string | null = null;
  if (it.clientReference !== undefined) {
    if (typeof it.clientReference !== 'string' || it.clientReference.length === 0 || it.clientReference.length > CLIENT_REFERENCE_MAX) {
      errors.push(err('invalidClientReference', at('clientReference'), 'max-length', `must be a string of 1 to ${CLIENT_REFERENCE_MAX} characters`));
    } else clientReference = it.clientReference;
  }

  let ssin: string | null = null;
  let limosaId: string | null = null;
  if (it.ssin !== undefined) {
    const r = parseWorkerNumber(String(it.ssin), at('ssin'));
    if (typeof it.ssin !== 'string' || !/^[0-9]{11}$/.test(it.ssin)) errors.push(err('invalidSsin', at('ssin'), 'format', 'must be 11 digits'));
    else if (!r.ok) errors.push({ code: 'invalidSsin', ...r.problem });
    else ssin = r.value.value;
  } else if (it.limosaId !== undefined) {
    const r = parseLimosaId(String(it.limosaId), at('limosaId'));
    if (!r.ok) errors.push({ code: 'invalidLimosaId', ...r.problem });
    else limosaId = r.value;
  } else {
    errors.push(err('missingSsin', at('ssin'), 'required', 'is required (or limosaId)'));
  }

  if (it.type !== 'IN' && it.type !== 'OUT') errors.push(err('invalidType', at('type'), 'enum', 'must be IN or OUT'));

  // FAQ 19: the worker's capacity on the workplace. Field and codes are the adapter's provisional ones.
  const capacity = it[ONSS_CAPACITY_FIELD];
  if (capacity === undefined) errors.push(err('missingCapacity', at(ONSS_CAPACITY_FIELD), 'required', `is required (one of ${ONSS_CAPACITY_VALUES.join(', ')})`));
  else if (typeof capacity !== 'string' || !ONSS_CAPACITY_VALUES.includes(capacity)) errors.push(err('invalidCapacity', at(ONSS_CAPACITY_FIELD), 'enum', `must be one of ${ONSS_CAPACITY_VALUES.join(', ')}`));

  let employerKind: 'enterprise' | 'foreign' = 'enterprise';
  let employerId = '';
  const employer = it.employer as Record<string, unknown> | undefined;
  if (!employer || typeof employer !== 'object') {
    errors.push(err('missingEmployer', at('employer'), 'required', 'is required ({enterpriseNumber} or {foreignVatNumber})'));
  } else if (typeof employer.enterpriseNumber === 'string') {
    const r = parseEnterpriseNumber(employer.enterpriseNumber, at('employer.enterpriseNumber'));
    if (!/^[0-9]{10}$/.test(employer.enterpriseNumber)) errors.push(err('invalidEnterpriseNumber', at('employer.enterpriseNumber'), 'format', 'must be 10 digits'));
    else if (!r.ok) errors.push({ code: 'invalidEnterpriseNumber', ...r.problem });
    else employerId = r.value;
  } else if (typeof employer.foreignVatNumber === 'string') {
    const r = parseForeignCompanyId(employer.foreignVatNumber, at('employer.foreignVatNumber'));
    if (!r.ok) errors.push({ code: 'invalidForeignVatNumber', ...r.problem });
    else {
      employerKind = 'foreign';
      employerId = r.value;
    }
  } else {
    errors.push(err('missingEmployer', at('employer'), 'required', 'needs enterpriseNumber or foreignVatNumber'));
  }

  let reference = '';
  if (typeof it.contractualRelationshipReference !== 'string') {
    errors.push(err('missingReference', at('contractualRelationshipReference'), 'required', 'is required (13 characters)'));
  } else {
    const r = parseDeclarationNumber(it.contractualRelationshipReference, at('contractualRelationshipReference'));
    if (!r.ok || r.value !== it.contractualRelationshipReference) {
      errors.push({ code: 'invalidReference', ...(r.ok ? { field: at('contractualRelationshipReference'), rule: 'format', message: `${at('contractualRelationshipReference')}: must be 13 upper-case letters (no I, O) and digits` } : r.problem) });
    } else reference = r.value;
  }

  let registrationDate = '';
  if (typeof it.registrationDate !== 'string' || !UTC_SECONDS.test(it.registrationDate) || Number.isNaN(Date.parse(it.registrationDate))) {
    errors.push(err('invalidRegistrationDate', at('registrationDate'), 'format', 'must be a UTC date-time ending in Z, e.g. 2026-03-02T07:15:00Z'));
  } else if (Date.parse(it.registrationDate) > options.now + options.futureToleranceMs) {
    errors.push(err('registrationDateInFuture', at('registrationDate'), 'future', `must not be more than ${Math.round(options.futureToleranceMs / 1000)} s in the future`));
  } else registrationDate = it.registrationDate;

  const place = it.placeOfWork as Record<string, unknown> | undefined;
  if (!place || typeof place !== 'object' || (place.address === undefined && place.coordinates === undefined)) {
    errors.push(err('missingPlaceOfWork', at('placeOfWork'), 'required', 'needs an address or coordinates'));
  } else if (place.coordinates !== undefined) {
    const c = place.coordinates as Record<string, unknown>;
    if (typeof c?.latitude !== 'number' || typeof c?.longitude !== 'number' || Math.abs(c.latitude) > 90 || Math.abs(c.longitude) > 180) {
      errors.push(err('invalidCoordinates', at('placeOfWork.coordinates'), 'range', 'needs numeric latitude (-90..90) and longitude (-180..180)'));
    }
  } else {
    const a = place.address as Record<string, unknown>;
    if (typeof a?.postCode !== 'string' || !/^[0-9]{4}$/.test(a.postCode) || typeof a.streetName !== 'string' || typeof a.municipalityName !== 'string') {
      errors.push(err('invalidAddress', at('placeOfWork.address'), 'format', 'needs postCode (4 digits), municipalityName and streetName'));
    }
  }

  if (errors.length > 0) return { ok: false, clientReference, errors };
  return {
    ok: true,
    value: {
      clientReference, ssin, limosaId, employerKind, employerId, reference,
      type: it.type as 'IN' | 'OUT', capacity: capacity as string, registrationDate, placeOfWork: place,
    },
  };
}
