import { X509Certificate, createHash } from 'node:crypto';
import { request } from 'node:https';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { InvalidInputError } from '../../shared/problems.ts';
import { parseTerminalConfig } from '../config.ts';

/**
 * `ciao terminal pair CODE.FINGERPRINT --gateway https://gateway:8443`: turns a one-time pairing code from the
 * console into this terminal's config file.
 *
 * 1. Fetch the gateway's CA certificate without trusting anyone yet, and compare its SHA-256 with the
 *    fingerprint carried in the pairing string: a wrong gateway or someone in between is refused here.
 * 2. Spend the code over a connection verified against that CA (host name checked too).
 * 3. Write the config (mode 0600, it holds the secret) and the CA beside it; the terminal then connects to
 *    MQTT over TLS pinned to that CA.
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
}

export interface PairResult {
  terminalId: string;
  configPath: string;
  caPath: string;
  mqttUrl: string;
}

interface ClaimAnswer {
  terminalId: string;
  credentials: { kind: 'secret'; secret: string };
  mqtt: { url: string | null; port: number; tlsPort: number | null };
  mqttCaPem: string;
}

function fail(field: string, rule: string, message: string): never {
  throw new InvalidInputError([{ field, rule, message: `${field}: ${message}` }]);
}

function splitPairing(s: string): { code: string; fingerprint: string } {
  const m = /^([0-9A-Za-z-]{15,20})\.([0-9a-fA-F]{64})$/.exec(s.trim());
  if (!m) fail('code', 'format', 'must be the pairing string the console shows, CODE.FINGERPRINT (e.g. 7K2QM-9XD4T-HB3NC.3f9a…, 64 hex digits after the dot)');
  return { code: m[1]!, fingerprint: m[2]!.toLowerCase() };
}

function call(url: URL, opts: { method: 'GET' | 'POST'; body?: unknown; ca?: string }): Promise<{ status: number; text: string }> {
  return new Promise((resolvePromise, reject) => {
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const req = request(url, {
      method: opts.method,
      // The first call trusts nobody: what it fetches is checked against the fingerprint before any use.
      ...(opts.ca ? { ca: opts.ca, rejectUnauthorized: true } : { rejectUnauthorized: false }),
      headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
      timeout: 15_000,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url.origin} within 15 s`)));
    req.on('error', reject);
    req.end(payload);
  });
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

  const caAnswer = await call(new URL('/pair/v1/ca', base), { method: 'GET' });
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

  const claim = await call(new URL('/pair/v1/claim', base), { method: 'POST', body: { v: 1, code, ...(o.version ? { version: o.version } : {}) }, ca: caPem });
  if (claim.status !== 200) {
    let detail = claim.text;
    try {
      detail = (JSON.parse(claim.text) as { detail?: string }).detail ?? detail;
    } catch {
      // not problem+json: show it as it came
    }
    fail('code', 'claim', `the gateway refused the code (${claim.status}): ${detail}`);
  }
  const answer = JSON.parse(claim.text) as ClaimAnswer;

  const mqttUrl = answer.mqtt.url
    ?? (answer.mqtt.tlsPort ? `mqtts://${base.hostname}:${answer.mqtt.tlsPort}` : `mqtt://${base.hostname}:${answer.mqtt.port}`);
  const dir = dirname(out);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caPath = join(dir, `${answer.terminalId}-ca.pem`);
  writeFileSync(caPath, answer.mqttCaPem, { mode: 0o644 });
  const config = {
    id: answer.terminalId,
    secret: answer.credentials.secret,
    mqtt: { url: mqttUrl, ...(mqttUrl.startsWith('mqtts:') ? { ca: caPath } : {}) },
    reader: o.reader,
    panel: o.panel,
    outbox: o.outbox ?? join(dir, `${answer.terminalId}-outbox.db`),
    ...(o.board ? { board: { port: o.board } } : {}),
  };
  parseTerminalConfig(config); // what is written must be a config the terminal starts with
  writeFileSync(out, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  chmodSync(out, 0o600);
  return { terminalId: answer.terminalId, configPath: out, caPath, mqttUrl };
}
