import { randomBytes } from 'node:crypto';
import { BLOCK, ZERO_IV, cbcDecrypt, cbcEncrypt, encryptBlock, padM2, rotateLeft, rotateRight, unpadM2, xor } from './aes.ts';
import { aesCmac, macEquals, macT } from './cmac.ts';

/**
 * EV2 secure messaging, host side (NT4H2421Gx §9.1; worked examples in AN12196 §5). After
 * AuthenticateEV2First both sides share a transaction identifier TI, two session keys and a command counter
 * CmdCtr (16 bits, sent least significant byte first, +1 after every command/response pair). A command in
 *   CommMode.MAC  carries  CmdHeader || CmdData || MACt(SesAuthMACKey; Cmd || CmdCtr || TI || CmdHeader || CmdData)
 *   CommMode.Full carries  CmdHeader || E(SesAuthENCKey, IVc, pad(CmdData)) || MACt(... over the ciphertext)
 * with IVc = E(SesAuthENCKey; A5h 5Ah || TI || CmdCtr || 00h x8); responses are MACed over
 * RC || CmdCtr+1 || TI || RespData, and decrypted with IVr built the same way from 5Ah A5h.
 */
export class AuthenticationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuthenticationError';
  }
}

export class IntegrityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IntegrityError';
  }
}

/** SV1 (label A55A) or SV2 (label 5AA5) of NT4H2421Gx §9.1.7; byte 0 of RndA/RndB is their most significant. */
export function sessionVector(label: 'A55A' | '5AA5', rndA: Buffer, rndB: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`${label}00010080`, 'hex'),
    rndA.subarray(0, 2),
    xor(rndA.subarray(2, 8), rndB.subarray(0, 6)),
    rndB.subarray(6, 16),
    rndA.subarray(8, 16),
  ]);
}

export function deriveSessionKeys(key: Buffer, rndA: Buffer, rndB: Buffer): { enc: Buffer; mac: Buffer } {
  return { enc: aesCmac(key, sessionVector('A55A', rndA, rndB)), mac: aesCmac(key, sessionVector('5AA5', rndA, rndB)) };
}

/** Part 1 answer of AuthenticateEV2First: the card's E(K, RndB) in, the PCD's E(K, RndA || RndB') out. */
export function authenticationChallengeAnswer(key: Buffer, encryptedRndB: Buffer, rndA: Buffer = randomBytes(16)): { part2: Buffer; rndA: Buffer; rndB: Buffer } {
  if (encryptedRndB.length !== BLOCK) throw new AuthenticationError(`the card's challenge must be 16 bytes, got ${encryptedRndB.length}`);
  const rndB = cbcDecrypt(key, ZERO_IV, encryptedRndB);
  const part2 = cbcEncrypt(key, ZERO_IV, Buffer.concat([rndA, rotateLeft(rndB)]));
  return { part2, rndA, rndB };
}

/**
 * Part 2 answer of AuthenticateEV2First: checks that the card proved the same key (it returns RndA rotated
 * left) and opens the session. Throws AuthenticationError otherwise.
 */
export function completeAuthentication(key: Buffer, keyNo: number, rndA: Buffer, rndB: Buffer, response: Buffer): SecureSession {
  if (response.length !== 2 * BLOCK) throw new AuthenticationError(`the card's answer must be 32 bytes, got ${response.length}`);
  const plain = cbcDecrypt(key, ZERO_IV, response);
  const ti = Buffer.from(plain.subarray(0, 4));
  const rndAPrime = plain.subarray(4, 20);
  if (!macEquals(rotateRight(rndAPrime), rndA)) throw new AuthenticationError('the card did not prove the key (RndA\' mismatch)');
  const { enc, mac } = deriveSessionKeys(key, rndA, rndB);
  return new SecureSession({ keyNo, ti, encKey: enc, macKey: mac, pdCap2: Buffer.from(plain.subarray(20, 26)), pcdCap2: Buffer.from(plain.subarray(26, 32)) });
}

export type CommMode = 'plain' | 'mac' | 'full';

export class SecureSession {
  readonly keyNo: number;
  readonly ti: Buffer;
  readonly encKey: Buffer;
  readonly macKey: Buffer;
  readonly pdCap2: Buffer;
  readonly pcdCap2: Buffer;
  cmdCtr: number;

