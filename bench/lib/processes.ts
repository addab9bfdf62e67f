import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createServer, connect, type AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

/**
 * Child processes of a benchmark (brokers, responders, the gateway): started in their own process group so
 * that stopping one also stops whatever it started, and always stopped by the pid we got at spawn.
 */
export interface Spawned {
  child: ChildProcess;
  /** stdout and stderr so far, for error messages. */
  output(): string;
  /** Resolves with the exit code (or signal) when the process ends. */
  exited: Promise<number | string>;
  stop(graceMs?: number): Promise<void>;
}

/** Every process started here and not yet ended, so a benchmark that is stopped can stop them too. */
const live = new Set<ChildProcess>();

/** Kills (SIGKILL) every process this process started and that still runs, with whatever it started. */
export function killAllSpawned(): void {
  for (const child of live) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

export function spawnProcess(command: string, args: string[], options: SpawnOptions & { echo?: boolean } = {}): Spawned {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...options });
  if (child.pid !== undefined) live.add(child);
  child.once('exit', () => live.delete(child));
  let text = '';
  const keep = (b: Buffer) => {
    text += b.toString();
    if (text.length > 200_000) text = text.slice(-100_000);
    if (options.echo) process.stderr.write(b);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  let ended = false;
  void exited.then(() => (ended = true));
  return {
    child,
    output: () => text,
    exited,
    async stop(graceMs = 5000) {
      if (ended || child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        return;
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** `node --import tsx FILE ARGS`: how every TypeScript part of the product runs without a build. */
export function spawnNodeTs(file: string, args: string[] = [], options: SpawnOptions & { echo?: boolean } = {}): Spawned {
  return spawnProcess(process.execPath, ['--import', 'tsx', file, ...args], options);
}

/** Waits for the first stdout line that parses as JSON (how bench helper processes say they are ready). */
export function firstJsonLine<T>(s: Spawned, timeoutMs = 20_000, accept: (v: Record<string, unknown>) => boolean = () => true): Promise<T> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => done(new Error(`no ready line within ${timeoutMs} ms; output: ${s.output().slice(-2000)}`)), timeoutMs);
    const onData = (b: Buffer) => {
      buf += b.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const line of lines) {
        try {
          const v = JSON.parse(line) as Record<string, unknown>;
          if (v && typeof v === 'object' && accept(v)) return done(undefined, v as T);
        } catch {
          // not the ready line
        }
      }
    };
    const onExit = (code: number | null) => done(new Error(`exited with ${code} before it was ready; output: ${s.output().slice(-2000)}`));
    function done(err?: Error, value?: T) {
      clearTimeout(timer);
      s.child.stdout?.off('data', onData);
      s.child.off('exit', onExit);
      if (err) reject(err);
      else resolve(value as T);
    }
    s.child.stdout?.on('data', onData);
    s.child.once('exit', onExit);
  });
}

/** A loopback port free right now (for programs that cannot listen on port 0 and report it). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Polls until a TCP connection to host:port succeeds; resolves with the milliseconds it took. */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 20_000, stillAlive?: () => boolean): Promise<number> {
  const start = performance.now();
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ port, host });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return performance.now() - start;
    if (stillAlive && !stillAlive()) throw new Error(`the process meant to listen on ${host}:${port} exited`);
    if (performance.now() - start > timeoutMs) throw new Error(`nothing listened on ${host}:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
