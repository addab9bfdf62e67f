import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createLogger } from '../../../shared/logging.ts';
import { localDate } from '../../../shared/time.ts';
import { openDatabase } from '../../../shared/sqlite.ts';
import { openGatewayDatabase } from '../../../gateway/store/database.ts';
import { addTerminal } from '../../../gateway/site-data/terminals.ts';
import { SqliteStore } from '../../../gateway/store/sqlite-store.ts';
import type { SqlStore } from '../../../gateway/store/sql-store.ts';
import { openPostgresStore } from '../../../gateway/store/postgres/postgres-store.ts';
import { clientReferenceFor } from '../../../gateway/onss/index.ts';
import { startEmulator, type EmulatorHandle } from '../../../simulator/emulator/index.ts';
import { startTcpProxy, type TcpProxy } from '../../../simulator/netproxy/tcp-proxy.ts';
import { freePort } from '../../../simulator/world/free-port.ts';
import { loadOrCreateKeyPair } from '../../../simulator/world/keys.ts';
import { demoKnownData, seedDemoWorld } from '../../../simulator/world/seed-demo.ts';
import { DEMO_WORKERS } from '../../../simulator/world/seed-data.ts';
import { waitUntil } from '../../gateway/helpers/wait.ts';
import { startHaproxy, type LocalHaproxy } from '../../../simulator/services/local-services.ts';
import { expect } from 'vitest';

/**
 * The whole product on loopback for the chaos suite, with real processes where a crash must be real:
 * the gateway is `ciao gateway` in a child process (SIGKILL and restart on the same ports and database),
 * the terminals are real terminal cores in child processes (SIGKILL and restart on the same outboxes),
 * each terminal reaches the gateway through its own TCP proxy (cut, stall), and the ONSS emulator runs
 * in this process so its faults can be set at any moment. `verify()` counts, from the real stores, what
 * happened to every tap each terminal recorded.
 */
const REPO = join(import.meta.dirname, '..', '..', '..');
const CLI = join(REPO, 'bin', 'ciao.mjs');
const GROUP_FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'terminal-group.ts');

/**
 * Badges of workers the gateway can enrich at site A (one employer each, on the site's declaration): every
 * tap of the load becomes a registration, so "exactly once at ONSS" is checked for every tap.
 */
export const KNOWN_BADGES = ['ana', 'sofia', 'marc', 'piotr'].map((k) => DEMO_WORKERS.find((w) => w.key === k)!.badge);

export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The gateway tests' poller, with the chaos suite's longer default timeout. */
export function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 60_000, intervalMs = 100): Promise<NonNullable<T>> {
  return waitUntil(check, { what, timeoutMs, intervalMs });
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve({ code: child.exitCode, signal: child.signalCode });
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/** `ciao gateway --config FILE` in a child process; its output (logs included) goes to a file. */
export class GatewayProcess {
  child: ChildProcess | undefined;
  starts = 0;
  kills = 0;
  /** Exits nobody asked for (a crash): must stay empty. */
  readonly unexpectedExits: Array<{ code: number | null; signal: NodeJS.Signals | null }> = [];
  private expectingExit = false;

  constructor(
    readonly configPath: string,
    readonly logPath: string,
  ) {}

  get alive(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.startOnce();
        return;
      } catch (err) {
        // The ports of a process killed a moment ago may still be held for a short while.
        if (attempt >= 5) throw err;
        await sleep(300 * attempt);
      }
    }
  }

  private startOnce(): Promise<void> {
    const child = spawn(process.execPath, [CLI, 'gateway', '--config', this.configPath], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.expectingExit = false;
    this.starts++;
    appendFileSync(this.logPath, `--- start ${this.starts} pid ${child.pid} at ${new Date().toISOString()}\n`);
    return new Promise((resolve, reject) => {
      let ready = false;
      createInterface({ input: child.stdout! }).on('line', (line) => {
        appendFileSync(this.logPath, `${line}\n`);
        if (!ready && line.includes('"gateway-ready"')) {
          ready = true;
          resolve();
        }
      });
      createInterface({ input: child.stderr! }).on('line', (line) => appendFileSync(this.logPath, `stderr: ${line}\n`));
      child.once('exit', (code, signal) => {
        if (!ready) reject(new Error(`gateway exited before it was ready (code ${code}, signal ${signal}); see ${this.logPath}`));
        else if (!this.expectingExit) this.unexpectedExits.push({ code, signal });
      });
    });
  }

  async kill9(): Promise<void> {
    if (!this.child || !this.alive) return;
    this.expectingExit = true;
    this.kills++;
    const done = exited(this.child);
    this.child.kill('SIGKILL');
    await done;
  }

  /** SIGTERM: the clean stop; resolves with the exit code. */
  async stop(): Promise<number | null> {
    if (!this.child || !this.alive) return this.child?.exitCode ?? null;
    this.expectingExit = true;
    const done = exited(this.child);
    this.child.kill('SIGTERM');
    return (await done).code;
  }
}

