import { createReadStream } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CiaoError } from '../../shared/errors.ts';
import { PROBLEM_SCHEMA } from '../http/problems.ts';
import type { FleetIdentity } from './service.ts';
import type { ReleaseStore } from './releases.ts';

/**
 * What a terminal does over HTTPS with its client certificate, on the gateway's pairing listener:
 *
 * - `POST /pair/v1/renew` `{v: 1, csr}`: a new certificate for a new key, before the current one expires.
 *   Renewal is done here rather than over MQTT: it is a request and its answer (no topics, retained messages
 *   or correlation ids added to the terminals' MQTT contract, which third-party terminals implement too), it
 *   is the same CSR-in, certificate-out exchange as pairing on the same listener, and the terminal needs this
 *   HTTPS channel anyway to download releases. The current certificate authenticates the request; TLS
 *   checks it against the terminal CA, the gateway checks that it was issued to that terminal and is not
 *   revoked.
 * - `GET /fleet/v1/releases/{version}/bundle`: an uploaded release's bundle, streamed. The bundle is not
 *   secret (it is signed, and terminals check the signature themselves), but only terminals may fetch it.
 */
export interface TerminalRoutesOptions {
  identity: FleetIdentity;
  releases: ReleaseStore;
}

/** The terminal a request's client certificate proves, or a 401 naming why not. */
async function terminalOf(request: FastifyRequest, identity: FleetIdentity): Promise<{ terminalId: string; serial: string }> {
  const socket = request.raw.socket as TLSSocket;
  const cert = typeof socket.getPeerX509Certificate === 'function' ? socket.getPeerX509Certificate() : undefined;
  const refuse = (rule: string, message: string) => new CiaoError('ERR_CIAO_UNAUTHENTICATED', [{ field: 'certificate', rule, message: `certificate: ${message}` }]);
  if (!cert) throw refuse('client-certificate', "present this terminal's client certificate (from pairing)");
  if (!socket.authorized) throw refuse('trusted', `not accepted (${String(socket.authorizationError)})`);
  const cns = cert.subject.split('\n').filter((l) => l.startsWith('CN=')).map((l) => l.slice(3));
  if (cns.length !== 1) throw refuse('subject', 'names no single terminal');
  const terminalId = cns[0]!;
  if (!(await identity.stillAllowed(terminalId, cert.serialNumber))) throw refuse('revoked', 'revoked, expired or unknown to this gateway');
  return { terminalId, serial: cert.serialNumber };
}

export function terminalRoutes(o: TerminalRoutesOptions) {
  return async (app: FastifyInstance): Promise<void> => {
    app.post('/pair/v1/renew', {
      schema: {
        body: {
          type: 'object',
          properties: { v: { type: 'integer', enum: [1] }, csr: { type: 'string', maxLength: 8192 } },
          required: ['v', 'csr'],
          additionalProperties: false,
        },
        response: { 400: PROBLEM_SCHEMA, 401: PROBLEM_SCHEMA, 409: PROBLEM_SCHEMA },
      },
    }, async (r) => {
      const { terminalId, serial } = await terminalOf(r, o.identity);
      const issued = await o.identity.renew(terminalId, serial, (r.body as { csr: string }).csr);
      return { v: 1, terminalId, certificate: issued.pem, notAfter: issued.notAfter };
    });

    app.get('/fleet/v1/releases/:version/bundle', {
      schema: { params: { type: 'object', properties: { version: { type: 'string', maxLength: 64 } }, required: ['version'] }, response: { 401: PROBLEM_SCHEMA, 404: PROBLEM_SCHEMA } },
    }, async (r, reply) => {
      await terminalOf(r, o.identity);
      const { version } = r.params as { version: string };
      const file = await o.releases.file(version);
      if (!file) throw new CiaoError('ERR_CIAO_NOT_FOUND', [{ field: 'version', rule: 'exists', message: `version: no release ${version} on this gateway` }]);
      return reply.type('application/gzip').header('content-length', String(file.size)).send(createReadStream(file.path));
    });
  };
}
