import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadGatewayConfig, parseGatewayConfig } from '../../gateway/config.ts';
import { loadTerminalConfig, parseTerminalConfig } from '../../terminal/config.ts';
import { scenarioSchema } from '../../simulator/scenarios/format.ts';
import { InvalidInputError, type FieldProblem } from '../../shared/problems.ts';
import { parseWith } from '../../shared/schema.ts';
import { runs } from './support/arbitraries.ts';
import { recordFigure } from './support/figures.ts';

/**
 * Config and scenario files: any JSON gives either a valid config or an InvalidInputError whose problems
 * name the field (and the rule); never an exception of another kind. Besides arbitrary JSON, valid files
 * with one value replaced, one key removed or one unknown key added must be refused naming that path.
 */
const N = 10_000;

type Parse = (input: unknown) => { ok: true } | { ok: false; problems: FieldProblem[] };

function throwingParser(f: (input: unknown) => unknown): Parse {
  return (input) => {
    try {
      f(input);
      return { ok: true };
    } catch (err) {
      // The only acceptable failure: a validation error listing field problems.
      expect(err, `threw ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`).toBeInstanceOf(InvalidInputError);
      return { ok: false, problems: (err as InvalidInputError).problems };
    }
  };
}

const SURFACES: Record<string, { parse: Parse; valid: fc.Arbitrary<Record<string, unknown>> }> = {
  'gateway config': {
    parse: throwingParser((i) => parseGatewayConfig(i, '/tmp', {})),
    valid: fc.record(
      {
        database: fc.constantFrom('gateway.db', '/var/lib/ciao/gateway.db', ':memory:'),
        mqtt: fc.record({ host: fc.constantFrom('127.0.0.1', '0.0.0.0'), port: fc.integer({ min: 0, max: 65535 }), maxTopicLevels: fc.integer({ min: 5, max: 100 }), maxPacketBytes: fc.integer({ min: 8192, max: 1_000_000 }), ws: fc.record({ port: fc.integer({ min: 0, max: 65535 }) }) }, { requiredKeys: [] }),
        http: fc.record({ host: fc.constant('127.0.0.1'), port: fc.integer({ min: 0, max: 65535 }) }, { requiredKeys: [] }),
        groupCommit: fc.record({ maxDelayMs: fc.integer({ min: 0, max: 1000 }), maxBatch: fc.integer({ min: 1, max: 100_000 }), writer: fc.constantFrom('thread', 'inline') }, { requiredKeys: [] }),
        auth: fc.record({ maxFailures: fc.integer({ min: 1, max: 100 }), windowSeconds: fc.integer({ min: 1, max: 3600 }) }, { requiredKeys: [] }),
        terminals: fc.record({ maxClockSkewMs: fc.nat(), siteDataPollMs: fc.integer({ min: 50, max: 60_000 }) }, { requiredKeys: [] }),
        logLevel: fc.constantFrom('info', 'debug', 'silent'),
      },
      { requiredKeys: ['database'] },
    ),
  },
  'terminal config': {
    parse: throwingParser((i) => parseTerminalConfig(i, {})),
    valid: fc.record(
      {
        id: fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
        secret: fc.string({ minLength: 1, maxLength: 40 }),
        mqtt: fc.record({ url: fc.constantFrom('mqtts://gateway.local:8883', 'mqtt://127.0.0.1:1883', 'ws://gw:8083'), keepaliveSeconds: fc.integer({ min: 5, max: 600 }) }, { requiredKeys: ['url'] }),
        reader: fc.constantFrom('pcsc', 'simulated'),
        panel: fc.constant('console'),
        outbox: fc.constantFrom('outbox.db', '/var/lib/ciao/outbox.db'),
        defaults: fc.record({ language: fc.constantFrom('fr', 'nl', 'de', 'en'), debounceSeconds: fc.integer({ min: 0, max: 3600 }), buttons: fc.subarray(['IN', 'OUT', 'BREAK']) }, { requiredKeys: [] }),
        replayWindow: fc.integer({ min: 1, max: 1000 }),
        board: fc.record({ port: fc.constant('/dev/ttyACM0'), pins: fc.record({ greenLed: fc.integer({ min: 0, max: 127 }), lcd: fc.constant({ kind: 'i2c', address: 39 }) }, { requiredKeys: [] }) }, { requiredKeys: ['port'] }),
      },
      { requiredKeys: ['id', 'secret', 'mqtt', 'reader', 'panel', 'outbox'] },
    ),
  },
  'scenario file': {
    parse: (i) => {
      const r = parseWith(scenarioSchema, i);
      return r.ok ? { ok: true } : { ok: false, problems: r.problems };
    },
    valid: fc.record(
      {
        name: fc.string({ minLength: 1, maxLength: 20 }),
        description: fc.string({ minLength: 1, maxLength: 40 }),
        day: fc.integer({ min: -30, max: 0 }),
        steps: fc.array(
          fc.oneof(
            fc.record({ at: fc.constantFrom('07:00', '07:00:30', '+90s', '+30m'), tap: fc.record({ worker: fc.constantFrom('ana', 'luc'), terminal: fc.constant('entrance'), button: fc.constantFrom('IN', 'OUT', 'BREAK') }, { requiredKeys: ['worker', 'terminal'] }) }),
            fc.record({ at: fc.constant('+1h'), network: fc.constantFrom('cut', 'restore') }),
            fc.record({ at: fc.constant('12:00'), onss: fc.record({ fault: fc.constantFrom('unavailable', 'clear'), for: fc.constant('30m') }, { requiredKeys: ['fault'] }) }),
            fc.record({ at: fc.constant('+5s'), wait: fc.constant(true) }),
          ),
          { minLength: 1, maxLength: 4 },
        ),
        expect: fc.record({ taps: fc.nat(50), registrations: fc.nat(50) }, { requiredKeys: [] }),
      },
      { requiredKeys: ['name', 'description', 'steps', 'expect'] },
    ),
  },
};

