import { describe, expect, it } from 'vitest';
import { aesCmac, cmacSubkeys, macEquals, truncateMac } from '../../gateway/badge-security/cmac.ts';
import { deriveBadgeKeys, diversifyAes128 } from '../../gateway/badge-security/diversify.ts';
import { counterBytes, counterIsFresh, decryptPiccData, sdmMac, sdmSessionKeys, sunFromHex, verifySun } from '../../gateway/badge-security/sun.ts';
import { buildSunNdef } from '../../gateway/badge-security/ndef.ts';

/**
 * Known-answer tests of the gateway's badge crypto. Every expected value is transcribed from a published
 * document, never computed by the code under test:
 *   RFC 4493 §4 (AES-CMAC test vectors);
 *   NXP AN10922 rev. 1.x §2.2.1 "AES-128 key diversification example";
 *   NXP AN12196 rev. 2.0 (rev. 1.8 numbering in brackets): §3.3 Table 1 [§4.3 Table 2] SDM session keys,
 *   §3.4.2.1 Table 2 [§4.4.2.1 Table 3] PICCData decryption, §3.4.4.2.1 Table 4 [§4.4.4.2.1 Table 5] SDMMAC.
 */
const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const hex = (b: Buffer) => b.toString('hex').toUpperCase();
const ZERO = Buffer.alloc(16);

describe('AES-CMAC (RFC 4493 §4 test vectors)', () => {
  const key = h('2b7e151628aed2a6abf7158809cf4f3c');

  it('derives the subkeys K1 and K2 of the RFC', () => {
    const { k1, k2 } = cmacSubkeys(key);
    expect(hex(k1)).toBe('FBEED618357133667C85E08F7236A8DE');
    expect(hex(k2)).toBe('F7DDAC306AE266CCF90BC11EE46D513B');
  });

  it.each([
    ['example 1: empty message', '', 'BB1D6929E95937287FA37D129B756746'],
    ['example 2: one block', '6bc1bee22e409f96e93d7e117393172a', '070A16B46B4D4144F79BDD9DD04A287C'],
    ['example 3: 40 bytes (padded last block)', '6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411', 'DFA66747DE9AE63030CA32611497C827'],
    [
      'example 4: four blocks',
      '6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710',
      '51F0BEBF7E3B9D92FC49741779363CFE',
    ],
  ])('%s', (_name, message, mac) => {
    expect(hex(aesCmac(key, h(message)))).toBe(mac);
  });

  it('truncates to the odd-indexed bytes (AN12196 §5.16.1 Table 25: EA5D2E0C... -> 5D0CE20B...)', () => {
    expect(hex(truncateMac(h('EA5D2E0CBFE24C0BCBCD501D21060EE6')))).toBe('5D0CE20BCD1D06E6');
  });

  it('compares MACs of different lengths as different', () => {
    expect(macEquals(h('0102'), h('010203'))).toBe(false);
    expect(macEquals(h('0102'), h('0102'))).toBe(true);
  });
});

describe('AN10922 §2.2.1 AES-128 key diversification', () => {
  // M = UID 04782E21801D80 || AID 3042F5 || SystemIdentifier "NXP Abu" (4E585020416275).
  const master = h('00112233445566778899AABBCCDDEEFF');
  const m = h('04782E21801D80 3042F5 4E585020416275');

  it('derives the published key', () => {
    expect(hex(diversifyAes128(master, m))).toBe('A8DD63A3B89D54B37CA802473FDA9175');
  });

  it('pads the input to two blocks even when it fits in one (unlike a plain CMAC)', () => {
    const short = h('04782E21801D80');
    expect(diversifyAes128(master, short).equals(aesCmac(master, Buffer.concat([Buffer.from([1]), short])))).toBe(false);
    // For inputs longer than one block the two coincide, which the published example relies on.
    expect(diversifyAes128(master, m).equals(aesCmac(master, Buffer.concat([Buffer.from([1]), m])))).toBe(true);
  });

  it('refuses inputs outside 1 to 31 bytes', () => {
    expect(() => diversifyAes128(master, Buffer.alloc(0))).toThrow(/1 to 31/);
    expect(() => diversifyAes128(master, Buffer.alloc(32))).toThrow(/1 to 31/);
  });

  it('gives each badge its own keys, but one meta-read key for all (it must decrypt before the UID is known)', () => {
    const masters = { application: h('000102030405060708090A0B0C0D0E0F'), sdmMetaRead: h('101112131415161718191A1B1C1D1E1F'), sdmFileRead: h('202122232425262728292A2B2C2D2E2F') };
    const a = deriveBadgeKeys(masters, h('04A1B2C3D4E5F6'));
    const b = deriveBadgeKeys(masters, h('04A1B2C3D4E5F7'));
    expect(a[1].equals(b[1])).toBe(true);
    for (const n of [0, 2, 3, 4]) expect(a[n]!.equals(b[n]!), `key ${n}`).toBe(false);
    expect(new Set(a.map(hex)).size).toBe(5);
  });
});

