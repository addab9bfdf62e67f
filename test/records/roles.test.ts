import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InjectOptions } from 'fastify';
import { addUser } from '../../gateway/access/users.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { ROLES, ROLE_PERMISSIONS, type Permission, type Role } from '../../gateway/access/roles.ts';
import { appendRegistration, createWorld, startServer, type Server, type World } from './helpers/world.ts';

/**
 * Each role against each route of the admin API, driven by the OpenAPI document so that no route is missed:
 * the table below names the permission every route needs, the test fails if the document has a route the
 * table lacks (or the other way round), and then calls every route as every role and without a token.
 * A role with the permission gets past the access check (any answer but 401/403); one without gets 403
 * naming the permission; no token gets 401.
 */
const ROUTE_PERMISSIONS: Record<string, Permission> = {
  'GET /api/v1/me': 'read',
  'GET /api/v1/presence': 'read',
  'GET /api/v1/registrations': 'read',
  'GET /api/v1/export': 'export',
  'GET /api/v1/remarks': 'read',
  'GET /api/v1/outages': 'read',
  'GET /api/v1/timeline': 'read',
  'GET /api/v1/corrections': 'read',
  'POST /api/v1/corrections': 'corrections',
  'POST /api/v1/corrections/{id}/state': 'corrections',
  'GET /api/v1/corrections/document': 'read',
  'GET /api/v1/applies': 'read',
  'GET /api/v1/events': 'read',
  'GET /api/v1/held-taps': 'read',
  'POST /api/v1/enrolments/preview': 'change-site-data',
  'POST /api/v1/enrolments': 'change-site-data',
  'POST /api/v1/workers/import': 'change-site-data',
  'POST /api/v1/badges/import': 'change-site-data',
  'GET /api/v1/audit': 'read-audit',
  'POST /api/v1/terminals/{id}/pairing': 'change-site-data',
  'POST /api/v1/terminals/{id}/enrolment': 'change-site-data',
  'POST /api/v1/declarations/preview': 'change-site-data',
  'POST /api/v1/badges/preview': 'change-site-data',
  'POST /api/v1/workers/{id}/preview': 'change-site-data',
  'POST /api/v1/placements/preview': 'change-site-data',
  'POST /api/v1/employer-choices/preview': 'change-site-data',
  'POST /api/v1/employer-choices': 'change-site-data',
  'GET /api/v1/sites/{id}/fallback': 'read',
  'GET /api/v1/sites/{id}/badge-policy': 'read',
  'POST /api/v1/sites/{id}/secure-badges': 'change-site-data',
  'GET /api/v1/badge-desk': 'change-site-data',
  'POST /api/v1/badge-desk/jobs': 'change-site-data',
};
/**
 * Routes a permitted role reaches but which answer 503 here, naming what this gateway lacks: this test's
 * server has no desk reader, so personalising a badge is refused after the access check.
 */
const UNAVAILABLE_HERE: Record<string, string> = { 'POST /api/v1/badge-desk/jobs': 'desk-reader-not-configured' };
for (const entity of ['companies', 'sites', 'declarations', 'workers', 'badges', 'terminals', 'placements']) {
  Object.assign(ROUTE_PERMISSIONS, {
    [`GET /api/v1/${entity}`]: 'read',
    [`GET /api/v1/${entity}/{id}`]: 'read',
    [`POST /api/v1/${entity}`]: 'change-site-data',
    [`PATCH /api/v1/${entity}/{id}`]: 'change-site-data',
    [`POST /api/v1/${entity}/{id}/deactivate`]: 'change-site-data',
    ...(entity === 'badges' ? {} : { [`POST /api/v1/${entity}/{id}/reactivate`]: 'change-site-data' }),
  });
}
Object.assign(ROUTE_PERMISSIONS, {
  'GET /api/v1/users': 'manage-users',
  'GET /api/v1/users/{id}': 'manage-users',
  'POST /api/v1/users': 'manage-users',
  'PATCH /api/v1/users/{id}': 'manage-users',
  'POST /api/v1/users/{id}/deactivate': 'manage-users',
  'GET /api/v1/releases': 'manage-releases',
  'POST /api/v1/releases': 'manage-releases',
  'GET /api/v1/fleet': 'manage-releases',
  'POST /api/v1/releases/{version}/rollout': 'manage-releases',
  'POST /api/v1/rollouts/stop': 'manage-releases',
});

