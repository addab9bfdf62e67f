import { performance } from 'node:perf_hooks';
import { RESULT_PREFIX, type BenchResult } from './result.ts';
import { killAllSpawned } from './processes.ts';

export type BenchSize = 'quick' | 'full';

/** `--quick` or `--full` (the default) from a benchmark's command line. */
export function sizeFromArgv(argv = process.argv.slice(2)): BenchSize {
  return argv.includes('--quick') ? 'quick' : 'full';
}

/**
 * Runs one benchmark as the main of its child process: prints the result line, and turns a crash into a
 * `failed` result with the error, so the runner always gets an answer.
 */
export async function benchMain(id: string, title: string, run: (size: BenchSize) => Promise<Omit<BenchResult, 'id' | 'title'>>): Promise<void> {
  // Brokers and gateways run in process groups of their own: a benchmark stopped by the runner's timeout
  // (or crashing) takes them down with it instead of leaving them listening.
  process.once('exit', killAllSpawned);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      killAllSpawned();
      process.exit(signal === 'SIGTERM' ? 143 : 130);
    });
  }
  const started = performance.now();
  let result: BenchResult;
  try {
    result = { id, title, ...(await run(sizeFromArgv())) };
  } catch (err) {
    result = { id, title, status: 'failed', reason: err instanceof Error ? err.message : String(err), figures: [] };
    process.stderr.write(`${err instanceof Error && err.stack ? err.stack : String(err)}\n`);
  }
  result.durationMs = Math.round(performance.now() - started);
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
  // Leftover sockets or timers of a failed run must not keep the child alive.
  setTimeout(() => process.exit(0), 200).unref();
}
