/**
 * Ack latencies of a run, kept exactly (one float per ack) and summarised by sorting: percentiles by the
 * nearest-rank method on a sorted array. A run of a million acks costs 8 MB, which is why no histogram
 * library is needed here; the figures are exact rather than bucketed.
 */
export interface LatencySummary {
  count: number;
  minMs: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

export class LatencyRecorder {
  private values = new Float64Array(1024);
  private length = 0;

  record(ms: number): void {
    if (this.length === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.length++] = ms;
  }

  get count(): number {
    return this.length;
  }

  summary(): LatencySummary | undefined {
    return summarise(this.values.subarray(0, this.length));
  }
}

/** Nearest-rank percentile of sorted values: the smallest value with at least p% of values at or below it. */
export function percentileOfSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summarise(values: ArrayLike<number>): LatencySummary | undefined {
  if (values.length === 0) return undefined;
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) sum += sorted[i]!;
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return {
    count: sorted.length,
    minMs: round(sorted[0]!),
    meanMs: round(sum / sorted.length),
    p50Ms: round(percentileOfSorted(sorted, 50)),
    p95Ms: round(percentileOfSorted(sorted, 95)),
    p99Ms: round(percentileOfSorted(sorted, 99)),
    maxMs: round(sorted[sorted.length - 1]!),
  };
}
