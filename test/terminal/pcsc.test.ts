import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { createLogger } from '../../shared/logging.ts';
import { PcscReader } from '../../terminal/adapters/pcsc-reader.ts';
import { SimulatedPanel } from '../../terminal/adapters/simulated-panel.ts';
import { startTerminal } from '../../terminal/main.ts';
import { VirtualCard } from '../../simulator/vcard/virtual-card.ts';
import { virtualBadge, type VirtualBadgeOptions } from '../../simulator/vcard/badges.ts';
import { personalisedState } from '../../simulator/vcard/ntag424/card-state.ts';
import { verifySun, sunFromHex } from '../../gateway/badge-security/sun.ts';
import { startTestGateway, siteConfig } from '../../simulator/stand-in-gateway/stand-in-gateway.ts';
import { terminalConfig, tempDir } from './helpers/harness.ts';
import { acquirePcscdLock, pcscTestSetup, PcscdService, PCSCD_SOCKET } from '../../simulator/services/pcscd-service.ts';
import { waitFor } from './helpers/wait.ts';

/**
 * The real PC/SC path: pcscd + the vsmartcard vpcd driver + a virtual card speaking vpcd's protocol,
 * read by the nfc-pcsc adapter. pcscd is a shared system service: every file that touches it takes the
 * lock of acquirePcscdLock (helpers/pcscd.ts), so such files never run in parallel with each other.
 */
const { setup, problem: pcscProblem } = await pcscTestSetup();
const problem = pcscProblem;
const skip = problem !== null && !process.env.CI;
if (skip) {
  console.warn(`\n!!! SKIPPING the PC/SC tests: ${problem}. They run (and must pass) under CI=true. !!!\n`);
}

const logger = createLogger('pcsc-test', { level: process.env.CIAO_LOG_LEVEL ?? 'silent' });

interface Recorded {
  badges: string[];
  suns: Array<{ picc: string; mac: string } | undefined>;
  misreads: string[];
  errors: string[];
  attached: string[];
  detached: string[];
}

function record(reader: PcscReader): Recorded {
  const r: Recorded = { badges: [], suns: [], misreads: [], errors: [], attached: [], detached: [] };
  reader.on('badge', (b: { uid: string; sun?: { picc: string; mac: string } }) => {
    r.badges.push(b.uid);
    r.suns.push(b.sun);
  });
  reader.on('misread', (m: { reason: string }) => r.misreads.push(m.reason));
  reader.on('error', (e: Error) => r.errors.push(e.message));
  reader.on('attached', (n: string) => r.attached.push(n));
  reader.on('detached', (n: string) => r.detached.push(n));
  return r;
}

