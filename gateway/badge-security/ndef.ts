/**
 * The NDEF file a badge is personalised with: one URI record whose query carries placeholders the badge
 * overwrites on each read (SDM mirroring): `picc_data=` + 32 hex digits and `cmac=` + 16 hex digits by
 * default. The file starts with NLEN (2 bytes, big-endian) as NFC Forum Type 4 Tags require.
 */
const DEFAULT_SUN_BASE_URL = 'https://badge.ciao.invalid/t';
const DEFAULT_PICC_PARAM = 'picc_data';
const DEFAULT_MAC_PARAM = 'cmac';

/** URI identifier codes of the NFC Forum URI record type (only the two a badge URL can start with). */
const URI_PREFIXES: Array<[string, number]> = [
  ['https://', 0x04],
  ['http://', 0x03],
];

export interface SunNdefLayout {
  /** The NDEF file content, NLEN included. */
  file: Buffer;
  /** Byte offset in the file where the 32 PICCData digits go. */
  piccDataOffset: number;
  /** Byte offset where the 16 SDMMAC digits go (also the MAC input offset: the MAC covers nothing else). */
  macOffset: number;
  url: string;
}

export function buildSunNdef(o: { baseUrl?: string; piccParam?: string; macParam?: string } = {}): SunNdefLayout {
  const base = o.baseUrl ?? DEFAULT_SUN_BASE_URL;
  const piccParam = o.piccParam ?? DEFAULT_PICC_PARAM;
  const macParam = o.macParam ?? DEFAULT_MAC_PARAM;
  const url = `${base}${base.includes('?') ? '&' : '?'}${piccParam}=${'0'.repeat(32)}&${macParam}=${'0'.repeat(16)}`;
  const [prefix, code] = URI_PREFIXES.find(([p]) => url.startsWith(p)) ?? ['', 0x00];
  const rest = Buffer.from(url.slice(prefix.length), 'utf8');
  const payloadLength = 1 + rest.length;
  if (payloadLength > 255) throw new RangeError(`url: at most 254 bytes after its scheme, got ${rest.length}`);
  // Short record, message begin + end, TNF well-known: D1h, type length 1, payload length, type "U".
  const record = Buffer.concat([Buffer.from([0xd1, 0x01, payloadLength, 0x55, code]), rest]);
  const file = Buffer.concat([Buffer.alloc(2), record]);
  file.writeUInt16BE(record.length, 0);
  const recordStart = 2 + 5;
  const piccDataOffset = recordStart + rest.indexOf(`${piccParam}=${'0'.repeat(32)}`) + piccParam.length + 1;
  const macOffset = recordStart + rest.lastIndexOf(`${macParam}=${'0'.repeat(16)}`) + macParam.length + 1;
  return { file, piccDataOffset, macOffset, url };
}
