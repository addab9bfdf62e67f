import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The terminal's certificate identity: a private key made on the device (ECDSA P-256, never sent anywhere)
 * and the client certificate the gateway's CA signed for it. Both live in ONE PEM file (mode 0600), so that a
 * renewal replaces them together with a single rename: a power cut leaves the old pair or the new pair,
 * never a key with the other's certificate.
 */
export interface TerminalIdentity {
  keyPem: string;
  certPem: string;
  certificate: X509Certificate;
}

const KEY_BLOCK = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n?/;
const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g;

/**
 * A new key pair and a certificate signing request naming the terminal (subject CN = its id), or no one at
 * pairing, where the one-time code says which terminal it is.
 */
export async function makeKeyAndCsr(terminalId?: string): Promise<{ keyPem: string; csrPem: string }> {
  // @peculiar/x509 (and its reflect-metadata polyfill) load only here: pairing and renewal, a few times a
  // year, never on the tap path nor in a running terminal's memory until a renewal is due.
  const { x509, subtle, EC_P256 } = await import('../../shared/x509.ts');
  const keys = (await subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ ...(terminalId ? { name: `CN=${terminalId}` } : {}), keys, signingAlgorithm: EC_P256 });
  const pkcs8 = Buffer.from(await subtle.exportKey('pkcs8', keys.privateKey));
  return { keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'), csrPem: csr.toString('pem') };
}

/** Checks that a certificate from the gateway is for this key and this terminal; answers it parsed. */
export function checkIssued(keyPem: string, certPem: string, terminalId: string): X509Certificate {
  const certificate = new X509Certificate(certPem);
  if (!certificate.checkPrivateKey(createPrivateKey(keyPem))) throw new Error('the gateway answered a certificate for another key');
  const cns = certificate.subject.split('\n').filter((l) => l.startsWith('CN=')).map((l) => l.slice(3));
  if (cns.length !== 1 || cns[0] !== terminalId) throw new Error(`the gateway answered a certificate for ${cns.join(', ') || 'no terminal'}, not ${terminalId}`);
  return certificate;
}

/** Writes key and certificate as one file, atomically, mode 0600 from the first byte. */
export function writeIdentity(path: string, keyPem: string, certPem: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${keyPem.trim()}\n${certPem.trim()}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

/** Reads the identity file; throws naming the field `identity.file` when it cannot be used. */
export function readIdentity(path: string): TerminalIdentity {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`identity.file: cannot read ${path}: ${(err as Error).message}`);
  }
  const key = KEY_BLOCK.exec(text)?.[0];
  const certs = text.match(CERT_BLOCK) ?? [];
  if (!key || certs.length === 0) throw new Error(`identity.file: ${path} must hold the terminal's private key and its certificate (PEM), as ciao terminal pair writes them`);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certs[0]!);
    if (!certificate.checkPrivateKey(createPrivateKey(key))) throw new Error('the certificate is not for the key beside it');
  } catch (err) {
    throw new Error(`identity.file: ${path}: ${(err as Error).message}`);
  }
  return { keyPem: key, certPem: certs.join(''), certificate };
}

/** Whether a certificate should be renewed now: less than `left` of its lifetime remains. */
export function renewalDue(certificate: X509Certificate, now: Date, left: number): boolean {
  const from = Date.parse(certificate.validFrom);
  const to = Date.parse(certificate.validTo);
  return to - now.getTime() < (to - from) * left;
}
