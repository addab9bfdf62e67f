/**
 * Reading a gateway's /metrics (Prometheus text exposition) in benchmarks: a sample's value, and a quantile
 * of a histogram as the upper bound of the bucket it falls in (what the histogram can say, no more).
 */

/** A Prometheus sample's value from an exposition text, or null. */
export function metricValue(text: string, name: string): number | null {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

/**
 * The upper bound of the bucket holding the q-quantile of histogram `name` (cumulative `_bucket{le=...}`
 * samples without other labels), in the histogram's unit; Infinity when it lies above the last bound, null
 * when the histogram is absent or empty.
 */
export function histogramQuantileBound(text: string, name: string, q: number): number | null {
  const buckets: Array<{ le: number; count: number }> = [];
  const re = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} ([0-9.eE+-]+)$`, 'gm');
  for (let m = re.exec(text); m; m = re.exec(text)) buckets.push({ le: m[1] === '+Inf' ? Infinity : Number(m[1]), count: Number(m[2]) });
  if (buckets.length === 0) return null;
  buckets.sort((a, b) => a.le - b.le);
  const total = buckets.at(-1)!.count;
  if (total === 0) return null;
  return buckets.find((b) => b.count >= q * total)!.le;
}

/** The gateway's /metrics text, or null when it does not answer within 10 s. */
export async function fetchMetrics(httpPort: number): Promise<string | null> {
  try {
    return await (await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  } catch {
    return null;
  }
}
