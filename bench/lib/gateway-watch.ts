import { readdirSync, readFileSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { cpuSecondsOf, rssMbOf } from './emulator.ts';

/**
 * What a long benchmark watches of a running gateway and its emulator, from outside: memory and CPU from
 * /proc by pid, the WAL's size, open descriptors, and the forwarder's progress read from the database through
 * a read-only connection of its own (WAL readers never block the gateway).
 */
export interface WatchSample {
  /** Seconds since the watch started. */
  t: number;
  gatewayRssMb: number;
  emulatorRssMb: number;
  walMb: number;
  fds: number;
  /** Registrations not created at ONSS yet (waiting, in flight or to retry). */
  unsent: number;
  /** Created registrations whose validity ONSS has not been asked about successfully yet. */
  pendingValidity: number;
  gatewayCpuSeconds: number;
}

export class GatewayWatch {
  readonly samples: WatchSample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private db: Database.Database | undefined;
  private readonly started = Date.now();

  constructor(private readonly o: { databasePath: string; gatewayPid?: number; emulatorPid?: number; everyMs: number }) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.o.everyMs);
  }

  stop(): WatchSample {
    clearInterval(this.timer);
    const last = this.sample();
    this.db?.close();
    this.db = undefined;
    return last;
  }

  sample(): WatchSample {
    const s: WatchSample = {
      t: Math.round((Date.now() - this.started) / 100) / 10,
      gatewayRssMb: rssMbOf(this.o.gatewayPid),
      emulatorRssMb: rssMbOf(this.o.emulatorPid),
      walMb: mb(fileSize(`${this.o.databasePath}-wal`)),
      fds: descriptors(this.o.gatewayPid),
      ...this.progress(),
      gatewayCpuSeconds: cpuSecondsOf(this.o.gatewayPid),
    };
    this.samples.push(s);
    return s;
  }

  private progress(): { unsent: number; pendingValidity: number } {
    try {
      this.db ??= new Database(this.o.databasePath, { readonly: true });
      const one = (sql: string) => (this.db!.prepare(sql).pluck().get() as number | null) ?? 0;
      const hasForwarder = one("SELECT COUNT(*) FROM sqlite_master WHERE name = 'forward_state'") > 0;
      if (!hasForwarder) return { unsent: one('SELECT COALESCE(MAX(seq), 0) FROM registrations'), pendingValidity: 0 };
      // Cheap reads: the registrations' numbers come off an index, the states off the forwarder's partial indexes.
      const picked = one('SELECT COALESCE(MAX(seq), 0) FROM forward_state');
      const last = one('SELECT COALESCE(MAX(seq), 0) FROM registrations');
      const open = one("SELECT COUNT(*) FROM forward_state WHERE state = 'in_flight'") + one("SELECT COUNT(*) FROM forward_state WHERE state = 'retry'");
      const pendingValidity = one("SELECT COUNT(*) FROM forward_state WHERE state = 'created' AND validity = 'pending'");
      return { unsent: last - picked + open, pendingValidity };
    } catch {
      return { unsent: -1, pendingValidity: -1 };
    }
  }
}

function mb(bytes: number): number {
  return Math.round((bytes / 1024 / 1024) * 10) / 10;
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function descriptors(pid: number | undefined): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

/** Peak resident memory of a process so far (VmHWM), in MB. */
export function peakRssMbOf(pid: number | undefined): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round((Number(m[1]) / 1024) * 10) / 10 : 0;
  } catch {
    return 0;
  }
}

/** Least-squares slope of y over t (per second); 0 with fewer than two points. */
export function slopePerSecond(points: Array<{ t: number; y: number }>): number {
  const n = points.length;
  if (n < 2) return 0;
  const mt = points.reduce((a, p) => a + p.t, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - mt) * (p.y - my);
    den += (p.t - mt) ** 2;
  }
  return den === 0 ? 0 : num / den;
}
