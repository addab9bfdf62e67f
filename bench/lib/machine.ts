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
