import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startTestGateway, siteConfig, type TestGateway } from '../../simulator/stand-in-gateway/stand-in-gateway.ts';
import { freePort, startSimTerminal, tempDir, type SimTerminal } from './helpers/harness.ts';
import { waitFor } from './helpers/wait.ts';

/** Long offline runs, gateway restarts and terminal crashes: no tap lost, none stored twice, order kept. */
const TID = 't-replay';
const secrets = { [TID]: `secret-${TID}` };
const badge = (i: number) => (0x10000000 + (i % 997)).toString(16).toUpperCase();

function assertInOrderOnce(gw: TestGateway, expected: number) {
  const rows = gw.stored(TID);
  expect(rows).toHaveLength(expected);
  expect(new Set(rows.map((r) => r.id)).size).toBe(expected);
  const seqs = rows.map((r) => r.seq);
  // First arrivals are in seq order, with no gap.
  for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1]! + 1);
}

describe('offline buffer and replay', () => {
  let tmp: ReturnType<typeof tempDir>;
  let gw: TestGateway | undefined;
  let term: SimTerminal | undefined;
  beforeEach(() => {
    tmp = tempDir('ciao-replay-', { memoryBacked: true });
  });
  afterEach(async () => {
    await term?.stop();
    term = undefined;
    await gw?.close();
    gw = undefined;
    tmp.cleanup();
  });

  it('queues 10,000 taps offline, then replays them in order with none lost and none duplicated', async () => {
    const port = await freePort();
    term = await startSimTerminal(TID, `mqtt://127.0.0.1:${port}`, join(tmp.dir, 'outbox.db'), { replayWindow: 64 });
    for (let i = 0; i < 10_000; i++) term.sreader.present(badge(i));
    expect(term.outbox.queued).toBe(10_000);
    gw = await startTestGateway({ dbPath: join(tmp.dir, 'gw.db'), secrets, port });
    let maxInflight = 0;
    const sampler = setInterval(() => (maxInflight = Math.max(maxInflight, term!.link.inflightCount)), 5);
    await waitFor(() => term!.outbox.queued === 0, { timeoutMs: 50_000, what: 'replay of 10,000 taps' });
    clearInterval(sampler);
    assertInOrderOnce(gw, 10_000);
    expect(gw.receipts).toBe(10_000); // nothing sent twice on a steady link
    expect(maxInflight).toBeLessThanOrEqual(64); // paced by the window
  });

  it('survives gateway restarts in the middle of a replay', async () => {
    const port = await freePort();
    term = await startSimTerminal(TID, `mqtt://127.0.0.1:${port}`, join(tmp.dir, 'outbox.db'), { replayWindow: 32 });
    for (let i = 0; i < 3000; i++) term.sreader.present(badge(i));
    const dbPath = join(tmp.dir, 'gw.db');
    for (let round = 0; round < 3; round++) {
      gw = await startTestGateway({ dbPath, secrets, port });
      const before = gw.storedCount();
      await waitFor(() => gw!.storedCount() > before + 200 || term!.outbox.queued === 0, { what: `progress in round ${round}` });
      await gw.close(); // the gateway goes down mid-stream
      gw = undefined;
      await waitFor(() => !term!.link.isConnected);
      for (let i = 0; i < 50; i++) term.sreader.present(badge(5000 + round * 50 + i)); // taps while it is down
    }
    gw = await startTestGateway({ dbPath, secrets, port });
    await waitFor(() => term!.outbox.queued === 0, { timeoutMs: 30_000, what: 'final replay' });
    await waitFor(() => gw!.storedCount() === 3150);
    const rows = gw.stored(TID);
    expect(new Set(rows.map((r) => r.id)).size).toBe(3150);
    expect(rows.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 3150 }, (_, i) => i + 1));
  });
});

describe('terminal crash (kill -9) between the outbox write and the publish', () => {
  const child = fileURLToPath(new URL('./helpers/terminal-child.ts', import.meta.url));
  let tmp: ReturnType<typeof tempDir>;
  let gw: TestGateway;
  const procs: ChildProcess[] = [];
  beforeEach(async () => {
    tmp = tempDir();
    gw = await startTestGateway({ dbPath: join(tmp.dir, 'gw.db'), secrets });
    await gw.publishRetained(TID, 'config', siteConfig(TID, { debounceSeconds: 0 }));
  });
  afterEach(async () => {
    for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await gw.close();
    tmp.cleanup();
  });

  function runTerminal(env: Record<string, string> = {}) {
    const configPath = join(tmp.dir, 'terminal.json');
    writeFileSync(configPath, JSON.stringify({ id: TID, secret: secrets[TID], mqtt: { url: gw.url }, reader: 'simulated', panel: 'console', outbox: 'outbox.db', defaults: { siteId: 'site-1' }, reconnectMinMs: 50, reconnectMaxMs: 200 }));
    const p = spawn(process.execPath, ['--import', 'tsx', child, configPath], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
    procs.push(p);
    const events: Array<Record<string, unknown>> = [];
    createInterface({ input: p.stdout! }).on('line', (l) => {
      try {
        events.push(JSON.parse(l));
      } catch {
        // not an event line
      }
    });
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) => p.once('exit', (code, signal) => resolve(signal ?? code)));
    return { p, events, exited, send: (line: string) => p.stdin!.write(`${line}\n`) };
  }

  it('replays the tap committed just before the crash, exactly once, after restart', async () => {
    const first = runTerminal({ CRASH_AFTER_SEQ: '3' });
    await waitFor(() => first.events.some((e) => e.event === 'ready'), { what: 'child ready' });
    for (let i = 0; i < 2; i++) {
      first.send(`present ${badge(i)}`);
      await waitFor(() => gw.storedCount() === i + 1, { what: `tap ${i + 1} stored` });
    }
    first.send(`present ${badge(2)}`);
    first.send(`present ${badge(3)}`);
    expect(await first.exited).toBe('SIGKILL');
    const written = first.events.filter((e) => e.event === 'written').map((e) => e.id);
    expect(written).toHaveLength(3); // died right after committing the third tap
    expect(first.events.filter((e) => e.event === 'feedback').length).toBeGreaterThan(0);
    expect(gw.storedCount()).toBe(2); // the third was never published

    const second = runTerminal();
    await waitFor(() => second.events.some((e) => e.event === 'ready'));
    await waitFor(() => gw.stored(TID).some((r) => r.id === written[2]), { what: 'replayed tap' });
    second.send(`present ${badge(10)}`);
    await waitFor(() => gw.storedCount() === 4);
    const rows = gw.stored(TID);
    expect(rows.map((r) => r.id).slice(0, 3).sort()).toEqual([...written].sort());
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    second.send('stop');
    await second.exited;
  });

  it('loses nothing when killed -9 at an arbitrary moment under load', async () => {
    const run = runTerminal();
    await waitFor(() => run.events.some((e) => e.event === 'ready'));
    for (let i = 0; i < 400; i++) run.send(`present ${badge(i)}`);
    await waitFor(() => run.events.filter((e) => e.event === 'written').length >= 150);
    run.p.kill('SIGKILL');
    await run.exited;
    const written = new Set(run.events.filter((e) => e.event === 'written').map((e) => e.id as string));
    const again = runTerminal();
    await waitFor(() => again.events.some((e) => e.event === 'ready'));
    await waitFor(() => [...written].every((id) => gw.stored(TID).some((r) => r.id === id)), { timeoutMs: 30_000, what: 'every committed tap stored' });
    const rows = gw.stored(TID);
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
    again.send('stop');
    await again.exited;
  });
});
