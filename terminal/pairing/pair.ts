import { X509Certificate, createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { InvalidInputError } from '../../shared/problems.ts';
import { parseTerminalConfig } from '../config.ts';
import { httpsJson, problemDetail } from './https.ts';
import { checkIssued, makeKeyAndCsr, writeIdentity } from './identity.ts';

/**
 * `ciao terminal pair CODE.FINGERPRINT --gateway https://gateway:8443`: turns a one-time pairing code from the
 * console into this terminal's config file.
 *
 * 1. Fetch the gateway's CA certificate without trusting anyone yet, and compare its SHA-256 with the
 *    fingerprint carried in the pairing string: a wrong gateway or someone in between is refused here.
 * 2. Spend the code over a connection verified against that CA (host name checked too).
 *    The device makes its own key pair first and sends a certificate signing request with the code: the
 *    gateway answers a client certificate for this terminal (its key never leaves the device), or a secret
 *    when the gateway has no MQTT over TLS (or `credentials: 'secret'` was asked for).
 * 3. Write the config (mode 0600), the identity (key and certificate, one file, mode 0600, in the state
 *    folder where renewals can replace it), the CAs to pin and the release key beside it; the terminal then
 *    connects to MQTT over TLS pinned to that CA, logging in with its certificate.
 */
export interface PairOptions {
  pairing: string;
  gateway: string;
  /** The config file to write. */
  out: string;
  reader: 'pcsc' | 'simulated';
  panel: 'johnny-five' | 'console';
  /** Outbox path written in the config (default: outbox.db beside the config). */
  outbox?: string;
  /** Serial port of the Arduino panel (johnny-five). */
  board?: string;
  /** Replace an existing config file. */
  force?: boolean;
  version?: string;
  /** `certificate` (default): a key pair made here and a client certificate; `secret`: a shared secret. */
  credentials?: 'certificate' | 'secret';
  /** Where what the terminal rewrites lives: the identity (renewals) and, by default, the outbox. Default: the config's folder. */
  stateDir?: string;
}

export interface PairResult {
  terminalId: string;
  configPath: string;
  caPath: string;
  mqttUrl: string;
  /** How the terminal logs in. */
  credentials: 'certificate' | 'secret';
  identityPath?: string;
  releaseKeyPath?: string;
}

interface ClaimAnswer {
  terminalId: string;
  credentials: { kind: 'secret'; secret: string } | { kind: 'certificate'; certificate: string };
  mqtt: { url: string | null; port: number; tlsPort: number | null };
  mqttCaPem: string;
  releaseKeyPem?: string;
}

function fail(field: string, rule: string, message: string): never {
  throw new InvalidInputError([{ field, rule, message: `${field}: ${message}` }]);
}

function splitPairing(s: string): { code: string; fingerprint: string } {
  const m = /^([0-9A-Za-z-]{15,20})\.([0-9a-fA-F]{64})$/.exec(s.trim());
  if (!m) fail('code', 'format', 'must be the pairing string the console shows, CODE.FINGERPRINT (e.g. 7K2QM-9XD4T-HB3NC.3f9a…, 64 hex digits after the dot)');
  return { code: m[1]!, fingerprint: m[2]!.toLowerCase() };
}

export async function pairTerminal(o: PairOptions): Promise<PairResult> {
  const { code, fingerprint } = splitPairing(o.pairing);
  let base: URL;
  try {
    base = new URL(o.gateway);
  } catch {
    fail('gateway', 'url', 'must be the URL the console shows, like https://gateway.local:8443');
  }
  if (base.protocol !== 'https:') fail('gateway', 'https', 'must be an https:// URL (pairing never travels in clear)');
  const out = resolve(o.out);
  if (existsSync(out) && !o.force) fail('out', 'exists', `${out} exists already; give --force to replace it (its terminal identity is then lost)`);

  const caAnswer = await httpsJson(new URL('/pair/v1/ca', base), { method: 'GET' });
  if (caAnswer.status !== 200) fail('gateway', 'pairing-listener', `${base.origin} answered ${caAnswer.status} for its CA: is it the gateway's pairing address?`);
  let caPem: string;
  try {
    const ca = new X509Certificate(caAnswer.text);
    const seen = createHash('sha256').update(ca.raw).digest('hex');
    if (seen !== fingerprint) fail('code', 'ca-fingerprint', `the gateway's CA (${seen.slice(0, 16)}…) is not the one in the pairing string (${fingerprint.slice(0, 16)}…): wrong gateway address, or someone in between. Nothing was sent.`);
    caPem = ca.toString();
  } catch (err) {
    if (err instanceof InvalidInputError) throw err;
    fail('gateway', 'pem-certificate', `${base.origin} did not answer a CA certificate`);
  }

  // The key pair is made before the code is spent: nothing that can fail here may waste it. The request
  // names no terminal (the code says which one); the gateway puts the id in the certificate.
  const wantsCertificate = (o.credentials ?? 'certificate') === 'certificate';
  const keys = wantsCertificate ? await makeKeyAndCsr() : undefined;
  const claim = await httpsJson(new URL('/pair/v1/claim', base), { method: 'POST', body: { v: 1, code, ...(keys ? { csr: keys.csrPem } : {}), ...(o.version ? { version: o.version } : {}) }, ca: caPem });
  if (claim.status !== 200) fail('code', 'claim', `the gateway refused the code (${claim.status}): ${problemDetail(claim.text)}`);
  const answer = JSON.parse(claim.text) as ClaimAnswer;

  const mqttUrl = answer.mqtt.url
    ?? (answer.mqtt.tlsPort ? `mqtts://${base.hostname}:${answer.mqtt.tlsPort}` : `mqtt://${base.hostname}:${answer.mqtt.port}`);
  const dir = dirname(out);
  const stateDir = resolve(o.stateDir ?? dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const id = answer.terminalId;
  const caPath = join(dir, `${id}-ca.pem`);
  writeFileSync(caPath, answer.mqttCaPem, { mode: 0o644 });
  const gatewayCaPath = join(dir, `${id}-gateway-ca.pem`);
  writeFileSync(gatewayCaPath, caPem, { mode: 0o644 });
  let identityPath: string | undefined;
  if (answer.credentials.kind === 'certificate') {
    checkIssued(keys!.keyPem, answer.credentials.certificate, id);
    identityPath = join(stateDir, `${id}-identity.pem`);
    writeIdentity(identityPath, keys!.keyPem, answer.credentials.certificate);
  }
  let releaseKeyPath: string | undefined;
  if (answer.releaseKeyPem) {
    releaseKeyPath = join(dir, `${id}-release-key.pem`);
    writeFileSync(releaseKeyPath, answer.releaseKeyPem, { mode: 0o644 });
  }
  const config = {
    id,
    ...(answer.credentials.kind === 'secret' ? { secret: answer.credentials.secret } : { identity: { file: identityPath! } }),
    mqtt: { url: mqttUrl, ...(mqttUrl.startsWith('mqtts:') ? { ca: caPath } : {}) },
    gatewayHttps: { url: base.origin, ca: gatewayCaPath },
    ...(releaseKeyPath ? { updates: { publicKey: releaseKeyPath } } : {}),
    reader: o.reader,
    panel: o.panel,
    outbox: o.outbox ?? join(stateDir, `${id}-outbox.db`),
    ...(o.board ? { board: { port: o.board } } : {}),
  };
  parseTerminalConfig(config); // what is written must be a config the terminal starts with
  writeFileSync(out, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  chmodSync(out, 0o600);
  return { terminalId: id, configPath: out, caPath, mqttUrl, credentials: answer.credentials.kind, ...(identityPath ? { identityPath } : {}), ...(releaseKeyPath ? { releaseKeyPath } : {}) };
}
