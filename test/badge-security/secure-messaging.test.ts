import { describe, expect, it } from 'vitest';
import type { CardTransport } from '../../gateway/badge-security/apdu.ts';
import { Ntag424Client } from '../../gateway/badge-security/card-client.ts';
import { encodeFileSettings, decodeFileSettings } from '../../gateway/badge-security/file-settings.ts';
import { SecureSession, authenticationChallengeAnswer, completeAuthentication, crc32Nk, deriveSessionKeys, sessionVector, AuthenticationError, IntegrityError } from '../../gateway/badge-security/secure-messaging.ts';

/**
 * Known-answer tests of the host side of EV2 secure messaging, transcribed from the worked examples of NXP
 * AN12196 "NTAG 424 DNA and NTAG 424 DNA TagTamper features and hints", rev. 2.0 (rev. 1.8 in brackets):
 *   §5.6 Table 14 [§6.6 Table 14]       AuthenticateEV2First with key 00h
 *   §5.10 Table 19 [§6.10 Table 20]     AuthenticateEV2First with key 03h
 *   §5.14 Table 23 [§6.14 Table 24]     AuthenticateEV2NonFirst (session keys only)
 *   §5.9 Table 18 [§6.9 Table 19]       ChangeFileSettings, CommMode.Full
 *   §5.16.1 Table 25 [§6.16 Table 26]   ChangeKey of another key than the session's (case 1)
 *   §5.16.2 Table 26 [§6.16 Table 27]   ChangeKey of the session's own key (case 2)
 *   §6.3 Table 28 [§7.3 Table 29]       GetCardUID, CommMode.Full response
 *   §5.4 Table 10 [§6.4 Table 12]       GetFileSettings of the NDEF file as delivered
 * Every APDU below is the document's, byte for byte; the card's answers are the document's too.
 */
const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const hex = (b: Buffer) => b.toString('hex').toUpperCase();
const ZERO = Buffer.alloc(16);

/** A card that is a script: each expected command APDU and the answer the document prints for it. */
function scripted(exchanges: Array<[command: string, response: string]>): CardTransport & { left(): number } {
  const queue = exchanges.map(([c, r]) => [h(c), h(r)] as const);
  return {
    async transmit(apdu: Buffer) {
      const next = queue.shift();
      if (!next) throw new Error(`unexpected APDU ${hex(apdu)}`);
      expect(hex(apdu)).toBe(hex(next[0]));
      return next[1];
    },
    left: () => queue.length,
  };
}

const T14 = {
  rndA: h('13C5DB8A5930439FC3DEF9A4C675360F'),
  rndB: h('B9E2FC789B64BF237CCCAA20EC7E6E48'),
  encRndB: h('A04C124213C186F22399D33AC2A30215'),
  part2: h('35C3E05A752E0144BAC0DE51C1F22C56B34408A23D8AEA266CAB947EA8E0118D'),
  answer: h('3FA64DB5446D1F34CD6EA311167F5E4985B89690C04A05F17FA7AB2F08120663'),
  ti: '9D00C4DF',
  enc: '1309C877509E5A215007FF0ED19CA564',
  mac: '4C6626F5E72EA694202139295C7A7FC7',
};

