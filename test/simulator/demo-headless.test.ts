import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CIAO = join(import.meta.dirname, '../../bin/ciao.mjs');

describe('ciao demo --headless', () => {
  it('plays the demo day from a fresh directory: nothing lost, nothing duplicated, every seeded situation remarked', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'ciao-demo-headless-'));
    try {
      const r = spawnSync('node', [CIAO, 'demo', '--headless', '--duration', '3'], { cwd, encoding: 'utf8', timeout: 120_000, env: { ...process.env, CIAO_LOG_LEVEL: 'warn' } });
      expect(r.status, r.stderr).toBe(0);
      const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
      expect(summary.lost).toBe(0);
      expect(summary.duplicates).toBe(0);
      expect(summary.failedChecks).toEqual([]);
      expect(summary.taps).toBeGreaterThan(10);
      expect(summary.stored).toBe(summary.taps);
      expect(summary.forwarded).toBeGreaterThan(0);
      for (const kind of ['missing-out', 'unknown-badge', 'employer-not-on-declaration', 'late-transmission']) {
        expect(summary.remarksByKind[kind], kind).toBeGreaterThan(0);
      }
      expect(summary.outages).toBe(1);
      // The data stays in the working directory's .ciao-demo, private to its user.
      const db = join(cwd, '.ciao-demo', 'headless', 'gateway.db');
      expect(existsSync(db)).toBe(true);
      expect(statSync(db).mode & 0o077).toBe(0);
      expect(r.stderr).toMatch(/demo day: .*all expected outcomes met/);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  }, 150_000);
});