export interface TerminalSpec {
  id: string;
  secret: string;
  /** One gateway address, or several tried in turn (terminal `mqtt.url`). */
  url: string | string[];
  outbox: string;
}

/** Several terminal cores in one child process (test/chaos/fixtures/terminal-group.ts). */
export class TerminalGroup {
  child: ChildProcess | undefined;
  ready = false;
  kills = 0;
  readonly unexpectedExits: Array<{ code: number | null; signal: NodeJS.Signals | null }> = [];
  private expectingExit = false;
  private statsWaiters: Array<(q: Record<string, number>) => void> = [];

  constructor(
    readonly name: string,
    readonly terminals: TerminalSpec[],
    private readonly specPath: string,
    private readonly onWritten: (terminal: string, id: string, seq: number) => void,
  ) {
    writeFileSync(specPath, JSON.stringify({ terminals }));
  }

  get alive(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): Promise<void> {
    const child = spawn(process.execPath, ['--import', 'tsx', GROUP_FIXTURE, this.specPath], { cwd: REPO, stdio: ['pipe', 'pipe', 'inherit'] });
    this.child = child;
    this.ready = false;
    this.expectingExit = false;
    child.stdin!.on('error', () => {
      // A killed group's stdin: commands sent after the kill are lost with the process, like taps on a dead terminal.
    });
    return new Promise((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        let e: Record<string, unknown>;
        try {
          e = JSON.parse(line) as Record<string, unknown>;
        } catch {
          return;
        }
        if (e.event === 'written') this.onWritten(e.terminal as string, e.id as string, e.seq as number);
        else if (e.event === 'stats') for (const w of this.statsWaiters.splice(0)) w(e.queued as Record<string, number>);
        else if (e.event === 'ready') {
          this.ready = true;
          resolve();
        }
      });
      child.once('exit', (code, signal) => {
        this.ready = false;
        if (!this.expectingExit) {
          this.unexpectedExits.push({ code, signal });
          reject(new Error(`terminal group ${this.name} exited (code ${code}, signal ${signal})`));
        }
      });
    });
  }

  send(line: string): void {
    if (this.ready && this.alive) this.child!.stdin!.write(`${line}\n`);
  }

  /** Taps still queued in each terminal's outbox. */
  stats(): Promise<Record<string, number>> {
    return new Promise((resolve, reject) => {
      if (!this.ready) return reject(new Error(`terminal group ${this.name} is not running`));
      const timer = setTimeout(() => reject(new Error(`no stats from ${this.name}`)), 5000);
      this.statsWaiters.push((q) => {
        clearTimeout(timer);
        resolve(q);
      });
      this.send('stats');
    });
  }

  async kill9(): Promise<void> {
    if (!this.child || !this.alive) return;
    this.expectingExit = true;
    this.ready = false;
    this.kills++;
    const done = exited(this.child);
    this.child.kill('SIGKILL');
    await done;
  }

  async stop(): Promise<void> {
    if (!this.child || !this.alive) return;
    this.expectingExit = true;
    const done = exited(this.child);
    this.child.stdin!.write('stop\n');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), 10_000);
    await done;
    clearTimeout(timer);
  }
}

