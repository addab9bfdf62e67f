import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CAPACITIES } from '../../shared/registration.ts';
import { LANGUAGES } from '../../shared/mqtt/payloads.ts';
import { ROLES } from '../access/roles.ts';
import { requirePermission, type ApiUser } from '../access/users.ts';
import { auditCsv } from '../site-data/audit.ts';
import { SiteDataService, type Caller, type ListQuery } from '../site-data/service.ts';
import type { RecordsService } from '../records/service.ts';
import { PROBLEM_SCHEMA } from './problems.ts';
import { conflict } from '../../shared/errors.ts';
import type { BadgeDesk } from '../badge-security/desk-jobs.ts';

/** The QR code library is loaded the first time a code is drawn (a pairing, a fallback URL), not at start. */
let qrcode: Promise<typeof import('qrcode')> | undefined;
async function qrSvgOf(text: string, options: import('qrcode').QRCodeToStringOptions): Promise<string> {
  const mod = await (qrcode ??= import('qrcode'));
  // A CommonJS package: its functions are on the module's default export.
  const QRCode = (mod as unknown as { default?: typeof mod }).default ?? mod;
  return QRCode.toString(text, options);
}

/**
 * The site-data half of the admin API: list (search, paging), read, create, update, deactivate for
 * companies, sites, declarations, workers, badges, terminals and users; CSV imports; enrolment from a tap;
 * terminal pairing codes; the audit trail. Every route is a thin face over `SiteDataService`, which
 * `ciao admin` calls too: same rules, same errors. There is no DELETE: nothing a registration refers to is
 * ever removed.
 */
export interface SiteDataRoutesOptions {
  service: SiteDataService;
  records: RecordsService;
  /** The pairing listener's address and CA fingerprint, when the gateway has one (else pairing is off). */
  pairing?: () => { url: string; fingerprint: string } | undefined;
  /** The desk reader on which the console personalises blank secure badges. */
  badgeDesk: BadgeDesk;
  prefix: string;
}

const anyObject = { type: 'object', additionalProperties: true } as const;
const errors = { 400: PROBLEM_SCHEMA, 401: PROBLEM_SCHEMA, 403: PROBLEM_SCHEMA, 404: PROBLEM_SCHEMA, 409: PROBLEM_SCHEMA, 503: PROBLEM_SCHEMA };
const secured = [{ bearerAuth: [] as string[] }];
const day = { type: 'string', maxLength: 10, description: 'YYYY-MM-DD' } as const;
const str = (maxLength: number, description?: string) => ({ type: 'string', maxLength, ...(description ? { description } : {}) }) as const;
/** A value that may also be null (to go back to a default); an enum must then list null too (Ajv checks both). */
const nullable = <T extends object>(s: T) => ({ ...s, nullable: true, ...('enum' in s && Array.isArray(s.enum) ? { enum: [...(s.enum as unknown[]), null] } : {}) }) as const;

const listQuery = {
  type: 'object',
  properties: {
    q: str(100, 'search text: ids, names, numbers (a NISS is matched exactly)'),
    offset: { type: 'integer', minimum: 0, default: 0 },
    limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
    inactive: { type: 'boolean', default: false, description: 'include deactivated records' },
    site: str(64, 'only this site'),
  },
  additionalProperties: false,
} as const;

const idParams = (name: string) => ({ type: 'object', properties: { id: str(64, name) }, required: ['id'] }) as const;

