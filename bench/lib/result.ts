/**
 * The shape every benchmark reports, and the line protocol between a benchmark's child process and the
 * runner: the child prints its result as one line `BENCH_RESULT {json}` on stdout; everything else it
 * writes (progress, logs) is passed through for people to read.
 */
export interface Target {
  /** `>=` when more is better (throughput), `<=` when less is better (latency, memory). */
  op: '>=' | '<=';
  value: number;
  /** How the target reads in the table: `>= 20,000 taps/s`. */
  text: string;
}

export interface Figure {
  /** What is measured, as the summary table names it. */
  name: string;
  /** The measured value; null when the benchmark could not produce it. */
  value: number | null;
  unit: string;
  target?: Target;
  /** Set by the runner from value and target; absent when there is no target. */
  met?: boolean;
  note?: string;
}

export type BenchStatus = 'ok' | 'not-run' | 'failed';

export interface BenchResult {
  id: string;
  title: string;
  status: BenchStatus;
  /** Why a benchmark did not run or failed: shown instead of figures, never replaced by a made-up value. */
  reason?: string;
  figures: Figure[];
  /** Raw measurements for results.json (load results, sizes, ...). */
  details?: Record<string, unknown>;
  durationMs?: number;
}

export const RESULT_PREFIX = 'BENCH_RESULT ';

export function isMet(value: number | null, target: Target | undefined): boolean | undefined {
  if (!target || value === null || !Number.isFinite(value)) return undefined;
  return target.op === '>=' ? value >= target.value : value <= target.value;
}

/** Fills `met` for every figure that has a target. */
export function withVerdicts(result: BenchResult): BenchResult {
  return { ...result, figures: result.figures.map((f) => ({ ...f, met: isMet(f.value, f.target) })) };
}

/** Finds the result line in a child's stdout; the last one wins. */
export function parseResultLine(stdout: string): BenchResult | undefined {
  const lines = stdout.split('\n').filter((l) => l.startsWith(RESULT_PREFIX));
  const last = lines.at(-1);
  if (!last) return undefined;
  try {
    return JSON.parse(last.slice(RESULT_PREFIX.length)) as BenchResult;
  } catch {
    return undefined;
  }
}

export function notRun(id: string, title: string, reason: string, figureNames: Array<Omit<Figure, 'value'>> = []): BenchResult {
  return { id, title, status: 'not-run', reason, figures: figureNames.map((f) => ({ ...f, value: null })) };
}
