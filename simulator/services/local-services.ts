import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../world/free-port.ts';

/**
 * Debian's PostgreSQL, Redis and HAProxy as local processes for tests and benchmarks (beside the simulator's
 * other stand-ins for what a deployment has): each on loopback, on a
 * free port, in a temp directory of its own, never as a system service (scripts/setup.sh installs the
 * packages and keeps Debian from starting them). `start…` resolves once the process answers; `stop()` is the
 * clean stop, `kill()` a SIGKILL of the process and everything it started (for chaos tests).
 *
 * A test that needs one asks `serviceMissing(name)` first: the reason, when the binaries are absent, is
 * what it skips with. Under CI (`CI=true`) setup has run, so an absent binary is an error, not a skip.
 */
export type ServiceName = 'postgresql' | 'redis' | 'haproxy';

export interface LocalService {
  readonly name: ServiceName;
  readonly host: string;
  readonly port: number;
  /** The temp directory holding its data, config and log. */
  readonly dir: string;
  readonly pid: number;
  readonly alive: boolean;
  /** Everything it wrote on stdout and stderr so far (for failure messages). */
  log(): string;
  /** The clean stop (SIGINT for PostgreSQL's fast shutdown, SIGTERM for the others); removes its directory. */
  stop(): Promise<void>;
  /** SIGKILL to its whole process group, as a crash would; the directory stays (it can be started again). */
  kill(): Promise<void>;
}

export interface LocalPostgres extends LocalService {
  readonly user: string;
  readonly database: string;
  /** `postgres://ciao@127.0.0.1:PORT/ciao` */
  readonly url: string;
  /** Starts it again on the same data directory and port, after `kill()` or `stop({ keep })`. */
  restart(): Promise<void>;
  /** Makes a new, empty database `name` on the server (dropped first if it exists) and gives its URL. */
  createDatabase(name: string): Promise<string>;
}

export interface LocalRedis extends LocalService {
  readonly url: string;
  /** Starts it again on the same port, after `kill()` (what it held in memory is gone, as after a crash). */
  restart(): Promise<void>;
}

const BINARIES: Record<ServiceName, string> = { postgresql: 'postgres (/usr/lib/postgresql/<version>/bin)', redis: 'redis-server', haproxy: 'haproxy' };

/** Debian keeps each PostgreSQL major version's programs in /usr/lib/postgresql/<version>/bin; the newest is used. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const bin = join(root, v, 'bin');
    if (existsSync(join(bin, 'postgres')) && existsSync(join(bin, 'initdb'))) return bin;
  }
  return undefined;
}

function onPath(program: string): string | undefined {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin']) {
    if (existsSync(join(dir, program))) return join(dir, program);
  }
  return undefined;
}

function binaryOf(name: ServiceName): string | undefined {
  if (name === 'postgresql') return postgresBinDir();
  return onPath(name === 'redis' ? 'redis-server' : 'haproxy');
}

/**
 * Why a test needing these services cannot run here (the binaries are absent), or undefined when it can.
 * Under CI an absent binary throws: setup installs them, and a CI run that skipped them would prove nothing.
 */
export function serviceMissing(...names: ServiceName[]): string | undefined {
  const missing = names.filter((n) => binaryOf(n) === undefined);
  if (missing.length === 0) return undefined;
  const reason = `not installed: ${missing.map((n) => BINARIES[n]).join(', ')} (run scripts/setup.sh)`;
  if (process.env.CI === 'true') throw new Error(`${reason}; CI runs setup first, so nothing may skip`);
  return reason;
}

/** Process groups still running when the test process exits are killed, so no server outlives its test. */
const running = new Set<number>();
process.once('exit', () => {
  for (const pid of running) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

interface Spawned {
  child: ChildProcess;
  output: string[];
}

function launch(program: string, args: string[], opts: { cwd: string; uid?: number; gid?: number; env?: NodeJS.ProcessEnv }): Spawned {
  // detached: a process group of its own, so kill() reaches PostgreSQL's backends too.
  const child = spawn(program, args, { cwd: opts.cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid } : {}) });
  const output: string[] = [];
  const keep = (b: Buffer) => {
    output.push(b.toString('utf8'));
    if (output.length > 400) output.splice(0, output.length - 400);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  if (child.pid !== undefined) running.add(child.pid);
  child.once('exit', () => {
    if (child.pid !== undefined) running.delete(child.pid);
  });
  return { child, output };
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
  });
}

