import { readFileSync } from 'node:fs';

/**
 * Where a gateway's memory is at one moment: the process's resident set and its high-water mark from /proc,
 * and the main thread's V8 heap and external memory from the gateway's own /metrics (prom-client's default
 * collectors). What is resident but neither heap nor external is native: SQLite's page caches, the writer
 * thread, socket buffers, and what malloc keeps after a burst (scrypt's 16 MB per login check, for one).
 */
export interface MemorySnapshot {
  rssMb: number;
  hwmMb: number;
  heapUsedMb: number | null;
  externalMb: number | null;
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

/** VmRSS and VmHWM of a process, in MB (0 when it is gone). */
export function residentOf(pid: number | undefined): { rssMb: number; hwmMb: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
    return { rssMb: mb(kb('VmRSS') * 1024), hwmMb: mb(kb('VmHWM') * 1024) };
  } catch {
    return { rssMb: 0, hwmMb: 0 };
  }
}

/** A Prometheus sample's value from an exposition text, or null. */
export function metricValue(text: string, name: string): number | null {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

export async function gatewayMemory(pid: number | undefined, httpPort: number | undefined): Promise<MemorySnapshot> {
  const resident = residentOf(pid);
  let heapUsedMb: number | null = null;
  let externalMb: number | null = null;
  if (httpPort) {
    try {
      const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
      const heap = metricValue(text, 'ciao_gateway_process_nodejs_heap_size_used_bytes');
      const external = metricValue(text, 'ciao_gateway_process_nodejs_external_memory_bytes');
      heapUsedMb = heap === null ? null : mb(heap);
      externalMb = external === null ? null : mb(external);
    } catch {
      // A gateway too busy to answer within 10 s: the resident figures stand alone.
    }
  }
  return { ...resident, heapUsedMb, externalMb };
}

export function describeMemory(s: MemorySnapshot): string {
  const parts = [`RSS ${s.rssMb} MB (high-water ${s.hwmMb} MB)`];
  if (s.heapUsedMb !== null) parts.push(`heap ${s.heapUsedMb} MB`);
  if (s.externalMb !== null) parts.push(`external ${s.externalMb} MB`);
  return parts.join(', ');
}
