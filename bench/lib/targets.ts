import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import type { TerminalCredentials } from '../../simulator/load/credentials.ts';
import type { SunSupply } from '../../simulator/load/tap-source.ts';
import { firstJsonLine, spawnNodeTs, spawnProcess, type Spawned } from './processes.ts';
import { startMosquitto } from '../relay/mosquitto.ts';
import { seedBenchSite } from './seed.ts';
import { benchKeyFile, precomputedSunSupply, secureBadges } from './secure-taps.ts';
import { cpuSecondsOf, rssMbOf, startEmulatorProcess, type EmulatorProcess } from './emulator.ts';
import { ciaoCommand, type BuiltRelease } from './release.ts';

/**
 * The brokers a load run is pointed at, each in its own processes so that the load generator, the broker
 * and whoever acks the taps compete for the two cores the same way in every case:
 * - `gateway`: the real gateway (`ciao gateway --config FILE`), acking each tap after its group commit;
 * - `aedes`: plain Aedes relaying the taps at QoS 1 to an ack responder process (no auth, no storage);
 * - `mosquitto`: the same with Debian's Mosquitto as the broker;
 * - `gateway-secure`: the real gateway again, its badges secure ones whose every tap carries a SUN message
 *   that the gateway verifies (and whose read counter it records) in the ingest transaction.
 */
export interface LoadTarget {
  name: 'gateway' | 'gateway-off' | 'gateway-secure' | 'gateway-secure-off' | 'aedes' | 'mosquitto';
  url: string;
  terminals: TerminalCredentials[];
  /** Milliseconds from spawn to ready. */
  startMs: number;
  /** Secure badges' messages, for the load generator. */
  sun?: SunSupply;
  /**
   * Gateway only: bytes the database files grew by since seeding, the registrations stored, and (secure badges)
   * the read counters recorded and the taps held by the badge check.
   */
  storage?(): GatewayStorage;
  /** Gateway with forwarding: the emulator it forwards to (its own process). */
  emulator?: EmulatorProcess;
  /** Gateway: its process id (for CPU and memory from /proc), and its HTTP port (/metrics, /health). */
  pid?: number;
  httpPort?: number;
  stop(): Promise<void>;
}

/** What a gateway run left on disk, read after a clean stop. */
export interface GatewayStorage {
  /** Growth of the database files since seeding. */
  bytes: number;
  /** Pages of the taps and their registrations (one row per tap), their indexes and the registration contexts. */
  tapBytes: number;
  /** Pages of the forwarder's state (forward_state and its indexes). */
  forwardBytes: number;
  registrations: number;
  sunReads: number;
  held: number;
  /** Registrations ONSS created by the time the gateway stopped (forwarder on), and the emulator's count. */
  created: number;
}

export { REPO_ROOT } from './paths.ts';
import { REPO_ROOT } from './paths.ts';

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
  /** Pages per table or index once seeded (dbstat). */
  baselinePages: Map<string, number>;
  /** The emulator the gateway forwards to, when started with forwarding. */
  emulator?: EmulatorProcess;
  /** Stops the emulator (if any) and deletes the folder. */
  remove(): Promise<void>;
}

export interface GatewayOptions {
  secure?: boolean;
  /** Forwarding on: the gateway's forwarder drains to an emulator process, as in a deployment. */
  forwarder?: boolean;
  /** Extra `onss` settings (validity polling, batch size). */
  onss?: Record<string, unknown>;
  /** Extra gateway config (group commit...). */
  config?: Record<string, unknown>;
  /**
   * The site data and terminals (the national morning's world); by default one site with `terminalCount`
   * terminals and 16 badges per terminal, one worker each.
   */
  world?: (db: import('../../shared/sqlite.ts').Db) => Promise<{ terminals: TerminalCredentials[] }>;
  /**
   * The gateway's store on PostgreSQL: the URL of an empty database (seeded here through the storage port,
   * and `store.kind: "postgres"` in the config). Not with `world`. The database file figures are then 0.
   */
  postgresUrl?: string;
}

/**
 * A fresh gateway database with `terminalCount` terminals (created through the gateway's own site module,
 * as `ciao admin terminal add` does) and a config listening on loopback ports chosen by the system; with
 * `forwarder`, an emulator process and the config's `onss` section pointing at it.
 */