function isAlive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals, graceMs = 10_000): Promise<void> {
  if (!isAlive(child)) return;
  const done = exited(child);
  child.kill(signal);
  const timer = setTimeout(() => killGroup(child), graceMs);
  await done;
  clearTimeout(timer);
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
}

async function killChild(child: ChildProcess): Promise<void> {
  if (!isAlive(child)) return;
  const done = exited(child);
  killGroup(child);
  await done;
}

/** Resolves once a TCP connection to host:port is accepted. */
export function tcpAnswers(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Polls `check` every 50 ms until it answers true; fails at once if the process exits, or after the timeout. */
async function waitReady(what: string, spawned: Spawned, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<true> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isAlive(spawned.child)) throw new Error(`${what} exited (code ${spawned.child.exitCode}, signal ${spawned.child.signalCode}): ${spawned.output.join('').slice(-2000)}`);
    if (await check()) return true;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} to answer: ${spawned.output.join('').slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * PostgreSQL refuses to run as root: as root the cluster belongs to the `postgres` user Debian's package
 * creates (or `nobody`), and the temp directory is handed to it. Its programs refuse root too (`pg_ctl`), so
 * the drills run the doc's recipes as this user; undefined when not root.
 */
export function postgresServerUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const passwd = readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':'));
  const entry = passwd.find((f) => f[0] === 'postgres') ?? passwd.find((f) => f[0] === 'nobody');
  if (!entry) throw new Error('running as root and no postgres or nobody user to run PostgreSQL as');
  return { uid: Number(entry[2]), gid: Number(entry[3]) };
}

export interface PostgresOptions {
  /** Server settings (`-c name=value`), e.g. `{ fsync: 'off' }` for tests that do not measure durability. */
  settings?: Record<string, string>;
}

