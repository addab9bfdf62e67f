import type { TapSun } from '../../shared/mqtt/payloads.ts';

/**
 * Reading the Secure Unique NFC (SUN) message of an NTAG 424 DNA badge the way any phone reads an NFC
 * Forum Type 4 Tag: SELECT the NDEF application, SELECT the NDEF file E104h, READ BINARY its length and
 * its content, take the URI record, and find the encrypted PICCData and SDMMAC after their parameter names.
 * The terminal verifies nothing: it holds no key. A card without the application or without such a URL is
 * a plain badge (`none`); a card that stops answering makes `transmit` throw, which the caller reports.
 */
export interface SunTemplate {
  /** The text right before the 32 hex digits of the PICCData, e.g. `picc_data=`. */
  piccPrefix: string;
  /** The text right before the 16 hex digits of the SDMMAC, e.g. `cmac=`. */
  macPrefix: string;
}

export type SunRead = { kind: 'sun'; sun: TapSun } | { kind: 'none'; why: string };

type Transmit = (apdu: Buffer) => Promise<Buffer>;

const SELECT_NDEF_APP = Buffer.from('00A4040C07D276000085010100', 'hex');
const SELECT_NDEF_FILE = Buffer.from('00A4000C02E104', 'hex');
/** Bytes per READ BINARY: well under what any reader and the chip's frame size accept. */
const CHUNK = 0xf0;
/** The first READ BINARY: NLEN and up to 126 bytes of message, enough for a badge URL. */
const FIRST_READ = 0x80;

function sw(response: Buffer): number {
  return response.length >= 2 ? response.readUInt16BE(response.length - 2) : 0;
}

export async function readSunMessage(transmit: Transmit, template: SunTemplate): Promise<SunRead> {
  if (sw(await transmit(SELECT_NDEF_APP)) !== 0x9000) return { kind: 'none', why: 'no NDEF application' };
  if (sw(await transmit(SELECT_NDEF_FILE)) !== 0x9000) return { kind: 'none', why: 'no NDEF file' };
  // One READ BINARY brings NLEN and, for a badge URL, the whole message: every APDU is a round trip the
  // worker waits for. Only a longer message needs more; a file shorter than the first read is read by length.
  let first = await transmit(Buffer.from([0x00, 0xb0, 0x00, 0x00, FIRST_READ]));
  if (sw(first) !== 0x9000) first = await transmit(Buffer.from([0x00, 0xb0, 0x00, 0x00, 0x02]));
  if (sw(first) !== 0x9000 || first.length < 4) return { kind: 'none', why: `the NDEF file cannot be read (${first.toString('hex')})` };
  const nlen = first.readUInt16BE(0);
  if (nlen === 0) return { kind: 'none', why: 'empty NDEF file' };
  if (nlen > 1024) return { kind: 'none', why: `NDEF message of ${nlen} bytes is not a badge URL` };
  const parts: Buffer[] = [first.subarray(2, Math.min(first.length - 2, 2 + nlen))];
  for (let at = 2 + parts[0]!.length; at < 2 + nlen; at += CHUNK) {
    const length = Math.min(CHUNK, 2 + nlen - at);
    const r = await transmit(Buffer.from([0x00, 0xb0, (at >> 8) & 0x7f, at & 0xff, length]));
    if (sw(r) !== 0x9000) return { kind: 'none', why: `READ BINARY at ${at} answered ${r.toString('hex')}` };
    parts.push(r.subarray(0, r.length - 2));
  }
  const uri = parseNdefUri(Buffer.concat(parts));
  if (uri === null) return { kind: 'none', why: 'no URI record' };
  const sun = extractSun(uri, template);
  return sun ? { kind: 'sun', sun } : { kind: 'none', why: 'no SUN message in the URL' };
}

/** The URI of the first record of an NDEF message when it is a well-known "U" record (without its prefix code). */
export function parseNdefUri(message: Buffer): string | null {
  if (message.length < 3) return null;
  const header = message[0]!;
  const tnf = header & 0x07;
  const shortRecord = (header & 0x10) !== 0;
  const hasId = (header & 0x08) !== 0;
  const typeLength = message[1]!;
  let at = 2;
  let payloadLength: number;
  if (shortRecord) {
    payloadLength = message[at]!;
    at += 1;
  } else {
    if (message.length < at + 4) return null;
    payloadLength = message.readUInt32BE(at);
    at += 4;
  }
  const idLength = hasId ? message[at++]! : 0;
  const type = message.subarray(at, at + typeLength);
  at += typeLength + idLength;
  if (tnf !== 0x01 || type.length !== 1 || type[0] !== 0x55) return null;
  const payload = message.subarray(at, at + payloadLength);
  if (payload.length !== payloadLength || payloadLength < 1) return null;
  return payload.subarray(1).toString('utf8');
}

/** The PICCData and SDMMAC found after their prefixes (upper-case), or null when either is missing. */
export function extractSun(text: string, template: SunTemplate): TapSun | null {
  const after = (prefix: string, digits: number): string | null => {
    let from = 0;
    for (;;) {
      const i = text.indexOf(prefix, from);
      if (i < 0) return null;
      const value = text.slice(i + prefix.length, i + prefix.length + digits);
      const next = text.charAt(i + prefix.length + digits);
      if (new RegExp(`^[0-9A-Fa-f]{${digits}}$`).test(value) && !/[0-9A-Fa-f]/.test(next)) return value.toUpperCase();
      from = i + 1;
    }
  };
  const picc = after(template.piccPrefix, 32);
  const mac = after(template.macPrefix, 16);
  return picc && mac ? { picc, mac } : null;
}