  constructor(o: { keyNo: number; ti: Buffer; encKey: Buffer; macKey: Buffer; cmdCtr?: number; pdCap2?: Buffer; pcdCap2?: Buffer }) {
    this.keyNo = o.keyNo;
    this.ti = o.ti;
    this.encKey = o.encKey;
    this.macKey = o.macKey;
    this.cmdCtr = o.cmdCtr ?? 0;
    this.pdCap2 = o.pdCap2 ?? Buffer.alloc(6);
    this.pcdCap2 = o.pcdCap2 ?? Buffer.alloc(6);
  }

  private ctrBytes(ctr: number): Buffer {
    if (ctr > 0xffff) throw new IntegrityError('command counter exhausted: authenticate again');
    const b = Buffer.alloc(2);
    b.writeUInt16LE(ctr, 0);
    return b;
  }

  /** IVc (label A55A) for the current command, or IVr (label 5AA5) for its response. */
  iv(label: 'A55A' | '5AA5', ctr: number): Buffer {
    return encryptBlock(this.encKey, Buffer.concat([Buffer.from(label, 'hex'), this.ti, this.ctrBytes(ctr), Buffer.alloc(8)]));
  }

  commandMac(cmd: number, header: Buffer, data: Buffer): Buffer {
    return macT(this.macKey, Buffer.concat([Buffer.from([cmd]), this.ctrBytes(this.cmdCtr), this.ti, header, data]));
  }

  /** The ISO 7816 data field of a command in the given mode (the counter moves only with the response). */
  wrap(mode: CommMode, cmd: number, header: Buffer, data: Buffer): Buffer {
    if (mode === 'plain') return Buffer.concat([header, data]);
    const body = mode === 'full' && data.length > 0 ? cbcEncrypt(this.encKey, this.iv('A55A', this.cmdCtr), padM2(data)) : data;
    return Buffer.concat([header, body, this.commandMac(cmd, header, body)]);
  }

  /**
   * Checks (and for Full decrypts) a successful response, then advances the counter. `status` is SW2 of
   * 91xx (00h for success). A plain response advances the counter too: the card counts every pair.
   */
  unwrap(mode: CommMode, status: number, body: Buffer): Buffer {
    const next = this.cmdCtr + 1;
    if (mode === 'plain') {
      this.cmdCtr = next;
      return body;
    }
    if (body.length < 8) throw new IntegrityError(`response of ${body.length} bytes has no MAC`);
    const data = body.subarray(0, body.length - 8);
    const mac = body.subarray(body.length - 8);
    const expected = macT(this.macKey, Buffer.concat([Buffer.from([status]), this.ctrBytes(next), this.ti, data]));
    if (!macEquals(expected, mac)) throw new IntegrityError('response MAC is wrong');
    this.cmdCtr = next;
    if (mode === 'mac' || data.length === 0) return Buffer.from(data);
    return unpadM2(cbcDecrypt(this.encKey, this.iv('5AA5', next), data));
  }
}

/** CRC32 as NTAG 424 DNA uses it in ChangeKey: IEEE 802.3 polynomial, no final XOR (JAMCRC), least significant byte first. */
export function crc32Nk(data: Buffer): Buffer {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  const out = Buffer.alloc(4);
  out.writeUInt32LE(crc >>> 0, 0);
  return out;
}

/**
 * ChangeKey's CmdData (NT4H2421Gx §10.6.1): for the key the session was opened with, NewKey || KeyVer; for
 * any other key, (NewKey XOR OldKey) || KeyVer || CRC32NK(NewKey), so that the card can check the old key.
 */
export function changeKeyData(o: { keyNo: number; sessionKeyNo: number; newKey: Buffer; version: number; oldKey?: Buffer }): Buffer {
  if (o.newKey.length !== 16) throw new RangeError(`new key: must be 16 bytes, got ${o.newKey.length}`);
  const version = Buffer.from([o.version & 0xff]);
  if (o.keyNo === o.sessionKeyNo) return Buffer.concat([o.newKey, version]);
  if (!o.oldKey || o.oldKey.length !== 16) throw new RangeError('old key: 16 bytes are needed to change a key other than the session key');
  return Buffer.concat([xor(o.newKey, o.oldKey), version, crc32Nk(o.newKey)]);
}