const companyBody = { type: 'object', properties: { number: str(20, 'enterprise number or foreign VAT/id'), name: str(200) }, required: ['number', 'name'], additionalProperties: false } as const;
const siteFields = {
  name: str(200),
  language: { type: 'string', enum: [...LANGUAGES] },
  postCode: str(10), municipality: str(100), street: str(200), houseNumber: str(20), box: str(20),
  latitude: { type: 'number', minimum: -90, maximum: 90 },
  longitude: { type: 'number', minimum: -180, maximum: 180 },
  requireSecureBadges: { type: 'boolean', description: "require secure badges (NTAG 424 DNA): UID-only badges are refused at enrolment for the site's workers and flagged on every tap; left out, the rule is kept" },
} as const;
const declarationFields = {
  siteId: str(64), validFrom: day, validTo: nullable(day),
  companies: { type: 'array', items: str(20), minItems: 1, maxItems: 20, description: 'contractor chain, main contractor first' },
  ciaoUrl: nullable(str(500, "the declaration's CIaO registration URL (its QR code): the fallback when a terminal cannot register (FAQ 31)")),
} as const;
const placementFields = {
  worker: str(64, 'worker id, NISS/BIS or Limosa id'), agency: str(20, "the agency's enterprise number (on the registrations)"),
  userCompany: str(20, 'the company the worker works for on site'), validFrom: day, validTo: nullable(day),
} as const;
const workerFields = {
  niss: str(20, 'NISS or BIS number'), limosa: str(40, 'Limosa id (posted workers)'), name: str(100),
  capacity: { type: 'string', enum: [...CAPACITIES] },
  employers: { type: 'array', items: str(20), minItems: 1, maxItems: 10 },
} as const;
const terminalFields = {
  siteId: str(64),
  language: nullable({ type: 'string', enum: [...LANGUAGES] }),
  debounceSeconds: { type: 'integer', minimum: 0, maximum: 3600 },
  buttons: { type: 'array', items: { type: 'string', enum: ['IN', 'OUT', 'BREAK'] }, minItems: 1, maxItems: 3, uniqueItems: true },
  armSeconds: { type: 'integer', minimum: 1, maximum: 60 },
  feedbackSeconds: nullable({ type: 'number', minimum: 0.5, maximum: 30 }),
} as const;
const userFields = {
  name: str(100), role: { type: 'string', enum: [...ROLES] }, company: nullable(str(20)),
  sites: { type: 'array', items: str(64), maxItems: 100 }, canSeeNiss: { type: 'boolean' },
} as const;
const badgeFields = { worker: str(64, 'worker id, NISS/BIS or Limosa id'), validFrom: day, validTo: nullable(day) } as const;

function callerOf(r: FastifyRequest): Caller {
  const user = r.apiUser as ApiUser;
  return { actor: { kind: 'user', id: user.id, name: user.name }, user };
}

