import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logging.ts';
import { IsolatedNfc } from '../../shared/pcsc/isolated-nfc.ts';
import { PcscReader } from '../../terminal/adapters/pcsc-reader.ts';
import { pcscTestSetup } from '../../simulator/services/pcscd-service.ts';
import { waitFor } from './helpers/wait.ts';

/**
 * nfc-pcsc's constructor retries SCardEstablishContext for as long as pcscd says "no service", on the thread
 * that calls it. These tests make that happen on purpose, with a socket no pcscd serves, and check that it
 * costs a killed child process, never the caller's event loop. They need nfc-pcsc and libpcsclite, not pcscd.
 */
const { problem } = await pcscTestSetup();
const skip = problem !== null && !process.env.CI;
if (skip) console.warn(`\n!!! SKIPPING the isolated PC/SC context tests: ${problem}. They run (and must pass) under CI=true. !!!\n`);

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

describe.skipIf(skip)('a PC/SC context in a child process', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  function tempSocketDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'ciao-pcsc-iso-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  /**
   * A pcscd that answers the adapter's probe of its socket, then stops before the context opens: the race that
   * used to freeze the process. The socket goes away with it, so libpcsclite says "no service" from then on.
   */
  async function pcscdStoppingAfterProbe(path: string): Promise<void> {
    const server = createServer((s) => {
      s.destroy();
      server.close();
      rmSync(path, { force: true });
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    cleanups.push(() => new Promise((r) => server.close(() => r(undefined))));
  }

  it('kills a context that cannot open, says why, and the caller goes on', async () => {
    const dir = tempSocketDir();
    const nfc = new IsolatedNfc({ socketPath: join(dir, 'no-pcscd.comm'), openTimeoutMs: 1500 });
    const pid = nfc.pid!;
    cleanups.push(() => nfc.close());
    const errors: string[] = [];
    nfc.on('error', (err: Error) => errors.push(err.message));
    // The event loop of this test keeps turning while the child spins in SCardEstablishContext.
    let ticks = 0;
    const ticker = setInterval(() => (ticks += 1), 50);
    cleanups.push(() => clearInterval(ticker));
    await waitFor(() => errors.length > 0, { timeoutMs: 20_000, what: 'the blocked context reported' });
    expect(errors[0]).toMatch(/did not open within 1500 ms/);
    await expect(nfc.ready).rejects.toThrow(/did not open within 1500 ms/);
    expect(ticks).toBeGreaterThan(10);
    expect(nfc.open).toBe(false);
    await waitFor(() => processGone(pid), { timeoutMs: 10_000, what: 'the blocked host process killed' });
    await expect(new IsolatedReaderProbe(nfc).transmit()).rejects.toThrow(/closed/);
  });

  it('closing a context that is still opening ends its process at once, blocked or not', async () => {
    const dir = tempSocketDir();
    const nfc = new IsolatedNfc({ socketPath: join(dir, 'no-pcscd.comm'), openTimeoutMs: 60_000 });
    const pid = nfc.pid!;
    // Long enough for the child to be inside SCardEstablishContext's loop, where it reads no message.
    await new Promise((r) => setTimeout(r, 700));
    expect(processGone(pid)).toBe(false);
    nfc.close();
    await waitFor(() => processGone(pid), { timeoutMs: 10_000, what: 'the opening host process ended by close()' });
  });

  it('a badge reader whose pcscd stops between the probe and the open reports it and waits for pcscd again', async () => {
    const dir = tempSocketDir();
    const socketPath = join(dir, 'pcscd.comm');
    await pcscdStoppingAfterProbe(socketPath);
    const reader = new PcscReader({ socketPath, retrySeconds: 0.2, readTimeoutMs: 1000, acr122Feedback: false }, createLogger('isolated-nfc-test', { level: 'silent' }), { openTimeoutMs: 800 });
    const errors: string[] = [];
    reader.on('error', (err: Error) => errors.push(err.message));
    await reader.start();
    cleanups.push(() => reader.stop());
    await waitFor(() => errors.some((e) => /pcscd is not running/.test(e)), { timeoutMs: 30_000, what: 'the wait for pcscd again' });
    expect(errors[0]).toMatch(/PC\/SC error: the PC\/SC context did not open within 800 ms/);
    expect(errors[1]).toMatch(/pcscd is not running \(no listener on .*pcscd\.comm\)/);
    expect(reader.contextOpen).toBe(false);
    await reader.stop();
  });
});

/** Asks a request of a closed context, as a reader's transmit would. */
class IsolatedReaderProbe {
  constructor(private readonly nfc: IsolatedNfc) {}
  transmit(): Promise<unknown> {
    return this.nfc.request({ t: 'transmit', reader: 'none', data: Buffer.from([0xff, 0xca, 0, 0, 0]), max: 12 });
  }
}
