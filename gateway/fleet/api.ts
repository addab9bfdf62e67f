import type { FastifyInstance, FastifyRequest } from 'fastify';
import { requirePermission, type ApiUser } from '../access/users.ts';
import type { Actor } from '../site-data/audit.ts';
import { PROBLEM_SCHEMA } from '../http/problems.ts';
import { InvalidInputError } from '../../shared/problems.ts';
import type { ReleaseStore, ReleaseTerminals } from './releases.ts';

/**
 * The fleet half of the admin API (administrators: permission `manage-releases`): upload a signed release,
 * see which terminal runs which version and what it said about its last update, offer a release to a few
 * terminals then to all, and withdraw an offer. Uploads are JSON (the signed manifest as `ciao release sign`
 * writes it, and the bundle in base64) so that the console can send them from a file picker.
 */
export interface FleetRoutesOptions {
  releases: ReleaseStore;
  prefix: string;
  now: () => Date;
}

const anyObject = { type: 'object', additionalProperties: true } as const;
const errors = { 400: PROBLEM_SCHEMA, 401: PROBLEM_SCHEMA, 403: PROBLEM_SCHEMA, 404: PROBLEM_SCHEMA, 409: PROBLEM_SCHEMA };
const secured = [{ bearerAuth: [] as string[] }];
const who = {
  type: 'object',
  properties: {
    terminals: { type: 'array', items: { type: 'string', maxLength: 64 }, maxItems: 10_000, description: 'these terminals' },
    all: { type: 'boolean', enum: [true], description: 'every enabled terminal' },
  },
  additionalProperties: false,
} as const;

function whoOf(body: { terminals?: string[]; all?: boolean }): ReleaseTerminals {
  if (body.all && body.terminals) throw new InvalidInputError([{ field: 'all', rule: 'one-of', message: 'all: give either terminals or all, not both' }]);
  if (body.all) return { all: true };
  if (!body.terminals) throw new InvalidInputError([{ field: 'terminals', rule: 'required', message: 'terminals: name the terminals, or give "all": true' }]);
  return { terminals: body.terminals };
}

export async function fleetRoutes(app: FastifyInstance, o: FleetRoutesOptions): Promise<void> {
  const admin = (r: FastifyRequest): ApiUser => {
    const user = r.apiUser!;
    requirePermission(user, 'manage-releases');
    return user;
  };
  /** Who the audit entry (written by the release store with the change) names. */
  const actor = (user: ApiUser): Actor => ({ kind: 'user', id: user.id, name: user.name });
  // base64 is 4/3 of the bundle, plus the manifest.
  const bodyLimit = Math.ceil((o.releases.maxBytes * 4) / 3) + 64 * 1024;

  app.get(`${o.prefix}/releases`, {
    schema: { summary: 'Uploaded terminal releases, newest first, with how many terminals are offered and run each', tags: ['fleet'], security: secured, response: { 200: anyObject, ...errors } },
  }, async (r) => {
    admin(r);
    return {
      acceptsUploads: o.releases.enabled,
      releases: (await o.releases.list()).map((x) => ({ version: x.version, sha256: x.sha256, size: x.size, keyId: x.keyId, createdAt: x.signed.manifest.createdAt, uploadedAt: x.uploadedAt, uploadedBy: x.uploadedBy, offeredTo: x.offeredTo, running: x.running })),
    };
  });

  app.post(`${o.prefix}/releases`, {
    bodyLimit,
    schema: {
      summary: 'Upload a signed release: the signed manifest of `ciao release sign` and the bundle (base64). Its signature, size and hash are checked here, and again by every terminal.',
      tags: ['fleet'],
      security: secured,
      body: {
        type: 'object',
        properties: { signed: anyObject, bundle: { type: 'string', description: 'the .tar.gz bundle, base64' } },
        required: ['signed', 'bundle'],
        additionalProperties: false,
      },
      response: { 201: anyObject, ...errors },
    },
  }, async (r, reply) => {
    const user = admin(r);
    const body = r.body as { signed: unknown; bundle: string };
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body.bundle)) throw new InvalidInputError([{ field: 'bundle', rule: 'base64', message: 'bundle: must be the bundle file in base64' }]);
    const info = await o.releases.add(body.signed, Buffer.from(body.bundle, 'base64'), actor(user), o.now());
    return reply.code(201).send({ version: info.version, sha256: info.sha256, size: info.size, keyId: info.keyId, uploadedAt: info.uploadedAt });
  });

  app.get(`${o.prefix}/fleet`, {
    schema: { summary: 'Every terminal: the version it runs, the release it is offered, its last update report and its certificate', tags: ['fleet'], security: secured, response: { 200: anyObject, ...errors } },
  }, async (r) => {
    admin(r);
    return { terminals: await o.releases.fleet() };
  });

  app.post(`${o.prefix}/releases/:version/rollout`, {
    schema: {
      summary: 'Offer a release to some terminals (a first few) or to all: each downloads, checks, installs and restarts into it, and returns to its previous version if the new one does not come up',
      tags: ['fleet'],
      security: secured,
      params: { type: 'object', properties: { version: { type: 'string', maxLength: 64 } }, required: ['version'] },
      body: who,
      response: { 200: anyObject, ...errors },
    },
  }, async (r) => {
    const user = admin(r);
    const { version } = r.params as { version: string };
    return o.releases.rollout(version, whoOf(r.body as { terminals?: string[]; all?: boolean }), actor(user), o.now());
  });

  app.post(`${o.prefix}/rollouts/stop`, {
    schema: { summary: 'Withdraw the release offered to some terminals or to all (they keep the version they run)', tags: ['fleet'], security: secured, body: who, response: { 200: anyObject, ...errors } },
  }, async (r) => {
    const user = admin(r);
    return { withdrawn: await o.releases.stopRollout(whoOf(r.body as { terminals?: string[]; all?: boolean }), actor(user), o.now()) };
  });
}
