/**
 * ISO/IEC 7816-4 framing of NTAG 424 DNA native commands (NT4H2421Gx §8.3): CLA 90h, INS = the native
 * command code, P1 P2 = 00h, Lc and the data when there are any, Le 00h. The card answers data || 91h SW2,
 * where SW2 is the native status (00h success, AFh more frames); ISO commands end in 90h 00h.
 */
export interface CardTransport {
  /** Sends one command APDU and resolves with the response APDU (data and status word). */
  transmit(apdu: Buffer): Promise<Buffer>;
}

export const STATUS_OK = 0x00;
export const STATUS_ADDITIONAL_FRAME = 0xaf;

const NATIVE_STATUS: Record<number, string> = {
  0x00: 'operation ok',
  0x0c: 'no change',
  0x0e: 'out of memory',
  0x1c: 'illegal command code',
  0x1e: 'integrity error (wrong MAC, CRC or padding)',
  0x40: 'no such key',
  0x7e: 'length error',
  0x9d: 'permission denied',
  0x9e: 'parameter error',
  0xad: 'authentication delay',
  0xae: 'authentication error (wrong key)',
  0xaf: 'additional frame',
  0xbe: 'boundary error',
  0xca: 'command aborted',
  0xee: 'memory error',
  0xf0: 'file not found',
};

/** A status other than success from the card; after one, the card has dropped any authentication. */
export class CardStatusError extends Error {
  constructor(readonly command: string, readonly sw: number) {
    const native = sw >> 8 === 0x91 ? NATIVE_STATUS[sw & 0xff] : undefined;
    super(`${command}: card answered ${sw.toString(16).toUpperCase().padStart(4, '0')}${native ? ` (${native})` : ''}`);
    this.name = 'CardStatusError';
  }

  get isAuthenticationError(): boolean {
    return this.sw === 0x91ae;
  }
}

export function nativeApdu(ins: number, data: Buffer = Buffer.alloc(0)): Buffer {
  if (data.length > 255) throw new RangeError(`command data: at most 255 bytes in a short APDU, got ${data.length}`);
  return data.length === 0 ? Buffer.from([0x90, ins, 0x00, 0x00, 0x00]) : Buffer.concat([Buffer.from([0x90, ins, 0x00, 0x00, data.length]), data, Buffer.from([0x00])]);
}

export function splitResponse(response: Buffer): { body: Buffer; sw: number } {
  if (response.length < 2) throw new Error(`response APDU of ${response.length} bytes has no status word`);
  return { body: response.subarray(0, response.length - 2), sw: response.readUInt16BE(response.length - 2) };
}

/** ISO SELECT by DF name of the NDEF application (NFC Forum Type 4 Tag, D2760000850101). */
const NDEF_APPLICATION_DF_NAME = Buffer.from('D2760000850101', 'hex');
export const SELECT_NDEF_APPLICATION = Buffer.concat([Buffer.from('00A4040C07', 'hex'), NDEF_APPLICATION_DF_NAME, Buffer.from([0x00])]);
