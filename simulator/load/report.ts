import type { LoadResult } from './run-load.ts';

/** A load run as a few lines for people; the JSON form is the LoadResult itself. */
export function formatLoadResult(r: LoadResult): string {
  const lat = r.latencyMs;
  const fmt = (n: number) => n.toLocaleString('en-US');
  const lines = [
    `load run against ${r.url}: ${r.terminals} terminals, ${r.mode === 'fixed-rate' ? `fixed rate ${fmt(r.targetRate ?? 0)} taps/s` : `as fast as acks allow (window ${r.window} per terminal)`}`,
    `  sent ${fmt(r.sent)} taps (${fmt(r.invalidSent)} malformed on purpose) in ${r.sendSeconds.toFixed(2)} s; connect took ${r.connectSeconds.toFixed(2)} s`,
    `  acked: stored ${fmt(r.stored)}, rejected ${fmt(r.rejected)}${Object.keys(r.rejectReasons).length ? ` (${Object.entries(r.rejectReasons).map(([k, v]) => `${k}: ${fmt(v)}`).join(', ')})` : ''}, unacked ${fmt(r.unacked)}`,
    `  throughput: ${fmt(r.ackedPerSecond)} taps/s acked (${fmt(r.storedPerSecond)} stored/s) over ${r.elapsedSeconds.toFixed(2)} s`,
    lat
      ? `  ack latency (ms): p50 ${lat.p50Ms.toFixed(2)}, p95 ${lat.p95Ms.toFixed(2)}, p99 ${lat.p99Ms.toFixed(2)}, max ${lat.maxMs.toFixed(2)} (mean ${lat.meanMs.toFixed(2)}, ${fmt(lat.count)} acks)`
      : '  ack latency: no acks received',
  ];
  const anomalies = [
    r.wrongAnswers ? `${fmt(r.wrongAnswers)} wrong answers (valid rejected or malformed stored)` : '',
    r.unexpectedAcks ? `${fmt(r.unexpectedAcks)} unexpected acks` : '',
    r.malformedAcks ? `${fmt(r.malformedAcks)} malformed acks` : '',
    r.publishErrors ? `${fmt(r.publishErrors)} publish errors` : '',
    r.disconnects ? `${fmt(r.disconnects)} disconnects` : '',
    r.mode === 'fixed-rate' && r.maxBehind > 0 ? `schedule fell behind by up to ${fmt(r.maxBehind)} taps` : '',
  ].filter(Boolean);
  if (anomalies.length) lines.push(`  note: ${anomalies.join('; ')}`);
  return lines.join('\n');
}
