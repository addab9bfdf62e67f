import { createCipheriv, createDecipheriv } from 'node:crypto';

/**
 * AES-128 building blocks for NTAG 424 DNA work, on node:crypto. No padding is ever added here: every caller
 * pads on purpose (ISO/IEC 9797-1 method 2 for secure messaging, none for single blocks).
 */
export const BLOCK = 16;
export const ZERO_IV = Buffer.alloc(BLOCK);

function checkKey(key: Buffer): void {
  if (key.length !== 16) throw new RangeError(`AES-128 key: must be 16 bytes, got ${key.length}`);
}

function checkBlocks(data: Buffer, what: string): void {
  if (data.length % BLOCK !== 0) throw new RangeError(`${what}: must be a multiple of 16 bytes, got ${data.length}`);
}

/** E(K, block): one block, ECB. */
export function encryptBlock(key: Buffer, block: Buffer): Buffer {
  checkKey(key);
  if (block.length !== BLOCK) throw new RangeError(`block: must be 16 bytes, got ${block.length}`);
  const c = createCipheriv('aes-128-ecb', key, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}

export function cbcEncrypt(key: Buffer, iv: Buffer, data: Buffer): Buffer {
  checkKey(key);
  checkBlocks(data, 'plaintext');
  const c = createCipheriv('aes-128-cbc', key, iv);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
}

export function cbcDecrypt(key: Buffer, iv: Buffer, data: Buffer): Buffer {
  checkKey(key);
  checkBlocks(data, 'ciphertext');
  const d = createDecipheriv('aes-128-cbc', key, iv);
  d.setAutoPadding(false);
  return Buffer.concat([d.update(data), d.final()]);
}

export function xor(a: Buffer, b: Buffer): Buffer {
  if (a.length !== b.length) throw new RangeError(`xor: lengths differ (${a.length} and ${b.length})`);
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** ISO/IEC 9797-1 padding method 2: 80h then zeros to a block boundary; a whole block when already aligned. */
export function padM2(data: Buffer): Buffer {
  const padded = Buffer.alloc((Math.floor(data.length / BLOCK) + 1) * BLOCK);
  data.copy(padded);
  padded[data.length] = 0x80;
  return padded;
}

/** Removes ISO/IEC 9797-1 method 2 padding; throws when it is not there (a wrong key or a forged frame). */
export function unpadM2(data: Buffer): Buffer {
  let i = data.length - 1;
  while (i >= 0 && data[i] === 0x00) i--;
  if (i < 0 || data[i] !== 0x80 || data.length - i > BLOCK) throw new Error('padding: not ISO/IEC 9797-1 method 2');
  return data.subarray(0, i);
}

/** Rotates left by one byte (RndB' = RndB <<< 8). */
export function rotateLeft(data: Buffer): Buffer {
  return Buffer.concat([data.subarray(1), data.subarray(0, 1)]);
}

export function rotateRight(data: Buffer): Buffer {
  return Buffer.concat([data.subarray(data.length - 1), data.subarray(0, data.length - 1)]);
}
