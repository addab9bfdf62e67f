import { describe, expect, it } from 'vitest';
import { readdirSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadScenario, runScenario } from '../../simulator/scenarios/runner.ts';
import { InvalidInputError } from '../../shared/problems.ts';

/**
 * Every shipped scenario runs on the whole product (emulator, gateway, simulated terminals, one virtual
 * clock) and must meet its own expected outcomes, plus the two that hold for every run: no tap lost, no
 * registration twice at ONSS.
 */
const DAYS = join(import.meta.dirname, '../../simulator/scenarios/days');
const files = readdirSync(DAYS).filter((f) => f.endsWith('.json')).sort();

describe('shipped scenarios', () => {
  it('ships a scenario for each situation a terminal meets', () => {
    for (const name of ['normal-day', 'mixed-site', 'contract-takeover', 'agency-worker', 'self-employed', 'forgotten-in', 'forgotten-out', 'outage']) {
      expect(files).toContain(`${name}.json`);
    }
  });

  it.each(files)('%s meets its expected outcomes', async (file) => {
    const scenario = loadScenario(join(DAYS, file));
    const result = await runScenario(scenario, { speed: 'max' });
    const failed = result.checks.filter((c) => !c.ok).map((c) => `${c.what}: expected ${c.expected}, got ${c.actual}`);
    expect(failed).toEqual([]);
    expect(result.summary.lost).toBe(0);
    expect(result.summary.duplicates).toBe(0);
    expect(result.checks.length).toBeGreaterThan(3);
  }, 90_000);
});

describe('scenario files', () => {
  function write(content: unknown): string {
    const dir = mkdtempSync(join(tmpdir(), 'ciao-scenario-file-'));
    const path = join(dir, 's.json');
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  }
  const base = { name: 'x', description: 'y', steps: [{ at: '07:00', tap: { worker: 'ana', terminal: 'a-entrance' } }], expect: {} };

  it('loads a valid file with its defaults', () => {
    const s = loadScenario(write(base));
    expect(s.day).toBe(-1);
    expect(s.expect.remarks).toEqual([]);
  });

  it('names the field and rule of a bad step, and names unknown workers and terminals', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ ...base, steps: [{ at: '7h', tap: { worker: 'ana', terminal: 'a-entrance' } }] }, /steps\.0\.at/],
      [{ ...base, steps: [{ at: '07:00', tap: { worker: 'nobody', terminal: 'a-entrance' } }] }, /steps\.0\.tap\.worker: no worker nobody/],
      [{ ...base, steps: [{ at: '07:00', tap: { worker: 'ana', terminal: 'z' } }] }, /steps\.0\.tap\.terminal: no terminal z/],
      [{ ...base, expect: { remarks: [{ kind: 'sunburn' }] } }, /expect\.remarks\.0\.kind/],
      [{ ...base, extra: 1 }, /extra/],
      ['{not json', /scenario .*s\.json/],
    ];
    for (const [content, message] of cases) {
      const path = write(content);
      try {
        expect(() => loadScenario(path)).toThrow(message);
      } finally {
        rmSync(join(path, '..'), { recursive: true, force: true });
      }
    }
    expect(() => loadScenario(write({ ...base, steps: [] }))).toThrow(InvalidInputError);
  });
});
