import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { openGatewayDatabase } from '../../gateway/store/database.ts';
import { readKeyFile } from '../../gateway/badge-security/key-ring.ts';
import { shellBlockAfter } from '../support/docs-recipes.ts';

/** The key custody recipe of docs/badges.md, run as written (only its first line, the file names, is the test's). */
const REPO = resolve(import.meta.dirname, '../..');

describe('docs/badges.md: key custody commands', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ciao-badge-docs-'));
    openGatewayDatabase(join(dir, 'gateway.db')).close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('creates the key file, lists it, rotates it and lists both versions', async () => {
    const block = shellBlockAfter('docs/badges.md', 'The commands, which the test suite runs as written');
    const [first, ...rest] = block.split('\n');
    expect(first).toBe('DB=gateway.db KEYS=badge-keys.json');
    const keys = join(dir, 'badge-keys.json');
    const script = [`DB=${JSON.stringify(join(dir, 'gateway.db'))} KEYS=${JSON.stringify(keys)}`, ...rest].join('\n');
    const out = await new Promise<string>((done, fail) =>
      execFile('bash', ['-euo', 'pipefail', '-c', script], { cwd: REPO, timeout: 120_000 }, (err, stdout, stderr) => (err ? fail(new Error(`${err.message}\n${stderr}`)) : done(stdout))),
    );
    expect(statSync(keys).mode & 0o777).toBe(0o600);
    expect([...readKeyFile(keys, 'x').versions.keys()].sort()).toEqual([1, 2]);
    const tables = out.split('\n').filter((l) => /^\d+\s+(true|false)/.test(l));
    // First listing: version 1, current; second: versions 1 and 2, the new one current; no badge uses them yet.
    expect(tables.map((l) => l.split(/\s+/).filter((_, i) => i < 2 || i === 5))).toEqual([
      ['1', 'true', '0'],
      ['1', 'false', '0'],
      ['2', 'true', '0'],
    ]);
    const ring = readKeyFile(keys, 'x');
    expect(out).not.toContain(ring.versions.get(1)!.application.toString('hex').toUpperCase());
  });
});
