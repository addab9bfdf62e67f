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
  k1: Buffer;
}

/** A small LRU: a Map in use order. Badges tapped often stay; a site's whole staff fits. */
class Lru<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly capacity: number) {}
  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: string, v: V): void {
    this.map.set(key, v);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value!);
  }
  get size(): number {
    return this.map.size;
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
  private readonly fileRead: Lru<FileReadContext>;
  private readonly known: Set<number>;

  constructor(private readonly keys: SunKeySource, o: SunVerifierOptions = {}) {
    this.fileRead = new Lru(o.cacheSize ?? 8192);
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
    const order = this.order(version);
    if (order.length === 0) return { ok: false, why: 'no-key' };
    const uid = Buffer.from(uidHex, 'hex');
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
      ctx = { encrypt: ecbEncryptor(fileReadKey), k1: cmacSubkeys(fileReadKey).k1 };
      this.fileRead.set(cacheKey, ctx);
    }
    return ctx;
  }

  private macMatches(uidHex: string, version: number, uid: Buffer, counterBytes: Buffer, mac: Buffer): boolean {
    const ctx = this.context(uidHex, version, uid);
    // KSesSDMFileReadMAC = CMAC(file-read key, SV2); SV2 is exactly one block, so CMAC is E(K, SV2 ^ K1).
    const sv2 = Buffer.concat([SV2_HEAD, uid, counterBytes], 16);
    for (let i = 0; i < 16; i++) sv2[i] = sv2[i]! ^ ctx.k1[i]!;
    const sessionKey = ctx.encrypt.update(sv2);
    // SDMMAC = MACt(session key, empty input) = truncated E(S, 80h 00h... ^ K2), K2 from L = E(S, 0).
    const s = ecbEncryptor(sessionKey);
    const l = s.update(ZERO_BLOCK);
    const k2 = double(double(l, Buffer.alloc(16)), Buffer.alloc(16));
    k2[0] = k2[0]! ^ 0x80;
    const full = s.update(k2);
    const truncated = Buffer.allocUnsafe(8);
    for (let i = 0; i < 8; i++) truncated[i] = full[2 * i + 1]!;
    return timingSafeEqual(truncated, mac);
  }
}