export async function startPostgres(options: PostgresOptions = {}): Promise<LocalPostgres> {
  const bin = postgresBinDir();
  if (!bin) throw new Error(`PostgreSQL is ${serviceMissing('postgresql') ?? 'not installed'}`);
  const dir = mkdtempSync(join(tmpdir(), 'ciao-pg-'));
  const data = join(dir, 'data');
  const owner = postgresServerUser();
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const as = owner ?? {};
  const user = 'ciao';
  const database = 'ciao';
  const init = spawnSync(join(bin, 'initdb'), ['-D', data, '-U', user, '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync'], { cwd: dir, encoding: 'utf8', ...as });
  if (init.status !== 0) throw new Error(`initdb failed (${init.status}): ${init.stderr || init.stdout || init.error?.message}`);
  const port = await freePort();
  const host = '127.0.0.1';
  const settings = { listen_addresses: host, port: String(port), unix_socket_directories: dir, max_connections: '100', ...options.settings };
  const args = ['-D', data, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
  let spawned: Spawned;
  const ping = async () => {
    const client = new pg.Client({ host, port, user, database: 'postgres', connectionTimeoutMillis: 1000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  const boot = async () => {
    spawned = launch(join(bin, 'postgres'), args, { cwd: dir, ...as });
    await waitReady('postgres', spawned, ping);
  };
  await boot();
  {
    const client = new pg.Client({ host, port, user, database: 'postgres' });
    await client.connect();
    await client.query(`CREATE DATABASE ${database}`);
    await client.end();
  }
  return {
    name: 'postgresql', host, port, dir, user, database,
    url: `postgres://${user}@${host}:${port}/${database}`,
    get pid() { return spawned.child.pid!; },
    get alive() { return isAlive(spawned.child); },
    log: () => spawned.output.join(''),
    createDatabase: async (name: string) => {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`createDatabase: ${JSON.stringify(name)} must be lower-case letters, digits and _`);
      const client = new pg.Client({ host, port, user, database: 'postgres' });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name}`);
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://${user}@${host}:${port}/${name}`;
    },
    restart: async () => {
      if (isAlive(spawned.child)) throw new Error('postgres is still running');
      // After a SIGKILL of the postmaster its backends end on their own, shortly after: until the last one
      // has, the old shared memory is still attached and PostgreSQL refuses to start on the data directory.
      // Started again until they are gone, as a service manager restarting it would.
      const deadline = Date.now() + 30_000;
      for (;;) {
        try {
          await boot();
          return;
        } catch (err) {
          const stillAttached = /pre-existing shared memory block .* is still in use/.test(spawned.output.join(''));
          if (!stillAttached || Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    },
    // SIGINT: PostgreSQL's fast shutdown (clients disconnected, a clean checkpoint).
    stop: async () => {
      await stopChild(spawned.child, 'SIGINT');
      rmSync(dir, { recursive: true, force: true });
    },
    kill: () => killChild(spawned.child),
  };
}

/** `redis-server` with no persistence (`--save ''`), on loopback. */
export async function startRedis(): Promise<LocalRedis> {
  const program = onPath('redis-server');
  if (!program) throw new Error(`Redis is ${serviceMissing('redis') ?? 'not installed'}`);
  const dir = mkdtempSync(join(tmpdir(), 'ciao-redis-'));
  const host = '127.0.0.1';
  const port = await freePort();
  const run = async () => {
    const s = launch(program, ['--port', String(port), '--bind', host, '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'], { cwd: dir });
    await waitReady('redis-server', s, () => redisPing(host, port));
    return s;
  };
  let spawned = await run();
  return {
    name: 'redis', host, port, dir, url: `redis://${host}:${port}`,
    get pid() { return spawned.child.pid!; },
    get alive() { return isAlive(spawned.child); },
    log: () => spawned.output.join(''),
    stop: async () => {
      await stopChild(spawned.child, 'SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
    kill: () => killChild(spawned.child),
    restart: async () => {
      if (isAlive(spawned.child)) throw new Error('redis-server is still running: kill() it first');
      spawned = await run();
    },
  };
}

/** Sends PING in Redis' inline protocol; true when the answer is +PONG. */
export function redisPing(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let answer = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (b) => {
      answer += b.toString('utf8');
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
    socket.once('error', () => done(false));
  });
}

export interface HaproxyOptions {
  /** The configuration file (e.g. deploy/haproxy-mqtt.cfg), or its text (written to the temp directory). */
  config: { file: string } | { text: string };
  /** Environment for the `"${VAR}"` references in the configuration. */
  env?: Record<string, string>;
  /** Where it listens: it counts as started once each of these accepts a connection. */
  listens: Array<{ host: string; port: number }>;
}

export interface LocalHaproxy extends LocalService {
  /** Starts it again with the same configuration and environment (after `kill()`). */
  restart(): Promise<void>;
}

/** `haproxy -f CFG -db`: in the foreground, its configuration checked first (`-c`). */
export async function startHaproxy(options: HaproxyOptions): Promise<LocalHaproxy> {
  const program = onPath('haproxy');
  if (!program) throw new Error(`HAProxy is ${serviceMissing('haproxy') ?? 'not installed'}`);
  const dir = mkdtempSync(join(tmpdir(), 'ciao-haproxy-'));
  let file: string;
  if ('file' in options.config) file = options.config.file;
  else {
    file = join(dir, 'haproxy.cfg');
    writeFileSync(file, options.config.text);
  }
  const env = { ...process.env, ...options.env };
  const check = spawnSync(program, ['-c', '-f', file], { cwd: dir, env, encoding: 'utf8' });
  if (check.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`haproxy -c refused ${file}: ${check.stderr || check.stdout}`);
  }
  const first = options.listens[0];
  if (!first) throw new Error('startHaproxy: name at least one address it listens on');
  let spawned: Spawned;
  const boot = async () => {
    spawned = launch(program, ['-f', file, '-db'], { cwd: dir, env });
    await waitReady('haproxy', spawned, async () => (await Promise.all(options.listens.map((l) => tcpAnswers(l.host, l.port)))).every(Boolean));
  };
  await boot();
  return {
    name: 'haproxy', host: first.host, port: first.port, dir,
    get pid() { return spawned.child.pid!; },
    get alive() { return isAlive(spawned.child); },
    log: () => spawned.output.join(''),
    restart: async () => {
      if (isAlive(spawned.child)) throw new Error('haproxy is still running');
      await boot();
    },
    stop: async () => {
      await stopChild(spawned.child, 'SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
    kill: () => killChild(spawned.child),
  };
}
