import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { SunVerifier, keyRingSource, type SunKeySource } from '../../gateway/badge-security/sun-verifier.ts';
import { counterBytes, sdmMac, verifySun } from '../../gateway/badge-security/sun.ts';
import { deriveBadgeKeys, type BadgeMasterKeys } from '../../gateway/badge-security/diversify.ts';
import { cbcEncrypt, ZERO_IV } from '../../gateway/badge-security/aes.ts';
import type { BadgeKeyRing } from '../../gateway/badge-security/key-ring.ts';

/**
 * The gateway's fast SUN check (the one ingest runs). Its expected values come from NXP AN12196 rev. 2.0
 * §3.4.2.1 Table 2 and §3.4.4.2.1 Table 4 (PICCData EF963FF7828658A599F3041510671E88, SDMMAC
 * 94EED9EE65337086 under all-zero keys: UID 04DE5F1EACC040, read counter 61); beyond the published example,
 * it must agree with `verifySun` (itself checked against the same document) on any message.
 */
const h = (s: string) => Buffer.from(s, 'hex');
const ZERO = Buffer.alloc(16);
const zeroKeys: SunKeySource = { versions: [1], metaReadKey: () => ZERO, fileReadKey: () => ZERO };
const PICC = h('EF963FF7828658A599F3041510671E88');
const MAC = h('94EED9EE65337086');

describe('the ingest SUN check on AN12196 §3.4 (all-zero keys)', () => {
  it('accepts the published message for its badge, with its counter', () => {
    expect(new SunVerifier(zeroKeys).verify('04DE5F1EACC040', 1, PICC, MAC)).toEqual({ ok: true, counter: 61, version: 1 });
  });

  it('names what is wrong with an altered message', () => {
    const v = new SunVerifier(zeroKeys);
    const mac = Buffer.from(MAC);
    mac[0]! ^= 0x01;
    expect(v.verify('04DE5F1EACC040', 1, PICC, mac)).toEqual({ ok: false, why: 'bad-mac', counter: 61 });
    expect(v.verify('04A1B2C3D4E5F6', 1, PICC, MAC)).toEqual({ ok: false, why: 'uid-mismatch', messageUid: '04DE5F1EACC040', counter: 61 });
    const picc = Buffer.from(PICC);
    picc[15]! ^= 0x80;
    // The last block is the only one: any change scrambles the tag, and the message says nothing.
    expect(v.verify('04DE5F1EACC040', 1, picc, MAC).ok).toBe(false);
    expect(v.verify('04DE5F1EACC040', 1, PICC.subarray(0, 15), MAC)).toEqual({ ok: false, why: 'undecryptable' });
  });

  it('says no-key when it has no key of the badge version and nothing else verifies, or no key at all', () => {
    const other: SunKeySource = { versions: [2], metaReadKey: () => Buffer.alloc(16, 9), fileReadKey: () => Buffer.alloc(16, 9) };
    expect(new SunVerifier(other).verify('04DE5F1EACC040', 1, PICC, MAC)).toEqual({ ok: false, why: 'no-key' });
    expect(new SunVerifier({ versions: [], metaReadKey: () => ZERO, fileReadKey: () => ZERO }).verify('04DE5F1EACC040', null, PICC, MAC)).toEqual({ ok: false, why: 'no-key' });
    expect(new SunVerifier(other).verify('04DE5F1EACC040', 2, PICC, MAC)).toEqual({ ok: false, why: 'undecryptable' });
  });
});

/** A message as a badge with these master keys mirrors it. */
function message(master: BadgeMasterKeys, uidHex: string, counter: number): { picc: Buffer; mac: Buffer } {
  const uid = h(uidHex);
  const keys = deriveBadgeKeys(master, uid);
  const plain = Buffer.concat([Buffer.from([0xc7]), uid, counterBytes(counter), randomBytes(5)]);
  return { picc: cbcEncrypt(keys[1], ZERO_IV, plain), mac: sdmMac(keys[2], uid, counterBytes(counter)) };
}

const master = (seed: number): BadgeMasterKeys => ({ application: Buffer.alloc(16, seed), sdmMetaRead: Buffer.alloc(16, seed + 1), sdmFileRead: Buffer.alloc(16, seed + 2) });

describe('the ingest SUN check with a key ring', () => {
  const v1 = master(0x11);
  const v2 = master(0x21);
  const ring: BadgeKeyRing = { current: 2, versions: new Map([[1, v1], [2, v2]]) };

  it('agrees with verifySun on genuine and altered messages of many badges', () => {
    const fast = SunVerifier.fromKeyRing(ring, { cacheSize: 16 });
    const source = keyRingSource(ring);
    for (let i = 0; i < 200; i++) {
      const uid = `04${randomBytes(6).toString('hex').toUpperCase()}`;
      const version = i % 2 ? 1 : 2;
      const m = message(version === 1 ? v1 : v2, uid, 1 + i);
      if (i % 3 === 0) m.mac[i % 8]! ^= 1 << (i % 8);
      const reference = verifySun(m, { metaReadKey: source.metaReadKey(version), fileReadKey: (u) => source.fileReadKey(version, u) }, uid);
      const got = fast.verify(uid, version, m.picc, m.mac);
      expect(got.ok, `badge ${i}`).toBe(reference.ok);
      if (got.ok) expect(got).toEqual({ ok: true, counter: 1 + i, version });
      else expect(got).toMatchObject({ why: 'bad-mac', counter: 1 + i });
    }
  });

  it('verifies a badge still on an earlier version, and one whose record names another version than it carries', () => {
    const fast = SunVerifier.fromKeyRing(ring);
    const uid = '04C1C2C3C4C5C6';
    const old = message(v1, uid, 5);
    expect(fast.verify(uid, 1, old.picc, old.mac)).toEqual({ ok: true, counter: 5, version: 1 });
    // Re-personalised to version 2, the record not yet updated (the run was cut before enrolment).
    const moved = message(v2, uid, 6);
    expect(fast.verify(uid, 1, moved.picc, moved.mac)).toEqual({ ok: true, counter: 6, version: 2 });
  });

  it('verifies a badge left with keys of two versions by a rotation cut short (meta-read key new, file-read key old)', () => {
    const fast = SunVerifier.fromKeyRing(ring);
    const uid = '04D1D2D3D4E5F6';
    const meta = deriveBadgeKeys(v2, h(uid))[1];
    const fileRead = deriveBadgeKeys(v1, h(uid))[2];
    const plain = Buffer.concat([Buffer.from([0xc7]), h(uid), counterBytes(9), Buffer.alloc(5)]);
    expect(fast.verify(uid, 1, cbcEncrypt(meta, ZERO_IV, plain), sdmMac(fileRead, h(uid), counterBytes(9)))).toEqual({ ok: true, counter: 9, version: 1 });
  });

  it('refuses a message of a badge personalised with keys of no version of the ring', () => {
    const fast = SunVerifier.fromKeyRing(ring);
    const uid = '04E1E2E3E4E5E6';
    const m = message(master(0x51), uid, 3);
    expect(fast.verify(uid, 2, m.picc, m.mac)).toEqual({ ok: false, why: 'undecryptable' });
  });
});
