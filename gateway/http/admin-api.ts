import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { REMARK_KINDS, type RemarkOptions } from '../remarks/model.ts';
import { decideApplicability, parseEuroAmount } from '../site-data/applicability.ts';
import { InvalidInputError } from '../../shared/problems.ts';
import { RecordsService } from '../records/service.ts';
import { notFound, unauthenticated } from '../../shared/errors.ts';
import { lazyValidatorCompiler } from '../http-server.ts';
import { createSqlQueries } from '../records/sql-queries.ts';
import type { SqlStore } from '../store/sql-store.ts';
import type { RecordsQueries } from '../records/ports.ts';
import { may, userForToken, type ApiUser } from '../access/users.ts';
import { SiteDataService } from '../site-data/service.ts';
import { siteDataRoutes } from './site-data-api.ts';
import { ChangeFeed, eventRoutes } from './events.ts';
import { loadConsoleAssets } from './console-assets.ts';
import { PERMISSIONS } from '../access/roles.ts';
import { PROBLEM_SCHEMA, sendProblem } from './problems.ts';
import { fleetRoutes } from '../fleet/api.ts';
import type { ReleaseStore } from '../fleet/releases.ts';
import { BadgeDesk } from '../badge-security/desk-jobs.ts';
import { openApiDocument } from './openapi.ts';

/**
 * The admin HTTP API and the dashboard, as one fastify plugin: `app.register(adminApiPlugin, { store })`.
 * Every /api/v1 route but the OpenAPI document needs a bearer token (`ciao admin user add`). The API reads;
 * the only writes are correction requests. No route creates a registration on a worker's behalf or
 * deletes one (FAQ 21, 34): the worker registers, and nothing is cancelled.
 */
export interface AdminApiOptions {
  /** The gateway's storage port (SQLite or PostgreSQL): records, site data, users, events. */
  store: SqlStore;
  /** The site-data service both faces use; one is made on `store` when absent. */
  siteData?: SiteDataService;
  /** The HTTPS pairing listener's public URL and CA fingerprint, once it listens. */
  pairing?: () => { url: string; fingerprint: string } | undefined;
  /** Live events for the console (server-sent events); made on `store` when absent. */
  events?: ChangeFeed;
  queries?: RecordsQueries;
  now?: () => Date;
  remarkOptions?: Partial<RemarkOptions>;
  /** Terminal releases and rollouts (gateway/fleet/); without it the fleet routes are absent. */
  releases?: ReleaseStore;
  /** The desk reader for personalising secure badges; without it the console's action says none is configured. */
  badgeDesk?: BadgeDesk;
}

declare module 'fastify' {
  interface FastifyRequest {
    apiUser?: ApiUser;
  }
}

export const API_PREFIX = '/api/v1';
const OPENAPI_PATH = `${API_PREFIX}/openapi.json`;
const DASHBOARD_PATH = '/dashboard/';
const CONSOLE_PATH = '/console/';

const here = dirname(fileURLToPath(import.meta.url));
const DASHBOARD_FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

/** Scripts and styles from the gateway only; inline style attributes draw the timeline bars. */
const DASHBOARD_CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

const day = { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'site day YYYY-MM-DD (Europe/Brussels)' } as const;
const text = (description: string) => ({ type: 'string', maxLength: 100, description }) as const;
const periodQuery = {
  type: 'object',
  properties: {
    from: { ...day, description: 'first site day, included' },
    to: { ...day, description: 'last site day, included; at most 100 calendar days after from (FAQ 39)' },
    site: text('site id (a site manager: one of their sites)'),
    worker: text('worker id'),
    company: text('employer company number'),
    declaration: text('declaration-of-works number'),
  },
  required: ['from', 'to'],
  additionalProperties: false,
} as const;

const anyObject = { type: 'object', additionalProperties: true } as const;
const errors = { 400: PROBLEM_SCHEMA, 401: PROBLEM_SCHEMA, 403: PROBLEM_SCHEMA, 404: PROBLEM_SCHEMA };
const secured = [{ bearerAuth: [] as string[] }];

function bearer(request: FastifyRequest): string | undefined {
  const h = request.headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m?.[1];
}

/**
 * Fastify's own validator (Ajv) with its defaults, but refusing properties a schema does not allow; like the
 * server's own, loaded and compiled for a route at its first request (gateway/http-server.ts).
 */
const strictValidatorCompiler = lazyValidatorCompiler({ customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false }, plugins: [] });