export interface ChaosOptions {
  /** Data directory (terminal outboxes, emulator database, logs): memory-backed is fine. */
  dir: string;
  /** Where the gateway's database lives (a tiny file system for the disk-full test); `dir` by default. */
  gatewayDbDir?: string;
  terminals?: number;
  groups?: number;
  /**
   * Several `ciao gateway` instances on the one database, joined over Redis (`cluster`), behind HAProxy
   * (deploy/haproxy-ciao.cfg with one `server` line per instance): each terminal lists HAProxy first, then
   * every instance, and has no proxy of its own.
   */
  cluster?: { instances: number; redisUrl: string };
  /**
   * The gateway's store on PostgreSQL (`store.kind: "postgres"`, the forwarder lease an advisory lock of the
   * same database): the URL of an empty database. Without it the instances share the SQLite file in `dir`.
   */
  postgresUrl?: string;
}

/** One gateway instance of the system, and where it listens. */
export interface GatewayInstance {
  process: GatewayProcess;
  name: string;
  mqttPort: number;
  httpPort: number;
}

export interface Verification {
  /** Taps the terminals recorded: seq 1..next_seq-1 of every outbox (their own durable count). */
  taps: number;
  /** Of those, taps the test saw committed live (the `written` events). */
  seenWritten: number;
  storedAtGateway: number;
  /** Recorded taps with no registration at ONSS (other than those held as future-dated). */
  lost: string[];
  /**
   * Recorded taps the gateway held because their time was ahead of their arrival by more than the allowed
   * skew (a terminal clock that jumped forward): held with a remark, never sent with a made-up time.
   * Each one with the registrations ONSS holds for it (must be 0).
   */
  heldFutureDated: Array<{ tap: string; atOnss: number }>;
  /** Recorded taps ONSS holds more than once. */
  duplicated: string[];
  /** Registrations ONSS holds that no terminal recorded. */
  unexplained: number;
  /** `written` events whose tap is not in the terminal's own seq range (must be none). */
  strayWritten: string[];
  /** Stored taps the gateway could not turn into a registration (must be none: only known badges). */
  notEnriched: number;
  onssRegistrations: number;
  outages: OutageEntry[];
}

/**
 * Every tap the terminals recorded is stored at the gateway and held exactly once at ONSS, nothing else; a tap
 * whose time a jumped clock put in the future is stored and held at the gateway instead, and never at ONSS.
 */
export function expectEveryTapExactlyOnce(v: Verification): void {
  expect(v.lost).toEqual([]);
  expect(v.duplicated).toEqual([]);
  expect(v.unexplained).toBe(0);
  expect(v.strayWritten).toEqual([]);
  expect(v.notEnriched).toBe(0);
  expect(v.heldFutureDated.filter((h) => h.atOnss > 0)).toEqual([]);
  expect(v.storedAtGateway).toBe(v.taps);
  expect(v.onssRegistrations).toBe(v.taps - v.heldFutureDated.length);
}

export interface OutageEntry {
  id: number;
  started_at: string;
  ended_at: string | null;
  cause: string;
  failures: number;
  registrations_delayed: number;
}

