import { z } from 'zod';
import type { RegistrationRow } from '../store/registrations-schema.ts';

/**
 * Every ONSS PresenceRegistration REST shape the gateway uses, in one place. These shapes follow public
 * third-party client code and the SOAP model (see docs/onss.md): they are provisional, and this module is
 * the one to replace when the official specification is at hand.
 */
export const REGISTER_IN_BULK_PATH = '/REST/presenceRegistration/v1/presenceRegistrations/registerInBulk';
export const SEARCH_PATH = '/REST/presenceRegistration/v1/presenceRegistrations';
export const TOKEN_PATH = '/REST/oauth/v5/token';
export const MAX_ITEMS_PER_CALL = 200;

export interface OnssItem {
  registrationDate: string;
  ssin?: string;
  limosaId?: string;
  type: 'IN' | 'OUT';
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
  | { kind: 'created'; id: string; validity: string; remarks: string[] }
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

export function remarkText(r: unknown): string {
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
      out.push({ kind: 'created', id: c.id, validity: c.validity, remarks: c.remarks.map(remarkText) });
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
  remarks: string[];
}

const registrationSchema = z.object({
  id: z.string(),
  clientReference: z.string().optional(),
  validity: z.string().default('pending'),
  remarks: z.array(z.unknown()).default([]),
}).passthrough();
const searchResponseSchema = z.object({ items: z.array(registrationSchema), total: z.number().optional() }).passthrough();

export function readRegistration(body: unknown): OnssRegistration | undefined {
  const r = registrationSchema.safeParse(body);
  return r.success ? { id: r.data.id, clientReference: r.data.clientReference, validity: r.data.validity, remarks: r.data.remarks.map(remarkText) } : undefined;
}

export function readSearchResponse(body: unknown): OnssRegistration[] | undefined {
  const r = searchResponseSchema.safeParse(body);
  return r.success ? r.data.items.map((i) => ({ id: i.id, clientReference: i.clientReference, validity: i.validity, remarks: i.remarks.map(remarkText) })) : undefined;
}

export function searchByClientReferenceQuery(clientReference: string): string {
  return `${SEARCH_PATH}?clientReference=${encodeURIComponent(clientReference)}&pageSize=50`;
}

/** Validity values: ONSS says `pending` until its checks ran. */
export function isFinalValidity(validity: string): boolean {
  return validity !== 'pending';
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
