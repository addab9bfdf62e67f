import { readFileSync } from 'node:fs';
import { fetchMetrics, metricValue } from './metrics-text.ts';

/**
 * Where a gateway's memory is at one moment: the process's resident set and its high-water mark from /proc,
 * and the main thread's V8 heap (used and reserved) and external memory from the gateway's own /metrics (prom-client's default
 * collectors). What is resident but neither heap nor external is native: SQLite's page caches, the writer
 * thread, socket buffers, and what malloc keeps after a burst (scrypt's 16 MB per login check, for one).
 */
export interface MemorySnapshot {
  rssMb: number;
  hwmMb: number;
  heapUsedMb: number | null;
  /** The heap V8 has reserved: what the heap costs in RSS, used or not. */
  heapTotalMb: number | null;
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

export async function gatewayMemory(pid: number | undefined, httpPort: number | undefined): Promise<MemorySnapshot> {
  const resident = residentOf(pid);
  let heapUsedMb: number | null = null;
  let heapTotalMb: number | null = null;
  let externalMb: number | null = null;
  // A gateway too busy to answer within 10 s: the resident figures stand alone.
  const text = httpPort ? await fetchMetrics(httpPort) : null;
  if (text) {
    const heap = metricValue(text, 'ciao_gateway_process_nodejs_heap_size_used_bytes');
    const total = metricValue(text, 'ciao_gateway_process_nodejs_heap_size_total_bytes');
    const external = metricValue(text, 'ciao_gateway_process_nodejs_external_memory_bytes');
    heapUsedMb = heap === null ? null : mb(heap);
    heapTotalMb = total === null ? null : mb(total);
    externalMb = external === null ? null : mb(external);
  }
  return { ...resident, heapUsedMb, heapTotalMb, externalMb };
}

export function describeMemory(s: MemorySnapshot): string {
  const parts = [`RSS ${s.rssMb} MB (high-water ${s.hwmMb} MB)`];
  if (s.heapUsedMb !== null) parts.push(`heap ${s.heapUsedMb} MB used${s.heapTotalMb !== null ? ` of ${s.heapTotalMb} MB reserved` : ''} (main thread)`);
  if (s.externalMb !== null) parts.push(`external ${s.externalMb} MB`);
  return parts.join(', ');
}