describe.skipIf(skip)('PC/SC reader through pcscd and vpcd', () => {
  const pcscd = new PcscdService(setup.pcscd ?? 'pcscd');
  let reader: PcscReader | undefined;
  const cards: VirtualCard[] = [];

  function card(uid: string, extra: Partial<ConstructorParameters<typeof VirtualCard>[0]> = {}): VirtualCard {
    const c = new VirtualCard({ uid, port: setup.port, ...extra });
    cards.push(c);
    return c;
  }

  function badge(o: VirtualBadgeOptions): ReturnType<typeof virtualBadge> {
    const b = virtualBadge({ port: setup.port, ...o });
    cards.push(b.card);
    return b;
  }

  async function openReader(): Promise<{ reader: PcscReader; rec: Recorded }> {
    reader = new PcscReader({ socketPath: PCSCD_SOCKET, retrySeconds: 0.3, readTimeoutMs: 1500, acr122Feedback: false }, logger);
    const rec = record(reader);
    await reader.start();
    await waitFor(() => reader!.readerNames.length > 0, { what: 'vpcd reader attached' });
    return { reader, rec };
  }

  // Other test files use pcscd too (the interactive simulator's vpcd mode): one file at a time.
  let releaseLock: (() => void) | undefined;
  beforeAll(async () => {
    releaseLock = await acquirePcscdLock();
    await pcscd.ensureRunning();
  }, 180_000);

  afterEach(async () => {
    await Promise.all(cards.splice(0).map((c) => c.remove()));
    await reader?.stop();
    reader = undefined;
  });

  afterAll(async () => {
    try {
      await pcscd.stop();
    } finally {
      releaseLock?.();
    }
  });

  it('reads the UID of an ISO 14443-3 card (MIFARE Classic ATR) and of an ISO 14443-4 card', async () => {
    const { rec } = await openReader();
    expect(rec.attached.some((n) => n.startsWith('Virtual PCD'))).toBe(true);
    const classic = card('04A1B2C3D4E5F6');
    await classic.presentToReader();
    await waitFor(() => rec.badges.length === 1, { what: 'first badge' });
    expect(rec.badges).toEqual(['04A1B2C3D4E5F6']);
    await classic.remove();

    const desfire = card('0102030405060708090A', { kind: 'iso14443-4' });
    const apdus: string[] = [];
    desfire.on('apdu', (cmd) => apdus.push(cmd.toString('hex')));
    await desfire.presentToReader();
    await waitFor(() => rec.badges.length === 2, { what: 'type 4 badge' });
    expect(rec.badges[1]).toBe('0102030405060708090A');
    // GET DATA (UID), then the one SELECT that asks for a secure badge's NDEF application, which this card
    // refuses: a plain badge, nothing more is sent (and nothing of nfc-pcsc's automatic AID selection).
    expect(apdus).toEqual(['ffca000000', '00a4040c07d276000085010100']);
    expect(rec.suns).toEqual([undefined, undefined]);
    expect(rec.misreads).toEqual([]);
  });

  it('reports a card left on the reader once, and a removed and re-presented card again (fast re-tap)', async () => {
    const { rec } = await openReader();
    const c = card('DEADBEEF');
    await c.presentToReader();
    await waitFor(() => rec.badges.length === 1);
    await new Promise((r) => setTimeout(r, 1500));
    expect(rec.badges).toHaveLength(1); // still on the reader: no repeat
    await c.remove();
    await c.presentToReader();
    await waitFor(() => rec.badges.length === 2, { what: 're-tap' });
    expect(rec.badges).toEqual(['DEADBEEF', 'DEADBEEF']);
  });

  it('gives up on a card pulled away mid-read, and reads the next one', async () => {
    const { rec } = await openReader();
    const silent = card('11223344', { silentOnGetUid: true });
    await silent.presentToReader();
    await waitFor(() => rec.errors.some((e) => e.includes('taken away')), { what: 'read timeout' });
    await silent.remove();
    expect(rec.badges).toEqual([]);
    expect(rec.misreads).toHaveLength(1);
    // A person needs a moment to bring the next card. pcscd notices a removal only at its next presence
    // poll, and while its driver was stuck in the dead card's transmit a swap faster than that looks like
    // the same card still there (no new card event), so the next card comes a little later, as in life.
    await new Promise((r) => setTimeout(r, 1500));
    const good = card('55667788');
    await good.presentToReader();
    await waitFor(() => rec.badges.length === 1, { what: `the next card (errors: ${JSON.stringify(rec.errors)})` });
    expect(rec.badges).toEqual(['55667788']);
  });

  it('waits without blocking while pcscd is absent, and reports a clear error', async () => {
    const r = new PcscReader({ socketPath: '/run/pcscd/does-not-exist.comm', retrySeconds: 0.1, readTimeoutMs: 500, acr122Feedback: false }, logger);
    const rec = record(r);
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    await r.start();
    await waitFor(() => rec.errors.length > 0 && ticks > 20);
    clearInterval(ticker);
    expect(rec.errors[0]).toMatch(/pcscd is not running/);
    expect(r.contextOpen).toBe(false);
    await r.stop();
  });

  it('drives the whole terminal: a virtual card tap reaches the gateway with feedback on the panel', async () => {
    const tmp = tempDir();
    const gw = await startTestGateway({ dbPath: join(tmp.dir, 'gw.db'), secrets: { 't-pcsc': 'secret-t-pcsc' } });
    await gw.publishRetained('t-pcsc', 'config', siteConfig('t-pcsc', { debounceSeconds: 20 }));
    reader = new PcscReader({ socketPath: PCSCD_SOCKET, retrySeconds: 0.3, readTimeoutMs: 1500, acr122Feedback: false }, logger);
    const panel = new SimulatedPanel();
    const term = await startTerminal({ ...terminalConfig('t-pcsc', gw.url, join(tmp.dir, 'outbox.db')), reader: 'pcsc' }, { reader, panel, logger });
    try {
      await waitFor(() => term.link.isConnected && term.state.config && term.state.readerAttached);
      const c = card('04A1B2C3D4E5F6');
      await c.presentToReader();
      await waitFor(() => gw.storedCount() === 1, { what: 'tap stored' });
      expect(panel.lines[0]).toBe('Unknown badge');
      // A fast re-tap of the same badge is one tap (debounce), with the "already recorded" beep.
      await c.remove();
      const beeps: string[] = [];
      panel.on('beep', (b) => beeps.push(b));
      await c.presentToReader();
      await waitFor(() => beeps.includes('already'), { what: 'debounced re-tap' });
      expect(JSON.parse(gw.stored()[0]!.payload).badge).toBe('04A1B2C3D4E5F6');
      expect(gw.storedCount()).toBe(1);
    } finally {
      await term.stop();
      reader = undefined;
      await gw.close();
      tmp.cleanup();
    }
  });

  const SECURE_UID = '04C1C2C3C4C5C6';
  const secureKeys = Array.from({ length: 5 }, (_, i) => Buffer.alloc(16, 0xa0 + i));
  const verifierKeys = { metaReadKey: secureKeys[1]!, fileReadKey: (uid: Buffer) => (uid.toString('hex').toUpperCase() === SECURE_UID ? secureKeys[2] : undefined) };

  it('reads the SUN message of a secure badge into the tap, fresh on each tap; a UID-only copy taps without one', async () => {
    const tmp = tempDir();
    const gw = await startTestGateway({ dbPath: join(tmp.dir, 'gw.db'), secrets: { 't-sun': 'secret-t-sun' } });
    await gw.publishRetained('t-sun', 'config', siteConfig('t-sun', { debounceSeconds: 0 }));
    reader = new PcscReader({ socketPath: PCSCD_SOCKET, retrySeconds: 0.3, readTimeoutMs: 3000, acr122Feedback: false }, logger);
    const panel = new SimulatedPanel();
    const term = await startTerminal({ ...terminalConfig('t-sun', gw.url, join(tmp.dir, 'outbox.db')), reader: 'pcsc' }, { reader, panel, logger });
    try {
      await waitFor(() => term.link.isConnected && term.state.config && term.state.readerAttached);
      const secure = badge({ uid: SECURE_UID, kind: 'ntag424', state: personalisedState({ uid: SECURE_UID, keys: secureKeys }) });
      for (let n = 1; n <= 2; n++) {
        await secure.card.presentToReader();
        await waitFor(() => gw.storedCount() === n, { what: `secure tap ${n}` });
        await secure.card.remove();
        await new Promise((r) => setTimeout(r, 600));
      }
      const copy = badge({ uid: SECURE_UID, kind: 'uid-only' });
      await copy.card.presentToReader();
      await waitFor(() => gw.storedCount() === 3, { what: 'UID-only copy tap' });
      const taps = gw.stored('t-sun').map((r) => JSON.parse(r.payload) as { badge: string; sun?: { picc: string; mac: string } });
      expect(taps.map((t) => t.badge)).toEqual([SECURE_UID, SECURE_UID, SECURE_UID]);
      // The terminal verified nothing; the keys do: genuine, this badge, counters 1 then 2.
      expect(taps.slice(0, 2).map((t) => verifySun(sunFromHex(t.sun!)!, verifierKeys, t.badge))).toEqual([
        { ok: true, uid: SECURE_UID, counter: 1 },
        { ok: true, uid: SECURE_UID, counter: 2 },
      ]);
      expect(taps[2]!.sun).toBeUndefined();
      expect(secure.chip!.readCounter).toBe(2);
    } finally {
      await term.stop();
      reader = undefined;
      await gw.close();
      tmp.cleanup();
    }
  });

  it('asks the worker to tap again when a secure badge is pulled away after its UID, and records nothing', async () => {
    const tmp = tempDir();
    const gw = await startTestGateway({ dbPath: join(tmp.dir, 'gw.db'), secrets: { 't-pull': 'secret-t-pull' } });
    await gw.publishRetained('t-pull', 'config', siteConfig('t-pull', { debounceSeconds: 0, language: 'fr' }));
    reader = new PcscReader({ socketPath: PCSCD_SOCKET, retrySeconds: 0.3, readTimeoutMs: 1500, acr122Feedback: false }, logger);
    const panel = new SimulatedPanel();
    const term = await startTerminal({ ...terminalConfig('t-pull', gw.url, join(tmp.dir, 'outbox.db')), reader: 'pcsc' }, { reader, panel, logger });
    try {
      await waitFor(() => term.link.isConnected && term.state.settings.language === 'fr' && term.state.readerAttached);
      // The UID answers, then the card is gone before the NDEF file is read.
      const pulled = badge({ uid: SECURE_UID, kind: 'ntag424', state: personalisedState({ uid: SECURE_UID, keys: secureKeys }), silentAfterApdus: 2 });
      await pulled.card.presentToReader();
      await waitFor(() => panel.lines[0] === 'Badge mal lu', { what: 'tap-again cue' });
      expect(panel.lines[1]).toBe('Representez-le');
      expect(panel.led).toBe('red');
      expect(term.outbox.queued).toBe(0);
      await pulled.card.remove();
      await new Promise((r) => setTimeout(r, 1500));
      expect(gw.storedCount()).toBe(0);
      // Presented again properly, it taps with its message.
      const again = badge({ uid: SECURE_UID, kind: 'ntag424', state: pulled.chip!.state });
      await again.card.presentToReader();
      await waitFor(() => gw.storedCount() === 1, { what: 'the tap after the cue' });
      expect(JSON.parse(gw.stored('t-pull')[0]!.payload).sun).toBeDefined();
    } finally {
      await term.stop();
      reader = undefined;
      await gw.close();
      tmp.cleanup();
    }
  });

  it('notices pcscd going away and comes back with it (only with a pcscd the tests started)', async (ctx) => {
    if (!pcscd.startedByUs) {
      console.warn('!!! not stopping the system pcscd: this check needs a pcscd started by the tests');
      ctx.skip();
    }
    const { reader: r, rec } = await openReader();
    await pcscd.stop();
    await waitFor(() => rec.detached.length > 0 && !r.contextOpen, { what: 'reader detached' });
    expect(rec.errors.some((e) => /PC\/SC error|pcscd is not running/.test(e))).toBe(true);
    const attachedBefore = rec.attached.length;
    await pcscd.ensureRunning();
    await waitFor(() => rec.attached.length > attachedBefore, { what: 'reader back' });
    const c = card('CAFEBABE');
    await c.presentToReader();
    await waitFor(() => rec.badges.includes('CAFEBABE'), { what: 'tap after pcscd restart' });
  });
});
