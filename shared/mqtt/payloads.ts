import { z } from 'zod';
import { DIRECTIONS, REASONS } from '../registration.ts';
import { isOffsetIso } from '../time.ts';
import { parseCompanyId } from '../identifiers/company.ts';
import { BADGE_UID_PATTERN, BADGE_UID_RULE } from '../identifiers/badge.ts';
import { refineWith, problemsFromZod } from '../schema.ts';
import type { FieldProblem } from '../problems.ts';
import { releaseVersionSchema, signedManifestSchema } from '../release/manifest.ts';

/**
 * MQTT API v1 payloads (JSON). Terminal-published payloads are limited to 4 KiB and carry `"v":1`;
 * an unknown version is refused with a reason, never guessed at.
 */
export const API_VERSION = 1;
export const MAX_TERMINAL_PAYLOAD_BYTES = 4096;

const offsetIso = z.string().refine(isOffsetIso, 'must be ISO 8601 with a date, a time and an offset, e.g. 2026-03-02T07:15:00.000+01:00');

/** Badge UID as hex: 4, 7 or 10 bytes (ISO 14443 single, double, triple size), any case; kept upper-case. */
export const badgeUidSchema = z
  .string()
  .regex(BADGE_UID_PATTERN, BADGE_UID_RULE)
  .transform((s) => s.toUpperCase());

/**
 * The Secure Unique NFC message an NTAG 424 DNA badge answered to this read: its encrypted PICCData (UID and
 * read counter) and SDMMAC, as hex. The terminal only passes it on; the gateway verifies it. Kept upper-case.
 */
export const tapSunSchema = z.strictObject({
  picc: z.string().regex(/^[0-9A-Fa-f]{32}$/, 'must be the 16-byte encrypted PICCData in hex (32 hex digits)').transform((s) => s.toUpperCase()),
  mac: z.string().regex(/^[0-9A-Fa-f]{16}$/, 'must be the 8-byte SDMMAC in hex (16 hex digits)').transform((s) => s.toUpperCase()),
});
export type TapSun = z.input<typeof tapSunSchema>;

export const tapSchema = z.strictObject({
  v: z.literal(API_VERSION),
  id: z.string().uuid('must be a UUID'),
  seq: z.number().int('must be an integer').min(0, 'must be 0 or more').max(Number.MAX_SAFE_INTEGER),
  badge: badgeUidSchema,
  direction: z.enum(DIRECTIONS, 'must be IN or OUT'),
  reason: z.enum(REASONS, 'must be work or break'),
  at: offsetIso,
  /** The terminal's raw clock reading when it corrected `at` for a measured skew. */
  localAt: offsetIso.optional(),
  employer: z.string().transform(refineWith((v, f) => parseCompanyId(v, f))).optional(),
  /** Present when the badge is an NTAG 424 DNA that signed this read. */
  sun: tapSunSchema.optional(),
});
export type Tap = z.output<typeof tapSchema>;
/** What a terminal writes before validation (employer as typed). */
export type TapMessage = z.input<typeof tapSchema>;

