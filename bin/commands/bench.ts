import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('bench')
    .description('Run the benchmarks, print a table, write bench/results.json and the summary of docs/PERFORMANCE.md')
    .argument('[ids...]', 'benchmark ids to run, as with --only (e.g. `ciao bench startup`)')
    .option('--quick', 'smaller counts and durations (finishes in under two minutes)')
    .option('--only <ids>', 'comma-separated benchmark ids: fsync, gateway-ingest, ack-latency, backlog-drain, terminal-feedback, terminal-replay, sun-read, startup')
    .option('--no-write', 'print the table only; leave bench/results.json and docs/PERFORMANCE.md alone')
    .option('--list', 'list the benchmarks and exit')
    .action(async (ids: string[], opts: { quick?: boolean; only?: string; write: boolean; list?: boolean }) => {
      const { runBenchmarks, BENCHMARKS } = await import('../../bench/runner.ts');
      if (opts.list) {
        for (const b of BENCHMARKS) process.stdout.write(`${b.id.padEnd(18)} ${b.title}\n`);
        return;
      }
      const named = [...ids, ...(opts.only?.split(',') ?? [])].map((s) => s.trim()).filter(Boolean);
      const only = named.length ? named : undefined;
      const results = await runBenchmarks({ size: opts.quick ? 'quick' : 'full', only, write: opts.write });
      if (results.some((r) => r.status === 'failed')) process.exitCode = 1;
    });
}
