import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { threadId, Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logging.ts';
import { VirtualClock } from '../../shared/clock.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { startGateway, type RunningGateway, type StartGatewayOptions } from '../../gateway/main.ts';
import { forwardingSummary } from '../../gateway/forward/read-model.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import type { SpawnForwarderThread } from '../../gateway/forward/thread.ts';
import { startEmulator, type EmulatorHandle } from '../../simulator/emulator/index.ts';
import { openGatewayDb, rsaKeyPair, seedRegistrations, tempDir, waitFor } from '../onss/helpers.ts';

/**
 * The running gateway's ONSS forwarder works on a thread of its own (gateway/forward/thread.ts): its log
 * lines come from that thread, through the gateway's logger; a crash of that thread is logged and turns
 * /health degraded; a stop lets its last batch be answered and committed before the commit writer stops.
 */
let tmp: ReturnType<typeof tempDir>;
let emu: EmulatorHandle;
let keys: { publicKeyPem: string; privateKeyPem: string };
let lines: string[];
let gw: RunningGateway | undefined;

beforeEach(async () => {
  tmp = tempDir('ciao-fwd-thread-');
  lines = [];
  keys ??= await rsaKeyPair();
  emu = await startEmulator({ dbPath: join(tmp.dir, 'emu.sqlite'), clients: [{ clientId: 'gw', publicKeyPem: keys.publicKeyPem }], logger: createLogger('emu', { level: 'silent' }) });
});
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
  await emu.stop();
  tmp.cleanup();
});

function logs(): Array<Record<string, unknown>> {
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function start(options: StartGatewayOptions = {}, onss: Record<string, unknown> = {}): Promise<RunningGateway> {
  mkdirSync(join(tmp.dir, 'etc'), { recursive: true });
  writeFileSync(join(tmp.dir, 'etc', 'onss.pem'), keys.privateKeyPem, { mode: 0o600 });
  const file = join(tmp.dir, 'etc', 'gateway.json');
  writeFileSync(file, JSON.stringify({
    database: join(tmp.dir, 'gateway.db'),
    mqtt: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    onss: { baseUrl: emu.url, clientId: 'gw', privateKey: 'onss.pem', idlePollMs: 20, lingerMs: 0, validityPollIntervalMs: 0, ...onss },
  }));
  const logger = createLogger('gateway', { level: 'info' }, { write: (s: string) => void lines.push(s) });
  gw = await startGateway(loadGatewayConfig(file, {}), { logger, ...options });
  return gw;
}

/** A spawn that keeps the forwarder thread's Worker, so a test can end it as a crash would. */
function recordingSpawn(): { spawn: SpawnForwarderThread; workers: Worker[] } {
  const workers: Worker[] = [];
  return { workers, spawn: (entry, workerData) => {
    const w = new Worker(entry, { workerData });
    workers.push(w);
    return w;
  } };
}

/** The forwarder's state as /metrics gives it: the one of its states whose gauge is 1. */
async function forwarderStateMetric(port: number): Promise<string[]> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return [...text.matchAll(/^ciao_gateway_forwarder_state\{state="(\w+)"\} 1$/gm)].map((m) => m[1]!);
}

