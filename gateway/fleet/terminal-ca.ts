import { X509Certificate, createHash, createPrivateKey, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { InvalidInputError, type FieldProblem } from '../../shared/problems.ts';

/** ECDSA over P-256 with SHA-256: what the CA made here and the terminals' keys use. */
const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const subtle = webcrypto.subtle;

/**
 * The X.509 library is loaded when a certificate is made (the first start, a pairing, a renewal), never on an
 * ordinary start: it and its ASN.1 schemas take about a tenth of a second to load.
 */
let library: Promise<typeof import('../../shared/x509.ts')> | undefined;
const loadX509 = () => (library ??= import('../../shared/x509.ts'));

/**
 * The gateway's own small certificate authority for terminal identities. Its key and certificate are made at
 * the first start (ECDSA P-256, both files mode 0600, never overwritten), or an operator puts a CA of their
 * own at the configured paths (EC P-256/P-384 or RSA key). It signs one thing: client certificates bound to
 * a terminal id (subject CN = the id, which must equal the MQTT client id), from a certificate signing
 * request whose key never left the terminal.
 */
export interface IssuedCertificate {
  pem: string;
  serial: string;
  fingerprint: string;
  notBefore: string;
  notAfter: string;
}

export interface TerminalCa {
  /** The CA certificate (PEM): the MQTT TLS listener trusts client certificates it signed, and nothing else. */
  readonly certPem: string;
  readonly certificate: X509Certificate;
  /** Signs a client certificate for `terminalId` from a PEM PKCS#10 request; throws naming field `csr`. */
  issue(csrPem: string, terminalId: string, o: { now: Date; validityDays: number }): Promise<IssuedCertificate>;
}

/** The URI a terminal certificate names besides its CN (subjectAltName), for tools that read SANs only. */
const terminalUri = (terminalId: string) => `urn:ciao-badge:terminal:${terminalId}`;

/** A certificate is accepted this long before its notBefore, for terminals whose clock runs a little behind. */
const BACKDATE_MS = 5 * 60_000;

function problem(field: string, rule: string, message: string): InvalidInputError {
  return new InvalidInputError([{ field, rule, message: `${field}: ${message}` }]);
}

type SigningAlgorithm = { name: 'ECDSA'; namedCurve: string; hash: string } | { name: 'RSASSA-PKCS1-v1_5'; hash: string };

/** WebCrypto's name for a node key, for importing it. */
function signingAlgorithmOf(key: KeyObject, field: string): SigningAlgorithm {
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    if (curve === 'secp384r1') return { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' };
    throw problem(field, 'key-type', `EC curve ${curve} is not supported (use P-256 or P-384)`);
  }
  if (key.asymmetricKeyType === 'rsa') return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  throw problem(field, 'key-type', `a ${key.asymmetricKeyType} key cannot sign terminal certificates (use EC P-256/P-384 or RSA)`);
}

/** Reads a private key file that must be private to the gateway's user (as the badge key file). */
function readPrivateFile(path: string, field: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw problem(field, 'readable-file', `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    const mode = fstatSync(fd).mode & 0o777;
    if (mode & 0o077) throw problem(field, 'private-file', `${path} is open to its group or others (mode ${mode.toString(8).padStart(4, '0')}): it is the key of the CA that identifies terminals, make it 0600 (chmod 600 ${path})`);
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

async function createCa(certPath: string, keyPath: string): Promise<void> {
  const { x509 } = await loadX509();
  const keys = (await subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    // A name of its own per installation, so two gateways' CAs are told apart in logs and tools.
    name: `CN=ciao-badge terminal CA ${randomBytes(4).toString('hex')}, O=ciao-badge`,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + 20 * 365 * 86_400_000),
    keys,
    signingAlgorithm: EC_P256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = Buffer.from(await subtle.exportKey('pkcs8', keys.privateKey));
  mkdirSync(dirname(keyPath), { recursive: true, mode: 0o700 });
  mkdirSync(dirname(certPath), { recursive: true, mode: 0o700 });
  // 'wx': never replace a CA that appeared meanwhile (another gateway starting on the same folder).
  writeFileSync(keyPath, x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'), { mode: 0o600, flag: 'wx' });
  writeFileSync(certPath, cert.toString('pem'), { mode: 0o600, flag: 'wx' });
}

/**
 * 16 random bytes, positive in DER (top bit clear), first byte from 0x10: no leading zero digit, so the serial
 * reads the same in every tool (node, openssl, the database).
 */
function serialNumber(): string {
  const b = randomBytes(16);
  b[0] = 0x10 + (b[0]! % 0x70);
  return b.toString('hex');
}

/**
 * Opens the CA at `certPath` / `keyPath`, creating both when neither exists. A half-present CA (one file
 * without the other), a key that does not match the certificate, a certificate that is no CA or has expired,
 * or a key readable by others stops the start with the field named.
 */
export async function openTerminalCa(certPath: string, keyPath: string, now = new Date()): Promise<TerminalCa & { created: boolean }> {
  const haveCert = existsSync(certPath);
  const haveKey = existsSync(keyPath);
  let created = false;
  if (!haveCert && !haveKey) {
    await createCa(certPath, keyPath);
    created = true;
  } else if (!haveKey) {
    throw problem('terminalCa.key', 'missing', `${keyPath} is missing while ${certPath} exists: put the CA's key there, or move both away to make a new CA (paired terminals then pair again)`);
  } else if (!haveCert) {
    throw problem('terminalCa.cert', 'missing', `${certPath} is missing while ${keyPath} exists: put the CA's certificate there, or move both away to make a new CA (paired terminals then pair again)`);
  }
  const keyPem = readPrivateFile(keyPath, 'terminalCa.key');
  let certificate: X509Certificate;
  try {
    const text = readFileSync(certPath, 'utf8');
    const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text);
    certificate = new X509Certificate(first ? first[0] : text);
  } catch (err) {
    throw problem('terminalCa.cert', 'pem-certificate', `${certPath} is not a PEM certificate (${(err as Error).message})`);
  }
  let nodeKey: KeyObject;
  try {
    nodeKey = createPrivateKey(keyPem);
  } catch (err) {
    throw problem('terminalCa.key', 'pem-private-key', `${keyPath} is not a PEM private key without passphrase (${(err as Error).message})`);
  }
  if (!certificate.ca) throw problem('terminalCa.cert', 'ca-certificate', `${certPath} is not a CA certificate (basicConstraints CA:TRUE)`);
  if (!certificate.checkPrivateKey(nodeKey)) throw problem('terminalCa.key', 'matches-certificate', `${keyPath} is not the key of ${certPath}`);
  if (Date.parse(certificate.validTo) <= now.getTime()) throw problem('terminalCa.cert', 'not-expired', `${certPath} expired on ${new Date(certificate.validTo).toISOString()}: make a new CA (terminals then pair again)`);
  const algorithm = signingAlgorithmOf(nodeKey, 'terminalCa.key');
  const signingKey = await subtle.importKey('pkcs8', nodeKey.export({ type: 'pkcs8', format: 'der' }), algorithm, false, ['sign']);
  const certPem = certificate.toString();

  return {
    created,
    certPem,
    certificate,
    async issue(csrPem, terminalId, o) {
      const { x509 } = await loadX509();
      const caCert = new x509.X509Certificate(certificate.raw);
      const csr = parseCsr(x509, csrPem);
      if (!(await csr.verify())) throw problem('csr', 'csr-signature', 'the request is not signed by its own key');
      const cn = csr.subjectName.getField('CN');
      if (cn.length > 0 && (cn.length > 1 || cn[0] !== terminalId)) throw problem('csr', 'csr-subject', `the request names ${cn.join(', ')}, but this code is for terminal ${terminalId}`);
      checkTerminalKey(csr.publicKey.algorithm as KeyAlgorithmInfo);
      const publicKey = await csr.publicKey.export();
      const notBefore = new Date(o.now.getTime() - BACKDATE_MS);
      const notAfter = new Date(Math.min(o.now.getTime() + o.validityDays * 86_400_000, Date.parse(certificate.validTo)));
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: serialNumber(),
        subject: `CN=${terminalId}, O=ciao-badge terminal`,
        issuer: caCert.subject,
        notBefore,
        notAfter,
        publicKey,
        signingKey,
        signingAlgorithm: algorithm,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
          new x509.SubjectAlternativeNameExtension([{ type: 'url', value: terminalUri(terminalId) }]),
          await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
          await x509.SubjectKeyIdentifierExtension.create(publicKey),
        ],
      });
      const pem = cert.toString('pem');
      const issued = new X509Certificate(pem);
      return {
        pem,
        serial: issued.serialNumber.toUpperCase(),
        fingerprint: createHash('sha256').update(issued.raw).digest('hex'),
        notBefore: notBefore.toISOString(),
        notAfter: new Date(issued.validTo).toISOString(),
      };
    },
  };
}