describe('AuthenticateEV2First (AN12196 §5.6 Table 14, §5.10 Table 19)', () => {
  it('Table 14: session vectors SV1/SV2 as printed in steps 25-26', () => {
    expect(hex(sessionVector('A55A', T14.rndA, T14.rndB))).toBe('A55A0001008013C56268A548D8FBBF237CCCAA20EC7E6E48C3DEF9A4C675360F');
    expect(hex(sessionVector('5AA5', T14.rndA, T14.rndB))).toBe('5AA50001008013C56268A548D8FBBF237CCCAA20EC7E6E48C3DEF9A4C675360F');
  });

  it('Table 14: answers the challenge, checks the card, and derives SesAuthENCKey/SesAuthMACKey', () => {
    const a = authenticationChallengeAnswer(ZERO, T14.encRndB, T14.rndA);
    expect(hex(a.rndB)).toBe(hex(T14.rndB));
    expect(hex(a.part2)).toBe(hex(T14.part2));
    const s = completeAuthentication(ZERO, 0, T14.rndA, a.rndB, T14.answer);
    expect(hex(s.ti)).toBe(T14.ti);
    expect(hex(s.encKey)).toBe(T14.enc);
    expect(hex(s.macKey)).toBe(T14.mac);
    expect(s.cmdCtr).toBe(0);
  });

  it('Table 14: refuses a card whose answer does not echo our RndA (it does not hold the key)', () => {
    const otherRndA = Buffer.from(T14.rndA);
    otherRndA[0] ^= 1;
    expect(() => completeAuthentication(ZERO, 0, otherRndA, T14.rndB, T14.answer)).toThrow(AuthenticationError);
  });

  it('Table 14 over the wire: the exact APDUs of the document', async () => {
    const card = scripted([
      ['9071000002000000', 'A04C124213C186F22399D33AC2A3021591AF'],
      [`90AF000020${hex(T14.part2)}00`, `${hex(T14.answer)}9100`],
    ]);
    const client = new Ntag424Client(card, () => Buffer.from(T14.rndA));
    const session = await client.authenticate(0, ZERO);
    expect(hex(session.ti)).toBe(T14.ti);
    expect(card.left()).toBe(0);
  });

  it('Table 19 (key 03h) over the wire', async () => {
    const card = scripted([
      ['9071000002030000', 'B875CEB0E66A6C5CD00898DC371F92D191AF'],
      ['90AF000020FF0306E47DFBC50087C4D8A78E88E62DE1E8BE457AA477C707E2F0874916A8B100', '0CC9A8094A8EEA683ECAAC5C7BF20584206D0608D477110FC6B3D5D3F65C3A6A9100'],
    ]);
    const session = await new Ntag424Client(card, () => h('B98F4C50CF1C2E084FD150E33992B048')).authenticate(3, ZERO);
    expect(hex(session.ti)).toBe('7614281A');
    expect(hex(session.encKey)).toBe('7A93D6571E4B180FCA6AC90C9A7488D4');
    expect(hex(session.macKey)).toBe('FC4AF159B62E549B5812394CAB1918CC');
  });

  it('Table 23: the same derivation gives the AuthenticateEV2NonFirst session keys', () => {
    const keys = deriveSessionKeys(ZERO, h('60BE759EDA560250AC57CDDC11743CF6'), h('6924E8D09722659A2E7DEC68E66312B8'));
    expect(hex(keys.enc)).toBe('4CF3CB41A22583A61E89B158D252FC53');
    expect(hex(keys.mac)).toBe('5529860B2FC5FB6154B7F28361D30BF9');
  });

  it('a wrong key is reported as an authentication error (91AE) by tryAuthenticate', async () => {
    const client = new Ntag424Client(scripted([['9071000002000000', '91AE']]));
    expect(await client.tryAuthenticate(0, ZERO)).toBe(false);
    expect(client.session).toBeNull();
  });
});

