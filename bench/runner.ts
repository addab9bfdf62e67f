import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { BenchSize } from './lib/child-main.ts';
import { machineInfo, describeMachine, readCpuTimes, stealPercentBetween } from './lib/machine.ts';
import { spawnNodeTs } from './lib/processes.ts';
import { REPO_ROOT } from './lib/targets.ts';
import { notRun, parseResultLine, RESULT_PREFIX, withVerdicts, type BenchResult } from './lib/result.ts';
import { renderConsoleTable, updatePerformanceDoc, writeResults, type RecordedResult } from './lib/report.ts';
import { createProgress, type ProgressOutput } from '../simulator/progress/index.ts';

/**
 * `ciao bench`: runs each benchmark in a fresh child process (no JIT state, heap or open handles carried from
 * one to the next), prints a table, merges the results into bench/results.json and regenerates the summary
 * section of docs/PERFORMANCE.md.
 */
export interface BenchDefinition {
  id: string;
  title: string;
  /** Entry file, relative to the repository root (or absolute). */
  file: string;
  /** Files that must exist for the benchmark to run (parts built elsewhere); missing ones make it `not run`. */
  needs?: string[];
  timeoutMs: Record<BenchSize, number>;
}

export const BENCHMARKS: BenchDefinition[] = [
  { id: 'fsync', title: 'fsync rate of the working directory', file: 'bench/suites/fsync-rate.ts', timeoutMs: { quick: 30_000, full: 60_000 } },
  { id: 'gateway-ingest', title: 'gateway durable ingest vs QoS 1 relays', file: 'bench/suites/gateway-ingest.ts', timeoutMs: { quick: 150_000, full: 1_200_000 } },
  { id: 'ack-latency', title: 'ack latency at a fixed rate', file: 'bench/suites/ack-latency.ts', timeoutMs: { quick: 60_000, full: 300_000 } },
  { id: 'backlog-drain', title: 'backlog drained to the ONSS emulator', file: 'bench/suites/backlog-drain.ts', needs: ['bench/backlog-drain.ts'], timeoutMs: { quick: 90_000, full: 1_800_000 } },
  { id: 'shift-propagation', title: 'shift state across doors', file: 'bench/suites/shift-propagation.ts', timeoutMs: { quick: 90_000, full: 300_000 } },
  { id: 'terminal-feedback', title: 'terminal tap-to-feedback', file: 'bench/suites/terminal-feedback.ts', needs: ['bench/terminal-feedback.ts'], timeoutMs: { quick: 60_000, full: 300_000 } },
  // These two build the compiled release first (tens of seconds on a small machine) and run each case twice.
  { id: 'terminal-replay', title: 'terminal replay of queued taps', file: 'bench/suites/terminal-replay.ts', needs: ['bench/terminal-replay.ts'], timeoutMs: { quick: 240_000, full: 900_000 } },
  { id: 'sun-read', title: 'secure badge read at the terminal', file: 'bench/suites/sun-read.ts', needs: ['bench/sun-read.ts'], timeoutMs: { quick: 120_000, full: 300_000 } },
  { id: 'startup', title: 'start-up time', file: 'bench/suites/startup.ts', timeoutMs: { quick: 180_000, full: 420_000 } },
  { id: 'cluster', title: 'gateway instances as a cluster', file: 'bench/suites/cluster.ts', timeoutMs: { quick: 300_000, full: 900_000 } },
  { id: 'storage-footprint', title: 'what a tap and a registration weigh on disk', file: 'bench/suites/storage-footprint.ts', timeoutMs: { quick: 180_000, full: 600_000 } },
  // Long: an hour at 1,000 taps/s (plus the drain), and a morning of 5,000 connections (about half an hour).
  { id: 'soak', title: 'soak: an hour at 1,000 taps/s, forwarder on', file: 'bench/suites/soak.ts', timeoutMs: { quick: 420_000, full: 4_800_000 } },
  { id: 'national-morning', title: 'a national morning: 60,000 workers on 5,000 terminals', file: 'bench/suites/national-morning.ts', timeoutMs: { quick: 600_000, full: 3_600_000 } },
];

