import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { createLogger } from '../../../shared/logging.ts';
import type { Db } from '../../../shared/sqlite.ts';
import { openGatewayDatabase } from '../../../gateway/store/database.ts';
import { addTerminal as addTerminalRow } from '../../../gateway/site-data/terminals.ts';
import { SqliteStore } from '../../../gateway/store/sqlite-store.ts';
import type { SqlStore } from '../../../gateway/store/sql-store.ts';
import type { StoreKind } from '../../support/sql-stores.ts';
import { startGateway, type RunningGateway, type StartGatewayOptions } from '../../../gateway/main.ts';
import type { GatewayConfigInput } from '../../../gateway/config.ts';
import { seedTestWorldIn, TEST_SEED, type TestSeed } from './seed.ts';
import { waitUntil } from './wait.ts';
import type { Clock } from '../../../shared/clock.ts';

/**
 * A gateway for tests: ephemeral ports, a temp database, seeded site data, logs in a file of the temp dir.
 * In-process by default; `child: true` runs `node bin/ciao.mjs gateway --config FILE` as a real child
 * process (for kill -9 tests), restartable on the same database. The database is a SQLite file of the temp
 * dir, or, given a PostgreSQL kind of test/support/sql-stores.ts, a new database on that kind's local server
 * (which outlives the gateway's kill and restart, as a cluster's server does).
 */
export interface StartTestGatewayOptions {
  /**
   * Seed the test world (default true), or a function that seeds what the test needs in the SQLite
   * database (SQLite only: on PostgreSQL the test world is seeded through the store).
   */
  seed?: boolean | ((db: Db) => void | Promise<void>);
  /**
   * The database to run on, a kind of `storeKinds()`: SQLite (the default) is the file of the temp dir; a
   * PostgreSQL kind gives the gateway a new database of its server (`store: { kind: 'postgres', url }` in
   * the config). The kind's `cleanup()` stops that server: call it after the gateways are stopped.
   */
  store?: StoreKind;
  /** Config overrides (merged over the defaults). */
  config?: Partial<GatewayConfigInput>;
  child?: boolean;
  /** Child mode: what to run instead of `ciao gateway` (a fixture script taking `--config FILE`), with its extra arguments. */
  childScript?: { path: string; args: string[] };
  env?: NodeJS.ProcessEnv;
  dir?: string;
  /** In-process only: the gateway's clock (a virtual one to cross midnight). */
  clock?: Clock;
  /** In-process only: options of `startGateway` (a commit gate, say). */
  gatewayOptions?: Pick<StartGatewayOptions, 'mayCommit'>;
}

export interface TestGateway {
  mqttPort: number;
  httpPort: number;
  tlsPort?: number;
  wsPort?: number;
  dir: string;
  dbPath: string;
  logPath: string;
  configPath: string;
  seed: TestSeed;
  /** The running in-process gateway (undefined in child mode). */
  gateway?: RunningGateway;
  child?: ChildProcess;
  /** The database the gateway runs on. */
  storeKind: 'sqlite' | 'postgres';
  /** The test's own store on the gateway database, on either kind: SQL with `$1` parameters. */
  store(): Promise<SqlStore>;
  /** SQLite only: a connection of the test's own to the gateway database file. */
  db(): Db;
  /** Adds a terminal (on the main test site unless told) and returns its secret. */
  addTerminal(id?: string, siteId?: string | null): Promise<{ id: string; secret: string }>;
  logs(): string;
  metrics(): Promise<string>;
  /** Child mode: SIGKILL the gateway now. */
  kill(): Promise<void>;
  /** Child mode: start it again on the same database and ports (new ephemeral ports if 0). */
  restart(env?: NodeJS.ProcessEnv): Promise<void>;
  stop(): Promise<void>;
}

const REPO = resolve(import.meta.dirname, '../../..');
let terminalCounter = 0;