export async function siteDataRoutes(app: FastifyInstance, opts: SiteDataRoutesOptions): Promise<void> {
  const { service, prefix } = opts;
  const caller = callerOf;

  /** list, read, create, update, deactivate and reactivate for one entity. */
  function entity<C, U>(def: {
    path: string;
    tag: string;
    what: string;
    createBody: object;
    updateBody: object;
    list(c: Caller, q: ListQuery): unknown;
    get(c: Caller, id: string): unknown;
    create(c: Caller, body: C): unknown;
    update(c: Caller, id: string, body: U): unknown;
    setActive?(c: Caller, id: string, active: boolean, body: Record<string, unknown>): unknown;
    deactivateQuery?: object;
    listQuery?: object;
  }): void {
    const base = `${prefix}/${def.path}`;
    app.get(base, { schema: { summary: `List ${def.what} (search, paging)`, tags: [def.tag], security: secured, querystring: def.listQuery ?? listQuery, response: { 200: anyObject, ...errors } } },
      async (r) => def.list(caller(r), r.query as ListQuery));
    app.get(`${base}/:id`, { schema: { summary: `Read one of the ${def.what}`, tags: [def.tag], security: secured, params: idParams('id'), response: { 200: anyObject, ...errors } } },
      async (r) => def.get(caller(r), (r.params as { id: string }).id));
    app.post(base, { schema: { summary: `Create one of the ${def.what}`, tags: [def.tag], security: secured, body: def.createBody, response: { 201: anyObject, ...errors } } },
      async (r, reply) => reply.code(201).send(await def.create(caller(r), r.body as C)));
    app.patch(`${base}/:id`, { schema: { summary: `Change one of the ${def.what} (fields left out keep their value)`, tags: [def.tag], security: secured, params: idParams('id'), body: def.updateBody, response: { 200: anyObject, ...errors } } },
      async (r) => def.update(caller(r), (r.params as { id: string }).id, r.body as U));
    if (def.setActive) {
      const setActive = def.setActive;
      app.post(`${base}/:id/deactivate`, { schema: { summary: `Deactivate one of the ${def.what} (kept with its history, never deleted)`, tags: [def.tag], security: secured, params: idParams('id'), ...(def.deactivateQuery ? { querystring: def.deactivateQuery } : {}), response: { 200: anyObject, ...errors } } },
        async (r) => setActive(caller(r), (r.params as { id: string }).id, false, (r.query ?? {}) as Record<string, unknown>));
      if (def.path !== 'badges' && def.path !== 'users') {
        app.post(`${base}/:id/reactivate`, { schema: { summary: `Reactivate one of the ${def.what}`, tags: [def.tag], security: secured, params: idParams('id'), response: { 200: anyObject, ...errors } } },
          async (r) => setActive(caller(r), (r.params as { id: string }).id, true, {}));
      }
    }
  }

  entity<{ number: string; name: string }, { name: string }>({
    path: 'companies', tag: 'site data', what: 'companies',
    createBody: companyBody,
    updateBody: { type: 'object', properties: { name: str(200) }, required: ['name'], additionalProperties: false },
    list: (c, q) => service.listCompanies(c, q),
    get: (c, id) => service.getCompany(c, id),
    create: (c, b) => service.createCompany(c, b),
    update: (c, id, b) => service.updateCompany(c, id, b),
    setActive: (c, id, a) => service.setCompanyActive(c, id, a),
  });

  type SiteBody = { id: string; name: string; language?: string; postCode?: string; municipality?: string; street?: string; houseNumber?: string; box?: string; latitude?: number; longitude?: number; requireSecureBadges?: boolean };
  entity<SiteBody, Omit<SiteBody, 'id'>>({
    path: 'sites', tag: 'site data', what: 'sites',
    createBody: { type: 'object', properties: { id: str(64, 'short id: letters, digits, - and _'), ...siteFields }, required: ['id', 'name'], additionalProperties: false },
    updateBody: { type: 'object', properties: siteFields, required: ['name'], additionalProperties: false },
    list: (c, q) => service.listSites(c, q),
    get: (c, id) => service.getSite(c, id),
    create: (c, b) => service.createSite(c, b),
    update: (c, id, b) => service.updateSite(c, id, b),
    setActive: (c, id, a) => service.setSiteActive(c, id, a),
  });

  type DeclBody = { number: string; siteId: string; validFrom: string; validTo?: string | null; companies: string[]; ciaoUrl?: string | null };
  const declInput = (b: Omit<DeclBody, 'number'>) => ({ siteId: b.siteId, validFrom: b.validFrom, validTo: b.validTo ?? undefined, companies: b.companies, ...(b.ciaoUrl !== undefined ? { ciaoUrl: b.ciaoUrl } : {}) });
  entity<DeclBody, Omit<DeclBody, 'number'>>({
    path: 'declarations', tag: 'site data', what: 'declarations of works',
    createBody: { type: 'object', properties: { number: str(20, 'declaration-of-works number (13 characters)'), ...declarationFields }, required: ['number', 'siteId', 'validFrom', 'companies'], additionalProperties: false },
    updateBody: { type: 'object', properties: declarationFields, required: ['siteId', 'validFrom', 'companies'], additionalProperties: false },
    list: (c, q) => service.listDeclarations(c, q),
    get: (c, id) => service.getDeclaration(c, id),
    create: (c, b) => service.createDeclaration(c, { number: b.number, ...declInput(b) }),
    update: (c, id, b) => service.updateDeclaration(c, id, declInput(b)),
    setActive: (c, id, a) => service.setDeclarationActive(c, id, a),
  });

  type WorkerBody = { niss?: string; limosa?: string; name: string; capacity?: string; employers: string[] };
  entity<WorkerBody & { id?: string }, WorkerBody>({
    path: 'workers', tag: 'site data', what: 'workers',
    createBody: { type: 'object', properties: { id: str(64, 'optional own key'), ...workerFields }, required: ['name', 'employers'], additionalProperties: false },
    updateBody: { type: 'object', properties: workerFields, required: ['name', 'employers'], additionalProperties: false },
    list: (c, q) => service.listWorkers(c, q),
    get: (c, id) => service.getWorker(c, id),
    create: (c, b) => service.createWorker(c, b),
    update: (c, id, b) => service.updateWorker(c, id, b),
    setActive: (c, id, a) => service.setWorkerActive(c, id, a),
  });

  type BadgeBody = { uid: string; worker: string; validFrom?: string; validTo?: string | null };
  entity<BadgeBody, Partial<Omit<BadgeBody, 'uid'>>>({
    path: 'badges', tag: 'site data', what: 'badges',
    createBody: { type: 'object', properties: { uid: str(20, 'NFC UID in hex'), ...badgeFields }, required: ['uid', 'worker'], additionalProperties: false },
    updateBody: { type: 'object', properties: badgeFields, additionalProperties: false },
    // A worker's badges (the console's worker detail), each with its kind: `secure` (NTAG 424 DNA, with its key version) or `uid-only`.
    listQuery: { ...listQuery, properties: { ...listQuery.properties, worker: str(64, "only this worker's badges (worker id)") } },
    list: (c, q) => service.listBadges(c, q),
    get: (c, id) => service.getBadge(c, id),
    create: (c, b) => service.createBadge(c, { uid: b.uid, worker: b.worker, validFrom: b.validFrom, validTo: b.validTo ?? undefined }),
    update: (c, id, b) => service.updateBadge(c, id, b),
    setActive: (c, id, _a, body) => service.revokeBadge(c, id, typeof body.reason === 'string' ? body.reason : undefined),
    deactivateQuery: { type: 'object', properties: { reason: str(200, 'why the badge is revoked') }, additionalProperties: false },
  });

  type PlacementBody = { id?: string; worker: string; agency: string; userCompany: string; validFrom: string; validTo?: string | null };
  const placementInput = (b: PlacementBody) => ({ worker: b.worker, agency: b.agency, userCompany: b.userCompany, validFrom: b.validFrom, validTo: b.validTo ?? undefined, ...(b.id ? { id: b.id } : {}) });
  const placementBody = { type: 'object', properties: { id: str(64, 'optional own key'), ...placementFields }, required: ['worker', 'agency', 'userCompany', 'validFrom'], additionalProperties: false } as const;
  entity<PlacementBody, PlacementBody>({
    path: 'placements', tag: 'site data', what: 'agency placements (FAQ 26)',
    createBody: placementBody,
    updateBody: { type: 'object', properties: placementFields, required: ['worker', 'agency', 'userCompany', 'validFrom'], additionalProperties: false },
    list: (c, q) => service.listPlacements(c, q),
    get: (c, id) => service.getPlacement(c, id),
    create: (c, b) => service.createPlacement(c, placementInput(b)),
    update: (c, id, b) => service.updatePlacement(c, id, placementInput(b)),
    setActive: (c, id, a) => service.setPlacementActive(c, id, a),
  });

  // --- what a change would send late: the held taps it releases, shown before it is confirmed ---
  const releasesResponse = { 200: anyObject, ...errors };
  const previewSummary = (what: string) => `The held taps ${what} would send late with their original time (nothing is changed)`;
  app.post(`${prefix}/declarations/preview`, { schema: { summary: previewSummary('adding or changing this declaration'), tags: ['held taps'], security: secured, body: { type: 'object', properties: { number: str(20), ...declarationFields }, required: ['number', 'siteId', 'validFrom', 'companies'], additionalProperties: false }, response: releasesResponse } },
    async (r) => ({ heldTaps: await service.previewDeclaration(caller(r), { number: (r.body as DeclBody).number, ...declInput(r.body as DeclBody) }) }));
  app.post(`${prefix}/badges/preview`, { schema: { summary: previewSummary('enrolling this badge or widening its validity'), tags: ['held taps'], security: secured, body: { type: 'object', properties: { uid: str(20), ...badgeFields }, required: ['uid', 'worker'], additionalProperties: false }, response: releasesResponse } },
    async (r) => {
      const b = r.body as { uid: string; worker: string; validFrom?: string; validTo?: string | null };
      return { heldTaps: await service.previewBadge(caller(r), { uid: b.uid, worker: b.worker, validFrom: b.validFrom, validTo: b.validTo ?? undefined }) };
    });
  app.post(`${prefix}/workers/:id/preview`, { schema: { summary: previewSummary("this change of the worker's record (employers)"), tags: ['held taps'], security: secured, params: idParams('worker id'), body: { type: 'object', properties: workerFields, required: ['name', 'employers'], additionalProperties: false }, response: releasesResponse } },
    async (r) => ({ heldTaps: await service.previewWorker(caller(r), (r.params as { id: string }).id, r.body as { name: string; employers: string[] }) }));
  app.post(`${prefix}/placements/preview`, { schema: { summary: previewSummary('this agency placement'), tags: ['held taps'], security: secured, body: placementBody, response: releasesResponse } },
    async (r) => ({ heldTaps: await service.previewPlacement(caller(r), placementInput(r.body as PlacementBody)) }));
  const choiceBody = { type: 'object', properties: { tapId: str(64), employer: str(20, "one of the employers the worker may register under on the tap's site") }, required: ['tapId', 'employer'], additionalProperties: false } as const;
  app.post(`${prefix}/employer-choices/preview`, { schema: { summary: previewSummary('choosing this employer for a held tap'), tags: ['held taps'], security: secured, body: choiceBody, response: releasesResponse } },
    async (r) => ({ heldTaps: await service.previewEmployerChoice(caller(r), r.body as { tapId: string; employer: string }) }));
  app.post(`${prefix}/employer-choices`, { schema: { summary: 'Choose the employer of a tap held because the worker has several and chose none: the tap is sent late with its original time', tags: ['held taps'], security: secured, body: choiceBody, response: { 201: anyObject, ...errors } } },
    async (r, reply) => reply.code(201).send(await service.chooseEmployer(caller(r), r.body as { tapId: string; employer: string })));

  // --- FAQ 31: the fallback when a terminal cannot register ---
  app.get(`${prefix}/sites/:id/fallback`, {
    schema: { summary: "The CIaO QR code and URL of the site's declaration valid today: the fallback when a terminal cannot register (FAQ 31)", tags: ['site data'], security: secured, params: idParams('site id'), response: { 200: anyObject, ...errors } },
  }, async (r) => {
    const f = await service.siteFallback(caller(r), (r.params as { id: string }).id);
    return { ...f, qrSvg: f.ciaoUrl ? await qrSvgOf(f.ciaoUrl, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 }) : null };
  });

  // --- secure badges: a site's rule, and personalising blank badges on the gateway's desk reader ---
  app.get(`${prefix}/sites/:id/badge-policy`, {
    schema: { summary: "Whether the site requires secure badges (NTAG 424 DNA), and the UID-only badges of its workers, flagged on every tap while it does (those of workers outside the caller's companies are only counted)", tags: ['secure badges'], security: secured, params: idParams('site id'), response: { 200: anyObject, ...errors } },
  }, async (r) => service.siteBadgePolicy(caller(r), (r.params as { id: string }).id));
  app.post(`${prefix}/sites/:id/secure-badges`, {
    schema: { summary: "Require secure badges on the site, or stop requiring them: UID-only badges are then refused at enrolment for its workers and flagged on every tap (recorded in the audit trail as a change of the site)", tags: ['secure badges'], security: secured, params: idParams('site id'), body: { type: 'object', properties: { required: { type: 'boolean' } }, required: ['required'], additionalProperties: false }, response: { 200: anyObject, ...errors } },
  }, async (r) => service.setSiteRequiresSecureBadges(caller(r), (r.params as { id: string }).id, (r.body as { required: boolean }).required));

  const desk = opts.badgeDesk;
  app.get(`${prefix}/badge-desk`, {
    schema: { summary: "The gateway's desk reader for personalising blank secure badges: whether it can be used now (else what is missing), and the run going on or the last one", tags: ['secure badges'], security: secured, response: { 200: anyObject, ...errors } },
  }, async (r) => {
    const c = caller(r);
    requirePermission(c.user, 'change-site-data');
    const status = await desk.status();
    // A run for a worker the caller does not see (FAQ 33) is only said to be going on.
    if (status.job && !(await service.seesWorker(c, status.job.workerId))) return { ...status, job: null };
    return status;
  });
  app.post(`${prefix}/badge-desk/jobs`, {
    schema: {
      summary: "Personalise a blank NTAG 424 DNA on the gateway's desk reader for a worker, as `ciao admin badge provision`, and enrol it as a secure badge. Answers at once (202) with the run, which then waits for the badge; follow it with GET badge-desk. One at a time (409 desk-reader-busy); 503 names what is missing (no desk reader configured, no badge keys, pcscd not running)",
      tags: ['secure badges'], security: secured,
      body: { type: 'object', properties: { worker: str(64, 'worker id, NISS/BIS or Limosa id'), validFrom: day, validTo: day }, required: ['worker'], additionalProperties: false },
      response: { 202: anyObject, ...errors },
    },
  }, async (r, reply) => {
    const c = caller(r);
    const target = await service.personalisationTarget(c, r.body as { worker: string; validFrom?: string; validTo?: string });
    const job = await desk.start({ ...target, by: c.actor, enrol: (input) => service.enrolProvisionedBadge(c, input) });
    return reply.code(202).send({ job });
  });

  type TerminalBody = { id: string; siteId?: string; language?: string | null; debounceSeconds?: number; buttons?: string[]; armSeconds?: number; feedbackSeconds?: number | null };
  entity<TerminalBody, Omit<TerminalBody, 'id'>>({
    path: 'terminals', tag: 'terminals', what: 'terminals',
    createBody: { type: 'object', properties: { id: str(64, 'terminal id (its MQTT client id)'), ...terminalFields }, required: ['id', 'siteId'], additionalProperties: false },
    updateBody: { type: 'object', properties: terminalFields, additionalProperties: false },
    list: async (c, q) => {
      // The status fields the dashboard shows (queued taps, clock skew, version, why it cannot register) ride along.
      const p = await service.listTerminals(c, q);
      const status = new Map((await opts.records.terminals(c.user)).map((t) => [t.terminalId, t]));
      const items = p.items.map((t) => ({ ...t, terminalId: t.id, siteName: status.get(t.id)?.siteName ?? null, queued: status.get(t.id)?.queued ?? null, skewMs: status.get(t.id)?.skewMs ?? null, version: status.get(t.id)?.version ?? null, cannotRegister: status.get(t.id)?.cannotRegister ?? [] }));
      return { ...p, items, terminals: items };
    },
    get: (c, id) => service.getTerminal(c, id),
    create: (c, b) => service.createTerminal(c, b),
    update: (c, id, b) => service.updateTerminal(c, id, b),
    setActive: (c, id, a) => service.setTerminalActive(c, id, a),
  });

  type UserBody = { name: string; role: string; company?: string | null; sites?: string[]; canSeeNiss?: boolean };
  const userInput = (b: UserBody) => ({ name: b.name, role: b.role, company: b.company ?? undefined, sites: b.sites, canSeeNiss: b.canSeeNiss });
  entity<UserBody, UserBody>({
    path: 'users', tag: 'users', what: 'users of the console and the API',
    createBody: { type: 'object', properties: userFields, required: ['name', 'role'], additionalProperties: false },
    updateBody: { type: 'object', properties: userFields, required: ['name', 'role'], additionalProperties: false },
    list: async (c, q) => {
      const p = await service.listUsers(c, q);
      return { ...p, users: p.items };
    },
    get: (c, id) => service.getUser(c, id),
    create: (c, b) => service.createUser(c, userInput(b)),
    update: (c, id, b) => service.updateUser(c, id, userInput(b)),
    setActive: (c, id) => service.revokeUser(c, id),
  });

  // --- terminals: pairing and enrolment mode ---
  app.post(`${prefix}/terminals/:id/pairing`, {
    schema: { summary: 'A one-time pairing code for the terminal (short-lived, single use, stored hashed), with the command and QR code for the device', tags: ['terminals'], security: secured, params: idParams('terminal id'), response: { 201: anyObject, ...errors } },
  }, async (r, reply) => {
    requirePermission(caller(r).user, 'change-site-data');
    const listener = opts.pairing?.();
    if (!listener) {
      throw conflict({ field: 'pairing', rule: 'pairing-listener', message: "pairing: this gateway has no HTTPS pairing listener (http.pairing in its config); add the terminal with 'ciao admin terminal add' instead" });
    }
    const code = await service.createPairingCode(caller(r), (r.params as { id: string }).id);
    const pairingString = `${code.code}.${listener.fingerprint}`;
    const command = `ciao terminal pair ${pairingString} --gateway ${listener.url}`;
    const qrSvg = await qrSvgOf(command, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    return reply.code(201).send({ ...code, pairingString, gateway: listener.url, command, qrSvg });
  });

  app.post(`${prefix}/terminals/:id/enrolment`, {
    schema: { summary: "Enrolment mode: for the next minutes, the console lists the unknown badges tapped on this terminal to enrol them (0: off)", tags: ['terminals'], security: secured, params: idParams('terminal id'), body: { type: 'object', properties: { minutes: { type: 'integer', minimum: 0, maximum: 240 } }, required: ['minutes'], additionalProperties: false }, response: { 200: anyObject, ...errors } },
  }, async (r) => service.setEnrolment(caller(r), (r.params as { id: string }).id, (r.body as { minutes: number }).minutes));

  // --- held taps and enrolment from a tap ---
  app.get(`${prefix}/held-taps`, {
    schema: { summary: 'Taps held for review (unknown badge, badge not valid, no declaration...), newest first', tags: ['enrolment'], security: secured, querystring: { type: 'object', properties: { ...listQuery.properties, terminal: str(64), reason: str(40), since: str(40, 'ISO time: received at or after') }, additionalProperties: false }, response: { 200: anyObject, ...errors } },
  }, async (r) => service.listHeldTaps(caller(r), r.query as ListQuery));

  const enrolBody = { type: 'object', properties: { tapId: str(64), worker: str(64, 'worker id, NISS/BIS or Limosa id'), validTo: day }, required: ['tapId', 'worker'], additionalProperties: false } as const;
  app.post(`${prefix}/enrolments/preview`, {
    schema: { summary: 'What enrolling the badge of a held tap would do: the badge, its first day, and the held taps it would send late', tags: ['enrolment'], security: secured, body: enrolBody, response: { 200: anyObject, ...errors } },
  }, async (r) => service.previewEnrolment(caller(r), r.body as { tapId: string; worker: string; validTo?: string }));
  app.post(`${prefix}/enrolments`, {
    schema: { summary: "Enrol the badge of a held tap for a worker, valid from the tap's site day", tags: ['enrolment'], security: secured, body: enrolBody, response: { 201: anyObject, ...errors } },
  }, async (r, reply) => reply.code(201).send(await service.enrolFromTap(caller(r), r.body as { tapId: string; worker: string; validTo?: string })));

  // --- CSV imports (text/csv bodies) ---
  app.addContentTypeParser(['text/csv', 'text/plain'], { parseAs: 'string', bodyLimit: 5 * 1024 * 1024 }, (_r, body, done) => done(null, body));
  for (const [path, run] of [['workers', (c: Caller, csv: string) => service.importWorkers(c, csv)], ['badges', (c: Caller, csv: string) => service.importBadges(c, csv)]] as const) {
    app.post(`${prefix}/${path}/import`, {
      schema: { summary: `Import ${path} from CSV: each bad line is reported with its line, field and rule; the good lines are kept`, tags: ['site data'], security: secured, consumes: ['text/csv'], body: { type: 'string', maxLength: 5 * 1024 * 1024 }, response: { 200: anyObject, ...errors } },
    }, async (r) => run(caller(r), r.body as string));
  }

  // --- audit trail ---
  app.get(`${prefix}/audit`, {
    schema: {
      summary: 'The audit trail: every change with who, when, before and after (NISS masked); CSV with format=csv',
      tags: ['audit'], security: secured,
      querystring: { type: 'object', properties: { entity: str(20), entityId: str(64), from: str(40, 'ISO time'), to: str(40, 'ISO time'), offset: { type: 'integer', minimum: 0, default: 0 }, limit: { type: 'integer', minimum: 1, maximum: 10000, default: 100 }, format: { type: 'string', enum: ['json', 'csv'], default: 'json' } }, additionalProperties: false },
      response: errors,
    },
  }, async (r, reply) => {
    const q = r.query as { entity?: string; entityId?: string; from?: string; to?: string; offset?: number; limit?: number; format?: string };
    const result = await service.auditTrail(caller(r), q);
    if (q.format === 'csv') return reply.type('text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="ciao-audit.csv"').send(auditCsv(result.items));
    return reply.send({ ...result, offset: q.offset ?? 0, limit: q.limit ?? 100 });
  });
}
