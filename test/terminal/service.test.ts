import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { SerialTestBoard, socatMissing } from '../../simulator/firmata-board/serial-line.ts';
import { VirtualCard } from '../../simulator/vcard/virtual-card.ts';
import { startTestGateway, type TestGateway } from '../../simulator/stand-in-gateway/stand-in-gateway.ts';
import { freePort, tempDir } from './helpers/harness.ts';
import { acquirePcscdLock, pcscTestSetup, PcscdService, PCSCD_SOCKET } from '../../simulator/services/pcscd-service.ts';
import { readServiceCommand } from './helpers/service-unit.ts';
import { waitFor } from './helpers/wait.ts';

/**
 * `ciao terminal` run exactly as deploy/ciao-terminal.service runs it: the unit's ExecStart, Environment=
 * (NODE_ENV, the V8 flags) and working directory, the secret in the environment, standard input /dev/null,
 * a real child process. The gateway goes away and comes back: the terminal must keep running and reconnect,
 * whatever its reader and panel (a terminal that exits because its gateway went away is down until systemd
 * restarts it, and a 0 exit would not even be restarted under Restart=on-failure).
 */
const ROOT = resolve(import.meta.dirname, '../..');
const TID = 't-service';
const SECRET = 'service-secret';

interface ServiceProcess {
  child: ChildProcess;
  logs: Array<{ msg?: string; err?: string }>;
  exited: Promise<number | string>;
}

function startAsService(configPath: string): ServiceProcess {
  const unit = readServiceCommand(join(ROOT, 'deploy/ciao-terminal.service'), { '/opt/ciao-badge': ROOT, '/etc/ciao/terminal.json': configPath });
  // The unit starts the launcher, which starts node: the node running these tests, and releases kept
  // beside the config instead of /var/lib/ciao.
  const child = spawn(unit.command.endsWith('/node') ? process.execPath : unit.command, unit.args, {
    cwd: unit.workingDirectory,
    env: { ...process.env, ...unit.env, CIAO_NODE: process.execPath, CIAO_RELEASES: join(dirname(configPath), 'releases'), CIAO_TERMINAL_SECRET: SECRET },
    // systemd's default StandardInput=null: stdin is /dev/null.
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: ServiceProcess['logs'] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line));
    } catch {
      // The console panel's lines.
    }
  });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | string>((r) => child.once('exit', (code, signal) => r(code ?? signal ?? 'unknown')));
  void exited.then((code) => {
    if (code !== 0) process.stderr.write(`terminal exited ${code}: ${stderr.slice(-2000)}\n`);
  });
  return { child, logs, exited };
}

const onlineStatuses = (gw: TestGateway) => gw.statuses.filter((s) => s.terminal === TID && s.payload.state === 'online').length;
const connectFailures = (p: ServiceProcess) => p.logs.filter((l) => l.msg === 'gateway connection error').length;

/** The gateway stops, the terminal keeps trying for several rounds, the gateway comes back on its port. */
async function gatewayAwayAndBack(p: ServiceProcess, gw: TestGateway, restart: () => Promise<TestGateway>): Promise<TestGateway> {
  await waitFor(() => onlineStatuses(gw) > 0, { what: 'terminal online' });
  const failuresBefore = connectFailures(p);
  await gw.close();
  await waitFor(() => connectFailures(p) >= failuresBefore + 3 || p.child.exitCode !== null, { what: 'three failed reconnects' });
  expect(p.child.exitCode).toBeNull();
  expect(p.child.signalCode).toBeNull();
  const back = await restart();
  await waitFor(() => onlineStatuses(back) > 0, { what: 'terminal back online', timeoutMs: 30_000 });
  expect(p.child.exitCode).toBeNull();
  return back;
}

async function stopService(p: ServiceProcess, gw: TestGateway): Promise<void> {
  p.child.kill('SIGTERM');
  expect(await p.exited).toBe(0);
  // A clean stop says so itself.
  expect(gw.statuses.filter((s) => s.terminal === TID).at(-1)?.payload.state).toBe('offline');
}

