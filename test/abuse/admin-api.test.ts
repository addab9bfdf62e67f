import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { appendRegistration, createWorld, DECLARATION_2, NISS_W1, startServer, type Server, type World } from '../records/helpers/world.ts';
import { DECLARATION, EMPLOYER_A, EMPLOYER_B } from '../records/helpers/facts.ts';
import { runs } from './support/arbitraries.ts';
import { recordFigure } from './support/figures.ts';

/**
 * The site manager's admin API with fuzzed bodies and query strings: every answer is a 2xx, or a 4xx in
 * application/problem+json whose problems[] names a field and a rule; never a 5xx. 10,000 cases per route
 * group go through fastify's full request pipeline in-process (inject: routing, JSON parsing, schema
 * validation, hooks, error handler); a further sample goes over real HTTP.
 */
const N = 10_000;

let world: World;
let server: Server;
const seqs: number[] = [];
const tally = { cases: 0, ok2xx: 0, problem4xx: 0, fivexx: 0 };

beforeAll(async () => {
  world = createWorld('2026-03-10T12:00');
  for (const [local, type, worker, terminal] of [
    ['2026-03-09T08:00', 'IN', 'W1', 'T1'],
    ['2026-03-09T16:00', 'OUT', 'W1', 'T1'],
    ['2026-03-10T07:00', 'IN', 'W2', 'T2'],
    ['2026-02-01T08:00', 'IN', 'W1', 'T1'],
  ] as const) seqs.push(appendRegistration(world.db, { local, type, worker, terminal }));
  server = await startServer(world);
});
afterAll(async () => {
  await server?.app.close();
  await world?.close();
});

interface Answer {
  status: number;
  type: string;
  body: string;
}

/** The invariant of every answer. */
function check(a: Answer, what: string): void {
  tally.cases++;
  expect(a.status, `${what} -> ${a.status} ${a.body.slice(0, 300)}`).toBeLessThan(500);
  if (a.status >= 500) tally.fivexx++;
  if (a.status >= 200 && a.status < 300) {
    tally.ok2xx++;
    return;
  }
  expect(a.status, what).toBeGreaterThanOrEqual(400);
  expect(a.type, `${what}: content type`).toContain('application/problem+json');
  const p = JSON.parse(a.body) as { status: number; problems: Array<{ field: string; rule: string; message: string }> };
  expect(p.status).toBe(a.status);
  expect(p.problems.length, `${what}: ${a.body}`).toBeGreaterThan(0);
  for (const x of p.problems) {
    expect(x.field.length, `${what}: ${a.body}`).toBeGreaterThan(0);
    expect(x.rule.length, `${what}: ${a.body}`).toBeGreaterThan(0);
  }
  tally.problem4xx++;
}

async function inject(opts: InjectOptions): Promise<Answer> {
  const r = await server.app.inject(opts);
  return { status: r.statusCode, type: String(r.headers['content-type'] ?? ''), body: r.body };
}

const token = () => fc.constantFrom(() => server.tokens.admin, () => server.tokens.manager, () => server.tokens.managerNiss, () => 'ciao_forged', () => '');
const auth = (t: string) => (t ? { authorization: `Bearer ${t}` } : {});

const day = fc.oneof(
  fc.integer({ min: Date.UTC(2025, 10, 1), max: Date.UTC(2026, 5, 1) }).map((ms) => new Date(ms).toISOString().slice(0, 10)),
  fc.constantFrom('2026-02-30', '2026-13-01', '2026-3-1', '0000-00-00', '9999-12-31', '2026-03-10T00:00', '', ' '),
  fc.string({ maxLength: 12 }),
);
const text = fc.oneof(fc.constantFrom('S1', 'S2', 'W1', 'W2', 'T1', EMPLOYER_A, EMPLOYER_B, DECLARATION, DECLARATION_2, NISS_W1, "' OR 1=1 --", '%', '../../etc'), fc.string({ maxLength: 20 }), fc.string({ minLength: 101, maxLength: 120 }));

