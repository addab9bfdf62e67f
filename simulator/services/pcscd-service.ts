import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadNfcPcsc } from '../../shared/pcsc/nfc-pcsc-module.ts';
import { pcscdListening } from '../../shared/pcscd.ts';
import { VPCD_DEFAULT_PORT } from '../vcard/virtual-card.ts';

/**
 * pcscd and the vsmartcard vpcd driver, for the PC/SC tests and the SUN-read benchmark: finds how vpcd is
 * configured, starts pcscd as a child when it is not running, and can stop/restart it (only when it was
 * started here, never a system one).
 */
export const PCSCD_SOCKET = '/run/pcscd/pcscd.comm';

export interface VpcdSetup {
  pcscd: string | null;
  port: number;
  problem: string | null;
}

function findVpcd(): VpcdSetup {
  const which = spawnSync('sh', ['-c', 'command -v pcscd || ls /usr/sbin/pcscd 2>/dev/null'], { encoding: 'utf8' });
  const pcscd = which.stdout.trim().split('\n')[0] || null;
  if (!pcscd) return { pcscd: null, port: VPCD_DEFAULT_PORT, problem: 'pcscd is not installed (apt-get install pcscd)' };
  // vpcd is a serial-style driver declared in reader.conf.d; its CHANNELID is the TCP port it listens on.
  for (const dir of ['/etc/reader.conf.d', '/usr/local/etc/reader.conf.d']) {
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir)) {
      const text = readFileSync(join(dir, file), 'utf8');
      if (!/libifdvpcd/.test(text)) continue;
      const lib = /^\s*LIBPATH\s+(\S+)/m.exec(text)?.[1];
      if (lib && !existsSync(lib)) return { pcscd, port: VPCD_DEFAULT_PORT, problem: `vpcd driver ${lib} (from ${dir}/${file}) is missing` };
      const channel = /^\s*CHANNELID\s+(\S+)/m.exec(text)?.[1];
      return { pcscd, port: channel ? Number(channel) : VPCD_DEFAULT_PORT, problem: null };
    }
  }
  return { pcscd, port: VPCD_DEFAULT_PORT, problem: 'the vsmartcard vpcd driver is not configured (apt-get install vsmartcard-vpcd)' };
}

export class PcscdService {
  private child: ChildProcess | null = null;
  startedByUs = false;

  constructor(private readonly binary: string) {}

  /** Makes sure pcscd answers on its socket; starts it as a child when it does not. */
  async ensureRunning(): Promise<void> {
    if (await pcscdListening(PCSCD_SOCKET)) return;
    const child = spawn(this.binary, ['--foreground'], { stdio: 'ignore' });
    child.on('error', () => {});
    this.child = child;
    this.startedByUs = true;
    await until(() => pcscdListening(PCSCD_SOCKET), 15_000, 100, 'pcscd to answer on its socket');
  }

  /** Stops the pcscd the tests started (never a system one). */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await until(async () => !(await pcscdListening(PCSCD_SOCKET, 300)), 10_000, 20, 'pcscd to be gone');
  }
}

/**
 * What the real PC/SC tests need here (the vpcd driver, pcscd, and nfc-pcsc built against libpcsclite):
 * the vpcd setup, and the first missing piece as a sentence, or null when all is there.
 */
export async function pcscTestSetup(): Promise<{ setup: VpcdSetup; problem: string | null }> {
  const setup = findVpcd();
  if (setup.problem) return { setup, problem: setup.problem };
  try {
    await loadNfcPcsc('the PC/SC tests need the optional dependency nfc-pcsc built against libpcsclite (apt-get install libpcsclite-dev, then npm install)');
    return { setup, problem: null };
  } catch (err) {
    return { setup, problem: (err as Error).message };
  }
}

/**
 * pcscd and its single vpcd slot are shared by the whole machine: test files and benchmarks that use them take
 * this exclusive lock first and release it when done, so they never run at the same time. The lock is a file
 * created exclusively, holding the owner's pid; a lock whose owner died is taken over.
 */
const PCSCD_LOCK_PATH = '/tmp/ciao-pcscd.lock';

export async function acquirePcscdLock(opts: { path?: string; timeoutMs?: number } = {}): Promise<() => void> {
  const { openSync, writeSync, closeSync, readFileSync: read, unlinkSync } = await import('node:fs');
  const path = opts.path ?? PCSCD_LOCK_PATH;
  const deadline = Date.now() + (opts.timeoutMs ?? 170_000);
  for (;;) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          if (read(path, 'utf8').trim() === String(process.pid)) unlinkSync(path);
        } catch {
          // Already gone.
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner = NaN;
    try {
      owner = Number(read(path, 'utf8').trim());
    } catch {
      continue; // Released between our open and read: try again at once.
    }
    if (!processAlive(owner)) {
      try {
        unlinkSync(path);
      } catch {
        // Someone else took it over first.
      }
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for the pcscd test lock ${path} (held by pid ${owner})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function until(check: () => Promise<boolean>, timeoutMs: number, intervalMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
