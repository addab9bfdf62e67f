import type { TapSun } from '../../shared/mqtt/payloads.ts';
import type { SunSupply } from '../../simulator/load/tap-source.ts';
import { cbcEncrypt, ZERO_IV } from '../../gateway/badge-security/aes.ts';
import { deriveBadgeKeys, type BadgeMasterKeys } from '../../gateway/badge-security/diversify.ts';
import { counterBytes, sdmMac } from '../../gateway/badge-security/sun.ts';

/**
 * Secure badges for the ingest benchmark: 16 NTAG 424 DNA badges (7-byte UIDs) per terminal, and the SUN
 * messages each would give its reads, computed before the run as a personalised badge computes them (keys
 * derived from the bench's master keys), so the load generator spends nothing on cryptography while it is
 * measured. Counters start at 1 and rise with each tap, as a badge's read counter does.
 */
export function secureBadges(terminalIndex: number, count = 16): string[] {
  return Array.from({ length: count }, (_, b) => `04C1A0${(terminalIndex & 0xffff).toString(16).toUpperCase().padStart(4, '0')}${b.toString(16).toUpperCase().padStart(4, '0')}`);
}

export const BENCH_MASTER_KEYS: BadgeMasterKeys = {
  application: Buffer.from('B0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF', 'hex'),
  sdmMetaRead: Buffer.from('C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF', 'hex'),
  sdmFileRead: Buffer.from('D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF', 'hex'),
};

/** The key file the bench gateway reads (version 1 = the keys above). */
export function benchKeyFile(): string {
  const hex = (b: Buffer) => b.toString('hex').toUpperCase();
  return JSON.stringify({ current: 1, versions: { 1: { application: hex(BENCH_MASTER_KEYS.application), sdmMetaRead: hex(BENCH_MASTER_KEYS.sdmMetaRead), sdmFileRead: hex(BENCH_MASTER_KEYS.sdmFileRead) } } });
}

/** Messages for `perBadge` reads of every badge of `terminals` terminals, handed out in read order. */
export function precomputedSunSupply(terminals: number, perBadge: number): SunSupply & { computeMs: number } {
  const started = performance.now();
  const messages = new Map<string, { list: TapSun[]; next: number }>();
  for (let t = 0; t < terminals; t++) {
    for (const badge of secureBadges(t)) {
      const uid = Buffer.from(badge, 'hex');
      const [, metaRead, fileRead] = deriveBadgeKeys(BENCH_MASTER_KEYS, uid);
      const list: TapSun[] = [];
      for (let counter = 1; counter <= perBadge; counter++) {
        const plain = Buffer.concat([Buffer.from([0xc7]), uid, counterBytes(counter), Buffer.alloc(5, counter & 0xff)]);
        list.push({ picc: cbcEncrypt(metaRead, ZERO_IV, plain).toString('hex').toUpperCase(), mac: sdmMac(fileRead, uid, counterBytes(counter)).toString('hex').toUpperCase() });
      }
      messages.set(badge, { list, next: 0 });
    }
  }
  return {
    computeMs: performance.now() - started,
    badges: (terminalIndex) => secureBadges(terminalIndex),
    next(badge) {
      const m = messages.get(badge);
      if (!m) throw new Error(`no SUN messages for badge ${badge}`);
      if (m.next >= m.list.length) throw new Error(`badge ${badge} has used its ${m.list.length} precomputed messages`);
      return m.list[m.next++]!;
    },
  };
}
