import { fail, ok, type Checked } from '../problems.ts';

/**
 * MQTT API v1 topics. Every topic of a terminal lives under `ciao/v1/terminals/{terminalId}/`.
 * The ACL helpers here are the single statement of who may touch which topic; the broker's hooks and the
 * docs both follow them.
 */
export const TOPIC_PREFIX = 'ciao/v1/terminals';

/** Terminal to gateway. */
export const TERMINAL_PUBLISHES = ['taps', 'status'] as const;
/**
 * Gateway to terminal. `shifts` (added compatibly to v1) carries changes of workers' shift states between
 * rosters; a terminal that does not subscribe to it keeps working from its roster.
 */
export const TERMINAL_SUBSCRIBES = ['acks', 'config', 'roster', 'shifts'] as const;
export const TOPIC_KINDS = [...TERMINAL_PUBLISHES, ...TERMINAL_SUBSCRIBES] as const;
export type TopicKind = (typeof TOPIC_KINDS)[number];

/** 1 to 64 letters, digits, `-` or `_`, starting with a letter or digit: safe in a topic and a file name. */
export const TERMINAL_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function parseTerminalId(input: unknown, field = 'terminalId'): Checked<string> {
  if (typeof input !== 'string' || input.length === 0) return fail(field, 'required', 'must be a non-empty string');
  if (input.length > 64) return fail(field, 'max-length', `must have at most 64 characters, got ${input.length}`);
  if (!TERMINAL_ID_PATTERN.test(input)) {
    return fail(field, 'format', 'must be letters, digits, - or _, starting with a letter or digit (no /, +, # or $)');
  }
  return ok(input);
}

export function topicFor(terminalId: string, kind: TopicKind): string {
  return `${TOPIC_PREFIX}/${terminalId}/${kind}`;
}

export interface ParsedTopic {
  terminalId: string;
  kind: TopicKind;
}

/** Parses a concrete topic (no wildcards) of the v1 API. */
export function parseTopic(topic: string, field = 'topic'): Checked<ParsedTopic> {
  if (typeof topic !== 'string' || topic.length === 0) return fail(field, 'required', 'must be a non-empty topic');
  if (/[+#]/.test(topic)) return fail(field, 'wildcard', 'a concrete topic may not contain + or #');
  const parts = topic.split('/');
  if (parts.length !== 5 || `${parts[0]}/${parts[1]}/${parts[2]}` !== TOPIC_PREFIX) {
    return fail(field, 'format', `must be ${TOPIC_PREFIX}/{terminalId}/{${TOPIC_KINDS.join('|')}}`);
  }
  const id = parseTerminalId(parts[3], `${field}.terminalId`);
  if (!id.ok) return id;
  const kind = parts[4] as TopicKind;
  if (!(TOPIC_KINDS as readonly string[]).includes(kind)) {
    return fail(`${field}.kind`, 'enum', `must be one of ${TOPIC_KINDS.join(', ')}`);
  }
  return ok({ terminalId: id.value, kind });
}

/** May this terminal publish to this topic? Only its own taps and status. */
export function checkPublish(terminalId: string, topic: string): Checked<ParsedTopic> {
  const parsed = parseTopic(topic);
  if (!parsed.ok) return parsed;
  if (parsed.value.terminalId !== terminalId) return fail('topic', 'not-own', `terminal ${terminalId} may publish only under ${TOPIC_PREFIX}/${terminalId}/`);
  if (!(TERMINAL_PUBLISHES as readonly string[]).includes(parsed.value.kind)) {
    return fail('topic', 'direction', `terminals publish only ${TERMINAL_PUBLISHES.join(' and ')}; ${parsed.value.kind} is sent by the gateway`);
  }
  return parsed;
}

/**
 * May this terminal subscribe with this filter? Only to its own acks, config, roster and shifts, named exactly:
 * no wildcards, so a filter can never reach across terminals or into `$SYS`.
 */
export function checkSubscribe(terminalId: string, filter: string): Checked<ParsedTopic> {
  if (typeof filter === 'string' && filter.startsWith('$')) return fail('topic', 'system', 'system topics ($SYS, $share) are not available to terminals');
  if (typeof filter === 'string' && /[+#]/.test(filter)) return fail('topic', 'wildcard', 'terminals subscribe to their own topics by name, without + or #');
  const parsed = parseTopic(filter);
  if (!parsed.ok) return parsed;
  if (parsed.value.terminalId !== terminalId) return fail('topic', 'not-own', `terminal ${terminalId} may subscribe only to its own topics`);
  if (!(TERMINAL_SUBSCRIBES as readonly string[]).includes(parsed.value.kind)) {
    return fail('topic', 'direction', `terminals subscribe only to ${TERMINAL_SUBSCRIBES.join(', ')}`);
  }
  return parsed;
}
