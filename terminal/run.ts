import { createInterface } from 'node:readline';
import { useProcessTimeZone } from '../shared/time.ts';
import { loadTerminalConfig } from './config.ts';
import { startTerminal } from './main.ts';
import { SimulatedReader } from './adapters/simulated-reader.ts';
import { SimulatedPanel } from './adapters/simulated-panel.ts';
import { PANEL_BUTTONS, type PanelButton } from './core/ports.ts';

/**
 * `ciao terminal --config FILE`: runs one terminal until SIGINT/SIGTERM, then stops cleanly.
 * With the simulated reader, standard input drives it: a badge UID per line presents that badge, and
 * `in`, `out` or `break` presses a button of the console panel.
 */
export async function runTerminalFromFile(path: string): Promise<void> {
  // The terminal lives on the site's clock: its process keeps local time there (shared/time.ts says why).
  useProcessTimeZone();
  const config = loadTerminalConfig(path);
  // An update asks for a restart: the process ends cleanly and its launcher starts the new version
  // (deploy/ciao-terminal-launcher; systemd's Restart=always brings the launcher back).
  let restartInto: ((version: string) => void) | undefined;
  const restartRequested = new Promise<string>((resolve) => (restartInto = resolve));
  const handle = await startTerminal(config, { restart: (version) => restartInto?.(version) });
  let lines: ReturnType<typeof createInterface> | null = null;
  if (handle.reader instanceof SimulatedReader) {
    const reader = handle.reader;
    const panel = handle.panel;
    lines = createInterface({ input: process.stdin });
    lines.on('line', (line) => {
      const word = line.trim();
      if (!word) return;
      const button = word.toUpperCase() as PanelButton;
      try {
        if ((PANEL_BUTTONS as readonly string[]).includes(button) && panel instanceof SimulatedPanel) panel.press(button);
        else if (/^(?:[0-9A-Fa-f]{8}|[0-9A-Fa-f]{14}|[0-9A-Fa-f]{20})$/.test(word)) reader.present(word);
        else process.stderr.write(`not a badge UID (8, 14 or 20 hex digits) nor in/out/break: ${word}\n`);
      } catch (err) {
        // The reader is stopped (the terminal is stopping): like a badge held to a reader that is off.
        process.stderr.write(`badge not read: ${(err as Error).message}\n`);
      }
    });
  }
  // A terminal runs until it is told to stop, whatever else happens: under systemd stdin is /dev/null, so
  // while the gateway is away and the link waits to reconnect, nothing else may be keeping the process alive.
  const keepAlive = setInterval(() => {}, 2 ** 31 - 1);
  const restartVersion = await new Promise<string | undefined>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(undefined);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    void restartRequested.then(resolve);
  });
  clearInterval(keepAlive);
  lines?.close();
  if (restartVersion !== undefined) await handle.quiesce();
  await handle.stop();
  if (restartVersion !== undefined) {
    process.stderr.write(`ciao terminal: stopped to restart into release ${restartVersion}\n`);
    // Whatever an adapter may still hold open must not keep the old version alive.
    process.exit(0);
  }
}