export interface RunBenchOptions {
  size: BenchSize;
  /** Benchmark ids to run (default: all). */
  only?: string[];
  /** Write bench/results.json and docs/PERFORMANCE.md (default true). */
  write?: boolean;
  resultsPath?: string;
  docPath?: string;
  /** Where the table and the children's progress go. */
  out?: NodeJS.WritableStream;
  err?: NodeJS.WritableStream & ProgressOutput;
  benchmarks?: BenchDefinition[];
}

/** Runs one benchmark's child process and returns its result, or a `failed` one that says why. */
export async function runChild(def: BenchDefinition, size: BenchSize, err: NodeJS.WritableStream): Promise<BenchResult> {
  const missing = (def.needs ?? []).filter((f) => !existsSync(resolve(REPO_ROOT, f)));
  if (missing.length) return notRun(def.id, def.title, `${missing.join(', ')} does not exist yet`);
  const started = performance.now();
  const child = spawnNodeTs(resolve(REPO_ROOT, def.file), [`--${size}`], { cwd: REPO_ROOT });
  let stdout = '';
  let pending = '';
  child.child.stdout!.on('data', (b: Buffer) => {
    stdout += b.toString();
    pending += b.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) if (!line.startsWith(RESULT_PREFIX)) err.write(`${line}\n`);
  });
  child.child.stderr!.on('data', (b: Buffer) => err.write(b));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void child.stop(2000);
  }, def.timeoutMs[size]);
  const code = await child.exited;
  clearTimeout(timer);
  const result = parseResultLine(stdout);
  if (result) return { ...result, durationMs: result.durationMs ?? Math.round(performance.now() - started) };
  const reason = timedOut ? `timed out after ${def.timeoutMs[size] / 1000} s` : `the benchmark process exited (${code}) without a result`;
  return { id: def.id, title: def.title, status: 'failed', reason, figures: [], durationMs: Math.round(performance.now() - started) };
}

export async function runBenchmarks(options: RunBenchOptions): Promise<BenchResult[]> {
  const out = options.out ?? process.stdout;
  const err = options.err ?? process.stderr;
  const all = options.benchmarks ?? BENCHMARKS;
  const unknown = (options.only ?? []).filter((id) => !all.some((b) => b.id === id));
  if (unknown.length) throw new Error(`--only: unknown benchmark ${unknown.join(', ')}; known: ${all.map((b) => b.id).join(', ')}`);
  const selected = options.only?.length ? all.filter((b) => options.only!.includes(b.id)) : all;
  const machine = machineInfo();
  err.write(`ciao bench (${options.size}) on ${describeMachine(machine)}; 1-minute load average ${machine.loadAverage1m}\n`);
  const progress = createProgress({ label: 'bench', unit: 'benchmarks', total: selected.length, output: err, plainIntervalMs: 0, ttyIntervalMs: 0 });
  const results: BenchResult[] = [];
  const recorded: RecordedResult[] = [];
  for (const def of selected) {
    err.write(`\n== ${def.title} (${def.id})\n`);
    // The load average before each benchmark: figures measured while something else ran are suspect.
    const loadBefore = machineInfo().loadAverage1m;
    const cpuBefore = readCpuTimes();
    const r = withVerdicts(await runChild(def, options.size, err));
    const stealPercent = stealPercentBetween(cpuBefore, readCpuTimes());
    if (stealPercent !== undefined) err.write(`(${def.id}: load average ${loadBefore} before it; ${stealPercent} % of the CPU time stolen by the host while it ran)\n`);
    results.push(r);
    recorded.push({ ...r, measuredAt: new Date().toISOString(), size: options.size, machine: { ...machine, loadAverage1m: loadBefore, ...(stealPercent !== undefined ? { stealPercent } : {}) } });
    progress.add(1, `last: ${def.id} ${r.status}`);
  }
  progress.finish();
  out.write(`\n${renderConsoleTable(results)}\n`);
  if (options.write !== false) {
    const resultsPath = options.resultsPath ?? join(REPO_ROOT, 'bench/results.json');
    const docPath = options.docPath ?? join(REPO_ROOT, 'docs/PERFORMANCE.md');
    const file = writeResults(resultsPath, recorded, all.map((b) => b.id));
    updatePerformanceDoc(docPath, file.results);
    out.write(`\nwrote ${resultsPath} and the summary of ${docPath}\n`);
  }
  return results;
}
