import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { createLogger, type Logger } from '../../shared/logging.ts';
import { AuthError, TokenService, type EmulatorClient } from './auth.ts';
import {
  applyFaults, describeFaults, faultSettingsSchema, noFaults, shouldHangUpAfterProcessing, shouldReset,
  type FaultSettings, type FaultState,
} from './faults.ts';
import { KnownWorld, type KnownData } from './known-data.ts';
import { EmulatorStore, type StoredRegistration } from './store.ts';
import { checkItem } from './validation.ts';

/**
 * The ONSS PresenceRegistration REST service, emulated: token endpoint, registerInBulk, search, get by id,
 * asynchronous remarks, and fault injection. It is the only ONSS the tests, the demo and the benchmarks
 * talk to. The shapes follow what public sources show and are provisional (docs/onss.md).
 */
const TOKEN_PATH = '/REST/oauth/v5/token';
const API_BASE = '/REST/presenceRegistration/v1/presenceRegistrations';
const MAX_BULK_ITEMS = 200;
/** A search reaches at most this many registrations, in pages of at most MAX_PAGE_SIZE (SOAP contract; provisional for REST). */
const MAX_SEARCH_RESULTS = 500;
const MAX_PAGE_SIZE = 50;
const DATE_OR_INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?Z)?$/;

export interface EmulatorOptions {
  port?: number;
  host?: string;
  dbPath: string;
  clients?: EmulatorClient[];
  knownData?: KnownData;
  faults?: FaultSettings;
  /** Access token lifetime; default 600 s. */
  tokenTtlSeconds?: number;
  /** How far ahead a client assertion's `exp` may be; default 300 s. */
  maxAssertionLifetimeSeconds?: number;
  /** Extra accepted `aud` values (the token endpoint URL as the emulator sees it is always accepted). */
  audiences?: string[];
  /** How far in the future a registrationDate may be (clock tolerance); default 5 min. */
  futureToleranceMs?: number;
  /** Delay before remarks are computed (validity leaves `pending`); default 500 ms. */
  remarksDelayMs?: number;
  logger?: Logger;
  /** Serve HTTPS with this certificate and key (PEM), as the real service does. */
  tls?: { certPem: string; keyPem: string };
}

export interface EmulatorHandle {
  url: string;
  port: number;
  store: EmulatorStore;
  /** /REST requests received so far, answered or not (faults included). */
  requestCount(): number;
  setFaults(settings: FaultSettings): void;
  clearFaults(): void;
  registerClient(client: EmulatorClient): void;
  stop(): Promise<void>;
}