export class ChaosSystem {
  emulator!: EmulatorHandle;
  /** The gateway (the first instance of a cluster). */
  gateway!: GatewayProcess;
  readonly instances: GatewayInstance[] = [];
  /** HAProxy in front of a cluster's instances. */
  lb: LocalHaproxy | undefined;
  lbPort = 0;
  groups: TerminalGroup[] = [];
  proxies = new Map<string, TcpProxy>();
  terminalIds: string[] = [];
  mqttPort = 0;
  httpPort = 0;
  gatewayDbPath = '';
  /** The test's own look at the gateway's store on PostgreSQL (a small pool). */
  private postgres: SqlStore | undefined;
  /** Every tap the test saw committed by a terminal, by id. */
  readonly written = new Map<string, { terminal: string; seq: number }>();
  tapsSent = 0;
  private load: NodeJS.Timeout | undefined;
  private loadTick = 0;
  private readonly clockJumps: Array<{ terminal: string; deltaMs: number }> = [];

  constructor(readonly options: ChaosOptions) {}

  async start(forwarding: Record<string, unknown> = {}): Promise<void> {
    const { dir } = this.options;
    const n = this.options.terminals ?? 20;
    const groupCount = this.options.groups ?? 4;
    mkdirSync(join(dir, 'terminals'), { recursive: true });
    const dbDir = this.options.gatewayDbDir ?? dir;
    this.gatewayDbPath = join(dbDir, 'gateway.db');

    // Site data through the same operations `ciao admin` uses: the demo world plus 20 terminals at site A.
    const today = localDate(new Date());
    const secrets: Record<string, string> = {};
    {
      // On PostgreSQL the store migrates the empty database, as the gateway would.
      const db = this.options.postgresUrl ? undefined : openGatewayDatabase(this.gatewayDbPath);
      if (this.options.postgresUrl) this.postgres = await openPostgresStore({ url: this.options.postgresUrl, maxConnections: 2, applicationName: 'ciao-chaos-test' });
      const store = this.postgres ?? SqliteStore.of(db!);
      await seedDemoWorld(store, today);
      for (let i = 1; i <= n; i++) {
        const id = `chaos-${String(i).padStart(2, '0')}`;
        secrets[id] = (await addTerminal(store, { id, siteId: 'site-a', debounceSeconds: 0, armSeconds: 5 })).secret;
        this.terminalIds.push(id);
      }
      db?.close();
    }

    const keys = await loadOrCreateKeyPair(join(dir, 'onss-key.pem'), join(dir, 'onss-key.pub.pem'));
    this.emulator = await startEmulator({
      host: '127.0.0.1',
      port: 0,
      dbPath: join(dir, 'onss-emulator.db'),
      clients: [{ clientId: 'chaos-gateway', publicKeyPem: keys.publicKeyPem }],
      knownData: demoKnownData(today),
      logger: createLogger('emulator', { level: 'silent' }),
      // Terminals whose clock jumped ahead send taps dated in the future; ONSS's tolerance is not under test.
      futureToleranceMs: 24 * 3_600_000,
      remarksDelayMs: 0,
    });

    const cluster = this.options.cluster;
    const count = cluster?.instances ?? 1;
    for (let i = 1; i <= count; i++) {
      const name = `gw-${i}`;
      const mqttPort = await freePort();
      const httpPort = await freePort();
      const file = (ext: string) => join(dir, count === 1 ? `gateway.${ext}` : `gateway-${i}.${ext}`);
      writeFileSync(
        file('json'),
        JSON.stringify({
          database: this.gatewayDbPath,
          ...(this.options.postgresUrl ? { store: { kind: 'postgres', url: this.options.postgresUrl } } : {}),
          mqtt: { host: '127.0.0.1', port: mqttPort, drainTimeoutMs: 1000 },
          http: { host: '127.0.0.1', port: httpPort },
          logLevel: 'warn',
          ...(cluster ? { cluster: { redis: cluster.redisUrl, instance: name } } : {}),
          onss: {
            baseUrl: this.emulator.url,
            clientId: 'chaos-gateway',
            privateKey: join(dir, 'onss-key.pem'),
            batchSize: 100,
            requestTimeoutMs: 2000,
            reconcileDelayMs: 300,
            backoffInitialMs: 50,
            backoffMaxMs: 1000,
            circuitFailureThreshold: 5,
            circuitOpenMs: 1000,
            idlePollMs: 200,
            validityPollIntervalMs: 0,
            ...forwarding,
          },
        }),
      );
      this.instances.push({ process: new GatewayProcess(file('json'), file('log')), name, mqttPort, httpPort });
    }
    this.gateway = this.instances[0]!.process;
    this.mqttPort = this.instances[0]!.mqttPort;
    this.httpPort = this.instances[0]!.httpPort;
    for (const g of this.instances) await g.process.start();
    if (cluster) {
      // The configuration operators use, with one server line per instance.
      this.lbPort = await freePort();
      const servers = this.instances.map((g) => `    server ${g.name} 127.0.0.1:${g.mqttPort} check port ${g.httpPort}`).join('\n');
      const text = readFileSync(join(REPO, 'deploy', 'haproxy-ciao.cfg'), 'utf8').replace(/^ {4}server gw1 .*\n {4}server gw2 .*$/m, servers);
      this.lb = await startHaproxy({ config: { text }, env: { CIAO_LB_LISTEN: `127.0.0.1:${this.lbPort}` }, listens: [{ host: '127.0.0.1', port: this.lbPort }] });
    }

    const specs: TerminalSpec[] = [];
    for (const id of this.terminalIds) {
      if (cluster) {
        specs.push({ id, secret: secrets[id]!, url: [`mqtt://127.0.0.1:${this.lbPort}`, ...this.instances.map((g) => `mqtt://127.0.0.1:${g.mqttPort}`)], outbox: join(dir, 'terminals', `${id}.db`) });
        continue;
      }
      const proxy = await startTcpProxy({ port: this.mqttPort });
      this.proxies.set(id, proxy);
      specs.push({ id, secret: secrets[id]!, url: `mqtt://127.0.0.1:${proxy.port}`, outbox: join(dir, 'terminals', `${id}.db`) });
    }
    const per = Math.ceil(specs.length / groupCount);
    for (let g = 0; g < groupCount; g++) {
      const part = specs.slice(g * per, (g + 1) * per);
      if (part.length === 0) continue;
      const group = new TerminalGroup(`group-${g + 1}`, part, join(dir, `group-${g + 1}.json`), (terminal, id, seq) => this.written.set(id, { terminal, seq }));
      this.groups.push(group);
    }
    await Promise.all(this.groups.map((g) => g.start()));
  }

