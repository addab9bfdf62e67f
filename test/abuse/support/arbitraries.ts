import fc from 'fast-check';
import { makeEnterpriseNumber } from '../../../shared/identifiers/make.ts';
import { toOffsetIso } from '../../../shared/time.ts';
import type { TapMessage } from '../../../shared/mqtt/payloads.ts';

/**
 * Generators for the abuse suite: valid taps, taps with exactly one field broken (and which field the
 * refusal must name), and raw garbage. Validity here is stated independently of the product's schema.
 */

const VALID_EMPLOYERS = [makeEnterpriseNumber('04030192'), makeEnterpriseNumber('04287594'), 'FR40123456789'];

const hex = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: n, maxLength: n });
const validBadge = fc.oneof(hex(8), hex(14), hex(20));
/** Instants from 2000 to 2099, in the site's wall clock with its offset. */
const validInstant = fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2099, 11, 31) }).map((ms) => toOffsetIso(new Date(ms)));

export const validTap: fc.Arbitrary<TapMessage & { id: string }> = fc
  .record(
    {
      v: fc.constant(1 as const),
      id: fc.uuid({ version: 4 }),
      seq: fc.maxSafeNat(),
      badge: validBadge,
      direction: fc.constantFrom('IN' as const, 'OUT' as const),
      reason: fc.constantFrom('work' as const, 'break' as const),
      at: validInstant,
      localAt: validInstant,
      employer: fc.constantFrom(...VALID_EMPLOYERS),
    },
    { requiredKeys: ['v', 'id', 'seq', 'badge', 'direction', 'reason', 'at'] },
  )
  .map((t) => t as TapMessage & { id: string });

const notString = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }), fc.object({ maxDepth: 1, maxKeys: 2 }));

/** Strings that are not a UUID (8-4-4-4-12 hex with a version and variant). */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const BADGE = /^(?:[0-9A-Fa-f]{8}|[0-9A-Fa-f]{14}|[0-9A-Fa-f]{20})$/;

/** For each tap field, values that must be refused (and so name that field). */
const INVALID_VALUES: Record<string, fc.Arbitrary<unknown>> = {
  id: fc.oneof(notString, fc.string({ maxLength: 70 }).filter((s) => !UUID.test(s)), fc.constantFrom('', '0000-0000', 'urn:uuid:1', '{0b7e}')),
  seq: fc.oneof(fc.integer({ max: -1 }), fc.double({ noNaN: true }).filter((d) => !Number.isInteger(d)), fc.constantFrom(2 ** 53, 1e300, '12', null, true, '0')),
  badge: fc.oneof(notString, fc.string({ maxLength: 24 }).filter((s) => !BADGE.test(s)), hex(9), hex(16), fc.constantFrom('', 'GG000001', 'AA00000', 'AA 00 00 01')),
  direction: fc.oneof(notString, fc.string({ maxLength: 8 }).filter((s) => s !== 'IN' && s !== 'OUT'), fc.constantFrom('in', 'out', 'BREAK', 'IN ', '')),
  reason: fc.oneof(notString, fc.string({ maxLength: 8 }).filter((s) => s !== 'work' && s !== 'break'), fc.constantFrom('Work', 'lunch', '')),
  at: fc.oneof(
    notString,
    fc.constantFrom('2026-03-02T07:15:00', '2026-03-02', '2026-13-02T07:15:00+01:00', '2026-02-30T07:15:00+01:00', '2026-03-02T24:00:00+01:00', '2026-03-02T07:60:00Z', 'yesterday', '', '1772432100000'),
    fc.string({ maxLength: 30 }).filter((s) => !/^\d{4}-\d{2}-\d{2}T/.test(s)),
  ),
  localAt: fc.oneof(notString, fc.constantFrom('2026-03-02 07:15', 'now', '', '2026-03-02T07:15:00+25:00x')),
  employer: fc.oneof(notString, fc.constantFrom('0403019262', '0403.019.26', 'BE', '', '123', 'BE0403019262', '!!', 'BE 0403 019 262')),
};
const REQUIRED_FIELDS = ['id', 'seq', 'badge', 'direction', 'reason', 'at'] as const;