/** A request that passes schema validation for each route, so the access check is what answers. */
function requestFor(method: string, path: string): InjectOptions {
  const url = path.replace('{id}', path.startsWith('/api/v1/corrections') ? '1' : 'S1').replace('{version}', '1.0.0');
  const query: Record<string, string> = {
    '/api/v1/registrations': 'from=2026-03-01&to=2026-03-10',
    '/api/v1/export': 'from=2026-03-01&to=2026-03-10',
    '/api/v1/timeline': 'worker=W1',
    '/api/v1/corrections/document': 'ids=1',
    '/api/v1/applies': 'amount=1000&subcontractors=0&cleaning=true',
  };
  const bodies: Record<string, unknown> = {
    'POST /api/v1/corrections': { seq: 1, field: 'employer', requestedValue: '0403019261', reason: 'r' },
    'POST /api/v1/corrections/{id}/state': { state: 'sent' },
    'POST /api/v1/enrolments/preview': { tapId: 'x', worker: 'W1' },
    'POST /api/v1/enrolments': { tapId: 'x', worker: 'W1' },
    'POST /api/v1/terminals/{id}/enrolment': { minutes: 0 },
    'POST /api/v1/companies': { number: '0403019261', name: 'X' },
    'PATCH /api/v1/companies/{id}': { name: 'X' },
    'POST /api/v1/sites': { id: 'S9', name: 'X', postCode: '1000', municipality: 'B', street: 'R', houseNumber: '1' },
    'PATCH /api/v1/sites/{id}': { name: 'X' },
    'POST /api/v1/declarations': { number: '1Y102M7NZF7PZ', siteId: 'S1', validFrom: '2026-01-01', companies: ['0403019261'] },
    'PATCH /api/v1/declarations/{id}': { siteId: 'S1', validFrom: '2026-01-01', companies: ['0403019261'] },
    'POST /api/v1/workers': { name: 'X', employers: ['0403019261'] },
    'PATCH /api/v1/workers/{id}': { name: 'X', employers: ['0403019261'] },
    'POST /api/v1/badges': { uid: 'AABBCCDD', worker: 'W1' },
    'PATCH /api/v1/badges/{id}': {},
    'POST /api/v1/terminals': { id: 'T9', siteId: 'S1' },
    'PATCH /api/v1/terminals/{id}': {},
    'POST /api/v1/users': { name: 'X', role: 'read-only' },
    'POST /api/v1/declarations/preview': { number: '1Y102M7NZF7PZ', siteId: 'S1', validFrom: '2026-01-01', companies: ['0403019261'] },
    'POST /api/v1/badges/preview': { uid: 'AABBCCDD', worker: 'W1' },
    'POST /api/v1/workers/{id}/preview': { name: 'X', employers: ['0403019261'] },
    'POST /api/v1/placements': { worker: 'W1', agency: '0403019261', userCompany: '0428759497', validFrom: '2026-01-01' },
    'PATCH /api/v1/placements/{id}': { worker: 'W1', agency: '0403019261', userCompany: '0428759497', validFrom: '2026-01-01' },
    'POST /api/v1/placements/preview': { worker: 'W1', agency: '0403019261', userCompany: '0428759497', validFrom: '2026-01-01' },
    'POST /api/v1/employer-choices/preview': { tapId: 'x', employer: '0403019261' },
    'POST /api/v1/employer-choices': { tapId: 'x', employer: '0403019261' },
    'PATCH /api/v1/users/{id}': { name: 'X', role: 'read-only' },
    'POST /api/v1/releases': { signed: {}, bundle: '' },
    'POST /api/v1/releases/{version}/rollout': { all: true },
    'POST /api/v1/rollouts/stop': { all: true },
    'POST /api/v1/sites/{id}/secure-badges': { required: false },
    'POST /api/v1/badge-desk/jobs': { worker: 'W1' },
  };
  const key = `${method} ${path}`;
  const csv = key.endsWith('/import');
  return {
    method: method as InjectOptions['method'],
    url: query[path] ? `${url}?${query[path]}` : url,
    ...(csv ? { payload: 'niss,name,employers\n', headers: { 'content-type': 'text/csv' } } : bodies[key] !== undefined ? { payload: bodies[key] as object } : {}),
  };
}

let world: World;
let server: Server;
const tokens = {} as Record<Role, string>;

beforeAll(async () => {
  world = createWorld('2026-03-10T12:00');
  appendRegistration(world.db, { local: '2026-03-09T08:00', type: 'IN', worker: 'W1', terminal: 'T1' });
  server = await startServer(world);
  for (const role of ROLES) tokens[role] = (await addUser(SqliteStore.of(world.db), { name: role, role, sites: ['S1', 'S2'] })).token;
});
afterAll(async () => {
  await server?.app.close();
  await world?.close();
});

describe('each role against each route', () => {
  it('has a permission for every route of the OpenAPI document, and no more', async () => {
    const doc = (await server.app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`)).filter((r) => r !== 'GET /api/v1/openapi.json');
    expect(documented.sort()).toEqual(Object.keys(ROUTE_PERMISSIONS).sort());
  });

  for (const [route, permission] of Object.entries(ROUTE_PERMISSIONS)) {
    const [method, path] = route.split(' ') as [string, string];
    it(`${route} needs ${permission}`, async () => {
      const request = requestFor(method, path);
      if (path === '/api/v1/events') {
        // A stream: read its status line and leave.
        for (const role of ROLES) {
          const controller = new AbortController();
          const r = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${tokens[role]}` }, signal: controller.signal });
          expect(r.status, role).toBe(200);
          controller.abort();
        }
        expect((await fetch(`${server.url}${path}`)).status).toBe(401);
        return;
      }
      const anonymous = await server.app.inject(request);
      expect(anonymous.statusCode, 'no token').toBe(401);
      expect(anonymous.headers['content-type']).toMatch(/problem\+json/);
      for (const role of ROLES) {
        const r = await server.app.inject({ ...request, headers: { ...(request.headers ?? {}), authorization: `Bearer ${tokens[role]}` } });
        if (ROLE_PERMISSIONS[role].includes(permission) && UNAVAILABLE_HERE[route]) {
          expect(r.statusCode, `${role}: ${r.body}`).toBe(503);
          expect(r.json().problems[0]).toMatchObject({ rule: UNAVAILABLE_HERE[route] });
        } else if (ROLE_PERMISSIONS[role].includes(permission)) {
          expect([401, 403], `${role}: ${r.body}`).not.toContain(r.statusCode);
          expect(r.statusCode, `${role}: ${r.body}`).toBeLessThan(500);
        } else {
          expect(r.statusCode, `${role}: ${r.body}`).toBe(403);
          expect(r.json().problems[0]).toMatchObject({ field: 'role', rule: `permission-${permission}` });
        }
      }
    });
  }
});
