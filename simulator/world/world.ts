import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { createLogger, type Logger } from '../../shared/logging.ts';
import { systemClock, type Clock } from '../../shared/clock.ts';
import { localDate } from '../../shared/time.ts';
import { startEmulator, type EmulatorHandle } from '../emulator/index.ts';
import { startGateway, type RunningGateway } from '../../gateway/main.ts';
import type { ForwardingConfig } from '../../gateway/forward/index.ts';
import { openGatewayDatabase } from '../../gateway/store/database.ts';
import { addUser, userForToken } from '../../gateway/access/users.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { startTerminal, type TerminalHandle } from '../../terminal/main.ts';
import { parseTerminalConfig } from '../../terminal/config.ts';
import { SimulatedReader } from '../../terminal/adapters/simulated-reader.ts';
import { SimulatedPanel } from '../../terminal/adapters/simulated-panel.ts';
import { startTcpProxy, type TcpProxy } from '../netproxy/tcp-proxy.ts';
import { DEMO_TERMINALS } from './seed-data.ts';
import { demoKnownData, hasDemoWorld, seedDemoWorld, type SeedVariation } from './seed-demo.ts';
import { loadOrCreateKeyPair } from './keys.ts';
import { freePort } from './free-port.ts';

/**
 * The whole product on loopback, without hardware: the ONSS emulator, the gateway (seeded with the demo
 * world) and simulated terminals, each terminal behind a TCP proxy so its network can be cut. `ciao demo`,
 * the scenario runner and the end-to-end tests all stand on this, so they run the very same parts.
 */
export interface WorldOptions {
  /** Data directory: databases, keys, terminal outboxes, logs. */
  dir: string;
  /** One clock for every part (a VirtualClock runs a day at speed); the system clock by default. */
  clock?: Clock;
  /** Fixed ports (0 or absent: any free port, kept across gateway restarts). */
  ports?: { mqtt?: number; http?: number; emulator?: number };
  /** Demo terminals to run in-process (keys of DEMO_TERMINALS); all by default. */
  terminals?: string[];
  /** Log level of every part; logs go to `<dir>/logs/`, never to the screen. */
  logLevel?: string;
  /** Overrides of the gateway's ONSS forwarding settings (batch size, backoff...). */
  forwarding?: Partial<ForwardingConfig>;
  /** Terminal settings overrides (e.g. shorter choice timeout for scripted days). */
  terminalOverrides?: Record<string, unknown>;
  /** How a fresh world differs from the demo world (a scripted day's `world`). */
  seed?: SeedVariation;
  /**
   * ONSS's clock against the world's: negative when the site's clocks run ahead of ONSS's (it then refuses
   * registrations dated in its future). Default 0.
   */
  onssClockOffsetMs?: number;
}

export interface SimTerminal {
  key: string;
  handle: TerminalHandle;
  reader: SimulatedReader;
  panel: SimulatedPanel;
  /** The terminal's network: cut(), stall(), restore(). */
  proxy: TcpProxy;
  /** The terminal's own clock runs this far from the world's (a terminal whose clock drifted or jumped). */
  clockOffsetMs: number;
}

export interface World {
  dir: string;
  emulator: EmulatorHandle;
  gateway: RunningGateway;
  terminals: Map<string, SimTerminal>;
  mqttPort: number;
  httpPort: number;
  dashboardUrl: string;
  /** The site manager's console, logged in as the demo administrator: the demo world can be edited there. */
  consoleUrl: string;
  adminToken: string;
  /** Stops the gateway cleanly and starts it again on the same ports and database. */
  restartGateway(): Promise<void>;
  stop(): Promise<void>;
}

function loggerFor(dir: string, name: string, level: string): Logger {
  const dest = pino.destination({ dest: join(dir, 'logs', `${name}.log`), mkdir: true, sync: false });
  return createLogger(name, { level }, dest);
}

function writePrivate(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 });
}

