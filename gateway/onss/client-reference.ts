import { createHash } from 'node:crypto';

/**
 * The client reference sent with each registration (ONSS allows at most 24 characters) is derived from the
 * tap id, deterministically, so the same tap always carries the same reference and a search by reference
 * after a crash tells whether ONSS already has it:
 * - a UUID tap id: base64url (no padding) of its 16 bytes: 22 characters, reversible;
 * - anything else: `h` + base64url of the first 16 bytes of its SHA-256: 23 characters.
 * base64url uses only A-Z a-z 0-9 - _, which needs no escaping in a query string.
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function clientReferenceFor(tapId: string): string {
  if (UUID.test(tapId)) return Buffer.from(tapId.replace(/-/g, ''), 'hex').toString('base64url');
  return `h${createHash('sha256').update(tapId, 'utf8').digest().subarray(0, 16).toString('base64url')}`;
}

/** The tap id back from a UUID-derived client reference (undefined for a hashed one). */
export function tapIdFromClientReference(ref: string): string | undefined {
  if (ref.length !== 22) return undefined;
  const hex = Buffer.from(ref, 'base64url').toString('hex');
  if (hex.length !== 32) return undefined;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
