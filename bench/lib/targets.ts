import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import type { TerminalCredentials } from '../../simulator/load/credentials.ts';
import { firstJsonLine, spawnNodeTs, type Spawned } from './processes.ts';
import { startMosquitto } from '../relay/mosquitto.ts';
import { seedBenchSite } from './seed.ts';

/**
 * The brokers a load run is pointed at, each in its own processes so that the load generator, the broker
 * and whoever acks the taps compete for the two cores the same way in every case:
 * - `gateway`: the real gateway (`ciao gateway --config FILE`), acking each tap after its group commit;
 * - `aedes`: plain Aedes relaying the taps at QoS 1 to an ack responder process (no auth, no storage);
 * - `mosquitto`: the same with Debian's Mosquitto as the broker.
 */
export interface LoadTarget {
  name: 'gateway' | 'aedes' | 'mosquitto';
  url: string;
  terminals: TerminalCredentials[];
  /** Milliseconds from spawn to ready. */
  startMs: number;
  /** Gateway only: bytes the database files grew by since seeding, and the registrations stored. */
  storage?(): { bytes: number; registrations: number };
  stop(): Promise<void>;
}

export const REPO_ROOT = resolve(import.meta.dirname, '../..');

function plainTerminals(count: number): TerminalCredentials[] {
  return Array.from({ length: count }, (_, i) => ({ id: `bench-${String(i + 1).padStart(3, '0')}`, secret: 'unused' }));
}

async function startResponder(url: string): Promise<Spawned> {
  const responder = spawnNodeTs(join(REPO_ROOT, 'bench/relay/ack-responder-main.ts'), [url], { cwd: REPO_ROOT });
  try {
    await firstJsonLine(responder, 20_000, (v) => v.ready === true);
  } catch (err) {
    await responder.stop();
    throw new Error(`ack responder did not start: ${(err as Error).message}`);
  }
  return responder;
}

export async function startAedesTarget(terminalCount: number): Promise<LoadTarget> {
  const t0 = performance.now();
  const broker = spawnNodeTs(join(REPO_ROOT, 'bench/relay/aedes-relay-main.ts'), [], { cwd: REPO_ROOT });
  let url: string;
  try {
    url = (await firstJsonLine<{ url: string }>(broker, 20_000, (v) => typeof v.url === 'string')).url;
  } catch (err) {
    await broker.stop();
    throw new Error(`plain Aedes did not start: ${(err as Error).message}`);
  }
  const startMs = performance.now() - t0;
  let responder: Spawned;
  try {
    responder = await startResponder(url);
  } catch (err) {
    await broker.stop();
    throw err;
  }
  return {
    name: 'aedes',
    url,
    terminals: plainTerminals(terminalCount),
    startMs,
    stop: async () => {
      await responder.stop();
      await broker.stop();
    },
  };
}

export async function startMosquittoTarget(terminalCount: number): Promise<LoadTarget> {
  const t0 = performance.now();
  const mosquitto = await startMosquitto();
  const startMs = performance.now() - t0;
  let responder: Spawned;
  try {
    responder = await startResponder(mosquitto.url);
  } catch (err) {
    await mosquitto.close();
    throw err;
  }
  return {
    name: 'mosquitto',
    url: mosquitto.url,
    terminals: plainTerminals(terminalCount),
    startMs,
    stop: async () => {
      await responder.stop();
      await mosquitto.close();
    },
  };
}

/** Why the gateway cannot be benchmarked here, or undefined when its parts are in place. */
export function gatewayMissing(): string | undefined {
  for (const f of ['gateway/main.ts', 'gateway/run.ts', 'gateway/store/database.ts', 'gateway/site-data/terminals.ts']) {
    if (!existsSync(join(REPO_ROOT, f))) return `${f} does not exist yet`;
  }
  return undefined;
}

