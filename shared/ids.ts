import { randomBytes } from 'node:crypto';

/**
 * A UUID version 7 (RFC 9562): 48 bits of milliseconds since 1970, then 74 random bits. Ids made one after
 * the other sort in the order they were made, so a table indexed by them takes each new one at the end of
 * its index instead of at a random place: the gateway's index of tap ids then writes a few pages per commit
 * rather than one per tap. `ms` defaults to the clock of now; a wrong clock only costs that ordering, never
 * uniqueness (the random bits keep ids apart).
 */
export function timeOrderedUuid(ms = Date.now()): string {
  const b = randomBytes(16);
  b.writeUIntBE(Math.max(0, Math.min(ms, 0xffff_ffff_ffff)), 0, 6);
  b[6] = (b[6]! & 0x0f) | 0x70;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