describe('SUN messages (AN12196)', () => {
  it('§3.3 Table 1: SDM session keys from a non-zero file-read key', () => {
    const keys = sdmSessionKeys(h('5ACE7E50AB65D5D51FD5BF5A16B8205B'), h('04C767F2066180'), h('010000'));
    expect(hex(keys.enc)).toBe('66DA61797E23DECA5D8ECA13BBADF7A9');
    expect(hex(keys.mac)).toBe('3A3E8110E05311F7A3FCF0D969BF2B48');
  });

  it('§3.4.2.1 Table 2: decrypts the PICCData to tag C7, UID 04DE5F1EACC040, counter 61', () => {
    const picc = decryptPiccData(ZERO, h('EF963FF7828658A599F3041510671E88'));
    expect(picc).not.toBeNull();
    expect(picc!.tag).toBe(0xc7);
    expect(hex(picc!.uid)).toBe('04DE5F1EACC040');
    expect(hex(picc!.counterBytes)).toBe('3D0000');
    expect(picc!.counter).toBe(61);
  });

  it('§3.4.4.2.1 Table 4: session MAC key 3FB5... and SDMMAC 94EED9EE65337086 over a zero-length input', () => {
    expect(hex(sdmSessionKeys(ZERO, h('04DE5F1EACC040'), h('3D0000')).mac)).toBe('3FB5F6E3A807A03D5E3570ACE393776F');
    expect(hex(sdmMac(ZERO, h('04DE5F1EACC040'), counterBytes(61)))).toBe('94EED9EE65337086');
  });

  const published = sunFromHex({ picc: 'EF963FF7828658A599F3041510671E88', mac: '94EED9EE65337086' })!;
  const zeroKeys = { metaReadKey: ZERO, fileReadKey: () => ZERO };

  it('verifies the published message end to end and returns its UID and counter', () => {
    expect(verifySun(published, zeroKeys)).toEqual({ ok: true, uid: '04DE5F1EACC040', counter: 61 });
    expect(verifySun(published, zeroKeys, '04de5f1eacc040')).toEqual({ ok: true, uid: '04DE5F1EACC040', counter: 61 });
  });

  it('names why a message fails', () => {
    const flipped = { picc: published.picc, mac: Buffer.from(published.mac) };
    flipped.mac[7] ^= 0x01;
    expect(verifySun(flipped, zeroKeys)).toMatchObject({ ok: false, why: 'bad-mac', uid: '04DE5F1EACC040', counter: 61 });
    expect(verifySun(published, { metaReadKey: h('00000000000000000000000000000001'), fileReadKey: () => ZERO })).toEqual({ ok: false, why: 'undecryptable' });
    expect(verifySun(published, { metaReadKey: ZERO, fileReadKey: () => h('00000000000000000000000000000001') })).toMatchObject({ ok: false, why: 'bad-mac' });
    expect(verifySun(published, { metaReadKey: ZERO, fileReadKey: () => undefined })).toMatchObject({ ok: false, why: 'unknown-badge', uid: '04DE5F1EACC040' });
    expect(verifySun(published, zeroKeys, '04A1B2C3D4E5F6')).toMatchObject({ ok: false, why: 'uid-mismatch', uid: '04DE5F1EACC040' });
    expect(verifySun({ picc: published.picc.subarray(0, 15), mac: published.mac }, zeroKeys)).toEqual({ ok: false, why: 'malformed' });
    expect(sunFromHex({ picc: 'EF96', mac: '94EED9EE65337086' })).toBeNull();
  });

  it('takes a counter as fresh only above the last one seen', () => {
    expect(counterIsFresh(61, null)).toBe(true);
    expect(counterIsFresh(61, 60)).toBe(true);
    expect(counterIsFresh(61, 61)).toBe(false);
    expect(counterIsFresh(5, 61)).toBe(false);
  });
});

describe('the NDEF URL a badge is personalised with', () => {
  it('puts the placeholders where the offsets say, and the offsets match AN12196 §5.8.2 for its own URL', () => {
    const layout = buildSunNdef();
    const text = layout.file.toString('latin1');
    expect(layout.file.readUInt16BE(0)).toBe(layout.file.length - 2);
    expect(text.slice(layout.piccDataOffset - 10, layout.piccDataOffset)).toBe('picc_data=');
    expect(text.slice(layout.piccDataOffset, layout.piccDataOffset + 32)).toBe('0'.repeat(32));
    expect(text.slice(layout.macOffset - 5, layout.macOffset + 16)).toBe(`cmac=${'0'.repeat(16)}`);
    // AN12196 writes https://choose.url.com/ntag424?e=<32>&c=<16> and mirrors at 20h and 43h.
    const an = buildSunNdef({ baseUrl: 'https://choose.url.com/ntag424', piccParam: 'e', macParam: 'c' });
    expect(an.piccDataOffset).toBe(0x20);
    expect(an.macOffset).toBe(0x43);
    expect(hex(an.file.subarray(0, 7))).toBe('0051D1014D5504');
  });
});
