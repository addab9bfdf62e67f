import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { tapSchema, type Roster } from '../../shared/mqtt/payloads.ts';
import { toOffsetIso } from '../../shared/time.ts';
import { extractSun, parseNdefUri, readSunMessage } from '../../terminal/adapters/sun-message.ts';
import { personalisedState } from '../../simulator/vcard/ntag424/card-state.ts';
import { ReplayCard, VirtualNtag424 } from '../../simulator/vcard/ntag424/ntag424-card.ts';
import { startTestGateway, siteConfig, type TestGateway } from '../../simulator/stand-in-gateway/stand-in-gateway.ts';
import { freePort, startSimTerminal, tempDir, type SimTerminal } from './helpers/harness.ts';
import { waitFor } from './helpers/wait.ts';

/**
 * The terminal's part of secure badges: it reads the SUN message, keeps it with the tap through the outbox
 * (offline, restarts, employer choice) and sends it on; it verifies nothing. A badge pulled away mid-read
 * gives the worker a "tap again" cue and records nothing.
 */
const TID = 't-sun';
const ANA = '04A1B2C3D4E5F6';
const CAROL = '04C0C1C2C3C4C5';
const SUN = { picc: 'EF963FF7828658A599F3041510671E88', mac: '94EED9EE65337086' };
const TEMPLATE = { piccPrefix: 'picc_data=', macPrefix: 'cmac=' };

function roster(): Roster {
  return {
    v: 1,
    updatedAt: toOffsetIso(new Date()),
    badges: {
      [ANA]: { name: 'Ana Peeters', employers: [{ id: '0403170701', name: 'CleanCo' }] },
      [CAROL]: { name: 'Carol Dubois', employers: [{ id: '0403170701', name: 'CleanCo' }, { id: '0202239951', name: 'ShineBV' }] },
    },
  };
}

describe('reading the SUN message of a badge', () => {
  const keys = Array.from({ length: 5 }, (_, i) => Buffer.alloc(16, i + 1));
  const transmitTo = (card: { respond(a: Buffer): Buffer }) => async (apdu: Buffer) => card.respond(apdu);

  it('reads the PICCData and SDMMAC of a personalised NTAG 424 DNA, a fresh pair each read', async () => {
    const chip = new VirtualNtag424({ state: personalisedState({ uid: ANA, keys }) });
    const first = await readSunMessage(transmitTo(chip), TEMPLATE);
    chip.reset();
    const second = await readSunMessage(transmitTo(chip), TEMPLATE);
    expect(first).toMatchObject({ kind: 'sun', sun: { picc: expect.stringMatching(/^[0-9A-F]{32}$/), mac: expect.stringMatching(/^[0-9A-F]{16}$/) } });
    expect(second.kind).toBe('sun');
    expect(second).not.toEqual(first);
  });

  it('follows the configured template, and calls a card without a SUN URL a plain badge', async () => {
    const other = new VirtualNtag424({ state: personalisedState({ uid: ANA, keys, piccParam: 'e', macParam: 'c' }) });
    expect(await readSunMessage(transmitTo(other), TEMPLATE)).toEqual({ kind: 'none', why: 'no SUN message in the URL' });
    other.reset();
    expect(await readSunMessage(transmitTo(other), { piccPrefix: '?e=', macPrefix: '&c=' })).toMatchObject({ kind: 'sun' });

    // A URL longer than the first READ BINARY is read to its end.
    const long = new VirtualNtag424({ state: personalisedState({ uid: ANA, keys, url: `https://badge.ciao.invalid/${'x'.repeat(150)}` }) });
    const apdus: string[] = [];
    const read = await readSunMessage(async (a) => {
      apdus.push(a.subarray(0, 4).toString('hex'));
      return long.respond(a);
    }, TEMPLATE);
    expect(read.kind).toBe('sun');
    expect(apdus).toEqual(['00a4040c', '00a4000c', '00b00000', '00b00080']);

    const noApp = { respond: () => Buffer.from('6A82', 'hex') };
    expect(await readSunMessage(transmitTo(noApp), TEMPLATE)).toEqual({ kind: 'none', why: 'no NDEF application' });
    const blank = new ReplayCard(Buffer.alloc(256));
    expect(await readSunMessage(transmitTo(blank), TEMPLATE)).toEqual({ kind: 'none', why: 'empty NDEF file' });
  });

  it('parses short and long URI records, and finds values only when they are whole', () => {
    const short = Buffer.concat([Buffer.from([0xd1, 0x01, 0x0b, 0x55, 0x04]), Buffer.from('example.be', 'utf8')]);
    expect(parseNdefUri(short)).toBe('example.be');
    const long = Buffer.concat([Buffer.from([0xc1, 0x01, 0x00, 0x00, 0x00, 0x0b, 0x55, 0x04]), Buffer.from('example.be', 'utf8')]);
    expect(parseNdefUri(long)).toBe('example.be');
    expect(parseNdefUri(Buffer.from([0xd1, 0x01, 0x03, 0x54, 0x02, 0x65, 0x6e]))).toBeNull(); // a text record
    expect(extractSun(`x?picc_data=${SUN.picc.toLowerCase()}&cmac=${SUN.mac}`, TEMPLATE)).toEqual(SUN);
    expect(extractSun(`x?picc_data=${SUN.picc}0&cmac=${SUN.mac}`, TEMPLATE)).toBeNull();
    expect(extractSun(`x?picc_data=${SUN.picc}`, TEMPLATE)).toBeNull();
  });
});

