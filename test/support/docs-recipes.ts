import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const REPO = resolve(import.meta.dirname, '../..');

/**
 * The first `sh` block after `marker` (a heading or a phrase) in a Markdown file of the repository: the
 * command recipe the docs give, which tests run as written.
 */
export function shellBlockAfter(file: string, marker: string): string {
  const text = readFileSync(resolve(REPO, file), 'utf8');
  const at = text.indexOf(marker);
  if (at < 0) throw new Error(`${file}: no ${marker}`);
  const block = /```sh\n([\s\S]*?)```/.exec(text.slice(at));
  if (!block) throw new Error(`${file}: no sh block after ${marker}`);
  return block[1]!;
}
