import { X509Certificate } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import type { PairingCredentials } from '../site-data/pairing.ts';
import type { Logger } from '../../shared/logging.ts';
import { CiaoError } from '../../shared/errors.ts';
import { certificateFingerprint } from '../site-data/pairing.ts';
import type { SiteDataService } from '../site-data/service.ts';
import { sendProblem, PROBLEM_SCHEMA } from './problems.ts';

/**
 * The gateway's HTTPS pairing listener: where `ciao terminal pair` spends a one-time code.
 *
 * - `GET /pair/v1/ca`: the CA certificate (PEM) the listener's certificate chains to. The device fetches it
 *   without trusting anyone yet, checks its SHA-256 against the fingerprint carried in the pairing string,
 *   and from then on trusts only it (pinning), like kubeadm's discovery token CA hash.
 * - `POST /pair/v1/claim` `{v: 1, code, csr?}`: over that verified connection, spends the code and answers
 *   the terminal's identity: `{terminalId, credentials, mqtt: {url, tlsPort, port}, mqttCaPem, releaseKeyPem?}`.
 *   With `csr` (a PEM certificate signing request made on the device) and MQTT over TLS, `credentials` is
 *   `{kind: "certificate", certificate}`, a client certificate from the gateway's terminal CA whose key
 *   never left the device; without, `{kind: "secret", secret}`. `releaseKeyPem` is the public key the
 *   terminal checks signed updates with.
 * - With certificates, the listener also asks clients for their certificate (terminals renewing it and
 *   downloading releases, gateway/fleet/terminal-routes.ts); pairing itself needs none.
 *
 * Failed claims are counted per remote address: past `maxFailures` in a minute the address waits.
 */
export interface PairingListenerOptions {
  host: string;
  port: number;
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
  /** The CA terminals pin for MQTT over TLS (the MQTT listener's), else the pairing CA. */
  mqttCa?: Buffer;
  publicUrl?: string;
  mqttUrl?: string;
  mqttPorts: () => { port: number; tlsPort?: number };
  service: SiteDataService;
  logger: Logger;
  maxFailures?: number;
  /** Terminal identities by certificate, when the gateway has them. */
  certificates?: PairingCertificates;
}

export interface PairingCertificates {
  /** The terminal CA (PEM): the listener asks clients for a certificate it signed (never required). */
  clientCaPem: string;
  /** Spends the code and issues a certificate from the device's request. */
  pairWithCsr(code: string, csr: string, from: string): Promise<{ terminalId: string; credentials: PairingCredentials }>;
  /** The Ed25519 public key of signed releases (PEM), handed to each paired terminal. */
  releaseKeyPem?: string;
  /** Further routes for terminals that hold a certificate (renewal, release downloads). */
  routes?(app: FastifyInstance): Promise<void> | void;
}

export interface PairingListener {
  url: string;
  fingerprint: string;
  port: number;
  close(): Promise<void>;
}

function firstCertificate(pem: Buffer): X509Certificate {
  const m = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem.toString('utf8'));
  if (!m) throw new CiaoError('ERR_CIAO_INVALID_INPUT', [{ field: 'http.pairing.ca', rule: 'pem-certificate', message: 'config http.pairing.ca: is not a PEM certificate' }]);
  return new X509Certificate(m[0]);
}

export async function startPairingListener(o: PairingListenerOptions): Promise<PairingListener> {
  const ca = firstCertificate(o.ca);
  const caPem = ca.toString();
  const fingerprint = certificateFingerprint(ca.raw);
  const mqttCaPem = o.mqttCa ? firstCertificate(o.mqttCa).toString() : caPem;
  const failures = new Map<string, number[]>();
  const maxFailures = o.maxFailures ?? 10;

  const app: FastifyInstance = Fastify({
    https: o.certificates
      ? { cert: o.cert, key: o.key, minVersion: 'TLSv1.2', ca: o.certificates.clientCaPem, requestCert: true, rejectUnauthorized: false }
      : { cert: o.cert, key: o.key, minVersion: 'TLSv1.2' },
    loggerInstance: o.logger.child({ component: 'pairing' }),
    bodyLimit: 16 * 1024,
  }) as unknown as FastifyInstance;
  app.setErrorHandler((err, request, reply) => sendProblem(err, request, reply));

  app.get('/pair/v1/ca', async (_r, reply) => reply.type('application/x-pem-file').send(caPem));

  app.post('/pair/v1/claim', {
    schema: {
      body: {
        type: 'object',
        properties: {
          v: { type: 'integer', enum: [1] },
          code: { type: 'string', minLength: 10, maxLength: 40 },
          csr: { type: 'string', maxLength: 8192, description: 'a PEM certificate signing request made on the device: answered with a client certificate' },
          version: { type: 'string', maxLength: 64 },
        },
        required: ['v', 'code'],
        additionalProperties: false,
      },
      response: { 400: PROBLEM_SCHEMA, 401: PROBLEM_SCHEMA, 429: PROBLEM_SCHEMA },
    },
  }, async (r, reply) => {
    const from = r.ip;
    const now = Date.now();
    const recent = (failures.get(from) ?? []).filter((t) => now - t < 60_000);
    if (recent.length >= maxFailures) {
      reply.code(429).type('application/problem+json');
      return JSON.stringify({ type: 'urn:problem-type:ciao:too-many-attempts', title: 'Too many attempts', status: 429, detail: 'code: too many wrong codes from this address; wait a minute', instance: '/pair/v1/claim', problems: [{ field: 'code', rule: 'attempts', message: 'code: too many wrong codes from this address; wait a minute' }] });
    }
    const body = r.body as { code: string; csr?: string };
    const ports = o.mqttPorts();
    // A certificate is only worth something where terminals can log in with it: MQTT over TLS. Without
    // it, a device that sent a request gets a secret like any other (and says so to its operator).
    const withCertificate = body.csr !== undefined && o.certificates !== undefined && ports.tlsPort !== undefined;
    try {
      const claimed = withCertificate ? await o.certificates!.pairWithCsr(body.code, body.csr!, from) : await o.service.claimPairing(body.code, from);
      o.logger.info({ terminalId: claimed.terminalId, from, credentials: claimed.credentials.kind }, 'terminal paired');
      return {
        v: 1,
        terminalId: claimed.terminalId,
        credentials: claimed.credentials,
        mqtt: { url: o.mqttUrl ?? null, port: ports.port, tlsPort: ports.tlsPort ?? null },
        mqttCaPem,
        ...(o.certificates?.releaseKeyPem ? { releaseKeyPem: o.certificates.releaseKeyPem } : {}),
      };
    } catch (err) {
      // Only a code that could not be spent counts as a guess; a bad request with a good code does not.
      if ((err as { because?: string }).because !== undefined) {
        recent.push(now);
        failures.set(from, recent);
      }
      o.logger.warn({ from, because: (err as { because?: string }).because ?? (err as Error).message }, 'pairing code refused');
      throw err;
    }
  });
  await o.certificates?.routes?.(app);

  await app.listen({ host: o.host, port: o.port });
  const port = (app.server.address() as { port: number }).port;
  const url = (o.publicUrl ?? `https://${o.host === '0.0.0.0' || o.host === '::' ? 'localhost' : o.host}:${port}`).replace(/\/$/, '');
  return { url, fingerprint, port, close: () => app.close() };
}
