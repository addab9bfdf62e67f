/**
 * Ack latency at a fixed 2,000 taps/s from 50 terminals: publish to the gateway's `stored` ack (after the
 * group commit's fsync), with the forwarder draining to the emulator as in a deployment, and again with
 * forwarding off. The same run against the plain Aedes relay gives a reference: what the broker, the load
 * generator and the loopback cost without authentication, storage or fsync.
 */
import { benchMain, type BenchSize } from '../lib/child-main.ts';
import type { BenchResult, Figure } from '../lib/result.ts';
import { gatewayMissing, startAedesTarget, startGatewayTarget, type LoadTarget } from '../lib/targets.ts';
import { runLoad, type LoadResult } from '../../simulator/load/index.ts';
import { fetchMetrics, histogramQuantileBound, metricValue } from '../lib/metrics-text.ts';

export const LATENCY_SIZES: Record<BenchSize, { terminals: number; rate: number; seconds: number; warmupSeconds: number }> = {
  quick: { terminals: 50, rate: 2000, seconds: 5, warmupSeconds: 1 },
  full: { terminals: 50, rate: 2000, seconds: 30, warmupSeconds: 3 },
};

async function measure(target: LoadTarget, size: (typeof LATENCY_SIZES)[BenchSize]): Promise<LoadResult> {
  await runLoad({ url: target.url, terminals: target.terminals, rate: size.rate, duration: size.warmupSeconds, progress: false });
  return runLoad({ url: target.url, terminals: target.terminals, rate: size.rate, duration: size.seconds, progress: { label: `latency ${target.name}` } });
}

/**
 * Where a gateway's ack tail comes from, read from its /metrics after the run (warm-up included): the commit
 * transaction's p99 (on the writer thread, fsync included), the gateway's own arrival-to-ack p99, and the
 * broker thread's event-loop delay p99. Bucket bounds for the two histograms, so "<= 5 ms" means "in the
 * bucket that ends at 5 ms".
 */
export interface AckTailParts {
  commitP99Ms: number | null;
  gatewayAckP99Ms: number | null;
  eventLoopDelayP99Ms: number | null;
}

async function ackTailParts(httpPort: number): Promise<AckTailParts | undefined> {
  const text = await fetchMetrics(httpPort);
  if (!text) return undefined;
  const ms = (v: number | null) => (v === null ? null : Number.isFinite(v) ? Math.round(v * 100_000) / 100 : v);
  return {
    commitP99Ms: ms(histogramQuantileBound(text, 'ciao_gateway_commit_duration_seconds', 0.99)),
    gatewayAckP99Ms: ms(histogramQuantileBound(text, 'ciao_gateway_ack_latency_seconds', 0.99)),
    eventLoopDelayP99Ms: ms(metricValue(text, 'ciao_gateway_process_nodejs_eventloop_lag_p99_seconds')),
  };
}

export function describeAckTail(p: AckTailParts | undefined): string | undefined {
  if (!p) return undefined;
  const f = (v: number | null) => (v === null ? 'n/a' : v === Infinity ? 'above the last bucket' : `<= ${v} ms`);
  return `inside the gateway: commit p99 ${f(p.commitP99Ms)}, arrival to ack p99 ${f(p.gatewayAckP99Ms)}, broker thread's event-loop delay p99 ${p.eventLoopDelayP99Ms ?? 'n/a'} ms`;
}

async function onTarget(start: () => Promise<LoadTarget>, size: (typeof LATENCY_SIZES)[BenchSize]): Promise<LoadResult & { tail?: AckTailParts }> {
  const target = await start();
  try {
    const result = await measure(target, size);
    const tail = target.httpPort ? await ackTailParts(target.httpPort) : undefined;
    return tail ? { ...result, tail } : result;
  } finally {
    await target.stop();
    await (target as { workspace?: { remove(): Promise<void> } }).workspace?.remove();
  }
}

export async function runLatencyBench(sizeName: BenchSize): Promise<Omit<BenchResult, 'id' | 'title'>> {
  const size = LATENCY_SIZES[sizeName];
  const failures: string[] = [];
  let relay: LoadResult | undefined;
  let gateway: (LoadResult & { tail?: AckTailParts }) | undefined;
  let gatewayOff: (LoadResult & { tail?: AckTailParts }) | undefined;
  try {
    relay = await onTarget(() => startAedesTarget(size.terminals), size);
  } catch (err) {
    failures.push(`raw Aedes relay: ${(err as Error).message}`);
  }
  const missing = gatewayMissing();
  if (missing) failures.push(`gateway: ${missing}`);
  else {
    // As deployed: the forwarder drains the registrations to the emulator while the taps come in.
    try {
      gateway = await onTarget(() => startGatewayTarget(size.terminals, { forwarder: true }), size);
      if (gateway.unacked > 0) failures.push(`gateway: ${gateway.unacked} taps unacked`);
    } catch (err) {
      failures.push(`gateway: ${(err as Error).message}`);
    }
    try {
      gatewayOff = await onTarget(() => startGatewayTarget(size.terminals), size);
      if (gatewayOff.unacked > 0) failures.push(`gateway, forwarder off: ${gatewayOff.unacked} taps unacked`);
    } catch (err) {
      failures.push(`gateway, forwarder off: ${(err as Error).message}`);
    }
  }
  const achieved = (r: LoadResult | undefined) => r ? `achieved ${r.ackedPerSecond.toLocaleString('en-US')} taps/s acked, ${r.latencyMs?.count ?? 0} acks; p95 ${r.latencyMs?.p95Ms} ms, max ${r.latencyMs?.maxMs} ms` : undefined;
  const p99 = gateway?.latencyMs?.p99Ms ?? null;
  const relayP99 = relay?.latencyMs?.p99Ms ?? null;
  const figures: Figure[] = [
    { name: 'gateway ack latency p50 at 2,000 taps/s, forwarder on', value: gateway?.latencyMs?.p50Ms ?? null, unit: 'ms', ...(achieved(gateway) ? { note: achieved(gateway) } : {}) },
    { name: 'gateway ack latency p99 at 2,000 taps/s, forwarder on', value: p99, unit: 'ms', target: { op: '<=', value: 10, text: '<= 10 ms' }, ...(gateway?.tail ? { note: describeAckTail(gateway.tail)! } : {}) },
    { name: 'gateway ack latency p99 at 2,000 taps/s, forwarder off', value: gatewayOff?.latencyMs?.p99Ms ?? null, unit: 'ms', ...(gatewayOff?.latencyMs ? { note: [`p50 ${gatewayOff.latencyMs.p50Ms} ms; ${achieved(gatewayOff)}`, describeAckTail(gatewayOff.tail)].filter(Boolean).join('; ') } : {}) },
    { name: 'raw Aedes relay ack latency p99 at 2,000 taps/s (reference)', value: relayP99, unit: 'ms', ...(relay?.latencyMs ? { note: `p50 ${relay.latencyMs.p50Ms} ms, p99 ${relay.latencyMs.p99Ms} ms` } : {}) },
    {
      name: 'gateway ack p99 (forwarder on) / raw Aedes relay ack p99',
      value: p99 !== null && relayP99 ? Math.round((p99 / relayP99) * 100) / 100 : null,
      unit: 'x',
      target: { op: '<=', value: 2, text: '<= 2x' },
    },
  ];
  return {
    status: gateway || gatewayOff || relay ? 'ok' : 'failed',
    ...(failures.length ? { reason: failures.join('; ') } : {}),
    figures,
    details: { size: { name: sizeName, ...size }, gateway, gatewayOff, relay },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchMain('ack-latency', 'ack latency at a fixed rate', runLatencyBench);
}
