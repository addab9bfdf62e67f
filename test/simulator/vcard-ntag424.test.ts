import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cmac, crc32, shortMac } from '../../simulator/vcard/ntag424/card-crypto.ts';
import { blankState, loadState, personalisedState } from '../../simulator/vcard/ntag424/card-state.ts';
import { ReplayCard, VirtualNtag424 } from '../../simulator/vcard/ntag424/ntag424-card.ts';
import { virtualBadge } from '../../simulator/vcard/badges.ts';

/**
 * Known-answer tests of the virtual NTAG 424 DNA, on its own: this file imports nothing from the gateway's
 * badge crypto, so the card and the verifier are each held to NXP's published examples separately.
 * Sources (AN12196 rev. 2.0, rev. 1.8 numbering in brackets): §5.6 Table 14 [§6.6 Table 14] and §5.10
 * Table 19 [§6.10 Table 20] AuthenticateEV2First; §5.8.2 Table 17 [§6.8.2 Table 18] WriteData in
 * CommMode.Full; §5.9 Table 18 [§6.9 Table 19] ChangeFileSettings; §5.16.1/§5.16.2 Tables 25/26
 * [§6.16 Tables 26/27] ChangeKey; §6.3 Table 28 [§7.3 Table 29] GetCardUID; §3.4.2.1 Table 2 and
 * §3.4.4.2.1 Table 4 [§4.4.2.1 Table 3, §4.4.4.2.1 Table 5] the SUN message; RFC 4493 §4 for AES-CMAC.
 */
const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const hex = (b: Buffer) => b.toString('hex').toUpperCase();

/** The chip's random numbers, as the document's card drew them, in the order it asks for them. */
function drawn(...values: string[]): (n: number) => Buffer {
  const queue = values.map(h);
  return (n) => {
    const next = queue.shift();
    if (!next) throw new Error('the card asked for more random bytes than the example has');
    expect(next.length).toBe(n);
    return next;
  };
}