  /** What an instance's /health says (undefined while it does not answer). */
  async health(g: GatewayInstance): Promise<{ status: string; terminalsOnline: number; forwarder: string; cluster?: { redis: string } } | undefined> {
    if (!g.process.alive) return undefined;
    try {
      const r = await fetch(`http://127.0.0.1:${g.httpPort}/health`, { signal: AbortSignal.timeout(2000) });
      return (await r.json()) as { status: string; terminalsOnline: number; forwarder: string };
    } catch {
      return undefined;
    }
  }

  /** Terminals connected to the instances that run, by their /health. */
  async terminalsOnline(): Promise<number> {
    let n = 0;
    for (const g of this.instances) n += (await this.health(g))?.terminalsOnline ?? 0;
    return n;
  }

  /** The instance that holds the forwarder lease now, if one does. */
  async forwarderHolder(): Promise<GatewayInstance | undefined> {
    for (const g of this.instances) if ((await this.health(g))?.forwarder === 'forwarding') return g;
    return undefined;
  }

  groupOf(terminal: string): TerminalGroup {
    return this.groups.find((g) => g.terminals.some((t) => t.id === terminal))!;
  }

  /** Every terminal taps a known badge `perSecond` times a second (while its process runs). */
  startLoad(perSecond: number): void {
    this.stopLoad();
    this.load = setInterval(() => {
      this.loadTick++;
      this.terminalIds.forEach((id, i) => {
        const group = this.groupOf(id);
        if (!group.ready) return;
        group.send(`tap ${id} ${KNOWN_BADGES[(this.loadTick + i) % KNOWN_BADGES.length]}`);
        this.tapsSent++;
      });
    }, Math.round(1000 / perSecond));
  }