export async function prepareGatewayWorkspace(terminalCount: number, parent = REPO_ROOT, o: GatewayOptions = {}): Promise<GatewayWorkspace> {
  const missing = gatewayMissing();
  if (missing) throw new Error(missing);
  const { openGatewayDatabase } = await import('../../gateway/store/database.ts');
  const { addTerminal } = await import('../../gateway/site-data/terminals.ts');
  const { SqliteStore } = await import('../../gateway/store/sqlite-store.ts');
  const { generateSecret, hashSecret } = await import('../../gateway/site-data/secrets.ts');
  // In the working directory, not /tmp: the fsync figure and the gateway's commits must hit the same disk.
  const dir = mkdtempSync(join(parent, '.bench-gateway-'));
  const databasePath = join(dir, 'gateway.db');
  if (o.postgresUrl && o.world) throw new Error('a bench world on PostgreSQL is not supported: seed it through the storage port');
  const db = o.postgresUrl ? undefined : openGatewayDatabase(databasePath);
  // The PostgreSQL adapter (and `pg`) only for a workspace on PostgreSQL.
  const store = o.postgresUrl
    ? await (await import('../../gateway/store/postgres/postgres-store.ts')).openPostgresStore({ url: o.postgresUrl, maxConnections: 2 })
    : SqliteStore.of(db!);
  const terminals: TerminalCredentials[] = [];
  let baselinePages = new Map<string, number>();
  try {
    if (o.world) terminals.push(...(await o.world(db!)).terminals);
    else {
      const ids = Array.from({ length: terminalCount }, (_, i) => `bench-${String(i + 1).padStart(3, '0')}`);
      const { siteId } = await seedBenchSite(store, ids, o.secure ? { secure: { badges: secureBadges, keyVersion: 1 } } : {});
      // One secret for the bench's terminals, hashed once (the gateway still checks it with scrypt at each login).
      const secret = generateSecret();
      const shared = { secret, hash: hashSecret(secret) };
      await store.transaction(async (tx) => {
        for (const id of ids) terminals.push({ id, secret: (await addTerminal(tx, { id, siteId }, shared)).secret });
      });
    }
    if (db) baselinePages = pagesOf(db);
  } finally {
    if (db) db.close();
    else await store.close();
  }
  let emulator: EmulatorProcess | undefined;
  if (o.forwarder) emulator = await startEmulatorProcess(dir);
  const configPath = join(dir, 'gateway.json');
  if (o.secure) writeFileSync(join(dir, 'badge-keys.json'), benchKeyFile(), { mode: 0o600 });
  writeFileSync(
    configPath,
    JSON.stringify({
      database: databasePath,
      ...(o.postgresUrl ? { store: { kind: 'postgres', url: o.postgresUrl } } : {}),
      mqtt: { host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0 },
      logLevel: 'warn',
      ...(o.secure ? { badgeSecurity: { keyFile: 'badge-keys.json' } } : {}),
      ...(emulator ? { onss: { baseUrl: emulator.url, clientId: emulator.clientId, privateKey: emulator.privateKeyFile, ...o.onss } } : {}),
      ...o.config,
    }, null, 2),
  );
  return {
    dir, configPath, databasePath, terminals, baselineBytes: databaseBytes(databasePath), baselinePages, emulator,
    remove: async () => {
      await emulator?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function pagesOf(db: import('../../shared/sqlite.ts').Db): Map<string, number> {
  const rows = db.prepare('SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name').all() as Array<{ name: string; bytes: number }>;
  return new Map(rows.map((r) => [r.name, r.bytes]));
}

/**
 * The environment deploy/ciao-gateway.service gives the gateway (its allocator, libuv and V8 settings, read
 * from the unit itself), so the benchmarks measure the gateway as it runs. CIAO_GATEWAY_SERVICE_ENV replaces it
 * (`NAME=value NAME=value`; empty for none) to measure without.
 */
export const GATEWAY_SERVICE_ENV: Record<string, string> = process.env.CIAO_GATEWAY_SERVICE_ENV !== undefined
  ? Object.fromEntries(process.env.CIAO_GATEWAY_SERVICE_ENV.split(' ').filter(Boolean).map((kv) => kv.split('=') as [string, string]))
  : Object.fromEntries([...readFileSync(join(REPO_ROOT, 'deploy/ciao-gateway.service'), 'utf8').matchAll(/^Environment=((?:MALLOC|UV)_\w+|NODE_OPTIONS)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!]));

export interface GatewayProcess {
  process: Spawned;
  mqttPort: number;
  httpPort: number;
  /** Milliseconds from spawn to the gateway's ready line (MQTT and HTTP listening). */
  readyMs: number;
}

/**
 * `ciao gateway --config FILE` as its own process; resolves once it prints its ready line. From the sources
 * through the loader, or with `release` the compiled release as it is deployed (no loader in the process:
 * what memory figures must measure).
 */
export async function spawnGateway(configPath: string, nodeFlags: string[] = [], release?: BuiltRelease): Promise<GatewayProcess> {
  const t0 = performance.now();
  let proc: Spawned;
  if (release) {
    const { launcher, env } = ciaoCommand('compiled', release);
    proc = spawnProcess(process.execPath, [...nodeFlags, launcher, 'gateway', '--config', configPath], { cwd: REPO_ROOT, env: { ...env, ...GATEWAY_SERVICE_ENV } });
  } else {
    // The sources of this checkout, even where a build left dist/ behind (bin/ciao.mjs would run that).
    proc = spawnProcess(process.execPath, [...nodeFlags, '--import', 'tsx', join(REPO_ROOT, 'bin/ciao.mjs'), 'gateway', '--config', configPath], { cwd: REPO_ROOT, env: { ...process.env, ...GATEWAY_SERVICE_ENV, CIAO_FROM_SOURCE: '1' } });
  }
  try {
    const ready = await firstJsonLine<{ mqttPort: number; httpPort: number }>(proc, 120_000, (v) => v.event === 'gateway-ready');
    return { process: proc, mqttPort: ready.mqttPort, httpPort: ready.httpPort, readyMs: performance.now() - t0 };
  } catch (err) {
    await proc.stop();
    throw new Error(`the gateway did not start: ${(err as Error).message}`);
  }
}

/**
 * The gateway with secure badges: every tap carries a SUN message, `perBadge` of them computed beforehand for
 * each badge (enough for the warm-up and the measured run together: counters must keep rising).
 */
export async function startSecureGatewayTarget(terminalCount: number, perBadge: number, o: { forwarder?: boolean } = {}): Promise<LoadTarget & { workspace: GatewayWorkspace }> {
  const sun = precomputedSunSupply(terminalCount, perBadge);
  const target = await startGatewayTarget(terminalCount, { secure: true, forwarder: o.forwarder });
  return { ...target, name: o.forwarder ? 'gateway-secure' : 'gateway-secure-off', sun };
}

export async function startGatewayTarget(terminalCount: number, o: GatewayOptions & { nodeFlags?: string[]; release?: BuiltRelease } = {}): Promise<LoadTarget & { workspace: GatewayWorkspace }> {
  const workspace = await prepareGatewayWorkspace(terminalCount, REPO_ROOT, o);
  let gw: GatewayProcess;
  try {
    gw = await spawnGateway(workspace.configPath, o.nodeFlags, o.release);
  } catch (err) {
    await workspace.remove();
    throw err;
  }
  let stopped = false;
  return {
    name: o.forwarder ? 'gateway' : 'gateway-off',
    url: `mqtt://127.0.0.1:${gw.mqttPort}`,
    terminals: workspace.terminals,
    startMs: gw.readyMs,
    workspace,
    pid: gw.process.child.pid,
    httpPort: gw.httpPort,
    ...(workspace.emulator ? { emulator: workspace.emulator } : {}),
    storage: () => storageOf(workspace),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await gw.process.stop(30_000);
    },
  };
}

/** Read through a separate read-only connection, after the gateway has stopped and checkpointed. */
function storageOf(workspace: GatewayWorkspace): GatewayStorage {
  const db = new Database(workspace.databasePath, { readonly: true });
  const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
  const hasTable = (name: string) => db.prepare("SELECT 1 FROM sqlite_master WHERE name = ?").get(name) !== undefined;
  try {
    const grown = (names: (n: string) => boolean) => {
      let bytes = 0;
      for (const r of db.prepare('SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name').all() as Array<{ name: string; bytes: number }>) {
        if (names(r.name)) bytes += r.bytes - (workspace.baselinePages.get(r.name) ?? 0);
      }
      return bytes;
    };
    return {
      bytes: databaseBytes(workspace.databasePath) - workspace.baselineBytes,
      tapBytes: grown((n) => n === 'taps' || n.startsWith('taps_') || n.startsWith('sqlite_autoindex_taps') || n.startsWith('registration_contexts') || n.startsWith('sqlite_autoindex_registration_contexts')),
      forwardBytes: grown((n) => n.startsWith('forward_state') || n.startsWith('sqlite_autoindex_forward_state')),
      registrations: count('SELECT count(*) AS n FROM registrations'),
      sunReads: count('SELECT count(*) AS n FROM taps WHERE sun_counter IS NOT NULL'),
      held: count("SELECT count(*) AS n FROM taps WHERE enrichment IN ('possible-copy', 'badge-key-missing')"),
      created: hasTable('forward_state') ? count("SELECT count(*) AS n FROM forward_state WHERE state = 'created'") : 0,
    };
  } finally {
    db.close();
  }
}

export { cpuSecondsOf, rssMbOf };