function fileBytes(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function databaseBytes(path: string): number {
  return ['', '-wal', '-shm'].reduce((n, suffix) => n + fileBytes(path + suffix), 0);
}

export interface GatewayWorkspace {
  dir: string;
  configPath: string;
  databasePath: string;
  terminals: TerminalCredentials[];
  /** Bytes of the database files once seeded, before any tap. */
  baselineBytes: number;
  remove(): void;
}

/**
 * A fresh gateway database with `terminalCount` terminals (created through the gateway's own site module,
 * as `ciao admin terminal add` does) and a config listening on loopback ports chosen by the system.
 */
export async function prepareGatewayWorkspace(terminalCount: number, parent = REPO_ROOT): Promise<GatewayWorkspace> {
  const missing = gatewayMissing();
  if (missing) throw new Error(missing);
  const { openGatewayDatabase } = await import('../../gateway/store/database.ts');
  const { addTerminal } = await import('../../gateway/site-data/terminals.ts');
  // In the working directory, not /tmp: the fsync figure and the gateway's commits must hit the same disk.
  const dir = mkdtempSync(join(parent, '.bench-gateway-'));
  const databasePath = join(dir, 'gateway.db');
  const db = openGatewayDatabase(databasePath);
  const terminals: TerminalCredentials[] = [];
  try {
    const ids = Array.from({ length: terminalCount }, (_, i) => `bench-${String(i + 1).padStart(3, '0')}`);
    const { siteId } = await seedBenchSite(db, ids);
    for (const id of ids) terminals.push({ id, secret: addTerminal(db, { id, siteId }).secret });
  } finally {
    db.close();
  }
  const configPath = join(dir, 'gateway.json');
  writeFileSync(
    configPath,
    JSON.stringify({ database: databasePath, mqtt: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, logLevel: 'warn' }, null, 2),
  );
  return { dir, configPath, databasePath, terminals, baselineBytes: databaseBytes(databasePath), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface GatewayProcess {
  process: Spawned;
  mqttPort: number;
  httpPort: number;
  /** Milliseconds from spawn to the gateway's ready line (MQTT and HTTP listening). */
  readyMs: number;
}

/** `ciao gateway --config FILE` as its own process; resolves once it prints its ready line. */
export async function spawnGateway(configPath: string): Promise<GatewayProcess> {
  const t0 = performance.now();
  const proc = spawnNodeTs(join(REPO_ROOT, 'bin/ciao.mjs'), ['gateway', '--config', configPath], { cwd: REPO_ROOT });
  try {
    const ready = await firstJsonLine<{ mqttPort: number; httpPort: number }>(proc, 60_000, (v) => v.event === 'gateway-ready');
    return { process: proc, mqttPort: ready.mqttPort, httpPort: ready.httpPort, readyMs: performance.now() - t0 };
  } catch (err) {
    await proc.stop();
    throw new Error(`the gateway did not start: ${(err as Error).message}`);
  }
}

export async function startGatewayTarget(terminalCount: number): Promise<LoadTarget & { workspace: GatewayWorkspace }> {
  const workspace = await prepareGatewayWorkspace(terminalCount);
  let gw: GatewayProcess;
  try {
    gw = await spawnGateway(workspace.configPath);
  } catch (err) {
    workspace.remove();
    throw err;
  }
  let stopped = false;
  return {
    name: 'gateway',
    url: `mqtt://127.0.0.1:${gw.mqttPort}`,
    terminals: workspace.terminals,
    startMs: gw.readyMs,
    workspace,
    storage: () => {
      return { bytes: databaseBytes(workspace.databasePath) - workspace.baselineBytes, registrations: countRegistrations(workspace.databasePath) };
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await gw.process.stop(15_000);
    },
  };
}

function countRegistrations(databasePath: string): number {
  // Read through a separate read-only connection, after the gateway has stopped and checkpointed.
  const db = new Database(databasePath, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM registrations').get() as { n: number }).n;
  } finally {
    db.close();
  }
}