  stopLoad(): void {
    if (this.load) clearInterval(this.load);
    this.load = undefined;
  }

  jumpClock(terminal: string, deltaMs: number): void {
    this.groupOf(terminal).send(`clock ${terminal} ${deltaMs}`);
    this.clockJumps.push({ terminal, deltaMs });
  }

  /**
   * Rows of a query on the gateway's store (SQL both databases take): on SQLite a read-only connection of
   * its own (WAL: readers never block the gateway's commits), on PostgreSQL the test's small pool.
   */
  async readGateway<T>(sql: string): Promise<T[]> {
    if (this.postgres) return this.postgres.all<T>(sql);
    const db = openDatabase(this.gatewayDbPath, { readonly: true });
    try {
      return db.prepare(sql).all() as T[];
    } finally {
      db.close();
    }
  }

  async storedTaps(): Promise<number> {
    return (await this.readGateway<{ n: number }>('SELECT COUNT(*) AS n FROM taps'))[0]!.n;
  }

  outages(): Promise<OutageEntry[]> {
    return this.readGateway<OutageEntry>('SELECT id, started_at, ended_at, cause, failures, registrations_delayed FROM outage_journal ORDER BY id');
  }

  async forwardState(): Promise<{ taps: number; registrations: number; created: number; notCreated: number; unsettled: number }> {
    const rows = await this.readGateway<{ taps: number; registrations: number; created: number; notcreated: number; unsettled: number }>(
      `SELECT (SELECT COUNT(*) FROM taps) AS taps, (SELECT COUNT(*) FROM registrations) AS registrations,
         (SELECT COUNT(*) FROM forward_state WHERE state = 'created') AS created,
         (SELECT COUNT(*) FROM forward_state WHERE state = 'not_created') AS notcreated,
         (SELECT COUNT(*) FROM forward_state WHERE state IN ('in_flight', 'retry')) AS unsettled`,
    );
    const r = rows[0]!;
    return { taps: r.taps, registrations: r.registrations, created: r.created, notCreated: r.notcreated, unsettled: r.unsettled };
  }

  /** Waits until ONSS holds every registration the gateway made (nothing in flight, nothing to retry). */
  async waitForwarded(what: string, timeoutMs = 90_000): Promise<void> {
    await waitFor(async () => {
      const s = await this.forwardState();
      return s.registrations > 0 && s.created + s.notCreated === s.registrations && s.unsettled === 0;
    }, what, timeoutMs, 250);
  }

  async queuedAtTerminals(): Promise<number> {
    let total = 0;
    for (const g of this.groups) for (const n of Object.values(await g.stats())) total += n;
    return total;
  }

  /**
   * Ends the chaos (network back, ONSS healthy, load stopped), waits until every terminal's outbox is empty
   * and ONSS holds every registration, then counts.
   */
  async settle(timeoutMs = 120_000): Promise<void> {
    this.stopLoad();
    this.emulator.clearFaults();
    for (const p of this.proxies.values()) p.restore();
    await waitFor(async () => (await this.queuedAtTerminals()) === 0, 'every terminal outbox to empty', timeoutMs, 500);
    await this.waitForwarded('ONSS to hold every registration', timeoutMs);
  }