export type BrokenTap =
  | { kind: 'field'; payload: Record<string, unknown>; field: string; id?: string }
  | { kind: 'missing'; payload: Record<string, unknown>; field: string; id?: string }
  | { kind: 'unknown-key'; payload: Record<string, unknown>; field: string; id?: string }
  | { kind: 'version'; payload: Record<string, unknown>; field: 'v'; id?: string };

/** The id the gateway can read back from a payload to address its refusal (a string of at most 64). */
export function readableId(payload: Record<string, unknown>): string | undefined {
  return typeof payload.id === 'string' && payload.id.length <= 64 ? payload.id : undefined;
}

/** A valid tap with one thing wrong, and the field the refusal must name. */
export const brokenTap: fc.Arbitrary<BrokenTap> = fc.oneof(
  fc.tuple(validTap, fc.constantFrom(...Object.keys(INVALID_VALUES))).chain(([tap, field]) =>
    INVALID_VALUES[field]!.map((bad) => {
      const payload: Record<string, unknown> = { ...tap, [field]: bad };
      return { kind: 'field' as const, payload, field, id: readableId(payload) };
    }),
  ),
  fc.tuple(validTap, fc.constantFrom(...REQUIRED_FIELDS)).map(([tap, field]) => {
    const payload: Record<string, unknown> = { ...tap };
    delete payload[field];
    return { kind: 'missing' as const, payload, field, id: readableId(payload) };
  }),
  fc.tuple(validTap, fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !['v', 'id', 'seq', 'badge', 'direction', 'reason', 'at', 'localAt', 'employer', '__proto__'].includes(k)), fc.jsonValue({ maxDepth: 1 })).map(([tap, key, value]) => {
    const payload: Record<string, unknown> = { ...tap, [key]: value };
    return { kind: 'unknown-key' as const, payload, field: key, id: readableId(payload) };
  }),
  fc.tuple(validTap, fc.oneof(fc.integer().filter((n) => n !== 1), fc.constantFrom('1', null, 1.5, true, undefined))).map(([tap, v]) => {
    const payload: Record<string, unknown> = { ...tap, v };
    if (v === undefined) delete payload.v;
    return { kind: 'version' as const, payload, field: 'v' as const, id: readableId(payload) };
  }),
);

/** Bytes that are not a JSON object: binary, text, JSON scalars and arrays, truncated taps. */
export const notAnObject: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)).filter((b) => !isJsonObject(b)),
  fc.string({ maxLength: 200 }).map((s) => Buffer.from(s)).filter((b) => !isJsonObject(b)),
  fc.jsonValue({ maxDepth: 2 }).filter((v) => v === null || typeof v !== 'object' || Array.isArray(v)).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
  fc.tuple(validTap, fc.nat()).map(([tap, cut]) => {
    const text = JSON.stringify(tap);
    return Buffer.from(text.slice(0, cut % text.length));
  }),
);

/**
 * More than the 4 KiB a terminal may send, but within the MQTT frame limit: a whole tap with padding (its id
 * can be read, so the rejection names it) or one cut short (no id can be read).
 */
export const tooLarge: fc.Arbitrary<Buffer> = fc.tuple(validTap, fc.integer({ min: 4097, max: 16_000 }), fc.boolean()).map(([tap, size, whole]) => {
  const text = JSON.stringify({ ...tap, pad: 'x'.repeat(size) });
  return Buffer.from(whole ? text : text.slice(0, -2));
});

/** The id a gateway can read from a payload: a string of at most 64 characters in a JSON object's `id`. */
export function idOf(b: Buffer): string | undefined {
  try {
    const v = JSON.parse(b.toString('utf8')) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? readableId(v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function isJsonObject(b: Buffer): boolean {
  try {
    const v: unknown = JSON.parse(b.toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v);
  } catch {
    return false;
  }
}

/** Fixed seed from the environment so a failure can be replayed (`FC_SEED=... npx vitest run test/abuse`). */
export const FC_SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined;
export function runs(n: number): fc.Parameters<unknown> {
  return { numRuns: n, ...(FC_SEED !== undefined ? { seed: FC_SEED } : {}) };
}
