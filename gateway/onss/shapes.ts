import { z } from 'zod';
import type { RegistrationRow } from '../store/registrations-schema.ts';
import type { Capacity } from '../../shared/registration.ts';

/**
 * Every ONSS PresenceRegistration REST shape the gateway uses, in one place. These shapes follow public
 * third-party client code and the SOAP model (see docs/onss.md): they are provisional, and this module is
 * the one to replace when the official specification is at hand.
 */
export const REGISTER_IN_BULK_PATH = '/REST/presenceRegistration/v1/presenceRegistrations/registerInBulk';
export const SEARCH_PATH = '/REST/presenceRegistration/v1/presenceRegistrations';
export const TOKEN_PATH = '/REST/oauth/v5/token';
export const MAX_ITEMS_PER_CALL = 200;
/**
 * The search's limits, from the SOAP contract (DOMAIN.md): a period is mandatory, a search reaches at most
 * 500 registrations, 50 a page. The REST names (`startDate`, `endDate`, `page` from 1, `pageSize` at most
 * 50, `total` = all that match) are provisional, as the emulator implements them (docs/onss.md).
 */
export const MAX_SEARCH_RESULTS = 500;
export const SEARCH_PAGE_SIZE = 50;

/**
 * The worker's capacity on the workplace, one of the seven items FAQ 19 says each registration carries. No
 * public code list exists for the REST field: its name (`capacity`) and these codes are provisional, ours,
 * defined here only (the emulator requires and checks them from this list). Replace both when the official
 * specification is at hand.
 */
export const ONSS_CAPACITY_FIELD = 'capacity';
export const ONSS_CAPACITY_CODES: Record<Capacity, string> = {
  employee: 'EMPLOYEE',
  'agency-worker': 'TEMPORARY_AGENCY_WORKER',
  'posted-worker': 'POSTED_WORKER',
  'self-employed': 'SELF_EMPLOYED',
  helper: 'HELPER',
  'team-leader': 'TEAM_LEADER',
  trainer: 'TRAINER',
  trainee: 'TRAINEE',
};
export const ONSS_CAPACITY_VALUES: readonly string[] = Object.values(ONSS_CAPACITY_CODES);

/**
 * The code a registration's capacity is sent as. A capacity the list does not know is sent as it is, so ONSS
 * refuses the item (recorded as not created, with its error) rather than the gateway guessing another one.
 */
export function onssCapacity(capacity: string): string {
  return (ONSS_CAPACITY_CODES as Record<string, string>)[capacity] ?? capacity;
}

export interface OnssItem {
  registrationDate: string;
  ssin?: string;
  limosaId?: string;
  type: 'IN' | 'OUT';
  /** Provisional (see ONSS_CAPACITY_CODES). */
  capacity: string;
  employer: { enterpriseNumber: string } | { foreignVatNumber: string };
  placeOfWork: unknown;
  contractualRelationshipReference: string;
  clientReference: string;
}

/** One row of our `registrations` table as an ONSS item. */
export function toOnssItem(row: RegistrationRow, clientReference: string): OnssItem {
  let placeOfWork: unknown;
  try {
    placeOfWork = JSON.parse(row.place_of_work);
  } catch {
    placeOfWork = null; // ONSS refuses the item, which is recorded as not created: nothing is lost silently.
  }
  return {
    registrationDate: row.at_utc,
    ...(row.ssin ? { ssin: row.ssin } : { limosaId: row.limosa_id ?? '' }),
    type: row.type,
    capacity: onssCapacity(row.capacity),
    employer: row.employer_kind === 'enterprise' ? { enterpriseNumber: row.employer_id } : { foreignVatNumber: row.employer_id },
    placeOfWork,
    contractualRelationshipReference: row.declaration,
    clientReference,
  };
}

export interface OnssError {
  code?: string;
  field?: string;
  rule?: string;
  message?: string;
  [k: string]: unknown;
}

/** What ONSS said about one item of a bulk call. */
export type ItemOutcome =
  | { kind: 'created'; id: string; validity: string; settled: boolean; remarks: string[] }
  | { kind: 'not-created'; errors: OnssError[] };