type X509 = Awaited<ReturnType<typeof loadX509>>['x509'];
type KeyAlgorithmInfo = { name: string; namedCurve?: string; modulusLength?: number };

function parseCsr(x509: X509, pem: string): InstanceType<X509['Pkcs10CertificateRequest']> {
  if (typeof pem !== 'string' || !/-----BEGIN (NEW )?CERTIFICATE REQUEST-----/.test(pem)) {
    throw problem('csr', 'pkcs10', 'must be a PEM certificate signing request (-----BEGIN CERTIFICATE REQUEST-----)');
  }
  try {
    return new x509.Pkcs10CertificateRequest(pem.replace(/NEW CERTIFICATE REQUEST/g, 'CERTIFICATE REQUEST'));
  } catch (err) {
    throw problem('csr', 'pkcs10', `cannot be read as a certificate signing request (${(err as Error).message})`);
  }
}

/** A terminal key strong enough for years on a wall: EC P-256/P-384 or RSA of 2048 bits or more. */
function checkTerminalKey(alg: KeyAlgorithmInfo): void {
  const problems: FieldProblem[] = [];
  if (alg.name === 'ECDSA' || alg.name === 'ECDH' || alg.name === 'EC') {
    if (alg.namedCurve && !['P-256', 'P-384'].includes(alg.namedCurve)) problems.push({ field: 'csr', rule: 'key-type', message: `csr: curve ${alg.namedCurve} is not accepted (use P-256 or P-384)` });
  } else if (alg.name === 'RSASSA-PKCS1-v1_5' || alg.name === 'RSA-PSS' || alg.name === 'RSA') {
    if ((alg.modulusLength ?? 0) < 2048) problems.push({ field: 'csr', rule: 'key-type', message: 'csr: an RSA key must have at least 2048 bits' });
  } else {
    problems.push({ field: 'csr', rule: 'key-type', message: `csr: a ${alg.name} key is not accepted (use EC P-256 or RSA)` });
  }
  if (problems.length) throw new InvalidInputError(problems);
}
