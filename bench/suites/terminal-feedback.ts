/**
 * Terminal tap-to-feedback, online and offline (bench/terminal-feedback.ts does the work; this entry sizes
 * it and states the target: p99 <= 20 ms either way).
 */
import { benchMain, type BenchSize } from '../lib/child-main.ts';
import type { BenchResult } from '../lib/result.ts';
import { REPO_ROOT } from '../lib/targets.ts';

export const FEEDBACK_SIZES: Record<BenchSize, { taps: number; intervalMs: number }> = {
  quick: { taps: 300, intervalMs: 10 },
  full: { taps: 2000, intervalMs: 10 },
};

export async function runFeedbackBench(size: BenchSize): Promise<Omit<BenchResult, 'id' | 'title'>> {
  const { runTerminalFeedbackBench } = await import('../terminal-feedback.ts');
  const s = FEEDBACK_SIZES[size];
  // The outbox commits with fsync: measure on the working directory's disk, as the fsync figure does.
  const r = await runTerminalFeedbackBench({ ...s, dir: REPO_ROOT });
  const target = { op: '<=' as const, value: 20, text: '<= 20 ms' };
  const note = (x: typeof r.online) => `${x.taps} taps, one every ${s.intervalMs} ms; mean ${x.meanMs} ms, max ${x.maxMs} ms`;
  return {
    status: 'ok',
    figures: [
      { name: 'terminal tap-to-feedback p50, gateway online', value: r.online.p50Ms, unit: 'ms', note: note(r.online) },
      { name: 'terminal tap-to-feedback p99, gateway online', value: r.online.p99Ms, unit: 'ms', target },
      { name: 'terminal tap-to-feedback p50, gateway offline', value: r.offline.p50Ms, unit: 'ms', note: note(r.offline) },
      { name: 'terminal tap-to-feedback p99, gateway offline', value: r.offline.p99Ms, unit: 'ms', target },
    ],
    details: { size: { name: size, ...s }, result: r },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchMain('terminal-feedback', 'terminal tap-to-feedback', runFeedbackBench);
}