export async function startWorld(options: WorldOptions): Promise<World> {
  const dir = options.dir;
  mkdirSync(join(dir, 'logs'), { recursive: true, mode: 0o700 });
  mkdirSync(join(dir, 'terminals'), { recursive: true, mode: 0o700 });
  const clock = options.clock ?? systemClock;
  const level = options.logLevel ?? 'info';
  const today = localDate(clock.now());

  // Site data first: the gateway and the emulator are configured from it.
  const gatewayDbPath = join(dir, 'gateway.db');
  const secretsPath = join(dir, 'terminal-secrets.json');
  const tokenPath = join(dir, 'admin-token');
  let secrets: Record<string, string>;
  let adminToken: string;
  {
    const db = openGatewayDatabase(gatewayDbPath);
    try {
      if ((await hasDemoWorld(SqliteStore.of(db))) && existsSync(secretsPath)) {
        secrets = JSON.parse(readFileSync(secretsPath, 'utf8')) as Record<string, string>;
      } else {
        secrets = await seedDemoWorld(SqliteStore.of(db), today, options.seed);
        writePrivate(secretsPath, JSON.stringify(secrets, null, 2));
      }
      const saved = existsSync(tokenPath) ? readFileSync(tokenPath, 'utf8').trim() : '';
      if (saved && (await userForToken(SqliteStore.of(db), saved))) adminToken = saved;
      else {
        adminToken = (await addUser(SqliteStore.of(db), { name: 'Demo administrator', role: 'admin', canSeeNiss: true })).token;
        writePrivate(tokenPath, adminToken);
      }
    } finally {
      db.close();
    }
  }

  const keys = await loadOrCreateKeyPair(join(dir, 'onss-client-key.pem'), join(dir, 'onss-client-key.pub.pem'));
  const clientId = 'ciao-demo-gateway';
  const emulator = await startEmulator({
    host: '127.0.0.1',
    port: options.ports?.emulator ?? 0,
    dbPath: join(dir, 'onss-emulator.db'),
    clients: [{ clientId, publicKeyPem: keys.publicKeyPem }],
    knownData: demoKnownData(today),
    logger: loggerFor(dir, 'emulator', level),
    // The emulator judges "in the future" by the real clock, while the world's clock may run any day (past or
    // future) at speed: its tolerance puts the emulator's "now" on the world's clock, plus the two days a
    // scripted day may last (or, with onssClockOffsetMs, where ONSS's clock is against the site's).
    futureToleranceMs: options.onssClockOffsetMs !== undefined
      ? clock.now().getTime() - Date.now() + options.onssClockOffsetMs + 5 * 60_000
      : Math.max(0, clock.now().getTime() - Date.now()) + 48 * 3_600_000,
  });

  const mqttPort = options.ports?.mqtt || (await freePort());
  const httpPort = options.ports?.http || (await freePort());
  const gatewayConfig = {
    database: gatewayDbPath,
    mqtt: { host: '127.0.0.1', port: mqttPort },
    http: { host: '127.0.0.1', port: httpPort },
    onss: { baseUrl: emulator.url, clientId, privateKey: keys.privateKeyPem, ...(options.forwarding ?? {}) },
  };
  const gatewayLogger = loggerFor(dir, 'gateway', level);
  let gateway = await startGateway(gatewayConfig, { clock, logger: gatewayLogger });

  const terminals = new Map<string, SimTerminal>();
  const wanted = options.terminals ?? DEMO_TERMINALS.map((t) => t.key);
  for (const key of wanted) {
    const proxy = await startTcpProxy({ port: mqttPort });
    const reader = new SimulatedReader(`${key} reader`);
    const panel = new SimulatedPanel();
    const config = parseTerminalConfig(
      {
        id: key,
        secret: secrets[key],
        mqtt: { url: `mqtt://127.0.0.1:${proxy.port}` },
        reader: 'simulated',
        panel: 'console',
        outbox: join(dir, 'terminals', `${key}.db`),
        reconnectMinMs: 100,
        reconnectMaxMs: 2_000,
        ...(options.terminalOverrides ?? {}),
      },
      {},
    );
    const sim = { key, reader, panel, proxy, clockOffsetMs: 0 } as SimTerminal;
    const terminalClock: Clock = { now: () => new Date(clock.now().getTime() + sim.clockOffsetMs) };
    sim.handle = await startTerminal(config, { reader, panel, clock: terminalClock, logger: loggerFor(dir, `terminal-${key}`, level) });
    terminals.set(key, sim);
  }

  const world: World = {
    dir,
    emulator,
    get gateway() {
      return gateway;
    },
    terminals,
    mqttPort,
    httpPort,
    dashboardUrl: `http://127.0.0.1:${httpPort}/dashboard/#token=${adminToken}`,
    consoleUrl: `http://127.0.0.1:${httpPort}/console/#token=${adminToken}`,
    adminToken,
    async restartGateway() {
      await gateway.stop();
      gateway = await startGateway(gatewayConfig, { clock, logger: gatewayLogger });
    },
    async stop() {
      for (const t of terminals.values()) {
        await t.handle.stop();
        await t.proxy.close();
      }
      await gateway.stop();
      await emulator.stop();
    },
  };
  return world;
}