describe('ciao terminal under systemd (stdin from /dev/null)', () => {
  let tmp: ReturnType<typeof tempDir>;
  let gw: TestGateway | undefined;
  let proc: ServiceProcess | undefined;
  beforeEach(() => {
    tmp = tempDir('ciao-service-');
  });
  afterEach(async () => {
    if (proc && proc.child.exitCode === null && proc.child.signalCode === null) {
      proc.child.kill('SIGKILL');
      await proc.exited;
    }
    proc = undefined;
    await gw?.close();
    gw = undefined;
    tmp.cleanup();
  });

  it('with the simulated reader and the console panel: keeps running while the gateway is away, and reconnects', async () => {
    const port = await freePort();
    const startGateway = () => startTestGateway({ dbPath: join(tmp.dir, 'gw.db'), secrets: { [TID]: SECRET }, port });
    gw = await startGateway();
    const configPath = join(tmp.dir, 'terminal.json');
    writeFileSync(configPath, JSON.stringify({ id: TID, mqtt: { url: `mqtt://127.0.0.1:${port}` }, reader: 'simulated', panel: 'console', outbox: 'outbox.db', defaults: { siteId: 'site-1' } }));
    proc = startAsService(configPath);
    gw = await gatewayAwayAndBack(proc, gw, startGateway);
    await stopService(proc, gw);
  });

  describe('with the real adapters: PC/SC through pcscd + vpcd, the johnny-five panel over a serial line', async () => {
    const { setup, problem: pcscProblem } = await pcscTestSetup();
    const problem = pcscProblem ?? socatMissing();
    const skip = problem !== null && !process.env.CI;
    if (skip) console.warn(`\n!!! SKIPPING the service test with real adapters: ${problem}. It runs (and must pass) under CI=true. !!!\n`);
    const pcscd = new PcscdService(setup.pcscd ?? 'pcscd');
    let releaseLock: (() => void) | undefined;
    beforeAll(async () => {
      if (skip) return;
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

    it.skipIf(skip)('keeps running while the gateway is away, reconnects, and its taps still reach the gateway with feedback on the board', async () => {
      const line = new SerialTestBoard({ dir: tmp.dir, wiring: { greenLed: 2, redLed: 4, piezo: 3, lcd: [7, 8, 9, 10, 11, 12] } });
      const card = new VirtualCard({ uid: '04A1B2C3D4E5F6', port: setup.port });
      try {
        await line.plug();
        const port = await freePort();
        const startGateway = () => startTestGateway({ dbPath: join(tmp.dir, 'gw.db'), secrets: { [TID]: SECRET }, port });
        gw = await startGateway();
        const configPath = join(tmp.dir, 'terminal.json');
        writeFileSync(
          configPath,
          JSON.stringify({
            id: TID,
            mqtt: { url: `mqtt://127.0.0.1:${port}` },
            reader: 'pcsc',
            panel: 'johnny-five',
            outbox: 'outbox.db',
            pcsc: { socketPath: PCSCD_SOCKET, retrySeconds: 0.3, readTimeoutMs: 1500 },
            board: { port: line.portPath, reconnectSeconds: 1 },
            defaults: { siteId: 'site-1', language: 'en' },
          }),
        );
        proc = startAsService(configPath);
        await waitFor(() => line.board?.lcdLines()[0].startsWith('Present badge'), { what: 'idle screen on the board' });
        gw = await gatewayAwayAndBack(proc, gw, startGateway);

        await card.presentToReader();
        await waitFor(() => gw!.storedCount() === 1, { what: 'tap stored after the reconnect' });
        expect(JSON.parse(gw.stored()[0]!.payload).badge).toBe('04A1B2C3D4E5F6');
        await waitFor(() => line.board?.lcdLines()[0].trim() === 'Unknown badge' && line.board.redLed, { what: 'feedback on the board' });
        await stopService(proc, gw);
      } finally {
        await card.remove();
        await line.close();
      }
    });
  });
});
