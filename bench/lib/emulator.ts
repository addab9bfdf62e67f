import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportPKCS8, exportSPKI, generateKeyPair } from 'jose';
import { REPO_ROOT } from './paths.ts';
import { spawnProcess } from './processes.ts';

/**
 * The ONSS emulator as its own process (`ciao emulator`), for benchmarks that forward registrations the way
 * a deployment does: the gateway's forwarder calls it over HTTP, and its CPU and memory are its own (read
 * from /proc by pid), never counted as the gateway's.
 */
export interface EmulatorProcess {
  url: string;
  pid: number | undefined;
  /** The client the gateway logs in as, and the PEM file of its private key (mode 0600). */
  clientId: string;
  privateKeyFile: string;
  /** The emulator's own database file (what it received). */
  dbPath: string;
  stop(): Promise<void>;
}

export const BENCH_CLIENT_ID = 'bench-gateway';

/** The emulator's niceness (CIAO_BENCH_EMULATOR_NICE=0 runs it at the benchmark's own priority). */
export const EMULATOR_NICE = Number(process.env.CIAO_BENCH_EMULATOR_NICE ?? 10);

/**
 * The V8 flags the emulator runs with: a young generation of fixed size (two 4 MB semi-spaces). Left to
 * itself, V8 doubles the young generation each time enough objects have survived its collections since the
 * last doubling (1 MB up to 16 MB a semi-space), and a process that stays busy never gives it back: over an
 * hour of soak the emulator's RSS rose in steps (+7 MB at 9 min, +13 MB at 37 min) while the heap in use
 * stayed flat, which reads as a leak of 27 MB/h over the last half. Fixed, it is reserved once, at start.
 * CIAO_BENCH_EMULATOR_NODE_FLAGS replaces them (empty for V8's defaults).
 */
export const EMULATOR_NODE_FLAGS = (process.env.CIAO_BENCH_EMULATOR_NODE_FLAGS ?? '--min-semi-space-size=4 --max-semi-space-size=4').split(' ').filter(Boolean);

/** Starts `ciao emulator` on a free loopback port with its database in `dir`, and a client key pair for the gateway. */
export async function startEmulatorProcess(dir: string): Promise<EmulatorProcess> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const clients = join(dir, 'onss-clients.json');
  writeFileSync(clients, JSON.stringify([{ clientId: BENCH_CLIENT_ID, publicKeyPem: await exportSPKI(publicKey) }]));
  const privateKeyFile = join(dir, 'onss-key.pem');
  writeFileSync(privateKeyFile, await exportPKCS8(privateKey), { mode: 0o600 });
  const dbPath = join(dir, 'emulator.sqlite');
  // A process group of its own, stopped with the benchmark whatever happens to it (bench/lib/processes.ts).
  // At a lower priority (nice 10): ONSS is not on the gateway's machine in a deployment, so its work must not
  // take the gateway's share of the two cores here; it still runs whenever a core is free. `nice` replaces
  // itself with Node (exec), so the pid is the emulator's own: its memory and CPU are read by that pid.
  const spawned = spawnProcess('nice', ['-n', String(EMULATOR_NICE), process.execPath, ...EMULATOR_NODE_FLAGS, join(REPO_ROOT, 'bin', 'ciao.mjs'), 'emulator', '--port', '0', '--db', dbPath, '--clients', clients], {
    env: { ...process.env, CIAO_LOG_LEVEL: 'warn' },
  });
  const child = spawned.child;
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`emulator exited (${code}) before listening`)));
  });
  return {
    url,
    pid: child.pid,
    clientId: BENCH_CLIENT_ID,
    privateKeyFile,
    dbPath,
    stop: () => spawned.stop(15_000),
  };
}

/** utime + stime of a process, in seconds (Linux /proc; 0 elsewhere). */
export function cpuSecondsOf(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** Resident memory of a process now (VmRSS), in MB; 0 when it is gone. */
export function rssMbOf(pid: number | undefined): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round((Number(m[1]) / 1024) * 10) / 10 : 0;
  } catch {
    return 0;
  }
}
