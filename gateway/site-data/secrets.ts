import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

/**
 * Terminal secrets: random, shown once, stored only as an scrypt hash. Verification is asynchronous
 * (scrypt runs on libuv's thread pool, never blocking the broker) and compares in constant time.
 */
const N = 16384;
const R = 8;
const P = 1;
const KEY_LENGTH = 32;

export function generateSecret(): string {
  return randomBytes(24).toString('base64url');
}

export function hashSecret(secret: string): string {
  const salt = randomBytes(16);
  const hash = scryptSync(secret, salt, KEY_LENGTH, { N, r: R, p: P });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/**
 * A hash of a random secret nobody kept, used to spend the same time on unknown terminals as on known ones
 * (same parameters as hashSecret). Written out rather than computed at start: an scrypt hash costs the
 * gateway's start tens of milliseconds on its only thread, and no password can match it.
 */
export const DECOY_HASH = `scrypt$${N}$${R}$${P}$Ob9nAklfP7VRVYdV/2PUhA==$F3v6IXpxxpRt116+mJ0/+42X+OqAYRR06bkJ/O4Rg5w=`;

export function verifySecret(secret: string | Buffer, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return Promise.resolve(false);
  const [, n, r, p, saltB64, hashB64] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(hashB64, 'base64');
  return new Promise((resolve) => {
    scrypt(secret, Buffer.from(saltB64, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p) }, (err, derived) => {
      if (err) return resolve(false);
      resolve(derived.length === expected.length && timingSafeEqual(derived, expected));
    });
  });
}