export async function startTestGateway(opts: StartTestGatewayOptions = {}): Promise<TestGateway> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'ciao-gw-'));
  const dbPath = join(dir, 'gateway.db');
  const logPath = join(dir, 'gateway.log');
  const configPath = join(dir, 'gateway.json');
  // On PostgreSQL the test's store is made first: it brings the new database's schema up to date, so the
  // test world is seeded before the gateway starts, as on SQLite.
  const pgKind = opts.store?.kind === 'postgres' ? opts.store : undefined;
  const pgStore = pgKind ? await pgKind.fresh() : undefined;
  const pgWhere = pgKind && pgStore ? pgKind.location(pgStore) : undefined;
  const config: GatewayConfigInput = {
    database: dbPath,
    ...(pgWhere?.kind === 'postgres' ? { store: { kind: 'postgres' as const, url: pgWhere.url } } : {}),
    ...opts.config,
    mqtt: { host: '127.0.0.1', port: 0, ...opts.config?.mqtt },
    http: { host: '127.0.0.1', port: 0, ...opts.config?.http },
    terminals: { siteDataPollMs: 100, ...opts.config?.terminals },
    logLevel: opts.config?.logLevel ?? 'debug',
  };
  writeFileSync(configPath, JSON.stringify(config, null, 2));

  let ownDb: Db | undefined;
  const db = (): Db => {
    if (pgStore) throw new Error('db(): this test gateway runs on PostgreSQL, which has no SQLite connection; read through store() with $1 parameters');
    return (ownDb ??= openGatewayDatabase(dbPath));
  };
  const store = (): Promise<SqlStore> => Promise.resolve(pgStore ?? SqliteStore.of(db()));
  if (opts.seed !== false) {
    if (typeof opts.seed === 'function') {
      if (pgStore) throw new Error('seed: a seeding function takes the SQLite connection; this test gateway runs on PostgreSQL, where the test world is seeded (seed: true) or the test seeds through store()');
      await opts.seed(db());
    } else await seedTestWorldIn(await store());
  }

  const t: TestGateway = {
    mqttPort: 0,
    httpPort: 0,
    dir,
    dbPath,
    logPath,
    configPath,
    seed: TEST_SEED,
    storeKind: pgStore ? 'postgres' : 'sqlite',
    store,
    db,
    async addTerminal(id = `term-${process.pid}-${++terminalCounter}`, siteId: string | null = TEST_SEED.sites.main) {
      const { secret } = await addTerminalRow(await store(), { id, ...(siteId ? { siteId } : {}) });
      return { id, secret };
    },
    logs: () => {
      try {
        return readFileSync(logPath, 'utf8');
      } catch {
        return '';
      }
    },
    metrics: async () => (await fetch(`http://127.0.0.1:${t.httpPort}/metrics`)).text(),
    kill: async () => {
      throw new Error('kill() needs child: true');
    },
    restart: async () => {
      throw new Error('restart() needs child: true');
    },
    stop: async () => undefined,
  };

  if (!opts.child) {
    const dest = pino.destination({ dest: logPath, sync: true, mkdir: true });
    const logger = createLogger('gateway', { level: 'debug' }, dest);
    const gateway = await startGateway(config, { logger, ...opts.gatewayOptions, ...(opts.clock ? { clock: opts.clock } : {}) });
    Object.assign(t, { gateway, mqttPort: gateway.mqttPort, httpPort: gateway.httpPort, tlsPort: gateway.tlsPort, wsPort: gateway.wsPort });
    t.stop = async () => {
      await gateway.stop();
      ownDb?.close();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    };
    return t;
  }

  const spawnChild = async (env: NodeJS.ProcessEnv = {}) => {
    const argv = opts.childScript
      ? ['--import', 'tsx', opts.childScript.path, '--config', configPath, ...opts.childScript.args]
      : [join(REPO, 'bin/ciao.mjs'), 'gateway', '--config', configPath];
    const child = spawn(process.execPath, argv, {
      cwd: REPO,
      env: { ...process.env, ...opts.env, ...env, CIAO_LOG_LEVEL: 'debug' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      writeFileSync(logPath, d, { flag: 'a' });
    });
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      writeFileSync(logPath, d, { flag: 'a' });
    });
    const ready = await waitUntil(
      () => {
        if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}: ${err}`);
        const line = out.split('\n').find((l) => l.includes('"event":"gateway-ready"'));
        return line ? (JSON.parse(line) as { mqttPort: number; httpPort: number; tlsPort: number | null }) : undefined;
      },
      { timeoutMs: 30_000, what: 'the gateway child to start' },
    );
    t.child = child;
    t.mqttPort = ready.mqttPort;
    t.httpPort = ready.httpPort;
    t.tlsPort = ready.tlsPort ?? undefined;
  };
  const exited = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));
  t.kill = async () => {
    const c = t.child!;
    c.kill('SIGKILL');
    await exited(c);
  };
  t.restart = async (env?: NodeJS.ProcessEnv) => {
    // Keep the ports so reconnecting clients find it again.
    const cfg = JSON.parse(readFileSync(configPath, 'utf8')) as GatewayConfigInput;
    cfg.mqtt = { ...cfg.mqtt, port: t.mqttPort };
    writeFileSync(configPath, JSON.stringify(cfg, null, 2));
    await spawnChild(env);
  };
  t.stop = async () => {
    const c = t.child;
    if (c && c.exitCode === null && c.signalCode === null) {
      c.kill('SIGTERM');
      await exited(c);
    }
    ownDb?.close();
    if (!opts.dir) rmSync(dir, { recursive: true, force: true });
  };
  await spawnChild();
  return t;
}
