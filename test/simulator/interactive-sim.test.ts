import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { toOffsetIso } from '../../shared/time.ts';
import { DEMO_UNKNOWN_BADGE, DEMO_WORKERS } from '../../simulator/world/seed-data.ts';
import { startTestGateway, siteConfig, type TestGateway } from '../../simulator/stand-in-gateway/stand-in-gateway.ts';
import { tempDir } from '../terminal/helpers/harness.ts';
import { waitFor } from '../terminal/helpers/wait.ts';
import { formatOffset, formatSkew, renderDevice, type DeviceView } from '../../simulator/device-ui/render.ts';
import { parseScreen, skewMs, type SimScreen } from './fixtures/screen.ts';
import { TmuxPane, tmuxAvailable } from './fixtures/tmux.ts';

/**
 * The interactive simulator as a person uses it: in a real pseudo-terminal (tmux), against a real Aedes
 * broker whose ack responder commits every tap to SQLite. Keys are typed, the screen is read back.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const FIXTURE = join(ROOT, 'test/simulator/fixtures/interactive-sim.ts');
const hasTmux = tmuxAvailable();
const skip = !hasTmux && !process.env.CI;
if (skip) console.warn('\n!!! SKIPPING the interactive simulator tests: tmux is not installed (apt-get install tmux). They run (and must pass) under CI=true. !!!\n');

const ID = 'T-SIM';
const SECRET = 'sim-secret';
const [ana, luc, sofia, marc] = DEMO_WORKERS;
const BADGES = [
  { key: '1', label: 'Ana', uid: ana!.badge },
  { key: '2', label: 'Luc', uid: luc!.badge },
  { key: '3', label: 'Sofia', uid: sofia!.badge },
  { key: '4', label: 'Marc', uid: marc!.badge },
  { key: '0', label: 'unknown', uid: DEMO_UNKNOWN_BADGE },
];

function roster() {
  const badges: Record<string, { name: string; employers: Array<{ id: string; name: string }> }> = {};
  for (const w of [ana!, luc!, sofia!, marc!]) badges[w.badge] = { name: w.name, employers: [{ id: `emp-${w.key}`, name: 'Net & Clean' }] };
  return { v: 1 as const, updatedAt: toOffsetIso(new Date()), badges };
}

describe.skipIf(skip)('interactive simulator in a pseudo-terminal', () => {
  let tmp: ReturnType<typeof tempDir>;
  let gw: TestGateway;
  let pane: TmuxPane;

  beforeEach(async () => {
    tmp = tempDir('ciao-sim-');
    gw = await startTestGateway({ dbPath: join(tmp.dir, 'gateway.db'), secrets: { [ID]: SECRET } });
    await gw.publishRetained(ID, 'config', siteConfig(ID, { debounceSeconds: 0, maxClockSkewMs: 60_000 }));
    await gw.publishRetained(ID, 'roster', roster());
    writeFileSync(join(tmp.dir, 'badges.json'), JSON.stringify(BADGES));
    pane = new TmuxPane('interactive-sim');
  });

  afterEach(async () => {
    pane?.kill();
    await gw?.close();
    tmp?.cleanup();
  });

  function launch(extra: string[] = []): void {
    pane.start(
      [process.execPath, '--import', 'tsx', FIXTURE, '--url', gw.url, '--id', ID, '--secret', SECRET, '--badges', join(tmp.dir, 'badges.json'), '--outbox', join(tmp.dir, 'outbox.db'), '--log-file', join(tmp.dir, 'terminal.log'), ...extra],
      { cwd: ROOT, env: { CIAO_LOG_LEVEL: 'info' } },
    );
  }

  /** Polls the screen until `check` holds; the failure message shows the last screen. */
  async function screenUntil(what: string, check: (s: SimScreen) => boolean, timeoutMs = 20_000): Promise<SimScreen> {
    let last = '';
    try {
      return await waitFor(
        () => {
          last = pane.capture();
          const s = parseScreen(last);
          return s && check(s) ? s : null;
        },
        { timeoutMs, intervalMs: 50, what },
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- screen ---\n${last}`);
    }
  }

  it('shows taps on the LCD, queues them while the network is cut, replays them after restore, jumps the clock, and quits cleanly', async () => {
    launch();
    // Online is not enough: until the gateway's retained config arrives, a tap would not be registered.
    let s = await screenUntil('idle screen, online, registering', (x) => x.lcd[0] === 'Present badge' && x.link === 'online' && x.network === 'up' && x.registers === 'yes');
    expect(s.text).toContain('[1] Ana');
    expect(s.text).toContain('[0] unknown');
    expect(s.queued).toBe(0);
    let taps = 0;

    // A known badge: name, IN and the time on the LCD, green LED, then the gateway's ack empties the outbox.
    pane.keys('1');
    taps++;
    s = await screenUntil('Ana IN on the LCD', (x) => x.lcd[0] === 'Ana Peeters' && /^IN\s+\d\d:\d\d$/.test(x.lcd[1]));
    expect(s.led).toBe('green');
    expect(s.beep).toBe('ok');
    await waitFor(() => gw.storedCount() === 1, { what: 'first tap stored' });
    const first = JSON.parse(gw.stored(ID)[0]!.payload);
    expect(first).toMatchObject({ badge: ana!.badge, direction: 'IN', seq: 1 });
    expect(s.lcd[1].slice(-5)).toBe(first.at.slice(11, 16));
    await screenUntil('outbox empty after the ack', (x) => x.queued === 0 && x.log.some((l) => l.endsWith('ack #1 stored')));

    // OUT button, then the same badge: OUT. BREAK button, then another worker: break start.
    pane.keys('o');
    await screenUntil('OUT armed', (x) => x.lcd[0] === 'OUT: badge now');
    pane.keys('1');
    taps++;
    s = await screenUntil('Ana OUT', (x) => x.lcd[0] === 'Ana Peeters' && /^OUT\s+\d\d:\d\d$/.test(x.lcd[1]));
    pane.keys('b');
    await screenUntil('BREAK armed', (x) => x.lcd[0] === 'BREAK: badge now');
    pane.keys('2');
    taps++;
    await screenUntil('Luc break', (x) => x.lcd[0] === 'Luc Dubois' && /^BREAK\s+\d\d:\d\d$/.test(x.lcd[1]));
    // IN button on a worker who would otherwise go out: the button wins.
    pane.keys('i', '2');
    taps++;
    await screenUntil('Luc IN after break', (x) => x.lcd[0] === 'Luc Dubois' && /^BREAK END\s+\d\d:\d\d$/.test(x.lcd[1]));
    // The unknown badge: red LED, still sent.
    pane.keys('0');
    taps++;
    s = await screenUntil('unknown badge', (x) => x.lcd[0] === 'Unknown badge');
    expect(s.led).toBe('red');
    await waitFor(() => gw.storedCount() === taps, { what: 'five taps stored' });
    await screenUntil('outbox empty', (x) => x.queued === 0 && x.inFlight === 0);

    // Network cut: the terminal goes offline, taps get their feedback and wait in the outbox.
    pane.keys('n');
    await screenUntil('network cut, link offline', (x) => x.network === 'CUT' && x.link === 'offline');
    const storedBeforeCut = gw.storedCount();
    pane.keys('3');
    taps++;
    s = await screenUntil('Sofia tapped offline, 1 queued', (x) => x.lcd[0] === 'Sofia Rossi' && x.queued === 1);
    expect(s.led).toBe('green');
    pane.keys('4');
    taps++;
    await screenUntil('Marc tapped offline, 2 queued', (x) => x.lcd[0] === 'Marc Janssens' && x.queued === 2);
    pane.keys('3');
    taps++;
    s = await screenUntil('3 queued', (x) => x.queued === 3);
    await screenUntil('idle screen says offline', (x) => x.lcd[0] === 'Present badge' && /offline$/.test(x.lcd[1]), 10_000);
    expect(gw.storedCount()).toBe(storedBeforeCut);

    // Restore: reconnect, replay, the queued count falls to zero.
    pane.keys('n');
    await screenUntil('network up, online, queue drained', (x) => x.network === 'up' && x.link === 'online' && x.queued === 0);
    await waitFor(() => gw.storedCount() === taps, { what: 'queued taps stored after restore' });

    // Clock +5 min: the terminal clock moves at once; taps carry the local (jumped) time until the acks
    // show the skew, then the skew is reported, the idle screen warns and taps carry the corrected time.
    const before = parseScreen(pane.capture())!;
    expect(before.clockOffset).toBe('+0 min');
    pane.keys('+');
    s = await screenUntil('clock +5 min', (x) => x.clockOffset === '+5 min');
    expect(s.log.some((l) => l.endsWith('clock jumped +5 min'))).toBe(true);
    const shownMinutes = minutesOf(s.clock);
    const realMinutes = minutesOf(new Date().toLocaleTimeString('en-GB', { timeZone: 'Europe/Brussels', hour12: false }));
    expect((shownMinutes - realMinutes + 1440) % 1440).toBeGreaterThanOrEqual(4);
    expect((shownMinutes - realMinutes + 1440) % 1440).toBeLessThanOrEqual(6);
    // The idle screen follows the jumped clock at once (no skew measured yet to correct it).
    s = await screenUntil('idle LCD shows the jumped time', (x) => x.lcd[0] === 'Present badge' && /^\d\d:\d\d/.test(x.lcd[1]) && Math.abs(minutesOf(x.lcd[1].slice(0, 5)) - minutesOf(x.clock)) <= 1);
    expect((minutesOf(s.lcd[1].slice(0, 5)) - realMinutes + 1440) % 1440).toBeGreaterThanOrEqual(4);
    // The skew is a median over recent acks: it follows once most samples come from the jumped clock.
    for (let i = 0; i < 12 && !parseScreen(pane.capture())!.clockOff; i++) {
      const storedNow = gw.storedCount();
      pane.keys('1');
      taps++;
      await waitFor(() => gw.storedCount() === storedNow + 1, { what: `tap ${taps} stored` });
    }
    s = await screenUntil('skew about -300 s and clock off', (x) => x.clockOff && Math.abs((skewMs(x.skew) ?? 0) + 300_000) < 5_000);
    await screenUntil('idle screen warns about the clock', (x) => x.lcd[0] === 'Present badge' && /clock off!$/.test(x.lcd[1]), 10_000);
    const storedBeforeCorrected = gw.storedCount();
    pane.keys('3');
    taps++;
    await waitFor(() => gw.storedCount() === storedBeforeCorrected + 1, { what: 'corrected tap stored' });
    const corrected = JSON.parse(gw.stored(ID).at(-1)!.payload);
    expect(corrected.localAt).toBeDefined();
    const correction = Date.parse(corrected.localAt) - Date.parse(corrected.at);
    expect(Math.abs(correction - 300_000)).toBeLessThan(5_000);
    expect(Math.abs(Date.parse(corrected.at) - Date.now())).toBeLessThan(60_000);
    await screenUntil('outbox empty before quit', (x) => x.queued === 0);

    // Quit: the process ends by itself, the terminal mode is restored, every tap is stored exactly once.
    pane.keys('q');
    await waitFor(() => pane.exitStatus() !== null, { what: 'simulator process ended' });
    expect(pane.exitStatus()).toBe(0);
    expect(pane.capture()).toMatch(/ciao sim: terminal T-SIM stopped; 0 tap\(s\) still queued/);
    const stored = gw.stored(ID);
    expect(stored).toHaveLength(taps);
    expect(new Set(stored.map((t) => t.id)).size).toBe(taps);
    expect(stored.map((t) => t.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: taps }, (_, i) => i + 1));
    expect(gw.receipts).toBeGreaterThanOrEqual(taps);
  });

  it('keeps taps made offline when quitting, and sends them on the next start', async () => {
    launch();
    await screenUntil('online and configured', (x) => x.link === 'online' && x.lcd[0] === 'Present badge' && x.registers === 'yes');
    pane.keys('n');
    await screenUntil('offline', (x) => x.link === 'offline');
    pane.keys('1', '2');
    await screenUntil('2 queued', (x) => x.queued === 2);
    pane.keys('q');
    await waitFor(() => pane.exitStatus() !== null, { what: 'simulator process ended' });
    expect(pane.exitStatus()).toBe(0);
    expect(pane.capture()).toMatch(/2 tap\(s\) still queued/);
    expect(gw.storedCount()).toBe(0);

    pane.kill();
    pane = new TmuxPane('interactive-sim-2');
    launch();
    await screenUntil('replayed after restart', (x) => x.link === 'online' && x.queued === 0);
    await waitFor(() => gw.storedCount() === 2, { what: 'both offline taps stored' });
    pane.keys('q');
    await waitFor(() => pane.exitStatus() !== null, { what: 'second run ended' });
    expect(gw.stored(ID).map((t) => JSON.parse(t.payload).badge)).toEqual([ana!.badge, luc!.badge]);
  });

  it('stalls the network: the connection stays up, taps wait in flight, and go through on restore', async () => {
    launch();
    await screenUntil('online and configured', (x) => x.link === 'online' && x.lcd[0] === 'Present badge' && x.registers === 'yes');
    pane.keys('s');
    await screenUntil('network stalled', (x) => x.network === 'STALLED');
    pane.keys('1');
    const s = await screenUntil('tap published, no ack', (x) => x.lcd[0] === 'Ana Peeters' && x.queued === 1 && x.inFlight === 1);
    // A stalled link is not a closed one: the terminal still believes it is online.
    expect(s.link).toBe('online');
    expect(gw.storedCount()).toBe(0);
    pane.keys('s');
    await screenUntil('restored, acked', (x) => x.network === 'up' && x.queued === 0 && x.inFlight === 0);
    await waitFor(() => gw.storedCount() === 1, { what: 'stalled tap stored' });
    pane.keys('q');
    await waitFor(() => pane.exitStatus() !== null, { what: 'simulator process ended' });
    expect(pane.exitStatus()).toBe(0);
  });

  it('refuses a bad badge list naming the field and the rule, before touching the terminal', () => {
    writeFileSync(join(tmp.dir, 'bad.json'), JSON.stringify([{ key: 'q', label: 'X', uid: '04A1' }]));
    const r = spawnSync(process.execPath, ['--import', 'tsx', FIXTURE, '--url', gw.url, '--id', ID, '--secret', SECRET, '--badges', join(tmp.dir, 'bad.json'), '--outbox', join(tmp.dir, 'o.db')], { cwd: ROOT, encoding: 'utf8', input: '' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('badges[0].key: must not be one of the reserved keys');
    expect(r.stderr).toContain('badges[0].uid: must be 4, 7 or 10 bytes in hex');
    const missing = spawnSync(process.execPath, ['--import', 'tsx', FIXTURE, '--id', ID], { cwd: ROOT, encoding: 'utf8', input: '', env: { ...process.env, CIAO_TERMINAL_SECRET: '' } });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('--url: is required without --config');
    expect(missing.stderr).toContain('--secret: is required');
  });
});

function minutesOf(hms: string): number {
  const [h, m] = hms.split(':').map(Number);
  return h! * 60 + m!;
}

describe('device renderer', () => {
  const view: DeviceView = {
    title: 'ciao-badge terminal T-1',
    lcd: ['Ana Peeters', 'IN         08:02'],
    led: 'green',
    lastBeep: 'ok',
    badges: [{ key: '1', label: 'Ana' }],
    worldKeys: [{ key: 'n', label: 'network cut/restore' }],
    status: { link: 'offline', network: 'cut', queued: 3, inFlight: 0, skewMs: -300_000, clockOff: true, clock: '08:07:00', clockOffsetMs: 300_000, reader: 'attached', cannotRegister: [] },
    log: Array.from({ length: 12 }, (_, i) => `line ${i}`),
  };

  it('draws the LCD 16 columns wide, the status and the newest log lines, without colour codes when asked', () => {
    const text = renderDevice({ ...view, lcd: ['A name longer than sixteen', 'IN'] }, { color: false });
    expect(text).not.toMatch(/\x1b/);
    expect(text).toContain('│ A name longer th │');
    expect(text).toContain('│ IN               │');
    expect(text).toContain('● green');
    expect(text).toContain('○ red');
    expect(text).toContain('link offline · network CUT · queued 3 · in flight 0 · reader attached');
    expect(text).toContain('clock 08:07:00 (+5 min) · skew -300.0 s (clock off!)');
    expect(text).toContain('line 11');
    expect(text).not.toContain('line 3\n');
    expect(text).toContain('registers taps: yes');
    expect(parseScreen(text)).toMatchObject({ lcd: ['A name longer th', 'IN'], led: 'green', queued: 3, network: 'CUT', clockOffset: '+5 min', clockOff: true, registers: 'yes' });
    const waiting = renderDevice({ ...view, status: { ...view.status, cannotRegister: ['no-site-config', 'no-reader'] } }, { color: false });
    expect(waiting).toContain('registers taps: NO (no site config from the gateway yet, no reader)');
    expect(parseScreen(waiting)?.registers).toBe('NO (no site config from the gateway yet, no reader)');
  });

  it('names the gateway the link is on when the terminal was given several', () => {
    const online = { ...view.status, link: 'online' as const, network: 'not proxied' as const };
    expect(renderDevice({ ...view, status: { ...online, gateway: 'mqtt://10.0.0.12:1883' } }, { color: false })).toContain('link online via mqtt://10.0.0.12:1883 · network NOT PROXIED');
    expect(renderDevice({ ...view, status: online }, { color: false })).toContain('link online · network NOT PROXIED');
  });

  it('colours the LCD and the lit LED for a colour terminal', () => {
    const text = renderDevice(view, { color: true });
    expect(text).toMatch(/\x1b\[42m\x1b\[30m ● green /);
  });

  it('formats skews and clock offsets for a glance', () => {
    expect(formatSkew(null)).toBe('not measured');
    expect(formatSkew(12)).toBe('+12 ms');
    expect(formatSkew(-999)).toBe('-999 ms');
    expect(formatSkew(-300_049)).toBe('-300.0 s');
    expect(skewMs(formatSkew(-300_049))).toBe(-300_000);
    expect(formatOffset(0)).toBe('+0 min');
    expect(formatOffset(-600_000)).toBe('-10 min');
    expect(formatOffset(90 * 60_000)).toBe('+1 h 30 min');
  });
});
