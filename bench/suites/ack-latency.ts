/**
 * Ack latency at a fixed 2,000 taps/s from 50 terminals: publish to the gateway's `stored` ack (after the
 * group commit's fsync). The same run against the plain Aedes relay gives a reference: what the broker, the
 * load generator and the loopback cost without authentication, storage or fsync.
 */
import { benchMain, type BenchSize } from '../lib/child-main.ts';
import type { BenchResult, Figure } from '../lib/result.ts';
import { gatewayMissing, startAedesTarget, startGatewayTarget, type LoadTarget } from '../lib/targets.ts';
import { runLoad, type LoadResult } from '../../simulator/load/index.ts';

export const LATENCY_SIZES: Record<BenchSize, { terminals: number; rate: number; seconds: number; warmupSeconds: number }> = {
  quick: { terminals: 50, rate: 2000, seconds: 5, warmupSeconds: 1 },
  full: { terminals: 50, rate: 2000, seconds: 30, warmupSeconds: 3 },
};

async function measure(target: LoadTarget, size: (typeof LATENCY_SIZES)[BenchSize]): Promise<LoadResult> {
  await runLoad({ url: target.url, terminals: target.terminals, rate: size.rate, duration: size.warmupSeconds, progress: false });
  return runLoad({ url: target.url, terminals: target.terminals, rate: size.rate, duration: size.seconds, progress: { label: `latency ${target.name}` } });
}

async function onTarget(start: () => Promise<LoadTarget>, size: (typeof LATENCY_SIZES)[BenchSize]): Promise<LoadResult> {
  const target = await start();
  try {
    return await measure(target, size);
  } finally {
    await target.stop();
    (target as { workspace?: { remove(): void } }).workspace?.remove();
  }
}

export async function runLatencyBench(sizeName: BenchSize): Promise<Omit<BenchResult, 'id' | 'title'>> {
  const size = LATENCY_SIZES[sizeName];
  const failures: string[] = [];
  let relay: LoadResult | undefined;
  let gateway: LoadResult | undefined;
  try {
    relay = await onTarget(() => startAedesTarget(size.terminals), size);
  } catch (err) {
    failures.push(`raw Aedes relay: ${(err as Error).message}`);
  }
  const missing = gatewayMissing();
  if (missing) failures.push(`gateway: ${missing}`);
  else {
    try {
      gateway = await onTarget(() => startGatewayTarget(size.terminals), size);
      if (gateway.unacked > 0) failures.push(`gateway: ${gateway.unacked} taps unacked`);
    } catch (err) {
      failures.push(`gateway: ${(err as Error).message}`);
    }
  }
  const achieved = gateway ? `achieved ${gateway.ackedPerSecond.toLocaleString('en-US')} taps/s acked, ${gateway.latencyMs?.count ?? 0} acks; p95 ${gateway.latencyMs?.p95Ms} ms, max ${gateway.latencyMs?.maxMs} ms` : undefined;
  const figures: Figure[] = [
    { name: 'gateway ack latency p50 at 2,000 taps/s', value: gateway?.latencyMs?.p50Ms ?? null, unit: 'ms', ...(achieved ? { note: achieved } : {}) },
    { name: 'gateway ack latency p99 at 2,000 taps/s', value: gateway?.latencyMs?.p99Ms ?? null, unit: 'ms', target: { op: '<=', value: 25, text: '<= 25 ms' } },
    { name: 'raw Aedes relay ack latency p99 at 2,000 taps/s (reference)', value: relay?.latencyMs?.p99Ms ?? null, unit: 'ms', ...(relay?.latencyMs ? { note: `p50 ${relay.latencyMs.p50Ms} ms, p99 ${relay.latencyMs.p99Ms} ms` } : {}) },
  ];
  return {
    status: gateway || relay ? 'ok' : 'failed',
    ...(failures.length ? { reason: failures.join('; ') } : {}),
    figures,
    details: { size: { name: sizeName, ...size }, gateway, relay },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchMain('ack-latency', 'ack latency at a fixed rate', runLatencyBench);
}
