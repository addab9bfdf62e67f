import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { parseWith } from '../schema.ts';
import { InvalidInputError, type FieldProblem } from '../problems.ts';

/**
 * A terminal release: a bundle (the compiled release of `npm run build`, as a .tar.gz) described by a
 * manifest (version, SHA-256, size) and an Ed25519 signature over that manifest, made by the publisher's key
 * (`ciao release keygen`, `ciao release sign`). The gateway stores and offers releases but never holds the
 * signing key; a terminal checks the signature against the public key it was given at pairing, then the
 * bundle's hash and size against the manifest. The gateway therefore cannot make a terminal run code the
 * publisher did not sign.
 *
 * The signature covers a fixed text: a domain line, then the manifest's fields in a fixed order, so a
 * signature made for something else never verifies as a release.
 */
export const RELEASE_PRODUCT = 'ciao-badge';
const DOMAIN = 'ciao-badge release manifest v1\n';

/** Used as a folder name on the terminal: digits, letters, dots and dashes only. */
export const RELEASE_VERSION_PATTERN = /^\d{1,4}\.\d{1,4}\.\d{1,4}(?:-[0-9A-Za-z][0-9A-Za-z.-]{0,31})?$/;
const VERSION_RULE = 'must be a version like 1.4.2 or 1.5.0-rc.1';

export const releaseVersionSchema = z.string().regex(RELEASE_VERSION_PATTERN, VERSION_RULE);

export const releaseManifestSchema = z.strictObject({
  v: z.literal(1),
  product: z.literal(RELEASE_PRODUCT),
  version: releaseVersionSchema,
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be the SHA-256 of the bundle, 64 lower-case hex digits'),
  size: z.number().int().min(1, 'must be the size of the bundle in bytes').max(2 ** 31 - 1),
  createdAt: z.string().datetime({ offset: true, message: 'must be an ISO 8601 instant' }),
});
export type ReleaseManifest = z.infer<typeof releaseManifestSchema>;

export const signedManifestSchema = z.strictObject({
  manifest: releaseManifestSchema,
  /** Ed25519 signature over `manifestBytes(manifest)`, base64. */
  signature: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'must be an Ed25519 signature in base64 (64 bytes)'),
  /** Which key signed (the first 16 hex digits of the SHA-256 of its public key), to tell keys apart. */
  keyId: z.string().regex(/^[0-9a-f]{16}$/, 'must be 16 hex digits'),
});
export type SignedManifest = z.infer<typeof signedManifestSchema>;

/** The exact bytes that are signed. */
function manifestBytes(m: ReleaseManifest): Buffer {
  const ordered = { v: m.v, product: m.product, version: m.version, sha256: m.sha256, size: m.size, createdAt: m.createdAt };
  return Buffer.from(DOMAIN + JSON.stringify(ordered), 'utf8');
}

function releaseKeyId(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

/** Reads an Ed25519 public key (PEM, SPKI); refuses any other kind of key. */
export function readReleasePublicKey(pem: string | Buffer, field = 'publicKey'): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new InvalidInputError([{ field, rule: 'pem-public-key', message: `${field}: is not a PEM public key` }]);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new InvalidInputError([{ field, rule: 'ed25519', message: `${field}: must be an Ed25519 key (ciao release keygen), not ${key.asymmetricKeyType}` }]);
  return key;
}

export function readReleasePrivateKey(pem: string | Buffer, field = 'key'): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new InvalidInputError([{ field, rule: 'pem-private-key', message: `${field}: is not a PEM private key` }]);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new InvalidInputError([{ field, rule: 'ed25519', message: `${field}: must be an Ed25519 key (ciao release keygen), not ${key.asymmetricKeyType}` }]);
  return key;
}

export function signManifest(manifest: ReleaseManifest, privateKey: KeyObject): SignedManifest {
  const publicKey = createPublicKey(privateKey);
  return { manifest, signature: sign(null, manifestBytes(manifest), privateKey).toString('base64'), keyId: releaseKeyId(publicKey) };
}

/** Parses a signed manifest (the `.sig.json` beside a bundle); throws naming the field and rule. */
export function parseSignedManifest(input: unknown): SignedManifest {
  const r = parseWith(signedManifestSchema, input);
  if (!r.ok) throw new InvalidInputError(r.problems);
  return r.value;
}

/**
 * Checks the signature with the given public key. Answers the problem (field `signature`) instead of
 * throwing, so callers can report it as the reason an update was refused.
 */
export function checkManifestSignature(signed: SignedManifest, publicKey: KeyObject): FieldProblem | undefined {
  const ok = verify(null, manifestBytes(signed.manifest), publicKey, Buffer.from(signed.signature, 'base64'));
  if (ok) return undefined;
  const expected = releaseKeyId(publicKey);
  return {
    field: 'signature',
    rule: 'release-signature',
    message: signed.keyId === expected
      ? `signature: does not match release ${signed.manifest.version} (altered manifest or signature)`
      : `signature: made by key ${signed.keyId}, not by the release key ${expected} this side trusts`,
  };
}