const correctionBody = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record(
      {
        seq: fc.oneof(fc.constantFrom(...[1, 2, 3, 4].map((i) => () => seqs[i - 1]!)).map((f) => f()), fc.integer({ min: -5, max: 1e6 }), fc.double(), fc.constantFrom('1', null, true, 1e308)),
        field: fc.oneof(fc.constantFrom('employer', 'declaration', 'at', 'ssin', 'type', ''), fc.string({ maxLength: 10 }), fc.integer()),
        requestedValue: fc.oneof(fc.constantFrom(EMPLOYER_A, EMPLOYER_B, '0403.019.261', DECLARATION, DECLARATION_2, 'FR40123456789', '0403019262', ''), fc.string({ maxLength: 45 }), fc.integer()),
        reason: fc.oneof(fc.constantFrom('takeover', 'wrong QR code', ''), fc.string({ maxLength: 40 }), fc.string({ minLength: 1000, maxLength: 1010 }), fc.constant(null)),
        extra: fc.jsonValue({ maxDepth: 1 }),
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

describe('abuse: admin API', () => {
  it(`POST /api/v1/corrections and /corrections/:id/state with fuzzed bodies (${N} cases)`, async () => {
    await fc.assert(
      fc.asyncProperty(token(), correctionBody, fc.constantFrom('json', 'raw', 'form', 'state'), fc.string({ maxLength: 40 }), fc.oneof(fc.integer({ min: -2, max: 50 }), fc.string({ maxLength: 6 }).filter((s) => s !== '.' && s !== '..')), async (tok, body, how, raw, id) => {
        const headers = auth(tok());
        let a: Answer;
        if (how === 'json') a = await inject({ method: 'POST', url: '/api/v1/corrections', headers: { ...headers, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
        else if (how === 'raw') a = await inject({ method: 'POST', url: '/api/v1/corrections', headers: { ...headers, 'content-type': 'application/json' }, payload: raw });
        else if (how === 'form') a = await inject({ method: 'POST', url: '/api/v1/corrections', headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, payload: raw });
        else {
          const state = typeof body === 'object' && body && 'field' in body ? (body as { field: unknown }).field : body;
          a = await inject({ method: 'POST', url: `/api/v1/corrections/${encodeURIComponent(String(id))}/state`, headers: { ...headers, 'content-type': 'application/json' }, payload: JSON.stringify({ state, note: raw }) });
        }
        check(a, `${how} ${JSON.stringify(body)?.slice(0, 200)}`);
      }),
      runs(N),
    );
  });

  it(`GET /api/v1/registrations and /api/v1/export with fuzzed query strings (${N} cases)`, async () => {
    const params = fc.record(
      { from: day, to: day, site: text, worker: text, company: text, declaration: text, format: fc.oneof(fc.constantFrom('csv', 'json', 'xml', ''), fc.string({ maxLength: 5 })), bogus: fc.string({ maxLength: 5 }) },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(token(), fc.constantFrom('registrations', 'export', 'remarks', 'corrections/document'), params, fc.boolean(), fc.string({ maxLength: 30 }), async (tok, route, p, rawQuery, garbage) => {
        const query = rawQuery ? garbage.replace(/[#\s]/g, '') : new URLSearchParams(Object.entries(p).filter(([k]) => route !== 'registrations' || k !== 'format') as Array<[string, string]>).toString();
        const a = await inject({ method: 'GET', url: `/api/v1/${route}?${query}`, headers: auth(tok()) });
        check(a, `${route}?${query}`);
      }),
      runs(N),
    );
  });

  it('answers the same over real HTTP (500 fuzzed requests on a listening server)', async () => {
    await fc.assert(
      fc.asyncProperty(correctionBody, day, day, async (body, from, to) => {
        const post = await fetch(`${server.url}/api/v1/corrections`, { method: 'POST', headers: { authorization: `Bearer ${server.tokens.manager}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
        check({ status: post.status, type: post.headers.get('content-type') ?? '', body: await post.text() }, `POST ${JSON.stringify(body)?.slice(0, 200)}`);
        const get = await fetch(`${server.url}/api/v1/export?${new URLSearchParams({ from, to, format: 'json' })}`, { headers: { authorization: `Bearer ${server.tokens.admin}` } });
        check({ status: get.status, type: get.headers.get('content-type') ?? '', body: await get.text() }, `export ${from} ${to}`);
      }),
      runs(250),
    );
    expect(tally.fivexx).toBe(0);
    recordFigure('admin-api', 'requests', tally.cases);
    recordFigure('admin-api', '2xx', tally.ok2xx);
    recordFigure('admin-api', 'problem+json 4xx naming a field', tally.problem4xx);
    recordFigure('admin-api', '5xx', tally.fivexx);
  });
});