function problem(reply: FastifyReply, status: number, type: string, title: string, detail: string, extra: Record<string, unknown> = {}) {
  return reply.code(status).type('application/problem+json').send({ type, title, status, detail, ...extra });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function registrationView(r: StoredRegistration) {
  return {
    id: r.id,
    ...(r.client_reference ? { clientReference: r.client_reference } : {}),
    ...(r.ssin ? { ssin: r.ssin } : { limosaId: r.limosa_id }),
    employer: r.employer_kind === 'enterprise' ? { enterpriseNumber: r.employer_id } : { foreignVatNumber: r.employer_id },
    contractualRelationshipReference: r.reference,
    type: r.type,
    ...(r.capacity ? { capacity: r.capacity } : {}),
    registrationDate: r.registration_date,
    placeOfWork: JSON.parse(r.place_of_work),
    validity: r.validity,
    remarks: JSON.parse(r.remarks) as string[],
    registeredAt: r.received_at,
  };
}

export async function startEmulator(options: EmulatorOptions): Promise<EmulatorHandle> {
  const logger = options.logger ?? createLogger('onss-emulator');
  const store = new EmulatorStore(options.dbPath);
  const world = new KnownWorld(options.knownData);
  const faults: FaultState = noFaults();
  let baseUrl = '';
  const tokens = new TokenService(store, {
    tokenTtlSeconds: options.tokenTtlSeconds ?? 600,
    maxAssertionLifetimeSeconds: options.maxAssertionLifetimeSeconds ?? 300,
    audiences: () => [`${baseUrl}${TOKEN_PATH}`, ...(options.audiences ?? [])],
  });
  for (const c of options.clients ?? []) tokens.register(c);
  if (options.faults) applyFaults(faults, options.faults);
  const futureToleranceMs = options.futureToleranceMs ?? 5 * 60_000;
  const remarksDelayMs = options.remarksDelayMs ?? 500;

  const app = (options.tls
    ? Fastify({ logger: false, bodyLimit: 4 * 1024 * 1024, forceCloseConnections: true, https: { cert: options.tls.certPem, key: options.tls.keyPem } })
    : Fastify({ logger: false, bodyLimit: 4 * 1024 * 1024, forceCloseConnections: true })) as unknown as FastifyInstance;
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) logger.error({ err }, 'emulator error');
    return problem(reply, status, status === 413 ? 'urn:problem-type:belgif:payloadTooLarge' : status < 500 ? 'urn:problem-type:belgif:badRequest' : 'urn:problem-type:belgif:internalServerError',
      status === 413 ? 'Payload Too Large' : status < 500 ? 'Bad Request' : 'Internal Server Error', err.message);
  });

  // Faults apply to every service route, the token endpoint included; the admin view stays reachable.
  let requestsSeen = 0;
  app.addHook('preHandler', async (req: FastifyRequest, reply: FastifyReply) => {
    if (!req.url.startsWith('/REST/')) return;
    requestsSeen++;
    if (faults.latencyMs > 0) await sleep(faults.latencyMs);
    if (shouldReset(faults)) {
      reply.hijack();
      const socket = req.raw.socket;
      if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
      else socket.destroy();
      return reply;
    }
    const now = Date.now();
    if (faults.unavailableUntil > now) {
      return problem(reply, faults.unavailableStatus, faults.unavailableStatus === 503 ? 'urn:problem-type:belgif:serviceUnavailable' : 'urn:problem-type:belgif:internalServerError',
        faults.unavailableStatus === 503 ? 'Service Unavailable' : 'Internal Server Error', 'injected outage window');
    }
    if (faults.rateLimitUntil > now) {
      reply.header('retry-after', String(faults.retryAfterSeconds));
      return problem(reply, 429, 'urn:problem-type:belgif:tooManyRequests', 'Too Many Requests', 'injected rate limit');
    }
    if (faults.errorRate > 0 && Math.random() < faults.errorRate) {
      const status = Math.random() < 0.5 ? 500 : 503;
      return problem(reply, status, status === 503 ? 'urn:problem-type:belgif:serviceUnavailable' : 'urn:problem-type:belgif:internalServerError',
        status === 503 ? 'Service Unavailable' : 'Internal Server Error', 'injected error');
    }
  });

  const authenticate = (req: FastifyRequest, reply: FastifyReply): string | undefined => {
    try {
      return tokens.authenticate(req.headers.authorization);
    } catch (e) {
      if (e instanceof AuthError) {
        reply.header('www-authenticate', 'Bearer error="invalid_token"');
        problem(reply, e.status, e.problemType, e.title, e.message);
        return undefined;
      }
      throw e;
    }
  };

  app.post(TOKEN_PATH, async (req, reply) => {
    if (typeof req.body !== 'object' || req.body === null || !String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      return problem(reply, 400, 'urn:problem-type:belgif:badRequest', 'Bad Request', 'the token request must be application/x-www-form-urlencoded');
    }
    const host = req.headers.host ?? '';
    try {
      const grant = await tokens.grant(req.body as Record<string, unknown>, [`http://${host}${TOKEN_PATH}`, `https://${host}${TOKEN_PATH}`]);
      return reply.header('cache-control', 'no-store').send(grant);
    } catch (e) {
      if (e instanceof AuthError) return problem(reply, e.status, e.problemType, e.title, e.message);
      throw e;
    }
  });

  app.post(`${API_BASE}/registerInBulk`, async (req, reply) => {
    const clientId = authenticate(req, reply);
    if (!clientId) return reply;
    const body = req.body as { items?: unknown } | undefined;
    if (!body || typeof body !== 'object' || !Array.isArray(body.items)) {
      return problem(reply, 400, 'urn:problem-type:belgif:badRequest', 'Bad Request', 'body must be {"items": [...]}', {
        issues: [{ in: 'body', name: 'items', type: 'urn:problem-type:belgif:input-validation:schemaViolation', detail: 'items must be an array' }],
      });
    }
    if (body.items.length === 0) return problem(reply, 400, 'urn:problem-type:belgif:badRequest', 'Bad Request', 'items must not be empty');
    if (body.items.length > MAX_BULK_ITEMS) {
      return problem(reply, 413, 'urn:problem-type:belgif:payloadTooLarge', 'Payload Too Large', `at most ${MAX_BULK_ITEMS} items per call, got ${body.items.length}`);
    }
    const now = Date.now();
    const items0 = body.items as unknown[];
    const checked = items0.map((item, i) => checkItem(item, i, { now, futureToleranceMs }));
    const { requestId, ids } = store.recordBulk(
      clientId,
      checked.map((c, i) => (c.ok ? { created: c.value } : { refused: { clientReference: c.clientReference, errors: c.errors, item: items0[i] } })),
    );
    if (shouldHangUpAfterProcessing(faults)) {
      store.markUnanswered(requestId);
      reply.hijack();
      req.raw.socket.destroy();
      return reply;
    }
    const items = checked.map((c, i) =>
      c.ok
        ? { createdPresenceRegistration: { id: ids[i], ...(c.value.clientReference ? { clientReference: c.value.clientReference } : {}), validity: 'pending', remarks: [] } }
        : { notCreatedPresenceRegistration: { ...(c.clientReference ? { clientReference: c.clientReference } : {}), errors: c.errors } },
    );
    return reply.code(200).send({ items });
  });

  app.get(API_BASE, async (req, reply) => {
    const clientId = authenticate(req, reply);
    if (!clientId) return reply;
    const q = req.query as Record<string, string | undefined>;
    const bad = (detail: string) => problem(reply, 400, 'urn:problem-type:belgif:badRequest', 'Bad Request', detail);
    // The SOAP contract's rules: a period is mandatory; at most 500 results, in pages (docs/onss.md).
    const page = q.page === undefined ? 1 : Number(q.page);
    const pageSize = q.pageSize === undefined ? MAX_PAGE_SIZE : Number(q.pageSize);
    if (!Number.isInteger(page) || page < 1) return bad('page must be a whole number from 1');
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) return bad(`pageSize must be 1 to ${MAX_PAGE_SIZE}`);
    for (const d of ['startDate', 'endDate']) {
      if (!q[d]) return bad(`${d} is required: a search covers a period (startDate and endDate, both included)`);
      if (!DATE_OR_INSTANT.test(q[d]!) || Number.isNaN(Date.parse(q[d]!))) return bad(`${d} must be a date (YYYY-MM-DD) or a UTC instant (YYYY-MM-DDTHH:MM:SSZ)`);
    }
    const toUtc = (s: string, end: boolean) => (s.length === 10 ? `${s}T${end ? '23:59:59' : '00:00:00'}Z` : `${new Date(s).toISOString().slice(0, 19)}Z`);
    const from = toUtc(q.startDate!, false);
    const to = toUtc(q.endDate!, true);
    if (to < from) return bad('endDate must not be before startDate');
    const offset = (page - 1) * pageSize;
    if (offset >= MAX_SEARCH_RESULTS) return bad(`a search returns at most ${MAX_SEARCH_RESULTS} results: narrow the period`);
    const limit = Math.min(pageSize, MAX_SEARCH_RESULTS - offset);
    const { total, rows } = store.search({
      clientId,
      ssin: q.ssin,
      enterpriseNumber: q.enterpriseNumber,
      reference: q.contractualRelationshipReference,
      clientReference: q.clientReference,
      from,
      to,
      limit,
      offset,
    });
    // `total` counts every match, also beyond the 500 a search returns: the client then narrows the period.
    return reply.send({ items: rows.map(registrationView), page, pageSize, total });
  });

  app.get(`${API_BASE}/:id`, async (req, reply) => {
    const clientId = authenticate(req, reply);
    if (!clientId) return reply;
    const r = store.get((req.params as { id: string }).id, clientId);
    if (!r) return problem(reply, 404, 'urn:problem-type:belgif:resourceNotFound', 'Resource Not Found', 'no presence registration with this id');
    return reply.send(registrationView(r));
  });

  // Read-only view for tests and the demo, plus run-time fault injection.
  app.get('/admin/faults', async () => describeFaults(faults));
  app.put('/admin/faults', async (req, reply) => {
    const r = faultSettingsSchema.safeParse(req.body ?? {});
    if (!r.success) return problem(reply, 400, 'urn:problem-type:belgif:badRequest', 'Bad Request', r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
    if (applyFaults(faults, r.data).expireTokens) tokens.expireAll();
    return describeFaults(faults);
  });
  app.delete('/admin/faults', async () => {
    Object.assign(faults, noFaults());
    return describeFaults(faults);
  });
  app.post('/admin/clients', async (req, reply) => {
    const c = req.body as EmulatorClient;
    if (!c || typeof c.clientId !== 'string') return problem(reply, 400, 'urn:problem-type:belgif:badRequest', 'Bad Request', 'clientId is required');
    try {
      tokens.register(c);
    } catch (e) {
      return problem(reply, 400, 'urn:problem-type:belgif:badRequest', 'Bad Request', (e as Error).message);
    }
    return { clientIds: tokens.clientIds() };
  });
  app.get('/admin/stats', async () => store.stats());
  app.get('/admin/registrations', async (req) => {
    const q = req.query as Record<string, string | undefined>;
    const rows = store.received(Number(q.afterSeq ?? 0) || 0, Math.min(Number(q.limit ?? 500) || 500, 5000));
    return { items: rows.map((r) => ({ seq: r.seq, clientId: r.client_id, ...registrationView(r) })) };
  });
  app.get('/admin/not-created', async (req) => {
    const q = req.query as Record<string, string | undefined>;
    return { items: store.notCreated(Number(q.afterSeq ?? 0) || 0, Math.min(Number(q.limit ?? 500) || 500, 5000)) };
  });

  // Remarks come later, as at ONSS: pending registrations become validated or "with remarks".
  const remarksTimer = setInterval(() => {
    try {
      const before = new Date(Date.now() - remarksDelayMs).toISOString();
      // Small slices keep the event loop free for requests; 1,000 every 100 ms is far above the intake.
      const rows = store.pending(before, 1000);
      if (rows.length === 0) return;
      store.setValidity(
        rows.map((r) => {
          const remarks = world.remarksFor(r);
          if (store.hasEarlierSame(r)) remarks.unshift('SAME DECLARATION HAS ALREADY BEEN REGISTERED');
          return { seq: r.seq, validity: remarks.length > 0 ? 'withRemarks' : 'validated', remarks };
        }),
      );
    } catch (e) {
      logger.error({ err: e }, 'remarks pass failed');
    }
  }, Math.max(20, Math.min(remarksDelayMs, 100)));
  remarksTimer.unref();

  const address = await app.listen({ port: options.port ?? 0, host: options.host ?? '127.0.0.1' });
  const port = Number(new URL(address).port);
  baseUrl = `${options.tls ? 'https' : 'http'}://${options.host ?? '127.0.0.1'}:${port}`;
  logger.info({ url: baseUrl, clients: tokens.clientIds().length }, 'ONSS emulator listening');

  return {
    url: baseUrl,
    port,
    store,
    requestCount: () => requestsSeen,
    setFaults(settings) {
      if (applyFaults(faults, faultSettingsSchema.parse(settings)).expireTokens) tokens.expireAll();
    },
    clearFaults() {
      Object.assign(faults, noFaults());
    },
    registerClient(c) {
      tokens.register(c);
    },
    async stop() {
      clearInterval(remarksTimer);
      await app.close();
      store.close();
    },
  };
}
