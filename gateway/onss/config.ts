import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import type { FieldProblem } from '../../shared/problems.ts';

/**
 * How the gateway reaches ONSS: the connection fields of the gateway config's `onss` section, and the one
 * place that reads the company's private key. The key is read and checked once, at start-up: a key that
 * cannot sign would otherwise only show up as failing calls, hours later.
 *
 * `privateKey` and `ca` take PEM text or a file path (relative paths from `baseDir`, the config file's
 * folder); the environment variable CIAO_ONSS_PRIVATE_KEY (PEM text or a path) overrides `privateKey`, so
 * the key can stay out of the config file.
 */
const ms = (def: number, min = 0) => z.number().int().min(min).default(def);

export const onssConnectionFields = {
  baseUrl: z.string().url('must be a URL such as https://services-sim.socialsecurity.be').optional(),
  clientId: z.string().min(1, 'must not be empty').optional(),
  privateKey: z.string().min(1, 'must be PEM text or a path to a PEM file').optional(),
  keyId: z.string().min(1).optional(),
  tokenAudience: z.string().url('must be the token endpoint URL').optional(),
  ca: z.string().min(1).optional(),
  requestTimeoutMs: ms(30_000, 100),
  tokenTimeoutMs: ms(10_000, 100),
};
type ConnectionInput = z.output<z.ZodObject<typeof onssConnectionFields>>;

export interface OnssConnection {
  baseUrl: string;
  clientId: string;
  /** The private key, imported and checked (RSA, at least 2048 bits, as RS256 needs). */
  signingKey: KeyObject;
  keyId?: string;
  tokenAudience?: string;
  /** PEM of the CA bundle to trust, when the system's is not enough. */
  ca?: string;
  requestTimeoutMs: number;
  tokenTimeoutMs: number;
}

export interface ReadOptions {
  /** Where relative paths start: the config file's folder (default: the working directory). */
  baseDir?: string;
  env?: NodeJS.ProcessEnv;
}

const PRIVATE_KEY_ENV = 'CIAO_ONSS_PRIVATE_KEY';

/**
 * The connection from an already schema-checked section; every problem found is returned, each naming
 * its field (`onss.privateKey`, ...), so one start-up tells the operator everything to fix.
 */
export function readOnssConnection(section: ConnectionInput, options: ReadOptions = {}): { ok: true; value: OnssConnection } | { ok: false; problems: FieldProblem[] } {
  const env = options.env ?? process.env;
  const baseDir = options.baseDir ?? process.cwd();
  const problems: FieldProblem[] = [];
  const required = (field: 'baseUrl' | 'clientId' | 'privateKey') =>
    problems.push({ field: `onss.${field}`, rule: 'required', message: `onss.${field}: is required when forwarding is enabled` });
  if (section.baseUrl === undefined) required('baseUrl');
  if (section.clientId === undefined) required('clientId');
  const fromEnv = env[PRIVATE_KEY_ENV];
  const keyValue = fromEnv !== undefined && fromEnv !== '' ? fromEnv : section.privateKey;
  let signingKey: KeyObject | undefined;
  if (keyValue === undefined) required('privateKey');
  else {
    const source = keyValue === fromEnv ? ` (from ${PRIVATE_KEY_ENV})` : '';
    const pem = pemFrom(keyValue, baseDir);
    if (!pem.ok) problems.push({ field: 'onss.privateKey', rule: 'readable', message: `onss.privateKey${source}: cannot read PEM file ${pem.path}: ${pem.reason}` });
    else {
      const key = signingKeyFrom(pem.text);
      if (!key.ok) problems.push({ field: 'onss.privateKey', rule: key.rule, message: `onss.privateKey${source}: ${key.reason}` });
      else signingKey = key.value;
    }
  }
  let ca: string | undefined;
  if (section.ca !== undefined) {
    const pem = pemFrom(section.ca, baseDir);
    if (!pem.ok) problems.push({ field: 'onss.ca', rule: 'readable', message: `onss.ca: cannot read PEM file ${pem.path}: ${pem.reason}` });
    else if (!pem.text.includes('-----BEGIN CERTIFICATE-----')) problems.push({ field: 'onss.ca', rule: 'pem', message: 'onss.ca: must hold PEM certificates (-----BEGIN CERTIFICATE-----)' });
    else ca = pem.text;
  }
  if (problems.length > 0 || !signingKey) return { ok: false, problems };
  return {
    ok: true,
    value: {
      baseUrl: section.baseUrl!, clientId: section.clientId!, signingKey, keyId: section.keyId, tokenAudience: section.tokenAudience, ca,
      requestTimeoutMs: section.requestTimeoutMs, tokenTimeoutMs: section.tokenTimeoutMs,
    },
  };
}

/** PEM text as given, or the content of the file it names. */
function pemFrom(value: string, baseDir: string): { ok: true; text: string } | { ok: false; path: string; reason: string } {
  if (value.includes('-----BEGIN')) return { ok: true, text: value };
  const path = isAbsolute(value) ? value : resolve(baseDir, value);
  try {
    return { ok: true, text: readFileSync(path, 'utf8') };
  } catch (e) {
    return { ok: false, path, reason: (e as NodeJS.ErrnoException).code ?? (e as Error).message };
  }
}

/** A PKCS#8 RSA private key that can sign RS256, or the rule it breaks. */
function signingKeyFrom(pem: string): { ok: true; value: KeyObject } | { ok: false; rule: string; reason: string } {
  if (!pem.includes('-----BEGIN PRIVATE KEY-----')) {
    return { ok: false, rule: 'pkcs8', reason: 'must be an unencrypted PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----; `openssl pkcs8 -topk8 -nocrypt` converts one)' };
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (e) {
    return { ok: false, rule: 'pkcs8', reason: `not a usable PKCS#8 private key: ${(e as Error).message}` };
  }
  if (key.asymmetricKeyType !== 'rsa') return { ok: false, rule: 'rsa', reason: `must be an RSA key (RS256), not ${key.asymmetricKeyType ?? 'unknown'}` };
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 2048) return { ok: false, rule: 'min-bits', reason: `an RSA key of ${bits} bits cannot sign RS256: at least 2048 bits` };
  return { ok: true, value: key };
}
