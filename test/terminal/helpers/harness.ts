import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../../shared/logging.ts';
import { parseTerminalConfig, type TerminalFileInput } from '../../../terminal/config.ts';
import { startTerminal, type StartOptions, type TerminalHandle } from '../../../terminal/main.ts';
import { SimulatedPanel } from '../../../terminal/adapters/simulated-panel.ts';
import { SimulatedReader } from '../../../terminal/adapters/simulated-reader.ts';

/**
 * A temp dir for SQLite files. `memoryBacked` puts it on /dev/shm when there is one: still real files and
 * real fsync calls, but a long run of thousands of single-tap commits does not wait on a slow disk.
 */
export function tempDir(prefix = 'ciao-terminal-', opts: { memoryBacked?: boolean } = {}): { dir: string; cleanup: () => void } {
  const base = opts.memoryBacked && existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const dir = mkdtempSync(join(base, prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function terminalConfig(id: string, url: string, outbox: string, extra: Partial<TerminalFileInput> = {}) {
  return parseTerminalConfig(
    {
      id,
      secret: `secret-${id}`,
      mqtt: { url },
      reader: 'simulated',
      panel: 'console',
      outbox,
      reconnectMinMs: 50,
      reconnectMaxMs: 300,
      defaults: { siteId: 'site-1', language: 'en', debounceSeconds: 0 },
      ...extra,
    },
    {},
  );
}

export interface SimTerminal extends TerminalHandle {
  sreader: SimulatedReader;
  spanel: SimulatedPanel;
}

export async function startSimTerminal(id: string, url: string, outbox: string, extra: Partial<TerminalFileInput> = {}, opts: StartOptions = {}): Promise<SimTerminal> {
  const sreader = new SimulatedReader();
  const spanel = new SimulatedPanel();
  const handle = await startTerminal(terminalConfig(id, url, outbox, extra), {
    reader: sreader,
    panel: spanel,
    logger: createLogger('terminal-test', { level: process.env.CIAO_LOG_LEVEL ?? 'silent' }),
    ...opts,
  });
  return Object.assign(handle, { sreader, spanel });
}

/** A port nobody listens on (for a gateway that is down at first). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
