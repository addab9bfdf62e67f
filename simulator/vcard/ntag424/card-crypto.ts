import { createCipheriv, createDecipheriv, timingSafeEqual } from 'node:crypto';

/**
 * The virtual NTAG 424 DNA's own cryptography, written from the card's point of view (NT4H2421Gx) and
 * deliberately sharing no code with the gateway's verifier (gateway/badge-security): the two are checked
 * against NXP's published examples separately, so a misreading of the datasheet cannot hide by being made
 * twice in the same place.
 */
export function aesEcb(key: Buffer, block: Buffer): Buffer {
  const c = createCipheriv('aes-128-ecb', key, null).setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}

export function aesCbc(direction: 'encrypt' | 'decrypt', key: Buffer, iv: Buffer, data: Buffer): Buffer {
  const c = (direction === 'encrypt' ? createCipheriv : createDecipheriv)('aes-128-cbc', key, iv).setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
}

/** Doubling in GF(2^128) with the CMAC polynomial, on a 128-bit integer. */
function dbl(v: bigint): bigint {
  const shifted = (v << 1n) & ((1n << 128n) - 1n);
  return v >> 127n ? shifted ^ 0x87n : shifted;
}

const toBig = (b: Buffer): bigint => BigInt(`0x${b.toString('hex') || '0'}`);
const toBuf = (v: bigint): Buffer => Buffer.from(v.toString(16).padStart(32, '0'), 'hex');

/** AES-CMAC (RFC 4493), computed block by block with an explicit chaining value. */
export function cmac(key: Buffer, message: Buffer): Buffer {
  const l = toBig(aesEcb(key, Buffer.alloc(16)));
  const k1 = dbl(l);
  const k2 = dbl(k1);
  const n = Math.max(1, Math.ceil(message.length / 16));
  let x = 0n;
  for (let i = 0; i < n; i++) {
    let block = message.subarray(i * 16, i * 16 + 16);
    let m = toBig(Buffer.concat([block, Buffer.alloc(16 - block.length)]));
    if (i === n - 1) {
      if (block.length === 16) m ^= k1;
      else {
        block = Buffer.concat([block, Buffer.from([0x80]), Buffer.alloc(15 - block.length)]);
        m = toBig(block) ^ k2;
      }
    }
    x = toBig(aesEcb(key, toBuf(x ^ m)));
  }
  return toBuf(x);
}

/** The 8-byte MAC the card sends: S14, S12, ..., S0 of the CMAC S15..S0, i.e. its odd positions. */
export function shortMac(key: Buffer, message: Buffer): Buffer {
  const full = cmac(key, message);
  return Buffer.from([1, 3, 5, 7, 9, 11, 13, 15].map((i) => full[i]!));
}

export function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC32 of ChangeKey: initial FFFFFFFFh, no final complement, least significant byte first. */
export function crc32(data: Buffer): Buffer {
  let c = 0xffffffff;
  for (const b of data) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  const out = Buffer.alloc(4);
  out.writeUInt32LE(c >>> 0);
  return out;
}

export function pad(data: Buffer): Buffer {
  const total = data.length + 16 - (data.length % 16);
  return Buffer.concat([data, Buffer.from([0x80]), Buffer.alloc(total - data.length - 1)]);
}

/** null when the padding is not 80h 00h... (the command was not encrypted with our session key). */
export function unpad(data: Buffer): Buffer | null {
  const end = data.lastIndexOf(0x80);
  if (end < 0 || end < data.length - 16 || data.subarray(end + 1).some((b) => b !== 0)) return null;
  return data.subarray(0, end);
}

export function xorBytes(a: Buffer, b: Buffer): Buffer {
  return Buffer.from(a.map((v, i) => v ^ b[i]!));
}
