import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

/**
 * What a virtual NTAG 424 DNA remembers between taps and between simulator runs: its UID, five AES keys
 * with their versions, the SDM read counter, and its three files with their settings. Kept in a small JSON
 * file (mode 0600: it holds keys) so that a card keeps its counter and keys like a real one.
 */
export const KEY_FREE = 0xe;
export const KEY_NEVER = 0xf;

export interface CardFileSettings {
  /** 0 plain, 1 MAC, 3 full. */
  commMode: number;
  read: number;
  write: number;
  readWrite: number;
  change: number;
  sdm?: {
    options: number;
    counterRetrieval: number;
    metaRead: number;
    fileRead: number;
    uidOffset?: number;
    counterOffset?: number;
    piccDataOffset?: number;
    macInputOffset?: number;
    encOffset?: number;
    encLength?: number;
    macOffset?: number;
    counterLimit?: number;
  };
}

export interface CardFile {
  fileId: number;
  settings: CardFileSettings;
  /** Hex; always the file's full size. */
  data: string;
}

export interface Ntag424State {
  uid: string;
  keys: string[];
  keyVersions: number[];
  sdmReadCounter: number;
  files: Record<'1' | '2' | '3', CardFile>;
}

/** The NFC Forum capability container the card ships with: one NDEF file E104h of 256 bytes. */
const CC_FILE = '001720010000FF0406E104010000000506E10500808283000000000000000000';

/** A card as NXP delivers it: all keys zero, NDEF file empty and free to read and write. */
export function blankState(uid: string): Ntag424State {
  if (!/^[0-9A-Fa-f]{14}$/.test(uid)) throw new Error(`uid: an NTAG 424 DNA has a 7-byte UID (14 hex digits), got ${JSON.stringify(uid)}`);
  return {
    uid: uid.toUpperCase(),
    keys: Array.from({ length: 5 }, () => '00'.repeat(16)),
    keyVersions: [0, 0, 0, 0, 0],
    sdmReadCounter: 0,
    files: {
      '1': { fileId: 0xe103, settings: { commMode: 0, read: KEY_FREE, write: 0, readWrite: 0, change: 0 }, data: CC_FILE },
      '2': { fileId: 0xe104, settings: { commMode: 0, read: KEY_FREE, write: KEY_FREE, readWrite: KEY_FREE, change: 0 }, data: '00'.repeat(256) },
      '3': { fileId: 0xe105, settings: { commMode: 3, read: 2, write: 3, readWrite: 3, change: 0 }, data: '00'.repeat(128) },
    },
  };
}

/**
 * The card already personalised the way this project does it (URL with `picc_data=` and `cmac=`, keys 1
 * and 2 for SUN), written from the card's side for tests and for the wrong-keys clone. Real badges get
 * there through the gateway's personalisation commands instead.
 */
export function personalisedState(o: { uid: string; keys: Buffer[]; url?: string; piccParam?: string; macParam?: string; counter?: number }): Ntag424State {
  const s = blankState(o.uid);
  if (o.keys.length !== 5 || o.keys.some((k) => k.length !== 16)) throw new Error('keys: five 16-byte keys are needed');
  s.keys = o.keys.map((k) => k.toString('hex').toUpperCase());
  s.keyVersions = [1, 1, 1, 1, 1];
  s.sdmReadCounter = o.counter ?? 0;
  const piccParam = o.piccParam ?? 'picc_data';
  const macParam = o.macParam ?? 'cmac';
  const url = `${o.url ?? 'https://badge.ciao.invalid/t'}?${piccParam}=${'0'.repeat(32)}&${macParam}=${'0'.repeat(16)}`;
  const file = ndefUriFile(url);
  const text = file.toString('latin1');
  const piccDataOffset = text.indexOf(`${piccParam}=`) + piccParam.length + 1;
  const macOffset = text.lastIndexOf(`${macParam}=`) + macParam.length + 1;
  const data = Buffer.alloc(256);
  file.copy(data);
  s.files['2'] = {
    fileId: 0xe104,
    settings: { commMode: 0, read: KEY_FREE, write: 0, readWrite: 0, change: 0, sdm: { options: 0xc1, counterRetrieval: KEY_NEVER, metaRead: 1, fileRead: 2, piccDataOffset, macInputOffset: macOffset, macOffset } },
    data: data.toString('hex').toUpperCase(),
  };
  return s;
}

/** NLEN || one short well-known URI record ("https://" abbreviated as 04h). */
export function ndefUriFile(url: string): Buffer {
  const https = url.startsWith('https://');
  const body = Buffer.from(https ? url.slice(8) : url, 'utf8');
  const record = Buffer.concat([Buffer.from([0xd1, 0x01, body.length + 1, 0x55, https ? 0x04 : 0x00]), body]);
  const nlen = Buffer.alloc(2);
  nlen.writeUInt16BE(record.length);
  return Buffer.concat([nlen, record]);
}

/** A card that is a genuine NTAG 424 DNA personalised by someone else: SUN on, keys nobody here knows. */
export function wrongKeysState(uid: string): Ntag424State {
  return personalisedState({ uid, keys: Array.from({ length: 5 }, () => randomBytes(16)) });
}

export function loadState(path: string): Ntag424State {
  const data = JSON.parse(readFileSync(path, 'utf8')) as Ntag424State;
  if (!data || typeof data.uid !== 'string' || !Array.isArray(data.keys) || data.keys.length !== 5 || typeof data.sdmReadCounter !== 'number' || !data.files?.['2']) {
    throw new Error(`${path}: not a virtual NTAG 424 DNA state file`);
  }
  return data;
}

/** Writes atomically (temporary file then rename), mode 0600. */
export function saveState(path: string, state: Ntag424State): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** The card in `path`, or a blank one with `uid` created there. */
export function loadOrCreateState(path: string, uid: string): Ntag424State {
  if (existsSync(path)) return loadState(path);
  const state = blankState(uid);
  saveState(path, state);
  return state;
}
