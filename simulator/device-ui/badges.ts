import { z } from 'zod';
import { InvalidInputError } from '../../shared/problems.ts';
import { parseWith } from '../../shared/schema.ts';
import { DEMO_UNKNOWN_BADGE, DEMO_WORKERS } from '../world/seed-data.ts';
import { readJsonFile } from '../../shared/json-file.ts';

/**
 * The badges the interactive simulator offers, one key each. The keys of the buttons and of the world
 * (network, clock, reader, quit) are reserved so a badge can never shadow them.
 */
export interface BadgeKey {
  /** A single character typed to present the badge. */
  key: string;
  label: string;
  /** Badge UID in hex: 4, 7 or 10 bytes. */
  uid: string;
}

const RESERVED_KEYS = ['i', 'o', 'b', 'n', 's', 'r', '+', '-', 'q'] as const;

const badgeSchema = z.strictObject({
  key: z
    .string()
    .length(1, 'must be a single character')
    .refine((k) => !(RESERVED_KEYS as readonly string[]).includes(k.toLowerCase()), `must not be one of the reserved keys ${RESERVED_KEYS.join(' ')}`)
    .refine((k) => k >= ' ' && k !== '\x7f', 'must be a printable character'),
  label: z.string().min(1, 'must not be empty').max(24, 'must be at most 24 characters'),
  uid: z
    .string()
    .regex(/^(?:[0-9A-Fa-f]{8}|[0-9A-Fa-f]{14}|[0-9A-Fa-f]{20})$/, 'must be 4, 7 or 10 bytes in hex (8, 14 or 20 hex digits)')
    .transform((u) => u.toUpperCase()),
});

const badgeListSchema = z
  .array(badgeSchema)
  .min(1, 'must list at least one badge')
  .superRefine((list, ctx) => {
    const seen = new Map<string, number>();
    list.forEach((b, i) => {
      const first = seen.get(b.key);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'key'], message: `is already used by badge ${first} (${JSON.stringify(b.key)})` });
      else seen.set(b.key, i);
    });
  });

/** Validates a badge list; throws InvalidInputError naming each bad field (`badges[2].uid: ...`). */
function parseBadgeList(input: unknown): BadgeKey[] {
  const parsed = parseWith(badgeListSchema, input);
  if (!parsed.ok) {
    throw new InvalidInputError(
      parsed.problems.map((p) => {
        // "2.uid" -> "badges[2].uid", "(root)" -> "badges": name the field as a person reads the file.
        const field = p.field === '(root)' ? 'badges' : `badges${p.field.replace(/^(\d+)/, '[$1]').replace(/^([^[])/, '.$1')}`;
        const sentence = p.message.startsWith(`${p.field}: `) ? p.message.slice(p.field.length + 2) : p.message;
        return { ...p, field, message: `${field}: ${sentence}` };
      }),
    );
  }
  return parsed.value;
}

export function loadBadgeList(path: string): BadgeKey[] {
  return parseBadgeList(readJsonFile(path, 'badge list'));
}

/** The demo world's badges on keys 1..6, and a badge enrolled nowhere on 0. */
export function demoBadges(): BadgeKey[] {
  return [
    ...DEMO_WORKERS.map((w, i) => ({ key: String(i + 1), label: w.name.split(' ')[0]!, uid: w.badge })),
    { key: '0', label: 'unknown', uid: DEMO_UNKNOWN_BADGE },
  ];
}
