import { z } from 'zod';
import { parseCompanyId, parseDeclarationNumber, parseLimosaId, parseWorkerNumber } from './identifiers/index.ts';
import type { CompanyId } from './identifiers/company.ts';
import { isOffsetIso } from './time.ts';
import { refineWith } from './schema.ts';

/**
 * The registration model: what the law asks for each IN or OUT (FAQ 19) and what the product keeps
 * beside it. A break is an OUT at its start and an IN at its end, with reason `break`.
 */
export const DIRECTIONS = ['IN', 'OUT'] as const;
export type Direction = (typeof DIRECTIONS)[number];

export const REASONS = ['work', 'break'] as const;
export type Reason = (typeof REASONS)[number];

/** The person's capacity on the workplace. No public code list exists; these are the cases the law names. */
export const CAPACITIES = ['employee', 'agency-worker', 'posted-worker', 'self-employed', 'helper', 'team-leader', 'trainer', 'trainee'] as const;
export type Capacity = (typeof CAPACITIES)[number];

export const addressSchema = z.object({
  postCode: z.string().regex(/^[0-9]{4}$/, 'must be a 4-digit Belgian post code'),
  municipalityName: z.string().trim().min(1, 'must not be empty').max(100, 'must have at most 100 characters'),
  streetName: z.string().trim().min(1, 'must not be empty').max(200, 'must have at most 200 characters'),
  houseNumber: z.string().trim().min(1, 'must not be empty').max(10, 'must have at most 10 characters'),
  boxNumber: z.string().trim().max(10, 'must have at most 10 characters').optional(),
});
export type Address = z.infer<typeof addressSchema>;

export const coordinatesSchema = z.object({
  latitude: z.number().min(-90, 'must be at least -90').max(90, 'must be at most 90'),
  longitude: z.number().min(-180, 'must be at least -180').max(180, 'must be at most 180'),
});
export type Coordinates = z.infer<typeof coordinatesSchema>;

/** Place of work: an address, coordinates, or both (GPS is optional, a manual address is allowed: FAQ 30). */
export const placeOfWorkSchema = z
  .object({ address: addressSchema.optional(), coordinates: coordinatesSchema.optional() })
  .refine((p) => p.address !== undefined || p.coordinates !== undefined, { message: 'needs an address or coordinates' });
export type PlaceOfWork = z.infer<typeof placeOfWorkSchema>;

const companyIdSchema = z.string().transform(refineWith((v, field) => parseCompanyId(v, field))) as unknown as z.ZodType<CompanyId, string>;

/** A NISS or BIS number in any printed form, normalised to its 11 digits. */
const workerNumberSchema = z.string().transform(
  refineWith((v, f) => {
    const r = parseWorkerNumber(v, f);
    return r.ok ? { ok: true as const, value: r.value.value } : r;
  }),
);

const declarationNumberSchema = z.string().transform(refineWith((v, f) => parseDeclarationNumber(v, f)));
const limosaIdSchema = z.string().transform(refineWith((v, f) => parseLimosaId(v, f)));

/**
 * A registration as the gateway keeps it, after enrichment of a tap: the instant on the terminal's
 * clock with its offset, the worker, the capacity, the employer, the declaration, the place of work.
 */
export const registrationSchema = z.object({
  tapId: z.string().uuid('must be a UUID'),
  type: z.enum(DIRECTIONS, 'must be IN or OUT'),
  reason: z.enum(REASONS, 'must be work or break'),
  at: z.string().refine(isOffsetIso, 'must be ISO 8601 with a time-zone offset'),
  ssin: workerNumberSchema.optional(),
  limosaId: limosaIdSchema.optional(),
  capacity: z.enum(CAPACITIES, `must be one of ${CAPACITIES.join(', ')}`),
  employer: companyIdSchema,
  declaration: declarationNumberSchema,
  placeOfWork: placeOfWorkSchema,
}).refine((r) => r.ssin !== undefined || r.limosaId !== undefined, { message: 'needs ssin or limosaId', path: ['ssin'] });

export type Registration = z.output<typeof registrationSchema>;
