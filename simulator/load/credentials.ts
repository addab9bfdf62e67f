import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { InvalidInputError } from '../../shared/problems.ts';
import { parseWith } from '../../shared/schema.ts';
import { TERMINAL_ID_PATTERN } from '../../shared/mqtt/topics.ts';

/** What a simulated terminal needs to log in: its id (client id and user name) and its secret (password). */
export interface TerminalCredentials {
  id: string;
  secret: string;
}

const credentialsFileSchema = z
  .array(
    z.object({
      id: z.string().regex(TERMINAL_ID_PATTERN, 'must be letters, digits, - or _, starting with a letter or digit, at most 64 characters'),
      secret: z.string().min(1, 'must not be empty'),
    }),
    'must be a JSON array of {"id", "secret"} objects',
  )
  .min(1, 'must list at least one terminal');

/** Parses `[{id, secret}, ...]`; every bad field is named (e.g. `3.secret: must not be empty`). */
function parseCredentials(data: unknown, source = 'credentials'): TerminalCredentials[] {
  const parsed = parseWith(credentialsFileSchema, data);
  if (!parsed.ok) {
    throw new InvalidInputError(parsed.problems.map((p) => ({ ...p, field: `${source}[${p.field}]`, message: `${source}: ${p.message}` })));
  }
  const seen = new Set<string>();
  parsed.value.forEach((c, i) => {
    if (seen.has(c.id)) {
      throw new InvalidInputError([{ field: `${source}[${i}].id`, rule: 'unique', message: `${source}: ${i}.id: terminal ${c.id} is listed twice` }]);
    }
    seen.add(c.id);
  });
  return parsed.value;
}

export function readCredentialsFile(path: string): TerminalCredentials[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`credentials file ${path} could not be read: ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new InvalidInputError([{ field: path, rule: 'json', message: `${path}: must be JSON (an array of {"id", "secret"})` }]);
  }
  return parseCredentials(data, path);
}

/** Either a list of credentials, or a count and a function that creates each terminal (e.g. through an admin API). */
export type TerminalSource = TerminalCredentials[] | { count: number; create: (index: number) => TerminalCredentials | Promise<TerminalCredentials> };

export async function resolveTerminals(source: TerminalSource): Promise<TerminalCredentials[]> {
  if (Array.isArray(source)) return source;
  if (!Number.isInteger(source.count) || source.count < 1) {
    throw new InvalidInputError([{ field: 'terminals.count', rule: 'min', message: 'terminals.count: must be a whole number of at least 1' }]);
  }
  const out: TerminalCredentials[] = [];
  for (let i = 0; i < source.count; i++) out.push(await source.create(i));
  return parseCredentials(out, 'terminals');
}