const ACK_STATUSES = ['stored', 'rejected'] as const;
export const REJECT_REASONS = ['too-large', 'not-json', 'unsupported-version', 'invalid-field', 'not-authorised'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export const ackSchema = z.object({
  id: z.string(),
  status: z.enum(ACK_STATUSES),
  reason: z.enum(REJECT_REASONS).optional(),
  /** For rejections: which field broke which rule. */
  problems: z.array(z.object({ field: z.string(), rule: z.string(), message: z.string() })).optional(),
  display: z.string().max(32).optional(),
  now: offsetIso,
});
export type Ack = z.infer<typeof ackSchema>;

export const LANGUAGES = ['fr', 'nl', 'de', 'en'] as const;
export type Language = (typeof LANGUAGES)[number];

/** A worker's shift state as the gateway knows it (added compatibly to v1; the gateway owns it). */
export const SHIFT_STATES = ['working', 'break', 'off'] as const;
export type ShiftStateName = (typeof SHIFT_STATES)[number];
/** How long a `working` or `break` state lasts without a work OUT before it lapses (treated as `off`). */
export const DEFAULT_MAX_SHIFT_HOURS = 16;
export const MAX_SHIFT_HOURS_RANGE = { min: 1, max: 48 } as const;

export const terminalConfigSchema = z.object({
  v: z.literal(API_VERSION),
  terminalId: z.string(),
  site: z.object({ id: z.string(), name: z.string() }),
  language: z.enum(LANGUAGES),
  debounceSeconds: z.number().int().min(0).max(3600),
  buttons: z.object({
    /** Which direction buttons the panel offers. */
    enabled: z.array(z.enum(['IN', 'OUT', 'BREAK'])),
    /** How long a pressed button arms the next tap. */
    armSeconds: z.number().int().min(1).max(60),
  }),
  /** Clock skew above which the terminal warns. */
  maxClockSkewMs: z.number().int().min(0),
  serverTime: offsetIso,
  /** How long the panel shows a tap's result; absent: the terminal's own setting. (Added compatibly to v1.) */
  feedbackSeconds: z.number().min(0.5).max(30).optional(),
  /** Version of these settings; a terminal that knows it reports it back in its status once applied. (Added compatibly to v1.) */
  configVersion: z.number().int().min(0).optional(),
  /**
   * Hours after which a `working` or `break` state with no work OUT is treated as `off` (the shift lapsed).
   * Absent: 16. (Added compatibly to v1.)
   */
  maxShiftHours: z.number().int().min(MAX_SHIFT_HOURS_RANGE.min).max(MAX_SHIFT_HOURS_RANGE.max).optional(),
  /**
   * A release the terminal is offered (see `updateOfferSchema`). Kept loose here and checked by the terminal's
   * update agent on its own, so that an offer this terminal cannot read never costs it its site settings.
   * (Added compatibly to v1.)
   */
  update: z.unknown().optional(),
});
export type TerminalConfig = z.infer<typeof terminalConfigSchema>;

/**
 * `state` since `since` (the instant of the tap that set it, or the lapse), last set at `site`. `rev` is a
 * per-worker revision that only grows: a terminal applies a state only when its `rev` is higher than the
 * one it holds.
 */
export const shiftStateSchema = z.object({
  state: z.enum(SHIFT_STATES),
  since: offsetIso,
  site: z.string(),
  rev: z.number().int().min(0),
});
export type ShiftState = z.infer<typeof shiftStateSchema>;

/**
 * A release offered to a terminal, in its retained config: the signed manifest (version, SHA-256, size, the
 * publisher's Ed25519 signature) and where to download the bundle on the gateway's HTTPS listener. `rollout`
 * names this offer: a terminal that rolled an offer back does not take the same one again.
 */
export const updateOfferSchema = z.strictObject({
  version: releaseVersionSchema,
  rollout: z.number().int().min(1),
  /** Path of the bundle on the gateway's HTTPS (pairing) listener. */
  bundle: z.string().regex(/^\/fleet\/v1\/releases\/[^/?#]+\/bundle$/, 'must be /fleet/v1/releases/{version}/bundle'),
  signed: signedManifestSchema,
});
export type UpdateOffer = z.infer<typeof updateOfferSchema>;

const UPDATE_STATES = ['downloading', 'installing', 'restarting', 'running', 'failed', 'rolled-back'] as const;

/** What a terminal says about the offer it was given, in its status. */
export const updateReportSchema = z.strictObject({
  version: z.string().max(64),
  rollout: z.number().int().min(0).optional(),
  state: z.enum(UPDATE_STATES),
  /** Why it failed or rolled back. */
  reason: z.string().max(300).optional(),
});
export type UpdateReport = z.infer<typeof updateReportSchema>;

export const rosterEntrySchema = z.object({
  name: z.string().max(16 * 2),
  /** Employer choices, in the order the LCD lists them; one entry means no choice to make. */
  employers: z.array(z.object({ id: z.string(), name: z.string() })),
  /** The worker's shift state when the roster was published; absent: no state known (treat as off). */
  shift: shiftStateSchema.optional(),
});
export const rosterSchema = z.object({
  v: z.literal(API_VERSION),
  updatedAt: offsetIso,
  badges: z.record(z.string(), rosterEntrySchema),
});
export type Roster = z.infer<typeof rosterSchema>;
export type RosterEntry = z.infer<typeof rosterEntrySchema>;

/** One badge's new shift state in a `shifts` message. */
export const shiftChangeSchema = shiftStateSchema.extend({ badge: badgeUidSchema });
export type ShiftChange = z.infer<typeof shiftChangeSchema>;

/**
 * `ciao/v1/terminals/{tid}/shifts` (gateway -> terminal, QoS 1, not retained): the shift states a commit
 * changed, for the badges of this terminal's roster.
 */
export const shiftsMessageSchema = z.object({
  v: z.literal(API_VERSION),
  badges: z.array(shiftChangeSchema),
});
export type ShiftsMessage = z.infer<typeof shiftsMessageSchema>;

/**
 * Why a terminal cannot register taps (FAQ 31): no badge reader, no site configured (no gateway config and
 * none in its file), or an outbox it cannot write. Its panel then sends workers to the declaration's CIaO QR code.
 */
export const CANNOT_REGISTER_REASONS = ['no-reader', 'no-site-config', 'outbox-unwritable'] as const;
export type CannotRegisterReason = (typeof CANNOT_REGISTER_REASONS)[number];

export const statusSchema = z.strictObject({
  state: z.enum(['online', 'offline']),
  at: offsetIso,
  version: z.string().max(64).optional(),
  queued: z.number().int().min(0).optional(),
  clockSkewMs: z.number().int().optional(),
  /** The `configVersion` of the config the terminal applied (sent only when its config carried one). */
  configVersion: z.number().int().min(0).optional(),
  /** Where the update it was offered stands (sent only when its config carried an offer). */
  update: updateReportSchema.optional(),
  /**
   * Present (never empty) while the terminal cannot register taps, with why; the gateway journals it.
   * (Added compatibly to v1: sent only in that case, so a gateway that does not know it misses only those reports.)
   */
  cannotRegister: z.array(z.enum(CANNOT_REGISTER_REASONS)).min(1).max(CANNOT_REGISTER_REASONS.length).optional(),
});
export type TerminalStatus = z.infer<typeof statusSchema>;

export type Decoded<T> =
  | { ok: true; value: T }
  | { ok: false; reason: RejectReason; problems: FieldProblem[]; /** The tap id, when one could be read: rejections are acked by id. */ id?: string };

/**
 * Decodes a payload a terminal published: size limit, JSON, version, then the schema.
 * Never throws, whatever the bytes.
 */
function decodeTerminalPayload<S extends z.ZodType>(schema: S, payload: Uint8Array | string, opts: { versioned: boolean }): Decoded<z.output<S>> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
  const text = () => (typeof payload === 'string' ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'));
  if (size > MAX_TERMINAL_PAYLOAD_BYTES) {
    // The broker's packet limit bounds what is parsed here. With the id, the terminal can match the
    // rejection and drop the tap; without it, it would send the tap again forever.
    return { ok: false, reason: 'too-large', id: readableId(parseJson(text())), problems: [{ field: '(payload)', rule: 'max-size', message: `(payload): must be at most ${MAX_TERMINAL_PAYLOAD_BYTES} bytes, got ${size}` }] };
  }
  const data = parseJson(text());
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return { ok: false, reason: 'not-json', problems: [{ field: '(payload)', rule: 'json', message: '(payload): must be a JSON object' }] };
  }
  const record = data as Record<string, unknown>;
  const id = readableId(record);
  if (opts.versioned && record.v !== API_VERSION) {
    return { ok: false, reason: 'unsupported-version', id, problems: [{ field: 'v', rule: 'version', message: `v: version ${JSON.stringify(record.v)} is not supported; this gateway speaks v${API_VERSION}` }] };
  }
  const r = schema.safeParse(data);
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, reason: 'invalid-field', id, problems: problemsFromZod(r.error, data) };
}

/** JSON.parse that answers undefined instead of throwing. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A tap id the terminal could match an ack to: a string of at most 64 characters in an object's `id`. */
function readableId(data: unknown): string | undefined {
  const id = data !== null && typeof data === 'object' ? (data as Record<string, unknown>).id : undefined;
  return typeof id === 'string' && id.length <= 64 ? id : undefined;
}

export function decodeTap(payload: Uint8Array | string): Decoded<Tap> {
  return decodeTerminalPayload(tapSchema, payload, { versioned: true });
}

export function decodeStatus(payload: Uint8Array | string): Decoded<TerminalStatus> {
  return decodeTerminalPayload(statusSchema, payload, { versioned: false });
}
