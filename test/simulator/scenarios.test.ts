import { describe, expect, it } from 'vitest';
import { readdirSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadScenario, runScenario } from '../../simulator/scenarios/runner.ts';
import { scenarioDay, stepInstants } from '../../simulator/scenarios/times.ts';
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
    for (const name of [
      'normal-day', 'mixed-site', 'contract-takeover', 'agency-worker', 'self-employed', 'forgotten-in', 'forgotten-out', 'outage',
      'night-shift', 'dst-spring', 'dst-autumn', 'another-door', 'break-two-doors', 'two-sites', 'revoked-expired-badges',
      'no-declaration-then-added', 'unknown-badge-enrolled', 'agency-off-chain', 'posted-limosa', 'onss-not-created', 'long-shift', 'two-employers',
    ]) {
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

  /** Each scenario file is refused with its message (the field and the rule). */
  function expectEachRefused(cases: Array<[unknown, RegExp]>): void {
    for (const [content, message] of cases) {
      const path = write(content);
      try {
        expect(() => loadScenario(path)).toThrow(message);
      } finally {
        rmSync(join(path, '..'), { recursive: true, force: true });
      }
    }
  }
  const base = { name: 'x', description: 'y', steps: [{ at: '07:00', tap: { worker: 'ana', terminal: 'a-entrance' } }], expect: {} };

  it('loads a valid file with its defaults', () => {
    const s = loadScenario(write(base));
    expect(scenarioDay(s, '2026-03-02')).toBe('2026-03-01');
    expect(s.expect.remarks).toEqual([]);
    expect(s.world).toEqual({ workers: [], missing: { badges: [], declarations: [] } });
  });

  it('plays any date, DST days included, with times on later days and the offset of a repeated hour', () => {
    const night = loadScenario(write({ ...base, date: '2026-10-24', steps: [
      { at: '22:00', tap: { worker: 'ana', terminal: 'a-entrance' } },
      { at: '+1d 02:30+02:00', tap: { worker: 'ana', terminal: 'a-entrance' } },
      { at: '+1d 02:30+01:00', tap: { worker: 'ana', terminal: 'a-entrance' } },
      { at: '+90m', wait: true },
    ] }));
    expect(stepInstants(night, scenarioDay(night, '2000-01-01')).map((t) => t.toISOString())).toEqual([
      '2026-10-24T20:00:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-25T01:30:00.000Z', '2026-10-25T03:00:00.000Z',
    ]);
    const spring = loadScenario(write({ ...base, date: '2026-03-29', steps: [{ at: '01:59', tap: { worker: 'ana', terminal: 'a-entrance' } }, { at: '03:00', wait: true }] }));
    expect(stepInstants(spring, '2026-03-29').map((t) => t.toISOString())).toEqual(['2026-03-29T00:59:00.000Z', '2026-03-29T01:00:00.000Z']);
  });

  it('refuses a time that does not exist, one that happens twice without its offset, and an offset that is not Brussels\'', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ ...base, date: '2026-03-29', steps: [{ at: '02:30', wait: true }] }, /steps\.0\.at: 2026-03-29 02:30 does not exist in Brussels/],
      [{ ...base, date: '2026-03-28', steps: [{ at: '+1d 02:00', wait: true }] }, /steps\.0\.at: 2026-03-29 02:00 does not exist/],
      [{ ...base, date: '2026-10-25', steps: [{ at: '02:30', wait: true }] }, /steps\.0\.at: 2026-10-25 02:30 happens twice in Brussels .*02:30\+02:00 for the first, 02:30\+01:00 for the second/],
      [{ ...base, date: '2026-07-01', steps: [{ at: '07:00+05:30', wait: true }] }, /steps\.0\.at: 2026-07-01 07:00 with offset \+05:30 is not a time in Brussels/],
      [{ ...base, date: '2026-02-30' }, /date: must be a real calendar date/],
      [{ ...base, date: '2026-03-01', day: -1 }, /date: give the date or the relative day, not both/],
      [{ ...base, date: '2026-03-01', expect: { onss: [{ worker: 'ana', type: 'IN', at: '25:00', employer: 'netclean', capacity: 'employee', declaration: 'tilleuls' }] } }, /expect\.onss\.0\.at/],
    ];
    expectEachRefused(cases);
  });

  it("names unknown keys in the scenario's world, the site manager's steps and the expected registrations", () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ ...base, world: { missing: { badges: ['zoe'] } } }, /world\.missing\.badges\.0: no worker zoe/],
      [{ ...base, world: { missing: { declarations: ['nowhere'] } } }, /world\.missing\.declarations\.0: no declaration nowhere/],
      [{ ...base, world: { workers: [{ key: 'ana', name: 'A', ssin: '85073003328', capacity: 'employee', employers: ['netclean'], badge: '01020304' }] } }, /world\.workers\.0\.key: the demo world already has a worker ana/],
      [{ ...base, world: { workers: [{ key: 'jo', name: 'J', capacity: 'employee', employers: ['netclean'], badge: '01020304' }] } }, /world\.workers\.0\.ssin: needs ssin or limosaId/],
      [{ ...base, steps: [{ at: '07:00', manager: { place: { worker: 'sofia', agency: 'acme', user: 'netclean' } } }] }, /steps\.0\.manager\.place\.agency: no company acme/],
      [{ ...base, steps: [{ at: '07:00', manager: { addDeclaration: 'x' } }] }, /steps\.0\.manager\.addDeclaration: no declaration x/],
      [{ ...base, expect: { onss: [{ worker: 'ana', type: 'IN', at: '07:00', employer: 'netclean', capacity: 'employee', declaration: 'elsewhere' }] } }, /expect\.onss\.0\.declaration: no declaration elsewhere/],
      [{ ...base, expect: { onss: [{ worker: 'ana', type: 'IN', at: '07:00', employer: 'netclean', capacity: 'boss', declaration: 'tilleuls' }] } }, /expect\.onss\.0\.capacity/],
    ];
    expectEachRefused(cases);
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
    expectEachRefused(cases);
    expect(() => loadScenario(write({ ...base, steps: [] }))).toThrow(InvalidInputError);
  });
});