const tmp: string[] = [];
afterEach(() => {
  for (const d of tmp.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("the card's own AES-CMAC and CRC32", () => {
  const k = h('2b7e151628aed2a6abf7158809cf4f3c');
  it('RFC 4493 §4 examples 1-4', () => {
    expect(hex(cmac(k, Buffer.alloc(0)))).toBe('BB1D6929E95937287FA37D129B756746');
    expect(hex(cmac(k, h('6bc1bee22e409f96e93d7e117393172a')))).toBe('070A16B46B4D4144F79BDD9DD04A287C');
    expect(hex(cmac(k, h('6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411')))).toBe('DFA66747DE9AE63030CA32611497C827');
    expect(
      hex(cmac(k, h('6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710'))),
    ).toBe('51F0BEBF7E3B9D92FC49741779363CFE');
  });
  it('AN12196 Table 25: CRC32 of the new key is 789DFADC; Table 4: MACt over zero-length input is 94EED9EE65337086', () => {
    expect(hex(crc32(h('F3847D627727ED3BC9C4CC050489B966')))).toBe('789DFADC');
    expect(hex(shortMac(h('3FB5F6E3A807A03D5E3570ACE393776F'), Buffer.alloc(0)))).toBe('94EED9EE65337086');
  });
});

describe('a blank chip taken through the personalisation example of AN12196 §5, then read', () => {
  it('answers Tables 14, 17 and 18 byte for byte, and then mirrors the SUN message of Tables 2 and 4', () => {
    const state = blankState('04DE5F1EACC040');
    // The note's card answers WriteData on the NDEF file with a MAC: its file is written under key 0 in Full mode.
    state.files['2'].settings = { ...state.files['2'].settings, commMode: 3, write: 0, readWrite: 0 };
    state.sdmReadCounter = 60;
    const chip = new VirtualNtag424({ state, random: drawn('B9E2FC789B64BF237CCCAA20EC7E6E48', '9D00C4DF', 'DA5CF60941') });
    const send = (apdu: string) => hex(chip.respond(h(apdu)));

    expect(send('00A4040C07D276000085010100')).toBe('9000');
    // Table 14: AuthenticateEV2First with key 00h.
    expect(send('9071000002000000')).toBe('A04C124213C186F22399D33AC2A3021591AF');
    expect(send('90AF00002035C3E05A752E0144BAC0DE51C1F22C56B34408A23D8AEA266CAB947EA8E0118D00')).toBe('3FA64DB5446D1F34CD6EA311167F5E4985B89690C04A05F17FA7AB2F081206639100');
    // Table 17: WriteData of the NDEF URL in CommMode.Full (CmdCtr 0000).
    const ciphertext =
      '421C73A27D827658AF481FDFF20A5025B559D0E3AA21E58D347F343CFFC768BF' +
      'E596C706BC00F2176781D4B0242642A0FF5A42C461AAF894D9A1284B8C76BCFA' +
      '658ACD40555D362E08DB15CF421B51283F9064BCBE20E96CAE545B407C9D651A' +
      '3315B27373772E5DA2367D2064AE054AF996C6F1F669170FA88CE8C4E3A4A7BB' +
      'BEF0FD971FF532C3A802AF745660F2B4';
    expect(send(`908D00009F02000000800000${ciphertext}D1D9A8499661EBF300`)).toBe('FC222E5F7A5424529100');
    const written = Buffer.from(state.files['2'].data, 'hex').subarray(0, 0x53).toString('latin1');
    expect(written.slice(2)).toBe(`\xd1\x01\x4d\x55\x04choose.url.com/ntag424?e=${'0'.repeat(32)}&c=${'0'.repeat(16)}`);
    // Table 18: ChangeFileSettings turning SUN on: PICCData at 20h (key 2), SDMMAC at 43h (key 1), CmdCtr 0100.
    expect(send('905F0000190261B6D97903566E84C3AE5274467E89EAD799B7C1A0EF7A0400')).toBe('57BFF87B1241E93D9100');
    expect(state.files['2'].settings.sdm).toMatchObject({ options: 0xc1, metaRead: 2, fileRead: 1, piccDataOffset: 0x20, macInputOffset: 0x43, macOffset: 0x43 });

    // A phone reads it: SELECT, SELECT NDEF file, READ BINARY. Counter 60 -> 61, padding DA5CF60941.
    expect(send('00A4040C07D276000085010100')).toBe('9000');
    expect(send('00A4000C02E104')).toBe('9000');
    const read = chip.respond(h('00B0000053'));
    expect(hex(read.subarray(-2))).toBe('9000');
    const url = read.subarray(7, -2).toString('latin1');
    expect(url).toBe('choose.url.com/ntag424?e=EF963FF7828658A599F3041510671E88&c=94EED9EE65337086');
    expect(chip.readCounter).toBe(61);
  });

  it('Table 19: AuthenticateEV2First with key 03h', () => {
    const chip = new VirtualNtag424({ state: blankState('04958CAA5C5E80'), random: drawn('91517975190DCEA6104948EFA3085C1B', '7614281A') });
    chip.respond(h('00A4040C07D276000085010100'));
    expect(hex(chip.respond(h('9071000002030000')))).toBe('B875CEB0E66A6C5CD00898DC371F92D191AF');
    expect(hex(chip.respond(h('90AF000020FF0306E47DFBC50087C4D8A78E88E62DE1E8BE457AA477C707E2F0874916A8B100')))).toBe('0CC9A8094A8EEA683ECAAC5C7BF20584206D0608D477110FC6B3D5D3F65C3A6A9100');
  });

  it('Tables 25 and 26: ChangeKey of key 02h (old key XOR, CRC32) and of key 00h', () => {
    const state = blankState('04958CAA5C5E80');
    const chip = new VirtualNtag424({ state });
    chip.restoreSession({ keyNo: 0, ti: h('7614281A'), enc: h('4CF3CB41A22583A61E89B158D252FC53'), mac: h('5529860B2FC5FB6154B7F28361D30BF9'), ctr: 2 });
    expect(hex(chip.respond(h('90C4000029022CF362B7BF4311FF3BE1DAA295E8C68DE09050560D19B9E16C2393AE9CD1FAC75D0CE20BCD1D06E600')))).toBe('203BB55D1089D5879100');
    expect(state.keys[2]).toBe('F3847D627727ED3BC9C4CC050489B966');
    expect(state.keyVersions[2]).toBe(1);
    expect(hex(chip.respond(h('90C400002900C0EB4DEEFEDDF0B513A03A95A75491818580503190D4D05053FF75668A01D6FDA6610234BDED643200')))).toBe('9100');
    expect(state.keys[0]).toBe('5004BF991F408672B1EF00F08F9E8647');
    // The session ended with key 0: the next secure command is refused.
    expect(hex(chip.respond(h('90510000088E2C155ADDA99BE300')))).toBe('919D');
  });

  it('Table 28: GetCardUID answers the UID encrypted (CommMode.Full)', () => {
    const chip = new VirtualNtag424({ state: blankState('04958CAA5C5E80') });
    chip.restoreSession({ keyNo: 0, ti: h('DF055522'), enc: h('2B4D963C014DC36F24F69A50A394F875'), mac: h('379D32130CE61705DD5FD8C36B95D764'), ctr: 0 });
    expect(hex(chip.respond(h('90510000088E2C155ADDA99BE300')))).toBe('70756055688505B52A5E26E59E329CD6595F672298EA41B79100');
  });
});

describe('the chip refuses what a real one refuses', () => {
  it('a wrong key (91AE), a forged MAC (911E), a wrong old key in ChangeKey (911E), a second command mid-frame (91CA)', () => {
    const chip = new VirtualNtag424({ state: blankState('04958CAA5C5E80'), random: drawn('B9E2FC789B64BF237CCCAA20EC7E6E48') });
    chip.respond(h('00A4040C07D276000085010100'));
    expect(hex(chip.respond(h('9071000002000000')))).toBe('A04C124213C186F22399D33AC2A3021591AF');
    // A part 2 made with another key does not carry RndB' rotated: authentication error.
    expect(hex(chip.respond(h(`90AF000020${'11'.repeat(32)}00`)))).toBe('91AE');

    chip.restoreSession({ keyNo: 0, ti: h('DF055522'), enc: h('2B4D963C014DC36F24F69A50A394F875'), mac: h('379D32130CE61705DD5FD8C36B95D764'), ctr: 0 });
    expect(hex(chip.respond(h('90510000088E2C155ADDA99BE200')))).toBe('911E');

    const state = blankState('04958CAA5C5E80');
    state.keys[2] = '000102030405060708090A0B0C0D0E0F';
    const other = new VirtualNtag424({ state });
    other.restoreSession({ keyNo: 0, ti: h('7614281A'), enc: h('4CF3CB41A22583A61E89B158D252FC53'), mac: h('5529860B2FC5FB6154B7F28361D30BF9'), ctr: 2 });
    // Table 25's command assumes key 2 is all zero; this card's is not, so the CRC of the XORed key fails.
    expect(hex(other.respond(h('90C4000029022CF362B7BF4311FF3BE1DAA295E8C68DE09050560D19B9E16C2393AE9CD1FAC75D0CE20BCD1D06E600')))).toBe('911E');
    expect(state.keys[2]).toBe('000102030405060708090A0B0C0D0E0F');

    const v = new VirtualNtag424({ state: blankState('04958CAA5C5E80') });
    expect(hex(v.respond(h('9060000000')).subarray(-2))).toBe('91AF');
    expect(hex(v.respond(h('90F50000010200')))).toBe('91CA');
  });

  it('GetVersion: three frames ending with the UID; an unknown application is not there (6A82)', () => {
    const v = new VirtualNtag424({ state: blankState('04958CAA5C5E80') });
    expect(hex(v.respond(h('00A4040C07D276000085010200')))).toBe('6A82');
    expect(hex(v.respond(h('9060000000')))).toBe('0404023000110591AF');
    expect(hex(v.respond(h('90AF000000')))).toBe('0404020111000591AF');
    expect(hex(v.respond(h('90AF000000')).subarray(0, 7))).toBe('04958CAA5C5E80');
  });
});

describe('SUN generation, persistence and clones', () => {
  const keys = [h('00112233445566778899AABBCCDDEEFF'), h('0F0E0D0C0B0A09080706050403020100'), h('A0A1A2A3A4A5A6A7A8A9AAABACADAEAF'), h('B0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF'), h('C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF')];

  function readUrl(chip: { respond(a: Buffer): Buffer }): string {
    expect(hex(chip.respond(h('00A4040C07D276000085010100')))).toBe('9000');
    expect(hex(chip.respond(h('00A4000C02E104')))).toBe('9000');
    const nlen = chip.respond(h('00B0000002')).readUInt16BE(0);
    // Two chunks: one message across both (the mirror is made once per selection).
    const first = chip.respond(Buffer.from([0x00, 0xb0, 0x00, 0x02, 40]));
    const second = chip.respond(Buffer.from([0x00, 0xb0, 0x00, 42, nlen - 40]));
    return Buffer.concat([first.subarray(0, -2), second.subarray(0, -2)]).subarray(5).toString('latin1');
  }

  it('mirrors a fresh message on every tap, with a counter that grows and survives a restart (state file, 0600)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vcard-'));
    tmp.push(dir);
    const stateFile = join(dir, 'badge.json');
    const state = personalisedState({ uid: '04A1B2C3D4E5F6', keys });
    const first = virtualBadge({ uid: '04A1B2C3D4E5F6', kind: 'ntag424', state, stateFile });
    const a = readUrl(first.chip!);
    first.chip!.reset();
    const b = readUrl(first.chip!);
    expect(a).toMatch(/^badge\.ciao\.invalid\/t\?picc_data=[0-9A-F]{32}&cmac=[0-9A-F]{16}$/);
    expect(b).not.toBe(a);
    expect(first.chip!.readCounter).toBe(2);
    expect(loadState(stateFile).sdmReadCounter).toBe(2);
    expect(statSync(stateFile).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(stateFile, 'utf8')).keys[2]).toBe('A0A1A2A3A4A5A6A7A8A9AAABACADAEAF');

    const again = virtualBadge({ uid: '04A1B2C3D4E5F6', kind: 'ntag424', stateFile });
    readUrl(again.chip!);
    expect(again.chip!.readCounter).toBe(3);
    expect(() => virtualBadge({ uid: '04A1B2C3D4E5F7', kind: 'ntag424', stateFile })).toThrow(/holds card 04A1B2C3D4E5F6/);
  });

  it('a replay clone answers the captured message every time; a wrong-keys card mirrors with keys of its own', () => {
    const genuine = new VirtualNtag424({ state: personalisedState({ uid: '04A1B2C3D4E5F6', keys }) });
    const captured = readUrl(genuine);
    const replay = new ReplayCard(genuine.lastServed!);
    expect(readUrl(replay)).toBe(captured);
    expect(readUrl(replay)).toBe(captured);
    expect(hex(replay.respond(h('9071000002000000')))).toBe('911C');

    const wrong = virtualBadge({ uid: '04A1B2C3D4E5F6', kind: 'wrong-keys' });
    expect(wrong.chip!.state.keys[2]).not.toBe(keys[2]!.toString('hex').toUpperCase());
    expect(readUrl(wrong.chip!)).toMatch(/picc_data=[0-9A-F]{32}&cmac=[0-9A-F]{16}$/);
  });

  it('a uid-only copy is a Type 4 card without the NDEF application; a plain badge is MIFARE Classic as before', () => {
    const copy = virtualBadge({ uid: '04A1B2C3D4E5F6', kind: 'uid-only' }).card;
    expect(hex(copy.respond(h('FFCA000000'))!)).toBe('04A1B2C3D4E5F69000');
    expect(hex(copy.respond(h('00A4040C07D276000085010100'))!)).toBe('6A82');
    expect(hex(copy.atr)).toBe('3B8180018080');
    const plain = virtualBadge({ uid: 'DEADBEEF' }).card;
    expect(hex(plain.atr)).toBe('3B8F8001804F0CA000000306030001000000006A');
    expect(hex(plain.respond(h('FFCA000000'))!)).toBe('DEADBEEF9000');
  });
});