async function health(port: number): Promise<{ code: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${port}/health`);
  return { code: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('the forwarder thread', () => {
  it('forwards from a thread other than the broker\'s, its lines in the gateway\'s log', async () => {
    const g = await start();
    seedRegistrations(g.db, { count: 5 });
    await waitFor(async () => (await forwardingSummary(SqliteStore.of(g.db))).created === 5, 'five registrations created at ONSS');
    expect(emu.store.stats().registrations).toBe(5);
    const started = logs().find((l) => l.msg === 'ONSS forwarder started');
    expect(started).toBeDefined();
    // The thread that forwards is neither the gateway's (this test's) thread nor the main thread.
    expect(started!.threadId).toEqual(expect.any(Number));
    expect(started!.threadId).not.toBe(threadId);
    expect(started!.threadId).not.toBe(0);
    // Every line of the forwarder carries its thread, through the gateway's logger (component binding included).
    expect(started!.thread).toBe(started!.threadId);
    expect(started!.component).toBe('forwarder');
    expect((await health(g.httpPort)).body).toMatchObject({ status: 'ok', forwarder: 'forwarding' });
    expect(await forwarderStateMetric(g.httpPort)).toEqual(['forwarding']);

    // A line the thread logs later (an outage) comes the same way, through the gateway's logger (and its masking).
    emu.setFaults({ unavailableStatus: 503, unavailableForMs: 60_000 });
    seedRegistrations(g.db, { count: 1, start: 5 });
    await waitFor(() => logs().some((l) => l.msg === 'ONSS failing: outage opened'), 'the outage logged by the thread');
    const failing = logs().find((l) => l.msg === 'ONSS failing: outage opened')!;
    expect(failing).toMatchObject({ thread: started!.threadId, component: 'forwarder', cause: expect.stringContaining('503') });
  });

  it('follows the gateway\'s virtual clock: what it stamps is on the gateway\'s time, jumps included', async () => {
    const clock = new VirtualClock(new Date('2026-03-02T08:00:00Z'), 1);
    const g = await start({ clock });
    clock.jump(3 * 3_600_000);
    seedRegistrations(g.db, { count: 1 });
    await waitFor(async () => (await forwardingSummary(SqliteStore.of(g.db))).created === 1, 'the registration created at ONSS');
    const row = g.db.prepare('SELECT first_sent_at, answered_at FROM forward_state').get() as { first_sent_at: string; answered_at: string };
    // Sent after the jump: 11:00 on the gateway's clock, whatever the real time.
    for (const at of [row.first_sent_at, row.answered_at]) {
      expect(Date.parse(at)).toBeGreaterThanOrEqual(Date.parse('2026-03-02T11:00:00Z'));
      expect(Date.parse(at)).toBeLessThan(Date.parse('2026-03-02T11:05:00Z'));
    }
    expect(logs().find((l) => l.msg === 'ONSS forwarder started')!.threadId).not.toBe(0);
  });

  it('says so in the log and on /health when its thread dies; the gateway keeps running and stops cleanly', async () => {
    const { spawn, workers } = recordingSpawn();
    const g = await start({ spawnForwarderThread: spawn });
    expect(workers).toHaveLength(1);
    expect((await health(g.httpPort)).code).toBe(200);
    await workers[0]!.terminate();
    const h = await waitFor(async () => {
      const r = await health(g.httpPort);
      return r.code === 503 ? r : undefined;
    }, '/health degraded');
    expect(h.body).toMatchObject({ status: 'degraded', forwarder: 'off', problem: expect.stringContaining('forwarder thread stopped') });
    // Monitoring sees it too, apart from a forwarder switched off in the config.
    expect(await forwarderStateMetric(g.httpPort)).toEqual(['stopped']);
    expect(logs().some((l) => l.level === 50 && l.msg === 'the forwarder thread stopped unexpectedly: registrations are kept and sent once the gateway restarts')).toBe(true);
    // Taps and registrations are still kept; the stop does not wait for the dead thread.
    await g.stop();
    gw = undefined;
  });

  it('stops before the commit writer: the answer to the batch on the wire at the stop is committed', async () => {
    const { spawn, workers } = recordingSpawn();
    const g = await start({ spawnForwarderThread: spawn }, { requestTimeoutMs: 10_000 });
    const exits: number[] = [];
    workers[0]!.on('exit', (code) => exits.push(code));
    emu.setFaults({ latencyMs: 600 });
    seedRegistrations(g.db, { count: 3 });
    await waitFor(() => (g.db.prepare("SELECT COUNT(*) AS n FROM forward_state WHERE state = 'in_flight'").get() as { n: number }).n === 3, 'the batch in flight');
    const dbPath = join(tmp.dir, 'gateway.db');
    await g.stop();
    gw = undefined;
    expect(exits).toEqual([0]);
    const db = openGatewayDb(dbPath);
    try {
      // Answered by ONSS during the stop and committed by the writer thread, which stopped after the forwarder.
      expect(db.prepare('SELECT state, COUNT(*) AS n FROM forward_state GROUP BY state').all()).toEqual([{ state: 'created', n: 3 }]);
      // The lease was given back for the next start (or a standby).
      expect(db.prepare('SELECT COUNT(*) AS n FROM forwarder_lease').get()).toEqual({ n: 0 });
    } finally {
      db.close();
    }
    expect(logs().some((l) => typeof l.msg === 'string' && /unexpectedly|did not stop/.test(l.msg))).toBe(false);
  });

  it('fails the gateway\'s start with the thread\'s error when the forwarder cannot start there', async () => {
    const spawn: SpawnForwarderThread = (entry, workerData) => new Worker(entry, { workerData: { ...workerData, store: { kind: 'sqlite', file: join(tmp.dir, 'gateway.db', 'not-a-folder', 'x.db') } } });
    await expect(start({ spawnForwarderThread: spawn })).rejects.toThrow(/ENOTDIR|not a directory/i);
    gw = undefined;
    // Everything that had started was stopped (the database closed, nothing listening).
    expect(existsSync(join(tmp.dir, 'gateway.db'))).toBe(true);
    expect(logs().some((l) => l.msg === 'gateway started')).toBe(false);
  });
});
