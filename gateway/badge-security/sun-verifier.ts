import { createCipheriv, createDecipheriv, timingSafeEqual, type Cipher, type Decipher } from 'node:crypto';
import { cmacSubkeys } from './cmac.ts';
import { deriveFileReadKey, deriveMetaReadKey } from './diversify.ts';
import type { BadgeKeyRing } from './key-ring.ts';

/**
 * The gateway's check of a tap's SUN message against its key ring, built for the ingest transaction: the
 * same computation as `verifySun` (AN12196 §3.3-3.4), with AES contexts kept per key instead of made per
 * block, which is what node:crypto charges for. Per tap: one ECB block to decrypt the PICCData (meta-read
 * key of the version, kept), one to derive the session MAC key (the badge's file-read key, kept in a
 * bounded cache), and one new context for the session key (two blocks: its CMAC subkey and the MAC).
 *
 * It checks the cryptography only; whether the counter is fresh is the caller's, against what it stored.
 */
export type SunCheck =
  | { ok: true; counter: number; version: number }
  | {
      ok: false;
      why: SunCheckFailure;
      /** The UID inside a message that decrypted (for uid-mismatch), upper-case hex. */
      messageUid?: string;
      counter?: number;
    };

export type SunCheckFailure =
  /** The ring holds no key of the badge's version, nor any other that verifies the message. */
  | 'no-key'
  /** No PICCData decrypts to a UID and counter under any version: keys unknown here, or garbage. */
  | 'undecryptable'
  /** The PICCData names another badge than the UID read beside it. */
  | 'uid-mismatch'
  /** The PICCData is this badge's, but the SDMMAC is wrong: a forged or altered message. */
  | 'bad-mac';

/** PICCDataTag of a message with UID (7 bytes) and read counter mirrored (NT4H2421Gx §9.3.4). */
const PICC_TAG = 0xc7;
const SV2_HEAD = Buffer.from('3CC300010080', 'hex');
const ZERO_BLOCK = Buffer.alloc(16);

function ecbEncryptor(key: Buffer): Cipher {
  const c = createCipheriv('aes-128-ecb', key, null);
  c.setAutoPadding(false);
  return c;
}

function ecbDecryptor(key: Buffer): Decipher {
  const d = createDecipheriv('aes-128-ecb', key, null);
  d.setAutoPadding(false);
  return d;
}

/** GF(2^128) doubling of RFC 4493 §2.3, in place into `out`. */
function double(block: Buffer, out: Buffer): Buffer {
  const carry = block[0]! & 0x80;
  for (let i = 0; i < 15; i++) out[i] = ((block[i]! << 1) | (block[i + 1]! >> 7)) & 0xff;
  out[15] = ((block[15]! << 1) & 0xff) ^ (carry ? 0x87 : 0);
  return out;
}

interface FileReadContext {
  /** E(file-read key, ·) with no padding, kept open: ECB has no state between blocks. */
  encrypt: Cipher;
  /** SV2 (3CC3 0001 0080 || UID || counter) XOR K1 with the counter bytes zero: the counter is XORed in per tap. */
  sv2Masked: Buffer;
  /** The last 3 bytes of K1, XORed with the counter. */
  k1Tail: Buffer;
}

/**
 * A bounded cache: a Map in insertion order, its oldest entries dropped when full. A site's whole staff fits
 * by default; beyond it, a badge not tapped for a while costs one key derivation again.
 */
class BoundedCache<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly capacity: number) {}
  get(key: string): V | undefined {
    return this.map.get(key);
  }
  set(key: string, v: V): void {
    if (this.map.size >= this.capacity) this.map.delete(this.map.keys().next().value!);
    this.map.set(key, v);
  }
}

export interface SunVerifierOptions {
  /** Badges whose file-read AES context is kept (each a few hundred bytes of native memory). */
  cacheSize?: number;
}

/** Where the verifier gets its keys: per key version, the meta-read key and each badge's file-read key. */
export interface SunKeySource {
  versions: number[];
  metaReadKey(version: number): Buffer;
  fileReadKey(version: number, uid: Buffer): Buffer;
}

/** The keys of a key ring: derived from its master keys (AN10922), as personalisation derived them. */
export function keyRingSource(ring: BadgeKeyRing): SunKeySource {
  return {
    versions: [...ring.versions.keys()],
    metaReadKey: (v) => deriveMetaReadKey(ring.versions.get(v)!),
    fileReadKey: (v, uid) => deriveFileReadKey(ring.versions.get(v)!, uid),
  };
}

export class SunVerifier {
  private readonly metaDecrypt = new Map<number, Decipher>();
  private readonly fileRead: BoundedCache<FileReadContext>;
  private readonly known: Set<number>;

  constructor(private readonly keys: SunKeySource, o: SunVerifierOptions = {}) {
    this.fileRead = new BoundedCache(o.cacheSize ?? 8192);
    this.known = new Set(keys.versions);
    for (const version of keys.versions) this.metaDecrypt.set(version, ecbDecryptor(keys.metaReadKey(version)));
  }