export async function adminApiPlugin(app: FastifyInstance, opts: AdminApiOptions): Promise<void> {
  const store = opts.store;
  const queries = opts.queries ?? createSqlQueries(store);
  const service = new RecordsService(store, queries, { now: opts.now, remarkOptions: opts.remarkOptions });
  const dashboard = Object.fromEntries(Object.keys(DASHBOARD_FILES).map((f) => [f, readFileSync(join(here, 'dashboard', f), 'utf8')]));

  // Made at its first request (openapi.ts), from the routes added below.
  const openApi = openApiDocument(app, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'ciao-badge admin API', version: '1.0.0', description: 'Site manager API: presence, registrations, remarks, export, corrections. Read-only for registrations: the worker registers (FAQ 21) and nothing is cancelled (FAQ 34). Errors are application/problem+json naming field and rule.' },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'token from `ciao admin user add`' } } },
    },
  });

  // Fastify's default validator quietly drops properties a schema does not list (removeAdditional): a
  // misspelt field would then be ignored and the request succeed. This API refuses them instead, with a
  // problem naming the field, whatever server it is registered on.
  app.setValidatorCompiler(strictValidatorCompiler);
  app.setErrorHandler((err, request, reply) => sendProblem(err, request, reply));
  // An unknown route under the API answers problem+json like every other error (the dashboard's own
  // paths and the rest of the server keep fastify's plain 404).
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    if (!path.includes(API_PREFIX)) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `Route ${request.method}:${path} not found` });
    return sendProblem(notFound('(route)', `(route): there is no ${request.method} ${path} in the admin API (see ${OPENAPI_PATH})`), request, reply);
  });

  // Hooks of this plugin apply to its own routes only (fastify encapsulation): every route needs a token
  // unless it is marked public (the dashboard's static files and the OpenAPI document).
  app.addHook('onRequest', async (request) => {
    if (request.is404 || (request.routeOptions.config as { public?: boolean } | undefined)?.public) return;
    const token = bearer(request);
    if (!token) throw unauthenticated({ field: 'authorization', rule: 'bearer-token', message: 'authorization: send "Authorization: Bearer <token>" (tokens come from ciao admin user add)' });
    const user = await userForToken(store, token);
    if (!user) throw unauthenticated({ field: 'authorization', rule: 'valid-token', message: 'authorization: the token is unknown or revoked' });
    request.apiUser = user;
  });

  const user = (r: FastifyRequest) => r.apiUser!;

  // --- Dashboard (static, no build step) ---
  const publicRoute = { schema: { hide: true }, config: { public: true } };
  const staticHeaders = { 'cache-control': 'no-store', 'content-security-policy': DASHBOARD_CSP, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' };
  app.get('/dashboard', publicRoute, async (_r, reply) => reply.redirect(DASHBOARD_PATH));
  app.get(DASHBOARD_PATH, publicRoute, async (_r, reply) => reply.type(DASHBOARD_FILES['index.html']!).headers(staticHeaders).send(dashboard['index.html']));
  for (const f of ['app.js', 'style.css']) {
    app.get(`${DASHBOARD_PATH}${f}`, publicRoute, async (_r, reply) => reply.type(DASHBOARD_FILES[f]!).headers(staticHeaders).send(dashboard[f]));
  }

  app.get(OPENAPI_PATH, publicRoute, () => openApi());

  // --- Console (plain ES modules, no build step: see console-assets.ts) ---
  const consoleFiles = loadConsoleAssets();
  const consoleHeaders = { ...staticHeaders, 'content-security-policy': consoleFiles.csp };
  app.get('/console', publicRoute, async (_r, reply) => reply.redirect(CONSOLE_PATH));
  app.get(CONSOLE_PATH, publicRoute, async (_r, reply) => {
    const index = consoleFiles.assets.get('index.html')!;
    return reply.type(index.type).headers(consoleHeaders).send(index.body);
  });
  app.get(`${CONSOLE_PATH}*`, publicRoute, async (r, reply) => {
    const asset = consoleFiles.assets.get((r.params as { '*': string })['*']);
    if (!asset) return reply.code(404).type('text/plain').send('not found');
    return reply.type(asset.type).headers(consoleHeaders).send(asset.body);
  });

  // --- API ---
  const siteData = opts.siteData ?? new SiteDataService(store, { now: opts.now });
  await siteDataRoutes(app, { service: siteData, records: service, pairing: opts.pairing, badgeDesk: opts.badgeDesk ?? new BadgeDesk({ store }), prefix: API_PREFIX });
  await eventRoutes(app, { feed: opts.events ?? new ChangeFeed(store), prefix: API_PREFIX });
  if (opts.releases) await fleetRoutes(app, { releases: opts.releases, prefix: API_PREFIX, now: opts.now ?? (() => new Date()) });

  app.get(`${API_PREFIX}/me`, {
    schema: { summary: 'Who the token belongs to', tags: ['session'], security: secured, response: { 200: anyObject, ...errors } },
  }, async (r) => {
    const u = user(r);
    return {
      id: u.id, name: u.name, role: u.role, company: u.company, sites: await service.sites(u), canSeeNiss: u.canSeeNiss,
      permissions: PERMISSIONS.filter((p) => may(u, p)), now: service.nowIso(), missingSources: await service.missingSources(),
    };
  });

  app.get(`${API_PREFIX}/presence`, {
    schema: { summary: 'Who is on which site now', tags: ['presence'], security: secured, querystring: { type: 'object', properties: { site: text('site id') }, additionalProperties: false }, response: { 200: anyObject, ...errors } },
  }, async (r) => ({ now: service.nowIso(), presence: await service.presence(user(r), (r.query as { site?: string }).site) }));

  app.get(`${API_PREFIX}/registrations`, {
    schema: { summary: 'Registrations of a period (at most 100 days), per site / worker / company / declaration', tags: ['registrations'], security: secured, querystring: periodQuery, response: { 200: anyObject, ...errors } },
  }, async (r) => service.registrations(user(r), r.query as Record<string, string>));

  app.get(`${API_PREFIX}/export`, {
    schema: {
      summary: 'Export registrations as CSV or JSON (at most 100 calendar days, FAQ 39; NISS only for users allowed to see it)',
      tags: ['registrations'],
      security: secured,
      querystring: { ...periodQuery, properties: { ...periodQuery.properties, format: { type: 'string', enum: ['csv', 'json'], default: 'csv' } } },
      response: errors,
    },
  }, async (r, reply) => {
    const out = await service.export(user(r), r.query as Record<string, string>);
    return reply.type(out.contentType).header('content-disposition', `attachment; filename="${out.filename}"`).header('x-ciao-count', String(out.count)).send(out.body);
  });

  app.get(`${API_PREFIX}/remarks`, {
    schema: {
      summary: 'Remarks, recomputed from the data at each call; each with its advice in FR / NL / EN',
      tags: ['remarks'],
      security: secured,
      querystring: { type: 'object', properties: { from: day, to: day, site: text('site id'), kind: { type: 'string', enum: [...REMARK_KINDS], description: 'only this kind of remark' } }, additionalProperties: false },
      response: { 200: anyObject, ...errors },
    },
  }, async (r) => {
    const remarks = await service.remarks(user(r), r.query as Record<string, string>);
    return { now: service.nowIso(), count: remarks.length, remarks };
  });

  app.get(`${API_PREFIX}/outages`, {
    schema: { summary: 'Outage journal (proof for force majeure, FAQ 57-59)', tags: ['remarks'], security: secured, querystring: { type: 'object', properties: { from: day, to: day }, additionalProperties: false }, response: { 200: anyObject, ...errors } },
  }, async (r) => ({ outages: await service.outages(user(r), r.query as Record<string, string>) }));

  app.get(`${API_PREFIX}/timeline`, {
    schema: { summary: "A worker's day as bars (work, breaks); a night shift belongs to the day of its IN", tags: ['presence'], security: secured, querystring: { type: 'object', properties: { worker: text('worker id'), day, site: text('site id') }, required: ['worker'], additionalProperties: false }, response: { 200: anyObject, ...errors } },
  }, async (r) => service.timeline(user(r), r.query as Record<string, string>));

  app.get(`${API_PREFIX}/corrections`, {
    schema: { summary: 'Correction requests', tags: ['corrections'], security: secured, querystring: { type: 'object', properties: { state: { type: 'string', enum: ['draft', 'sent', 'accepted', 'refused'] }, seq: { type: 'integer', minimum: 1 } }, additionalProperties: false }, response: { 200: anyObject, ...errors } },
  }, async (r) => ({ corrections: await service.corrections(user(r), r.query as { state?: string; seq?: number }) }));

  app.post(`${API_PREFIX}/corrections`, {
    schema: {
      summary: 'Prepare a correction request (draft): only the company number or the declaration number, within 30 days, with a reason (FAQ 36). The registration itself is not changed.',
      tags: ['corrections'],
      security: secured,
      body: {
        type: 'object',
        properties: {
          seq: { type: 'integer', minimum: 1, description: 'registration sequence number' },
          field: { type: 'string', description: 'employer or declaration (nothing else can be corrected)' },
          requestedValue: { type: 'string', maxLength: 40 },
          reason: { type: 'string', maxLength: 1000 },
        },
        required: ['seq', 'field', 'requestedValue', 'reason'],
        additionalProperties: false,
      },
      response: { 201: anyObject, ...errors },
    },
  }, async (r, reply) => reply.code(201).send(await service.prepareCorrection(user(r), r.body as { seq: number; field: string; requestedValue: string; reason: string })));

  app.post(`${API_PREFIX}/corrections/:id/state`, {
    schema: {
      summary: 'Record that a request was sent to ONSS, or ONSS\'s decision (draft -> sent -> accepted | refused)',
      tags: ['corrections'],
      security: secured,
      params: { type: 'object', properties: { id: { type: 'integer', minimum: 1 } }, required: ['id'] },
      body: { type: 'object', properties: { state: { type: 'string' }, note: { type: 'string', maxLength: 1000 } }, required: ['state'], additionalProperties: false },
      response: { 200: anyObject, ...errors },
    },
  }, async (r) => {
    const { id } = r.params as { id: number };
    const { state, note } = r.body as { state: string; note?: string };
    return service.changeCorrection(user(r), id, state, note);
  });

  app.get(`${API_PREFIX}/corrections/document`, {
    schema: {
      summary: 'The document to send to ONSS for one or more correction requests: CSV, JSON, or a printable HTML page',
      tags: ['corrections'],
      security: secured,
      querystring: { type: 'object', properties: { ids: { type: 'string', pattern: '^\\d+(,\\d+)*$', description: 'comma-separated request ids' }, format: { type: 'string', enum: ['csv', 'json', 'html'], default: 'html' } }, required: ['ids'], additionalProperties: false },
      response: errors,
    },
  }, async (r, reply) => {
    const q = r.query as { ids: string; format: string };
    const doc = await service.correctionDocument(user(r), q.ids.split(',').map(Number), q.format);
    const disposition = q.format === 'html' ? 'inline' : 'attachment';
    return reply.type(doc.contentType).header('content-disposition', `${disposition}; filename="${doc.filename}"`).send(doc.body);
  });

  app.get(`${API_PREFIX}/applies`, {
    schema: {
      summary: 'Is a declaration of works needed; do CIaO and Checkinatwork apply? With the deciding rule (FAQ 3, 6, 10)',
      tags: ['applicability'],
      security: secured,
      querystring: {
        type: 'object',
        properties: {
          amount: { type: 'string', maxLength: 40, description: 'main contract value in EUR, as Belgians type it: 30000, 30.000, 30 000, 30.000,50' },
          subcontractors: { type: 'integer', minimum: 0 },
          cleaning: { type: 'boolean' },
          otherWorks: { type: 'boolean' },
          declarationTotal: { type: 'string', maxLength: 40, description: 'sum of the main contracts on the declaration, EUR (same forms)' },
          movableOnly: { type: 'boolean' },
          voluntary: { type: 'boolean' },
        },
        required: ['amount', 'subcontractors', 'cleaning'],
        additionalProperties: false,
      },
      response: { 200: anyObject, ...errors },
    },
  }, async (r) => {
    const q = r.query as { amount: string; subcontractors: number; cleaning: boolean; otherWorks?: boolean; declarationTotal?: string; movableOnly?: boolean; voluntary?: boolean };
    // Read as typed, never coerced: a number type would take `30.000` for 30 EUR.
    const amount = parseEuroAmount(q.amount, 'amount');
    const total = q.declarationTotal === undefined ? undefined : parseEuroAmount(q.declarationTotal, 'declarationTotal');
    const problems = [amount, ...(total ? [total] : [])].flatMap((c) => (c.ok ? [] : [c.problem]));
    if (problems.length) throw new InvalidInputError(problems);
    return decideApplicability({ amountEur: (amount as { value: number }).value, subcontractors: q.subcontractors, cleaning: q.cleaning, otherWorks: q.otherWorks, declarationTotalEur: total?.ok ? total.value : undefined, movableOnly: q.movableOnly, voluntaryDeclaration: q.voluntary });
  });
}
