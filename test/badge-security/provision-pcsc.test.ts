import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logging.ts';
import { DeskReader, type DeskCard } from '../../gateway/badge-security/desk-reader.ts';
import { deriveBadgeKeys, deriveFileReadKey, deriveMetaReadKey, type BadgeMasterKeys } from '../../gateway/badge-security/diversify.ts';
import { provisionBadge } from '../../gateway/badge-security/provision.ts';
import { sunFromHex, verifySun } from '../../gateway/badge-security/sun.ts';
import { PcscReader } from '../../terminal/adapters/pcsc-reader.ts';
import { virtualBadge } from '../../simulator/vcard/badges.ts';
import { loadState } from '../../simulator/vcard/ntag424/card-state.ts';
import type { VirtualCard } from '../../simulator/vcard/virtual-card.ts';
import { acquirePcscdLock, pcscTestSetup, PcscdService, PCSCD_SOCKET } from '../../simulator/services/pcscd-service.ts';
import { waitFor } from '../terminal/helpers/wait.ts';

/**
 * Personalising a blank badge on a desk reader, through the real pcscd + vpcd and the nfc-pcsc desk adapter,
 * then reading it as a terminal does. pcscd is shared: the file takes the pcscd lock (helpers/pcscd.ts).
 */
const { setup, problem } = await pcscTestSetup();
const skip = problem !== null && !process.env.CI;
if (skip) console.warn(`\n!!! SKIPPING the desk-reader provisioning tests: ${problem}. They run (and must pass) under CI=true. !!!\n`);

const UID = '04D1D2D3D4D5D6';
const master: BadgeMasterKeys = {
  application: Buffer.from('00112233445566778899AABBCCDDEEFF', 'hex'),
  sdmMetaRead: Buffer.from('F0E1D2C3B4A5968778695A4B3C2D1E0F', 'hex'),
  sdmFileRead: Buffer.from('0123456789ABCDEFFEDCBA9876543210', 'hex'),
};
const keys = (uid: Buffer) => deriveBadgeKeys(master, uid);
const verifierKeys = { metaReadKey: deriveMetaReadKey(master), fileReadKey: (uid: Buffer) => deriveFileReadKey(master, uid) };

describe.skipIf(skip)('provisioning on a desk reader through pcscd and vpcd', () => {
  const pcscd = new PcscdService(setup.pcscd ?? 'pcscd');
  let desk: DeskReader | undefined;
  let dir: string | undefined;
  const cards: VirtualCard[] = [];
  let releaseLock: (() => void) | undefined;

  beforeAll(async () => {
    releaseLock = await acquirePcscdLock();
    await pcscd.ensureRunning();
  }, 180_000);

  afterEach(async () => {
    await Promise.all(cards.splice(0).map((c) => c.remove()));
    await desk?.stop();
    desk = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  afterAll(async () => {
    try {
      await pcscd.stop();
    } finally {
      releaseLock?.();
    }
  });

  async function openDesk(): Promise<DeskReader> {
    dir = mkdtempSync(join(tmpdir(), 'ciao-provision-'));
    desk = new DeskReader({ socketPath: PCSCD_SOCKET, transmitTimeoutMs: 3000 });
    await desk.start();
    await waitFor(() => desk!.readerNames.length > 0, { what: 'vpcd reader attached' });
    return desk;
  }

  async function present(card: VirtualCard): Promise<DeskCard> {
    cards.push(card);
    const next = desk!.waitForCard(10_000);
    await card.presentToReader();
    return next;
  }

  /** A tap as the terminal reads it, in a PC/SC context of its own. */
  async function terminalRead(stateFile: string): Promise<{ uid: string; sun?: { picc: string; mac: string } }> {
    const reader = new PcscReader({ socketPath: PCSCD_SOCKET, retrySeconds: 0.3, readTimeoutMs: 3000, acr122Feedback: false }, createLogger('provision-test', { level: 'silent' }));
    try {
      await reader.start();
      await waitFor(() => reader.readerNames.length > 0, { what: 'terminal reader attached' });
      const got = new Promise<{ uid: string; sun?: { picc: string; mac: string } }>((resolve) => reader.once('badge', resolve));
      const { card } = virtualBadge({ uid: UID, kind: 'ntag424', stateFile, port: setup.port });
      cards.push(card);
      await card.presentToReader();
      const event = await got;
      await card.remove();
      return event;
    } finally {
      await reader.stop();
    }
  }

  it('personalises a blank badge; a terminal then reads SUN messages the gateway keys verify, across simulator runs', async () => {
    await openDesk();
    const stateFile = join(dir!, 'badge.json');
    const blank = virtualBadge({ uid: UID, kind: 'ntag424', stateFile, port: setup.port });
    const seen = await present(blank.card);
    expect(seen.uid).toBe(UID);
    const result = await provisionBadge(seen.transport, { keys });
    expect(result).toMatchObject({ uid: UID, keysChanged: [1, 2, 3, 4, 0], fileSettingsChanged: true });
    expect(result.check).toEqual({ ok: true, uid: UID, counter: 1 });
    await blank.card.remove();
    await desk!.stop();
    desk = undefined;

    // A new simulator run with the same state file: the card kept its keys and its counter.
    expect(loadState(stateFile).sdmReadCounter).toBe(1);
    const tap = await terminalRead(stateFile);
    expect(tap.uid).toBe(UID);
    expect(verifySun(sunFromHex(tap.sun!)!, verifierKeys, tap.uid)).toEqual({ ok: true, uid: UID, counter: 2 });
  });

  it('finishes a badge taken away right after its first key change when it is presented again', async () => {
    await openDesk();
    const stateFile = join(dir!, 'badge.json');
    const { card } = virtualBadge({ uid: UID, kind: 'ntag424', stateFile, port: setup.port });
    let changeKeys = 0;
    card.on('apdu', (cmd) => {
      // Taken away the instant the first ChangeKey is applied: the desk never gets the card's answer.
      if (cmd[0] === 0x90 && cmd[1] === 0xc4 && ++changeKeys === 1) void card.remove();
    });
    const first = await present(card);
    await expect(provisionBadge(first.transport, { keys })).rejects.toThrow();
    expect(loadState(stateFile).keys[1]).toBe(keys(Buffer.from(UID, 'hex'))[1].toString('hex').toUpperCase());
    expect(loadState(stateFile).keys[0]).toBe('00'.repeat(16));

    await new Promise((r) => setTimeout(r, 1500));
    const again = await present(card);
    const retry = await provisionBadge(again.transport, { keys });
    expect(retry.keysFound).toEqual(['factory', 'ours', 'factory', 'factory', 'factory']);
    expect(retry.keysChanged).toEqual([2, 3, 4, 0]);
    expect(retry.check).toMatchObject({ ok: true, uid: UID });
    expect(loadState(stateFile).keys).toEqual(keys(Buffer.from(UID, 'hex')).map((k) => k.toString('hex').toUpperCase()));
  });

  it('refuses to start without pcscd, saying so', async () => {
    dir = mkdtempSync(join(tmpdir(), 'ciao-provision-'));
    const r = new DeskReader({ socketPath: join(dir, 'no-pcscd.comm') });
    await expect(r.start()).rejects.toThrow(/pcscd is not running/);
  });
});
