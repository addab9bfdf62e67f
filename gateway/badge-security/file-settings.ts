import type { CommMode } from './secure-messaging.ts';

/**
 * File settings of an NTAG 424 DNA file (NT4H2421Gx §10.7): what GetFileSettings returns and what
 * ChangeFileSettings takes, including the Secure Dynamic Messaging (SDM) part that makes the NDEF file carry
 * a fresh SUN message on every read.
 * Access conditions are key numbers 0-4, 0xE for free access and 0xF for never.
 */
export const ACCESS_FREE = 0xe;
export const ACCESS_NEVER = 0xf;

export interface AccessRights {
  read: number;
  write: number;
  readWrite: number;
  change: number;
}

export interface SdmSettings {
  uidMirror: boolean;
  counterMirror: boolean;
  counterLimit?: number;
  encryptedFileData?: { offset: number; length: number };
  /** Mirror as ASCII hex (as a URL needs). */
  ascii: boolean;
  /** SDMMetaRead: key of the encrypted PICCData, 0xE for UID and counter in clear, 0xF for none. */
  metaRead: number;
  /** SDMFileRead: key of the SDMMAC (and encrypted file data), 0xF for no MAC. */
  fileRead: number;
  /** SDMCtrRet: key allowed to read the counter with GetFileCounters, 0xE free, 0xF never. */
  counterRetrieval: number;
  uidOffset?: number;
  counterOffset?: number;
  piccDataOffset?: number;
  macInputOffset?: number;
  macOffset?: number;
}

export interface FileSettings {
  fileType: number;
  commMode: CommMode;
  access: AccessRights;
  size: number;
  sdm?: SdmSettings;
}

const COMM_MODE_BITS: Record<CommMode, number> = { plain: 0b00, mac: 0b01, full: 0b11 };

function commModeOf(bits: number): CommMode {
  return (bits & 0b11) === 0b01 ? 'mac' : (bits & 0b11) === 0b11 ? 'full' : 'plain';
}

function u24(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffff) throw new RangeError(`offset: must be 0 to 16777215, got ${n}`);
  const b = Buffer.alloc(3);
  b.writeUIntLE(n, 0, 3);
  return b;
}

function accessBytes(a: AccessRights): Buffer {
  return Buffer.from([((a.readWrite & 0xf) << 4) | (a.change & 0xf), ((a.read & 0xf) << 4) | (a.write & 0xf)]);
}

function accessOf(b0: number, b1: number): AccessRights {
  return { readWrite: b0 >> 4, change: b0 & 0xf, read: b1 >> 4, write: b1 & 0xf };
}

/** The CmdData of ChangeFileSettings: FileOption, AccessRights and, with SDM, its options and offsets. */
export function encodeFileSettings(s: Pick<FileSettings, 'commMode' | 'access' | 'sdm'>): Buffer {
  const parts: Buffer[] = [Buffer.from([(s.sdm ? 0x40 : 0x00) | COMM_MODE_BITS[s.commMode]]), accessBytes(s.access)];
  const sdm = s.sdm;
  if (sdm) {
    const options = (sdm.uidMirror ? 0x80 : 0) | (sdm.counterMirror ? 0x40 : 0) | (sdm.counterLimit !== undefined ? 0x20 : 0) | (sdm.encryptedFileData ? 0x10 : 0) | (sdm.ascii ? 0x01 : 0);
    parts.push(Buffer.from([options, 0xf0 | (sdm.counterRetrieval & 0xf), ((sdm.metaRead & 0xf) << 4) | (sdm.fileRead & 0xf)]));
    const need = (value: number | undefined, name: string): number => {
      if (value === undefined) throw new RangeError(`sdm.${name}: is required by these SDM settings`);
      return value;
    };
    if (sdm.metaRead === ACCESS_FREE) {
      if (sdm.uidMirror) parts.push(u24(need(sdm.uidOffset, 'uidOffset')));
      if (sdm.counterMirror) parts.push(u24(need(sdm.counterOffset, 'counterOffset')));
    } else if (sdm.metaRead <= 4) {
      parts.push(u24(need(sdm.piccDataOffset, 'piccDataOffset')));
    }
    if (sdm.fileRead !== ACCESS_NEVER) {
      parts.push(u24(need(sdm.macInputOffset, 'macInputOffset')));
      if (sdm.encryptedFileData) parts.push(u24(sdm.encryptedFileData.offset), u24(sdm.encryptedFileData.length));
      parts.push(u24(need(sdm.macOffset, 'macOffset')));
    }
    if (sdm.counterLimit !== undefined) parts.push(u24(sdm.counterLimit));
  }
  return Buffer.concat(parts);
}

/** Parses a GetFileSettings answer (without status and MAC). */
export function decodeFileSettings(data: Buffer): FileSettings {
  if (data.length < 7) throw new RangeError(`file settings: at least 7 bytes expected, got ${data.length}`);
  const option = data[1]!;
  const settings: FileSettings = { fileType: data[0]!, commMode: commModeOf(option), access: accessOf(data[2]!, data[3]!), size: data.readUIntLE(4, 3) };
  if (!(option & 0x40)) return settings;
  let at = 7;
  const take = (): number => {
    if (at + 3 > data.length) throw new RangeError('file settings: SDM offsets are cut short');
    const v = data.readUIntLE(at, 3);
    at += 3;
    return v;
  };
  if (data.length < at + 3) throw new RangeError('file settings: SDM options are cut short');
  const options = data[at]!;
  const ctrRet = data[at + 1]! & 0xf;
  const metaRead = data[at + 2]! >> 4;
  const fileRead = data[at + 2]! & 0xf;
  at += 3;
  const sdm: SdmSettings = { uidMirror: !!(options & 0x80), counterMirror: !!(options & 0x40), ascii: !!(options & 0x01), metaRead, fileRead, counterRetrieval: ctrRet };
  if (metaRead === ACCESS_FREE) {
    if (sdm.uidMirror) sdm.uidOffset = take();
    if (sdm.counterMirror) sdm.counterOffset = take();
  } else if (metaRead <= 4) {
    sdm.piccDataOffset = take();
  }
  if (fileRead !== ACCESS_NEVER) {
    sdm.macInputOffset = take();
    if (options & 0x10) sdm.encryptedFileData = { offset: take(), length: take() };
    sdm.macOffset = take();
  }
  if (options & 0x20) sdm.counterLimit = take();
  settings.sdm = sdm;
  return settings;
}

/** True when two settings mean the same to the card (file type and size are the card's, not ours). */
export function sameSettings(a: Pick<FileSettings, 'commMode' | 'access' | 'sdm'>, b: Pick<FileSettings, 'commMode' | 'access' | 'sdm'>): boolean {
  return encodeFileSettings(a).equals(encodeFileSettings(b));
}