describe('a secure tap through the terminal', () => {
  let tmp: ReturnType<typeof tempDir>;
  let gw: TestGateway;
  let term: SimTerminal | undefined;

  beforeEach(async () => {
    tmp = tempDir();
  });

  afterEach(async () => {
    await term?.stop();
    term = undefined;
    await gw?.close();
    tmp.cleanup();
  });

  it('keeps the SUN message in the outbox while offline and across a restart, through an employer choice, and sends it', async () => {
    const port = await freePort();
    gw = await startTestGateway({ dbPath: join(tmp.dir, 'gw.db'), secrets: { [TID]: `secret-${TID}` }, port });
    await gw.publishRetained(TID, 'config', siteConfig(TID, { debounceSeconds: 0 }));
    await gw.publishRetained(TID, 'roster', roster());
    term = await startSimTerminal(TID, gw.url, join(tmp.dir, 'outbox.db'), { choiceTimeoutSeconds: 60 });
    await waitFor(() => term!.state.lookup(CAROL) && term!.state.config, { what: 'roster' });
    await gw.stop();
    await waitFor(() => !term!.link.isConnected, { what: 'link down' });

    term.sreader.present(ANA, SUN);
    term.sreader.present('DEADBEEF');
    const carolSun = { picc: '00112233445566778899AABBCCDDEEFF', mac: '0011223344556677' };
    term.sreader.present(CAROL, carolSun);
    expect(term.pipeline.choosing).toBe(true);
    term.spanel.press('OUT'); // the second employer
    const rows = term.outbox.page(0, 10).map((r) => JSON.parse(r.payload));
    expect(rows.map((r) => r.sun)).toEqual([SUN, undefined, carolSun]);
    expect(rows[2].employer).toBe('0202239951');
    await term.stop();

    term = await startSimTerminal(TID, gw.url, join(tmp.dir, 'outbox.db'));
    expect(term.outbox.queued).toBe(3);
    gw = await startTestGateway({ dbPath: join(tmp.dir, 'gw.db'), secrets: { [TID]: `secret-${TID}` }, port });
    await waitFor(() => gw.storedCount() === 3 && term!.outbox.queued === 0, { what: 'replay' });
    const sent = gw.stored(TID).map((r) => tapSchema.parse(JSON.parse(r.payload)));
    expect(sent.map((t) => [t.badge, t.sun])).toEqual([
      [ANA, SUN],
      ['DEADBEEF', undefined],
      [CAROL, carolSun],
    ]);
  });

  it('asks for another tap when a badge is pulled away mid-read, in the site language, and records nothing', async () => {
    gw = await startTestGateway({ dbPath: join(tmp.dir, 'gw.db'), secrets: { [TID]: `secret-${TID}` } });
    await gw.publishRetained(TID, 'config', siteConfig(TID, { debounceSeconds: 0 }));
    await gw.publishRetained(TID, 'roster', roster());
    term = await startSimTerminal(TID, gw.url, join(tmp.dir, 'outbox.db'));
    await waitFor(() => term!.link.isConnected && term!.state.lookup(ANA), { what: 'roster' });
    const beeps: string[] = [];
    term.spanel.on('beep', (b) => beeps.push(b));

    term.sreader.pullAway();
    expect(term.spanel.lines).toEqual(['Badge not read', 'Tap again']);
    expect(term.spanel.led).toBe('red');
    expect(beeps).toEqual(['warning']);
    expect(term.outbox.queued).toBe(0);

    for (const [language, lines] of [
      ['fr', ['Badge mal lu', 'Representez-le']],
      ['nl', ['Niet gelezen', 'Badge opnieuw']],
      ['de', ['Nicht gelesen', 'Badge nochmals']],
    ] as const) {
      await gw.publishRetained(TID, 'config', siteConfig(TID, { debounceSeconds: 0, language }));
      await waitFor(() => term!.state.settings.language === language, { what: language });
      term.sreader.pullAway();
      expect(term.spanel.lines).toEqual(lines);
    }

    // The next, complete tap goes through as usual.
    term.sreader.present(ANA, SUN);
    await waitFor(() => gw.storedCount() === 1, { what: 'the next tap stored' });
    expect(gw.stored(TID).map((r) => JSON.parse(r.payload).sun)).toEqual([SUN]);
  });
});
