import { fail, ok, type Checked } from '../problems.ts';

/**
 * Badge UIDs: ISO 14443 single, double or triple size (4, 7 or 10 bytes) in hex, any case, kept upper-case.
 * The MQTT tap schema, the site data and the console's forms all check with this one rule.
 */
export const BADGE_UID_PATTERN = /^(?:[0-9A-Fa-f]{8}|[0-9A-Fa-f]{14}|[0-9A-Fa-f]{20})$/;
export const BADGE_UID_RULE = 'must be a 4-, 7- or 10-byte UID in hex (8, 14 or 20 hex digits)';

/** The console's badge form checks with this in the browser (gateway/http/console-assets.ts serves the module). */
export function parseBadgeUid(input: string, field = 'uid'): Checked<string> {
  const v = (input ?? '').trim();
  return BADGE_UID_PATTERN.test(v) ? ok(v.toUpperCase()) : fail(field, 'format', BADGE_UID_RULE);
}
