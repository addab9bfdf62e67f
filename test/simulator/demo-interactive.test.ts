import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { openDatabase } from '../../shared/sqlite.ts';
import { DEMO_WORKERS } from '../../simulator/world/seed-data.ts';
import { parseScreen } from './fixtures/screen.ts';
import { TmuxPane, tmuxAvailable } from './fixtures/tmux.ts';
import { waitFor } from '../terminal/helpers/wait.ts';

/**
 * `npm start` as a newcomer sees it: `ciao demo` in a real pseudo-terminal. The banner names what runs
 * where; the window is the entrance terminal; a badge key registers a worker end to end (gateway database
 * and ONSS emulator); q stops every part; a second run reuses the data.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const hasTmux = tmuxAvailable();
const skip = !hasTmux && !process.env.CI;
if (skip) console.warn('\n!!! SKIPPING the interactive demo test: tmux is not installed (apt-get install tmux). It runs under CI=true. !!!\n');

describe.skipIf(skip)('ciao demo (interactive)', () => {
  let pane: TmuxPane | undefined;
  let cwd: string;
  afterEach(() => {
    pane?.kill();
    rmSync(cwd, { recursive: true, force: true });
  });

  function start(name: string): TmuxPane {
    const p = new TmuxPane(name);
    // Port 0 everywhere: any free port, so the test never collides with a running demo or broker.
    p.start(['node', join(ROOT, 'bin/ciao.mjs'), 'demo', '--mqtt-port', '0', '--http-port', '0', '--onss-port', '0'], { cwd, env: { CIAO_LOG_LEVEL: 'warn' } });
    return p;
  }

  it('shows the device, registers a badge end to end, stops cleanly and reuses its data', async () => {
    cwd = mkdtempSync(join(tmpdir(), 'ciao-demo-ui-'));
    pane = start('demo1');
    const online = await waitFor(() => {
      const s = parseScreen(pane!.capture());
      return s && s.link === 'online' ? s : undefined;
    }, { timeoutMs: 40_000, what: 'the demo terminal online' });
    expect(online.text).toMatch(/ciao-badge demo · Résidence Les Tilleuls/);
    // The roster arrives from the gateway just after the connection; the terminal keeps it in its outbox file.
    await waitFor(() => {
      const db = openDatabase(join(cwd, '.ciao-demo', 'terminals', 'a-entrance.db'), { readonly: true });
      try {
        const roster = db.prepare("SELECT value FROM kv WHERE key = 'gateway_roster'").pluck().get() as string | undefined;
        return roster?.includes(DEMO_WORKERS[0]!.badge) ? true : undefined;
      } finally {
        db.close();
      }
    }, { timeoutMs: 20_000, what: 'the roster on the demo terminal' });

    pane.keys('1');
    const ana = DEMO_WORKERS[0]!;
    const shown = await waitFor(() => {
      const s = parseScreen(pane!.capture());
      return s && s.lcd[0].startsWith('Ana P') ? s : undefined;
    }, { timeoutMs: 15_000, what: 'Ana on the LCD' }).catch((e: Error) => {
      throw new Error(`${e.message}; screen:\n${pane!.capture()}`);
    });
    // The Tilleuls site speaks French: ENTREE and the time, then the gateway's "Enregistre" once stored.
    expect(shown.lcd[1]).toMatch(/^(ENTREE\s+\d\d:\d\d|Enregistr)/);
    expect(shown.led).toBe('green');
    await waitFor(() => (parseScreen(pane!.capture())?.queued === 0 ? true : undefined), { timeoutMs: 15_000, what: 'the tap acked' });

    // The registration reached ONSS (the emulator's own database) exactly once.
    const emulatorDb = join(cwd, '.ciao-demo', 'onss-emulator.db');
    await waitFor(() => {
      const db = openDatabase(emulatorDb, { readonly: true });
      try {
        const n = db.prepare('SELECT COUNT(*) FROM registrations WHERE ssin = ?').pluck().get(ana.ssin) as number;
        return n === 1 ? n : undefined;
      } finally {
        db.close();
      }
    }, { timeoutMs: 20_000, what: 'one registration of Ana at the emulator' });

    pane.keys('q');
    const exited = () => {
      const code = pane!.exitStatus();
      return code === null ? undefined : { code };
    };
    const { code: status } = await waitFor(exited, { timeoutMs: 20_000, what: 'the demo to stop' }).catch((e: Error) => {
      throw new Error(`${e.message}; screen:\n${pane!.capture()}`);
    });
    expect(status).toBe(0);
    expect(pane.capture()).toMatch(/demo stopped/);
    pane.kill();

    // A second run reuses the world: Ana's registration of the first run is still in the gateway.
    pane = start('demo2');
    await waitFor(() => (parseScreen(pane!.capture())?.link === 'online' ? true : undefined), { timeoutMs: 40_000, what: 'second run online' });
    const gw = openDatabase(join(cwd, '.ciao-demo', 'gateway.db'), { readonly: true });
    try {
      expect(gw.prepare("SELECT COUNT(*) FROM registrations WHERE worker_id = 'ana'").pluck().get()).toBe(1);
      expect(gw.prepare('SELECT COUNT(*) FROM sites').pluck().get()).toBe(2);
    } finally {
      gw.close();
    }
    pane.keys('q');
    expect((await waitFor(exited, { timeoutMs: 20_000, what: 'the second demo to stop' })).code).toBe(0);
  }, 180_000);
});