  static fromKeyRing(ring: BadgeKeyRing, o: SunVerifierOptions = {}): SunVerifier {
    return new SunVerifier(keyRingSource(ring), o);
  }

  /** The badge's own version first, then the others newest first. */
  private order(preferred: number | null): number[] {
    const rest = [...this.known].filter((v) => v !== preferred).sort((a, b) => b - a);
    return preferred !== null && this.known.has(preferred) ? [preferred, ...rest] : rest;
  }

  /**
   * Checks a message read from the badge `uidHex` (upper-case, as the tap carries it), personalised with key
   * version `version`. Other versions of the ring are tried only when that one fails (a rotation cut short
   * can leave a badge with keys of two versions), so a genuine tap costs one attempt.
   */
  verify(uidHex: string, version: number | null, picc: Buffer, mac: Buffer): SunCheck {
    if (picc.length !== 16 || mac.length !== 8) return { ok: false, why: 'undecryptable' };
    if (this.known.size === 0) return { ok: false, why: 'no-key' };
    const uid = Buffer.from(uidHex, 'hex');
    // A genuine tap: the badge's own version decrypts its UID and verifies its MAC, at the first attempt.
    if (version !== null && this.known.has(version) && uid.length === 7) {
      const plain = this.metaDecrypt.get(version)!.update(picc);
      if (plain[0] === PICC_TAG && plain.compare(uid, 0, 7, 1, 8) === 0) {
        const counterBytes = plain.subarray(8, 11);
        if (this.macMatches(uidHex, version, uid, counterBytes, mac)) return { ok: true, counter: counterBytes.readUIntLE(0, 3), version };
      }
    }
    const order = this.order(version);
    let otherUid: { messageUid: string; counter: number } | undefined;
    for (const metaVersion of order) {
      const plain = this.metaDecrypt.get(metaVersion)!.update(picc);
      if (plain[0] !== PICC_TAG) continue;
      const counterBytes = plain.subarray(8, 11);
      const counter = counterBytes.readUIntLE(0, 3);
      if (uid.length !== 7 || !plain.subarray(1, 8).equals(uid)) {
        // One wrong key in 256 gives a well-formed tag by chance: keep looking before calling it another badge's.
        otherUid ??= { messageUid: plain.subarray(1, 8).toString('hex').toUpperCase(), counter };
        continue;
      }
      for (const fileVersion of order) {
        if (this.macMatches(uidHex, fileVersion, uid, counterBytes, mac)) return { ok: true, counter, version: fileVersion };
      }
      return { ok: false, why: 'bad-mac', counter };
    }
    if (otherUid) return { ok: false, why: 'uid-mismatch', ...otherUid };
    if (version !== null && !this.known.has(version)) return { ok: false, why: 'no-key' };
    return { ok: false, why: 'undecryptable' };
  }

  private context(uidHex: string, version: number, uid: Buffer): FileReadContext {
    const cacheKey = `${version}:${uidHex}`;
    let ctx = this.fileRead.get(cacheKey);
    if (!ctx) {
      const fileReadKey = this.keys.fileReadKey(version, uid);
      const { k1 } = cmacSubkeys(fileReadKey);
      const sv2Masked = Buffer.concat([SV2_HEAD, uid, Buffer.alloc(3)], 16);
      for (let i = 0; i < 16; i++) sv2Masked[i] = sv2Masked[i]! ^ k1[i]!;
      ctx = { encrypt: ecbEncryptor(fileReadKey), sv2Masked, k1Tail: Buffer.from(k1.subarray(13, 16)) };
      this.fileRead.set(cacheKey, ctx);
    }
    return ctx;
  }

  private macMatches(uidHex: string, version: number, uid: Buffer, counterBytes: Buffer, mac: Buffer): boolean {
    const ctx = this.context(uidHex, version, uid);
    // KSesSDMFileReadMAC = CMAC(file-read key, SV2); SV2 is exactly one block, so CMAC is E(K, SV2 ^ K1).
    const block = Buffer.from(ctx.sv2Masked);
    for (let i = 0; i < 3; i++) block[13 + i] = counterBytes[i]! ^ ctx.k1Tail[i]!;
    const sessionKey = ctx.encrypt.update(block);
    // SDMMAC = MACt(session key, empty input) = truncated E(S, 80h 00h... ^ K2), K2 from L = E(S, 0).
    const s = ecbEncryptor(sessionKey);
    const l = s.update(ZERO_BLOCK);
    const k1 = double(l, Buffer.allocUnsafe(16));
    const k2 = double(k1, l);
    k2[0] = k2[0]! ^ 0x80;
    const full = s.update(k2);
    const truncated = Buffer.allocUnsafe(8);
    for (let i = 0; i < 8; i++) truncated[i] = full[2 * i + 1]!;
    return timingSafeEqual(truncated, mac);
  }
}