const createdSchema = z.object({
  createdPresenceRegistration: z.object({
    id: z.string().min(1),
    clientReference: z.string().optional(),
    validity: z.string().default('pending'),
    remarks: z.array(z.union([z.string(), z.object({ code: z.string().optional(), description: z.string().optional() }).passthrough()])).default([]),
  }).passthrough(),
});
const notCreatedSchema = z.object({
  notCreatedPresenceRegistration: z.object({
    clientReference: z.string().optional(),
    errors: z.array(z.record(z.string(), z.unknown())).default([]),
  }).passthrough(),
});
const bulkResponseSchema = z.object({ items: z.array(z.union([createdSchema, notCreatedSchema])) });

function remarkText(r: unknown): string {
  if (typeof r === 'string') return r;
  const o = r as { code?: string; description?: string };
  return o.description ?? o.code ?? JSON.stringify(r);
}

/**
 * Reads a 2xx registerInBulk answer. Undefined when it cannot be matched item by item with what was
 * sent (wrong count or shape): the caller must then treat the call as unanswered and reconcile.
 */
export function readBulkResponse(body: unknown, sent: OnssItem[]): ItemOutcome[] | undefined {
  const r = bulkResponseSchema.safeParse(body);
  if (!r.success || r.data.items.length !== sent.length) return undefined;
  const out: ItemOutcome[] = [];
  for (let i = 0; i < sent.length; i++) {
    const item = r.data.items[i]!;
    const echoed = 'createdPresenceRegistration' in item ? item.createdPresenceRegistration.clientReference : item.notCreatedPresenceRegistration.clientReference;
    if (echoed !== undefined && echoed !== sent[i]!.clientReference) return undefined;
    if ('createdPresenceRegistration' in item) {
      const c = item.createdPresenceRegistration;
      out.push({ kind: 'created', id: c.id, validity: c.validity, settled: isFinalValidity(c.validity), remarks: c.remarks.map(remarkText) });
    } else {
      out.push({ kind: 'not-created', errors: item.notCreatedPresenceRegistration.errors as OnssError[] });
    }
  }
  return out;
}

/** A registration as ONSS shows it in a search or a get by id. */
export interface OnssRegistration {
  id: string;
  clientReference?: string;
  validity: string;
  /** ONSS has run its checks: `validity` and `remarks` will not change any more. */
  settled: boolean;
  remarks: string[];
}

/** Validity values: ONSS says `pending` until its checks ran. */
function isFinalValidity(validity: string): boolean {
  return validity !== 'pending';
}

const registrationSchema = z.object({
  id: z.string(),
  clientReference: z.string().optional(),
  validity: z.string().default('pending'),
  remarks: z.array(z.unknown()).default([]),
}).passthrough();
const searchResponseSchema = z.object({ items: z.array(registrationSchema), total: z.number().int().min(0).optional() }).passthrough();

function toRegistration(r: z.output<typeof registrationSchema>): OnssRegistration {
  return { id: r.id, clientReference: r.clientReference, validity: r.validity, settled: isFinalValidity(r.validity), remarks: r.remarks.map(remarkText) };
}

export function readRegistration(body: unknown): OnssRegistration | undefined {
  const r = registrationSchema.safeParse(body);
  return r.success ? toRegistration(r.data) : undefined;
}

/** One page of a search: its registrations, and how many match in all (when ONSS says). */
export function readSearchResponse(body: unknown): { items: OnssRegistration[]; total?: number } | undefined {
  const r = searchResponseSchema.safeParse(body);
  return r.success ? { items: r.data.items.map(toRegistration), total: r.data.total } : undefined;
}

/** A period of registration dates, both ends included, as UTC instants `YYYY-MM-DDTHH:MM:SSZ`. */
export interface Period {
  from: string;
  to: string;
}

export function searchQuery(criteria: { clientReference?: string }, period: Period, page: number, pageSize = SEARCH_PAGE_SIZE): string {
  const q = new URLSearchParams();
  if (criteria.clientReference !== undefined) q.set('clientReference', criteria.clientReference);
  q.set('startDate', period.from);
  q.set('endDate', period.to);
  q.set('page', String(page));
  q.set('pageSize', String(pageSize));
  return `${SEARCH_PATH}?${q.toString()}`;
}

/** An RFC 9457 problem, as far as it can be read. */
export function readProblem(body: unknown): { type?: string; title?: string; detail?: string; status?: number } | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const b = body as Record<string, unknown>;
  return {
    type: typeof b.type === 'string' ? b.type : undefined,
    title: typeof b.title === 'string' ? b.title : undefined,
    detail: typeof b.detail === 'string' ? b.detail : undefined,
    status: typeof b.status === 'number' ? b.status : undefined,
  };
}
