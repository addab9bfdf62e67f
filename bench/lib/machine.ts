import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem, hostname, loadavg } from 'node:os';

/** The machine a run was measured on, so figures are read against it. */
export interface MachineInfo {
  nproc: number;
  memoryMiB: number;
  cpuModel: string;
  node: string;
  platform: string;
  hostname: string;
  /** 1-minute load average when the run started: other work on the machine skews every figure. */
  loadAverage1m?: number;
  /**
   * Of the machine's CPU time while the benchmark ran, the share the hypervisor gave to other guests (steal,
   * from /proc/stat), in %: a virtual machine whose host is busy measures less than its cores can do.
   */
  stealPercent?: number;
}

/** The machine-wide CPU counters of /proc/stat's `cpu` line (clock ticks). */
export interface CpuTimes {
  total: number;
  steal: number;
}

/** `cpu  user nice system idle iowait irq softirq steal guest guest_nice`; guest time is within user time. */
export function cpuTimesFromProcStat(text: string): CpuTimes | undefined {
  const m = /^cpu\s+([\d\s]+)$/m.exec(text);
  if (!m) return undefined;
  const v = m[1]!.trim().split(/\s+/).map(Number);
  if (v.length < 8 || v.some((x) => !Number.isFinite(x))) return undefined;
  return { total: v.slice(0, 8).reduce((a, b) => a + b, 0), steal: v[7]! };
}

export function readCpuTimes(): CpuTimes | undefined {
  try {
    return cpuTimesFromProcStat(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return undefined; // not Linux
  }
}

/** The steal share between two readings, in % with one decimal; undefined without both or without time between. */
export function stealPercentBetween(before: CpuTimes | undefined, after: CpuTimes | undefined): number | undefined {
  if (!before || !after || after.total <= before.total) return undefined;
  return Math.round((1000 * (after.steal - before.steal)) / (after.total - before.total)) / 10;
}

export function cpuModelFromCpuinfo(text: string): string | undefined {
  const m = /^model name\s*:\s*(.+)$/m.exec(text);
  return m?.[1]?.trim();
}

export function machineInfo(): MachineInfo {
  let cpuModel: string | undefined;
  try {
    cpuModel = cpuModelFromCpuinfo(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    // Not Linux: fall back to what Node knows.
  }
  return {
    nproc: availableParallelism(),
    memoryMiB: Math.round(totalmem() / 1024 / 1024),
    cpuModel: cpuModel ?? cpus()[0]?.model ?? 'unknown',
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    hostname: hostname(),
    loadAverage1m: Math.round(loadavg()[0]! * 100) / 100,
  };
}

export function describeMachine(m: MachineInfo): string {
  return `${m.nproc} CPUs (${m.cpuModel}), ${(m.memoryMiB / 1024).toFixed(1)} GiB RAM, Node ${m.node}, ${m.platform}`;
}
