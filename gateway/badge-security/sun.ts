import { ZERO_IV, cbcDecrypt } from './aes.ts';
import { aesCmac, macEquals, macT } from './cmac.ts';

/**
 * Secure Unique NFC (SUN) messages of an NTAG 424 DNA, as AN12196 §3.3-3.4 describes them (rev. 2.0; §4.3-4.4
 * in rev. 1.8). On every unauthenticated read the badge mirrors into its NDEF file
 *   PICCData = E(SDMMetaReadKey, PICCDataTag || UID || SDMReadCtr || random padding)   (AES-CBC, IV 0)
 *   SDMMAC   = MACt(KSesSDMFileReadMAC, bytes between SDMMACInputOffset and SDMMACOffset)
 *   KSesSDMFileReadMAC = CMAC(SDMFileReadKey, SV2), SV2 = 3Ch C3h 00h 01h 00h 80h || UID || SDMReadCtr
 * with SDMReadCtr three bytes, least significant first. Pure functions: no key store, no counter store.
 */
export interface SunMessage {
  /** The encrypted PICCData: 16 bytes (32 hex digits in the URL). */
  picc: Buffer;
  /** The SDMMAC: 8 bytes (16 hex digits in the URL). */
  mac: Buffer;
}

export interface PiccData {
  tag: number;
  uid: Buffer;
  /** SDMReadCtr as a number (0 to 16 777 215). */
  counter: number;
  /** The counter's three bytes as mirrored, least significant first. */
  counterBytes: Buffer;
}

/** PICCDataTag bits (NT4H2421Gx §9.3.4): UID mirrored, SDMReadCtr mirrored, UID length in the low nibble. */
const TAG_UID = 0x80;
const TAG_CTR = 0x40;
const TAG_RFU = 0x30;

/** Decrypts PICCData; null when it does not decrypt to a well-formed UID + counter (a wrong key, or garbage). */
export function decryptPiccData(metaReadKey: Buffer, encrypted: Buffer): PiccData | null {
  if (encrypted.length !== 16) return null;
  const plain = cbcDecrypt(metaReadKey, ZERO_IV, encrypted);
  const tag = plain[0]!;
  const uidLength = tag & 0x0f;
  if ((tag & TAG_RFU) !== 0 || !(tag & TAG_UID) || !(tag & TAG_CTR) || uidLength !== 7) return null;
  const uid = Buffer.from(plain.subarray(1, 8));
  const counterBytes = Buffer.from(plain.subarray(8, 11));
  return { tag, uid, counter: counterBytes.readUIntLE(0, 3), counterBytes };
}

export function counterBytes(counter: number): Buffer {
  if (!Number.isInteger(counter) || counter < 0 || counter > 0xffffff) throw new RangeError(`counter: must be 0 to 16777215, got ${counter}`);
  const b = Buffer.alloc(3);
  b.writeUIntLE(counter, 0, 3);
  return b;
}

function sdmVector(label: 'enc' | 'mac', uid: Buffer, ctr: Buffer): Buffer {
  const head = label === 'enc' ? 'c33c00010080' : '3cc300010080';
  return Buffer.concat([Buffer.from(head, 'hex'), uid, ctr]);
}

/** KSesSDMFileReadENC and KSesSDMFileReadMAC (AN12196 §3.3 Table 1). */
export function sdmSessionKeys(fileReadKey: Buffer, uid: Buffer, counter: Buffer): { enc: Buffer; mac: Buffer } {
  return { enc: aesCmac(fileReadKey, sdmVector('enc', uid, counter)), mac: aesCmac(fileReadKey, sdmVector('mac', uid, counter)) };
}

/** The SDMMAC a badge with this file-read key mirrors for this UID and counter. */
export function sdmMac(fileReadKey: Buffer, uid: Buffer, counter: Buffer, macInput: Buffer = Buffer.alloc(0)): Buffer {
  return macT(sdmSessionKeys(fileReadKey, uid, counter).mac, macInput);
}

export type SunFailure =
  /** The message is not 16 + 8 bytes. */
  | 'malformed'
  /** PICCData does not decrypt to a UID and counter: not our meta-read key (a foreign or cloned badge), or garbage. */
  | 'undecryptable'
  /** No file-read key is known for the UID inside the message. */
  | 'unknown-badge'
  /** The SDMMAC is wrong: a badge with the wrong keys, or a forged message. */
  | 'bad-mac'
  /** The message is genuine but names another badge than the UID read beside it. */
  | 'uid-mismatch';

export type SunVerdict =
  | { ok: true; uid: string; counter: number }
  | { ok: false; why: SunFailure; uid?: string; counter?: number };

export interface SunKeys {
  metaReadKey: Buffer;
  /** The badge's SDM file-read key, by UID; undefined when the badge is not known. */
  fileReadKey(uid: Buffer): Buffer | undefined;
}

/**
 * Checks a SUN message: decrypts the PICCData, recomputes the SDMMAC (zero-length MAC input, as this project
 * personalises badges), and, when the reader's UID is given, checks that the message names that badge.
 * Counter freshness needs the last counter seen for the badge: see `counterIsFresh`.
 */
export function verifySun(message: SunMessage, keys: SunKeys, readUid?: string): SunVerdict {
  if (message.picc.length !== 16 || message.mac.length !== 8) return { ok: false, why: 'malformed' };
  const picc = decryptPiccData(keys.metaReadKey, message.picc);
  if (!picc) return { ok: false, why: 'undecryptable' };
  const uid = picc.uid.toString('hex').toUpperCase();
  const fileReadKey = keys.fileReadKey(picc.uid);
  if (!fileReadKey) return { ok: false, why: 'unknown-badge', uid, counter: picc.counter };
  if (!macEquals(sdmMac(fileReadKey, picc.uid, picc.counterBytes), message.mac)) return { ok: false, why: 'bad-mac', uid, counter: picc.counter };
  if (readUid !== undefined && readUid.toUpperCase() !== uid) return { ok: false, why: 'uid-mismatch', uid, counter: picc.counter };
  return { ok: true, uid, counter: picc.counter };
}

/** A genuine message is fresh only when its counter is above every counter already seen for the badge. */
export function counterIsFresh(counter: number, lastSeen: number | null | undefined): boolean {
  return lastSeen === null || lastSeen === undefined || counter > lastSeen;
}

/** Parses the hex form a terminal sends (`{"picc": 32 hex, "mac": 16 hex}`); null when malformed. */
export function sunFromHex(hex: { picc: string; mac: string }): SunMessage | null {
  if (!/^[0-9A-Fa-f]{32}$/.test(hex.picc) || !/^[0-9A-Fa-f]{16}$/.test(hex.mac)) return null;
  return { picc: Buffer.from(hex.picc, 'hex'), mac: Buffer.from(hex.mac, 'hex') };
}
