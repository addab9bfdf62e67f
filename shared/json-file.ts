import { readFileSync } from 'node:fs';

/**
 * Reads a JSON file a person wrote (a config, a badge list, a scenario), with errors that say which file and
 * whether it could not be read or is not JSON. Validation of the content is the caller's, with its schema.
 */
export function readJsonFile(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${what} ${path} is not valid JSON: ${(err as Error).message}`);
  }
}
