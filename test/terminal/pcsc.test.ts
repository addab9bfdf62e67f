import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { createLogger } from '../../shared/logging.ts';
import { PcscReader } from '../../terminal/adapters/pcsc-reader.ts';
import { SimulatedPanel } from '../../terminal/adapters/simulated-panel.ts';
import { startTerminal } from '../../terminal/main.ts';
import { VirtualCard } from '../../simulator/vcard/virtual-card.ts';
import { startTestGateway, siteConfig } from '../../simulator/stand-in-gateway/stand-in-gateway.ts';
import { terminalConfig, tempDir } from './helpers/harness.ts';
import { acquirePcscdLock, pcscTestSetup, PcscdService, PCSCD_SOCKET } from './helpers/pcscd.ts';
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
  errors: string[];
  attached: string[];
  detached: string[];
}

function record(reader: PcscReader): Recorded {
  const r: Recorded = { badges: [], errors: [], attached: [], detached: [] };
  reader.on('badge', (b: { uid: string }) => r.badges.push(b.uid));
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
    // Only GET DATA (UID) was sent: no AID selection on type 4 cards.
    expect(apdus).toEqual(['ffca000000']);
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