describe('commands in CommMode.Full (AN12196 §5.9, §5.16, §6.3)', () => {
  it('Table 18: ChangeFileSettings turning on SUN mirroring, with the file settings encoded as printed', async () => {
    const settings = {
      commMode: 'plain' as const,
      access: { readWrite: 0, change: 0, read: 0xe, write: 0 },
      sdm: { uidMirror: true, counterMirror: true, ascii: true, counterRetrieval: 1, metaRead: 2, fileRead: 1, piccDataOffset: 0x20, macInputOffset: 0x43, macOffset: 0x43 },
    };
    expect(hex(encodeFileSettings(settings))).toBe('4000E0C1F121200000430000430000');
    const client = new Ntag424Client(scripted([['905F0000190261B6D97903566E84C3AE5274467E89EAD799B7C1A0EF7A0400', '57BFF87B1241E93D9100']]));
    client.session = new SecureSession({ keyNo: 0, ti: h(T14.ti), encKey: h(T14.enc), macKey: h(T14.mac), cmdCtr: 1 });
    await client.changeFileSettings(2, settings);
    expect(client.session.cmdCtr).toBe(2);
  });

  it('Table 18: a response MAC that does not match ends the session', async () => {
    const client = new Ntag424Client(scripted([['905F0000190261B6D97903566E84C3AE5274467E89EAD799B7C1A0EF7A0400', '57BFF87B1241E93E9100']]));
    client.session = new SecureSession({ keyNo: 0, ti: h(T14.ti), encKey: h(T14.enc), macKey: h(T14.mac), cmdCtr: 1 });
    await expect(client.changeFileSettings(2, decodeFileSettings(h('004000E0000100C1F121200000430000430000')))).rejects.toThrow(IntegrityError);
    expect(client.session).toBeNull();
  });

  it('Tables 25 and 26: ChangeKey of key 02h (XOR and CRC32) then of key 00h (the session ends)', async () => {
    expect(hex(crc32Nk(h('F3847D627727ED3BC9C4CC050489B966')))).toBe('789DFADC');
    const card = scripted([
      ['90C4000029022CF362B7BF4311FF3BE1DAA295E8C68DE09050560D19B9E16C2393AE9CD1FAC75D0CE20BCD1D06E600', '203BB55D1089D5879100'],
      ['90C400002900C0EB4DEEFEDDF0B513A03A95A75491818580503190D4D05053FF75668A01D6FDA6610234BDED643200', '9100'],
    ]);
    const client = new Ntag424Client(card);
    client.session = new SecureSession({ keyNo: 0, ti: h('7614281A'), encKey: h('4CF3CB41A22583A61E89B158D252FC53'), macKey: h('5529860B2FC5FB6154B7F28361D30BF9'), cmdCtr: 2 });
    await client.changeKey(2, h('F3847D627727ED3BC9C4CC050489B966'), 0x01, ZERO);
    expect(client.session.cmdCtr).toBe(3);
    await client.changeKey(0, h('5004BF991F408672B1EF00F08F9E8647'), 0x01);
    expect(client.session).toBeNull();
    expect(card.left()).toBe(0);
  });

  it('Table 28: GetCardUID decrypts the UID from a Full response', async () => {
    const client = new Ntag424Client(scripted([['90510000088E2C155ADDA99BE300', '70756055688505B52A5E26E59E329CD6595F672298EA41B79100']]));
    client.session = new SecureSession({ keyNo: 0, ti: h('DF055522'), encKey: h('2B4D963C014DC36F24F69A50A394F875'), macKey: h('379D32130CE61705DD5FD8C36B95D764') });
    expect(hex(await client.getCardUid())).toBe('04958CAA5C5E80');
    expect(hex(client.session.iv('5AA5', 1))).toBe('7F6BB0B278EA054CBD238C5D9E9E342B');
  });
});

describe('file settings', () => {
  it('Table 10: decodes the NDEF file settings a blank badge is delivered with (read/write free, 256 bytes)', () => {
    const s = decodeFileSettings(h('0000E0EE000100'));
    expect(s).toEqual({ fileType: 0, commMode: 'plain', access: { readWrite: 0xe, change: 0, read: 0xe, write: 0xe }, size: 256 });
  });

  it('round-trips SDM settings through GetFileSettings form', () => {
    const wire = h('004000E0000100C1FF12300000500000500000');
    const s = decodeFileSettings(wire);
    expect(s.sdm).toMatchObject({ metaRead: 1, fileRead: 2, counterRetrieval: 0xf, piccDataOffset: 0x30, macInputOffset: 0x50, macOffset: 0x50 });
    expect(hex(encodeFileSettings(s))).toBe(hex(Buffer.concat([wire.subarray(1, 4), wire.subarray(7)])));
  });
});