/** Every path (as a key list) of a JSON tree, objects and arrays included. */
function paths(v: unknown, prefix: string[] = []): string[][] {
  const out: string[][] = [prefix];
  if (v && typeof v === 'object') for (const [k, c] of Object.entries(v)) out.push(...paths(c, [...prefix, k]));
  return out;
}

function mutate(base: Record<string, unknown>, path: string[], how: 'replace' | 'delete' | 'add', value: unknown, key: string): { doc: unknown; field: string[] } {
  const doc = structuredClone(base) as Record<string, unknown>;
  if (path.length === 0) return how === 'replace' ? { doc: value, field: [] } : { doc: { ...doc, [key]: value }, field: [key] };
  let parent: Record<string, unknown> = doc;
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<string, unknown>;
  const last = path.at(-1)!;
  if (how === 'replace') parent[last] = value;
  else if (how === 'delete') {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
  } else {
    const target = parent[last];
    if (target && typeof target === 'object' && !Array.isArray(target)) {
      (target as Record<string, unknown>)[key] = value;
      return { doc, field: [...path, key] };
    }
    parent[last] = value;
  }
  return { doc, field: path };
}

/** A problem names the mutated path when one is a dotted prefix of the other (unions report the element). */
function related(problem: string, path: string[]): boolean {
  const p = path.join('.');
  return problem.split(', ').some((f) => f === p || f === '(root)' || p === '' || p.startsWith(`${f}.`) || f.startsWith(`${p}.`) || f.startsWith(`${p}[`));
}

const figures: Record<string, { cases: number; refused: number }> = {};
afterAll(() => {
  for (const [what, f] of Object.entries(figures)) {
    recordFigure('config', `${what}: cases`, f.cases);
    recordFigure('config', `${what}: refused naming the field`, f.refused);
  }
});

describe('abuse: config and scenario files', () => {
  for (const [what, s] of Object.entries(SURFACES)) {
    it(`${what}: any JSON is a valid config or field problems, never another exception (${N} cases)`, () => {
      const f = (figures[what] ??= { cases: 0, refused: 0 });
      fc.assert(
        fc.property(fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.object({ maxDepth: 3 })), (input) => {
          const r = s.parse(input);
          if (!r.ok) {
            expect(r.problems.length).toBeGreaterThan(0);
            for (const p of r.problems) {
              expect(p.field.length, JSON.stringify(p)).toBeGreaterThan(0);
              expect(p.rule.length).toBeGreaterThan(0);
              expect(p.message).toContain(p.field.split(', ')[0]!);
            }
            f.refused++;
          }
          f.cases++;
        }),
        runs(N),
      );
    });

    it(`${what}: a valid file with one value broken, removed or added is refused naming that field (${N} cases)`, () => {
      const f = (figures[what] ??= { cases: 0, refused: 0 });
      const mutation = fc.record({
        base: s.valid,
        pick: fc.nat(),
        how: fc.constantFrom('replace' as const, 'delete' as const, 'add' as const),
        value: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(-1, 1e20, '', 'x', null, [], {}, 0.5, true)),
        key: fc.stringMatching(/^[a-zA-Z]{1,8}$/).filter((k) => !['constructor', 'prototype'].includes(k)),
      });
      fc.assert(
        fc.property(s.valid, (base) => {
          expect(s.parse(base).ok, JSON.stringify(base)).toBe(true);
        }),
        runs(500),
      );
      fc.assert(
        fc.property(mutation, ({ base, pick, how, value, key }) => {
          const all = paths(base);
          const { doc, field } = mutate(base, all[pick % all.length]!, how, value, key);
          const r = s.parse(doc);
          if (!r.ok) {
            expect(r.problems.some((p) => related(p.field, field)), `${how} ${field.join('.')}: ${JSON.stringify(r.problems)}`).toBe(true);
            f.refused++;
          }
          f.cases++;
        }),
        runs(N),
      );
    });
  }

  it('config files with any text: a JSON error or field problems, never another exception', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ciao-abuse-config-'));
    try {
      let cases = 0;
      fc.assert(
        fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)), fc.uint8Array({ maxLength: 100 }).map((b) => Buffer.from(b).toString('latin1'))), (text) => {
          const file = join(dir, 'c.json');
          writeFileSync(file, text);
          for (const load of [() => loadGatewayConfig(file, {}), () => loadTerminalConfig(file, {})]) {
            try {
              load();
            } catch (err) {
              if (!(err instanceof InvalidInputError)) expect((err as Error).message).toMatch(/is not valid JSON/);
            }
          }
          cases++;
        }),
        runs(1_000),
      );
      recordFigure('config', 'config files from text', cases);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