  /** Counts what happened to every tap the terminals recorded, from the real stores. */
  async verify(): Promise<Verification> {
    // The terminals' own durable count: an outbox hands out seq 1, 2, 3... and keeps the next one.
    const recorded = new Map<string, number>();
    for (const id of this.terminalIds) {
      const db = openDatabase(join(this.options.dir, 'terminals', `${id}.db`), { readonly: true });
      try {
        const next = Number((db.prepare("SELECT value FROM kv WHERE key = 'next_seq'").pluck().get() as string | undefined) ?? '1');
        recorded.set(id, next - 1);
      } finally {
        db.close();
      }
    }
    const taps = await this.readGateway<{ id: string; terminal: string; seq: number; enrichment: string }>('SELECT tap_id AS id, terminal_id AS terminal, seq, enrichment FROM taps');
    const outages = await this.outages();
    const bySeq = new Map<string, string>();
    for (const t of taps) bySeq.set(`${t.terminal}#${t.seq}`, t.id);
    const futureDated = new Set(taps.filter((t) => t.enrichment === 'future-dated').map((t) => t.id));
    const emu = openDatabase(join(this.options.dir, 'onss-emulator.db'), { readonly: true });
    let counts: Map<string, number>;
    let onssRegistrations: number;
    try {
      counts = new Map((emu.prepare('SELECT client_reference AS ref, COUNT(*) AS n FROM registrations GROUP BY client_reference').all() as Array<{ ref: string; n: number }>).map((r) => [r.ref, r.n]));
      onssRegistrations = emu.prepare('SELECT COUNT(*) FROM registrations').pluck().get() as number;
    } finally {
      emu.close();
    }
    const lost: string[] = [];
    const duplicated: string[] = [];
    const heldFutureDated: Verification['heldFutureDated'] = [];
    const explained = new Set<string>();
    let total = 0;
    for (const [terminal, n] of recorded) {
      for (let seq = 1; seq <= n; seq++) {
        total++;
        const id = bySeq.get(`${terminal}#${seq}`);
        if (!id) {
          lost.push(`${terminal}#${seq} (not at the gateway)`);
          continue;
        }
        const ref = clientReferenceFor(id);
        explained.add(ref);
        const c = counts.get(ref) ?? 0;
        if (futureDated.has(id)) {
          heldFutureDated.push({ tap: `${terminal}#${seq} ${id}`, atOnss: c });
          continue;
        }
        if (c === 0) lost.push(`${terminal}#${seq} ${id} (not at ONSS)`);
        if (c > 1) duplicated.push(`${terminal}#${seq} ${id} x${c}`);
      }
    }
    const strayWritten = [...this.written].filter(([id, w]) => bySeq.get(`${w.terminal}#${w.seq}`) !== id || w.seq > (recorded.get(w.terminal) ?? 0)).map(([id]) => id);
    let unexplained = 0;
    for (const [ref, n] of counts) if (!explained.has(ref)) unexplained += n;
    return {
      taps: total,
      seenWritten: this.written.size,
      storedAtGateway: taps.length,
      lost,
      heldFutureDated,
      duplicated,
      unexplained,
      strayWritten,
      notEnriched: taps.filter((t) => t.enrichment !== 'enriched' && t.enrichment !== 'future-dated').length,
      onssRegistrations,
      outages,
    };
  }

  async stop(): Promise<void> {
    this.stopLoad();
    for (const g of this.groups) await g.stop().catch(() => undefined);
    for (const g of this.groups) if (g.alive) await g.kill9();
    for (const g of this.instances) {
      if (!g.process.alive) continue;
      const code = await g.process.stop();
      if (code !== 0) throw new Error(`gateway ${g.name} exited with code ${code} on SIGTERM`);
    }
    await this.lb?.stop();
    for (const p of this.proxies.values()) await p.close();
    await this.emulator?.stop();
    await this.postgres?.close();
  }

  /** Last resort in afterAll: nothing of ours keeps running. */
  async kill(): Promise<void> {
    this.stopLoad();
    for (const g of this.groups) await g.kill9();
    for (const g of this.instances) await g.process.kill9();
    await this.lb?.kill().catch(() => undefined);
    for (const p of this.proxies.values()) await p.close().catch(() => undefined);
    await this.emulator?.stop().catch(() => undefined);
    await this.postgres?.close().catch(() => undefined);
  }
}
