import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, spawnProcess, waitForPort } from '../lib/processes.ts';

/**
 * Debian's Mosquitto on a loopback port, configured for a relay benchmark: anonymous, no persistence,
 * queues and in-flight windows large enough that QoS 1 messages to a busy subscriber are delayed, not
 * dropped (the default `max_queued_messages 1000` would drop them and flatter the figure).
 */
export interface RunningMosquitto {
  url: string;
  port: number;
  version: string;
  close(): Promise<void>;
}

export function mosquittoPath(): string | undefined {
  for (const p of ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto']) {
    try {
      execFileSync(p, ['-h'], { stdio: 'ignore' });
      return p;
    } catch (err) {
      // `mosquitto -h` exits 3 after printing its help: it exists.
      if ((err as { status?: number }).status !== undefined) return p;
    }
  }
  return undefined;
}

export async function startMosquitto(): Promise<RunningMosquitto> {
  const bin = mosquittoPath();
  if (!bin) throw new Error('mosquitto is not installed (Debian package mosquitto)');
  let version = 'unknown';
  try {
    execFileSync(bin, ['-h'], { encoding: 'utf8' });
  } catch (err) {
    version = /mosquitto version (\S+)/.exec(String((err as { stdout?: string }).stdout ?? ''))?.[1] ?? version;
  }
  const dir = mkdtempSync(join(tmpdir(), 'ciao-bench-mosquitto-'));
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'max_queued_messages 10000000',
      'max_inflight_messages 0',
      'set_tcp_nodelay true',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      '',
    ].join('\n'),
  );
  const proc = spawnProcess(bin, ['-c', conf]);
  let alive = true;
  void proc.exited.then(() => (alive = false));
  try {
    await waitForPort(port, '127.0.0.1', 10_000, () => alive);
  } catch (err) {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`mosquitto did not start: ${(err as Error).message}; output: ${proc.output().slice(-1000)}`);
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    version,
    close: async () => {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
