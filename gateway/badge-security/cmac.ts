import { timingSafeEqual } from 'node:crypto';
import { BLOCK, ZERO_IV, cbcEncrypt, encryptBlock, xor } from './aes.ts';

/**
 * AES-CMAC (RFC 4493) and the NTAG 424 DNA MAC truncation. node:crypto has no CMAC, and the algorithm is
 * twenty lines on top of AES-ECB/CBC, so it lives here rather than in a dependency.
 */
const RB = 0x87;

function shiftLeft(block: Buffer): Buffer {
  const out = Buffer.alloc(BLOCK);
  for (let i = 0; i < BLOCK; i++) out[i] = ((block[i]! << 1) | (i + 1 < BLOCK ? block[i + 1]! >> 7 : 0)) & 0xff;
  if (block[0]! & 0x80) out[BLOCK - 1] ^= RB;
  return out;
}

/** The two CMAC subkeys K1 and K2 (RFC 4493 §2.3). */
export function cmacSubkeys(key: Buffer): { k1: Buffer; k2: Buffer } {
  const l = encryptBlock(key, Buffer.alloc(BLOCK));
  const k1 = shiftLeft(l);
  return { k1, k2: shiftLeft(k1) };
}

/** Full 16-byte AES-CMAC of `message` (any length, empty included). */
export function aesCmac(key: Buffer, message: Buffer): Buffer {
  const { k1, k2 } = cmacSubkeys(key);
  const complete = message.length > 0 && message.length % BLOCK === 0;
  const blocks = complete ? message.length / BLOCK : Math.floor(message.length / BLOCK) + 1;
  const data = Buffer.alloc(blocks * BLOCK);
  message.copy(data);
  if (!complete) data[message.length] = 0x80;
  const lastStart = (blocks - 1) * BLOCK;
  xor(data.subarray(lastStart), complete ? k1 : k2).copy(data, lastStart);
  const out = cbcEncrypt(key, ZERO_IV, data);
  return out.subarray(out.length - BLOCK);
}

/**
 * NTAG 424 DNA truncation (NT4H2421Gx §9.1.3, AN12196 §2 "MACt"): the 8 even-numbered bytes of the CMAC
 * counted from the least significant end, i.e. bytes 1, 3, ..., 15 of the big-endian output.
 */
export function truncateMac(full: Buffer): Buffer {
  const out = Buffer.alloc(8);
  for (let i = 0; i < 8; i++) out[i] = full[2 * i + 1]!;
  return out;
}

/** MACt(key, message). */
export function macT(key: Buffer, message: Buffer): Buffer {
  return truncateMac(aesCmac(key, message));
}

/** Constant-time comparison of two MACs (false for different lengths). */
export function macEquals(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
