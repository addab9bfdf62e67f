import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { join, resolve } from 'node:path';
import { writeFileSync } from 'node:fs';
import { toOffsetIso } from '../../shared/time.ts';
import { DEMO_WORKERS } from '../../simulator/world/seed-data.ts';
import { startTestGateway, siteConfig, type TestGateway } from '../../simulator/stand-in-gateway/stand-in-gateway.ts';
import { tempDir } from '../terminal/helpers/harness.ts';
import { acquirePcscdLock, pcscTestSetup, PcscdService } from '../../simulator/services/pcscd-service.ts';
import { waitFor } from '../terminal/helpers/wait.ts';
import { parseScreen, type SimScreen } from './fixtures/screen.ts';
import { TmuxPane, tmuxAvailable } from './fixtures/tmux.ts';

/**
 * `ciao sim --reader vpcd`: the badge keys put a virtual card on the vsmartcard vpcd reader, and the
 * terminal reads it through pcscd and the real nfc-pcsc adapter. pcscd is shared by the machine, so this
 * file and test/terminal/pcsc.test.ts take the same lock and never run at the same time.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const FIXTURE = join(ROOT, 'test/simulator/fixtures/interactive-sim.ts');
const { setup, problem: pcscProblem } = await pcscTestSetup();
const problem = pcscProblem ?? (tmuxAvailable() ? null : 'tmux is not installed (apt-get install tmux)');
const skip = problem !== null && !process.env.CI;
if (skip) console.warn(`\n!!! SKIPPING the interactive vpcd test: ${problem}. It runs (and must pass) under CI=true. !!!\n`);

const ID = 'T-VPCD';
const SECRET = 'vpcd-secret';
const [ana, luc] = DEMO_WORKERS;

describe.skipIf(skip)('interactive simulator with the real PC/SC stack (pcscd + vpcd)', () => {
  const pcscd = new PcscdService(setup.pcscd ?? 'pcscd');
  let releaseLock: (() => void) | undefined;
  let tmp: ReturnType<typeof tempDir>;
  let gw: TestGateway | undefined;
  let pane: TmuxPane | undefined;

  beforeAll(async () => {
    releaseLock = await acquirePcscdLock();
    await pcscd.ensureRunning();
  }, 180_000);

  afterAll(async () => {
    try {
      await pcscd.stop();
    } finally {
      releaseLock?.();
    }
  });

  afterEach(async () => {
    pane?.kill();
    await gw?.close();
    tmp?.cleanup();
  });

  it('a badge key puts a virtual card on vpcd; the tap is read through pcscd, shown, and stored once', async () => {
    tmp = tempDir('ciao-sim-vpcd-');
    gw = await startTestGateway({ dbPath: join(tmp.dir, 'gateway.db'), secrets: { [ID]: SECRET } });
    await gw.publishRetained(ID, 'config', siteConfig(ID, { debounceSeconds: 30 }));
    await gw.publishRetained(ID, 'roster', {
      v: 1,
      updatedAt: toOffsetIso(new Date()),
      badges: {
        [ana!.badge]: { name: ana!.name, employers: [{ id: 'e1', name: 'Net & Clean' }] },
        [luc!.badge]: { name: luc!.name, employers: [{ id: 'e1', name: 'Net & Clean' }] },
      },
    });
    const badges = [
      { key: '1', label: 'Ana', uid: ana!.badge },
      { key: '2', label: 'Luc', uid: luc!.badge },
    ];
    writeFileSync(join(tmp.dir, 'badges.json'), JSON.stringify(badges));
    pane = new TmuxPane('interactive-vpcd');
    pane.start(
      [process.execPath, '--import', 'tsx', FIXTURE, '--reader', 'vpcd', '--url', gw.url, '--id', ID, '--secret', SECRET, '--badges', join(tmp.dir, 'badges.json'), '--outbox', join(tmp.dir, 'outbox.db')],
      { cwd: ROOT },
    );
    const p = pane;
    let last = '';
    const screenUntil = async (what: string, check: (s: SimScreen) => boolean) => {
      try {
        return await waitFor(
          () => {
            last = p.capture();
            const s = parseScreen(last);
            return s && check(s) ? s : null;
          },
          { timeoutMs: 25_000, intervalMs: 50, what },
        );
      } catch (err) {
        throw new Error(`${(err as Error).message}\n--- screen ---\n${last}`);
      }
    };

    let s = await screenUntil('vpcd reader attached, online, configured', (x) => x.reader === 'attached' && x.link === 'online' && x.lcd[0] === 'Present badge' && x.registers === 'yes');
    expect(s.text).toContain('PC/SC reader (vpcd virtual card)');
    expect(s.text).not.toContain('[r] reader'); // a real reader is not unplugged by a key

    pane.keys('1');
    s = await screenUntil('Ana IN read through pcscd', (x) => x.lcd[0] === 'Ana Peeters' && /^IN\s+\d\d:\d\d$/.test(x.lcd[1]));
    expect(s.led).toBe('green');
    await waitFor(() => gw!.storedCount() === 1, { what: 'tap stored' });
    expect(s.log.some((l) => l.includes(`Ana (${ana!.badge}) on the vpcd reader`))).toBe(true);

    pane.keys('o', '2');
    await screenUntil('Luc OUT read through pcscd', (x) => x.lcd[0] === 'Luc Dubois' && /^OUT\s+\d\d:\d\d$/.test(x.lcd[1]));
    await waitFor(() => gw!.storedCount() === 2, { what: 'second tap stored' });
    await screenUntil('outbox empty', (x) => x.queued === 0);

    pane.keys('q');
    await waitFor(() => pane!.exitStatus() !== null, { what: 'simulator ended' });
    expect(pane.exitStatus()).toBe(0);
    const stored = gw.stored(ID).map((t) => JSON.parse(t.payload));
    // The card stayed on the reader for a moment: still exactly one tap per key press.
    expect(stored.map((t) => [t.badge, t.direction])).toEqual([
      [ana!.badge, 'IN'],
      [luc!.badge, 'OUT'],
    ]);
  });
});
