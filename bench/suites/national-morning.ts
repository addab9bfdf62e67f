/**
 * A national morning (simulator/load/national-morning.ts, `ciao sim --load --profile national-morning`):
 * 60,000 workers on 5,000 terminals, each terminal a real MQTT connection from the load generator, every
 * worker tapping IN within one simulated hour (played in two minutes), a break and an OUT later, while the
 * gateway's forwarder drains to the ONSS emulator. Reported: the peak of taps acked in one second, tap to
 * registration created at ONSS (p50/p99), the gateway's peak RSS with 5,000 connections, its CPU per 1,000
 * taps, and that no tap was lost or reached ONSS twice.
 */
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { benchMain, type BenchSize } from '../lib/child-main.ts';
import type { BenchResult, Figure } from '../lib/result.ts';
import { gatewayMissing, startGatewayTarget } from '../lib/targets.ts';
import { buildRelease } from '../lib/release.ts';
import { GatewayWatch, peakRssMbOf } from '../lib/gateway-watch.ts';
import { describeMemory, gatewayMemory, type MemorySnapshot } from '../lib/process-memory.ts';
import { seedNationalMorning, type NationalMorningWorld } from '../../simulator/load/national-morning-world.ts';
import { runNationalMorning, tapToOnss } from '../../simulator/load/national-morning.ts';
import { clientReferenceFor } from '../../gateway/onss/client-reference.ts';

export const MORNING_SIZES: Record<BenchSize, { workers: number; terminals: number; hourSeconds: number }> = {
  quick: { workers: 6_000, terminals: 500, hourSeconds: 20 },
  full: { workers: 60_000, terminals: 5_000, hourSeconds: 120 },
};

export async function runMorningBench(sizeName: BenchSize): Promise<Omit<BenchResult, 'id' | 'title'>> {
  const size = MORNING_SIZES[sizeName];
  const missing = gatewayMissing();
  if (missing) return { status: 'not-run', reason: missing, figures: [] };
  let world: NationalMorningWorld | undefined;
  // The gateway as deployed: the compiled release (its memory is the figure), as the service starts it.
  const release = buildRelease();
  const target = await startGatewayTarget(size.terminals, {
    release,
    ...(process.env.CIAO_BENCH_GATEWAY_FLAGS ? { nodeFlags: process.env.CIAO_BENCH_GATEWAY_FLAGS.split(' ') } : {}),
    forwarder: true,
    world: async (db) => (world = await seedNationalMorning(SqliteStore.of(db), { workers: size.workers, terminals: size.terminals })),
  });
  const watch = new GatewayWatch({ databasePath: target.workspace.databasePath, gatewayPid: target.pid, emulatorPid: target.emulator?.pid, everyMs: 5000 });
  let onss;
  let result;
  let peakRss = 0;
  let cpuSeconds = 0;
  // Where the memory is: seeded and idle, every terminal logged in, after the morning (see process-memory.ts).
  const memory: { idle?: MemorySnapshot; connected?: Promise<MemorySnapshot>; after?: MemorySnapshot } = {};
  try {
    memory.idle = await gatewayMemory(target.pid, target.httpPort);
    watch.start();
    // The gateway's CPU is counted from the first tap: the logins before it (an scrypt check each) are not taps.
    let cpuAtStart = 0;
    result = await runNationalMorning({
      url: target.url, terminals: target.terminals, badgesOf: world!.badgesOf, hourSeconds: size.hourSeconds, progress: {},
      onMorningStart: () => {
        cpuAtStart = watch.sample().gatewayCpuSeconds;
        memory.connected = gatewayMemory(target.pid, target.httpPort);
      },
    });
    onss = await tapToOnss(target.emulator!.dbPath, result.publishedAt, { referenceFor: clientReferenceFor, timeoutMs: 600_000 });
    watch.stop();
    peakRss = peakRssMbOf(target.pid);
    memory.after = await gatewayMemory(target.pid, target.httpPort);
    cpuSeconds = watch.samples.at(-1)!.gatewayCpuSeconds - cpuAtStart;
  } finally {
    await target.stop();
    await target.workspace.remove();
    release.remove();
  }
  const { publishedAt, ...morning } = result;
  const connected = await memory.connected;
  const perConnectionKb = connected && memory.idle ? Math.round(((connected.rssMb - memory.idle.rssMb) * 1024) / size.terminals) : null;
  const published = publishedAt.size;
  const lost = morning.unacked + morning.rejected + onss.missing;
  const fmt = (n: number) => n.toLocaleString('en-US');
  const figures: Figure[] = [
    {
      name: `national morning, ${fmt(size.workers)} workers on ${fmt(size.terminals)} terminals: peak taps acked in one second`,
      value: morning.peakAckedPerSecond,
      unit: 'taps/s',
      note: `${fmt(morning.stored)} taps stored of ${fmt(morning.planned)}; one simulated hour in ${size.hourSeconds} s, the morning over ${morning.morningSeconds} s; ${fmt(morning.terminals)} connections opened in ${morning.connectSeconds} s; ack p50 ${morning.ackLatencyMs?.p50Ms} ms, p99 ${morning.ackLatencyMs?.p99Ms} ms`,
    },
    { name: 'national morning: tap to registration created at ONSS, p50', value: onss.latencyMs?.p50Ms ?? null, unit: 'ms' },
    { name: 'national morning: tap to registration created at ONSS, p99', value: onss.latencyMs?.p99Ms ?? null, unit: 'ms', note: `the forwarder draining to the emulator while the taps come in; the last registrations at ONSS ${onss.waitedSeconds} s after the last ack` },
    {
      name: `national morning: gateway peak RSS with ${fmt(size.terminals)} connections`,
      value: peakRss || null,
      unit: 'MB',
      target: { op: '<=', value: 300, text: '<= 300 MB' },
      note: `VmHWM of the gateway process: broker, writer thread and forwarder. Seeded and idle: ${memory.idle ? describeMemory(memory.idle) : 'not read'}; with every terminal logged in, before the first tap: ${connected ? describeMemory(connected) : 'not read'}; after the morning: ${memory.after ? describeMemory(memory.after) : 'not read'}`,
    },
    {
      name: 'national morning: gateway resident memory per connection (logged in, idle)',
      value: perConnectionKb,
      unit: 'KB',
      note: 'RSS with every terminal logged in and none tapping yet, less the seeded idle gateway, over the number of connections',
    },
    { name: 'national morning: gateway CPU per 1,000 taps', value: morning.stored ? Math.round((cpuSeconds / morning.stored) * 1000 * 1000) / 1000 : null, unit: 's', note: `${Math.round(cpuSeconds * 10) / 10} s of CPU from the first tap to the last registration at ONSS (broker, writer, forwarder)` },
    {
      name: 'national morning: taps lost (unacked, refused or never at ONSS)',
      value: lost,
      unit: 'taps',
      target: { op: '<=', value: 0, text: '0' },
      note: `${morning.unacked} unacked, ${morning.rejected} refused, ${onss.missing} not at ONSS; ${morning.disconnects} disconnects`,
    },
    { name: 'national morning: duplicates at ONSS', value: onss.duplicates, unit: 'registrations', target: { op: '<=', value: 0, text: '0' } },
  ];
  return { status: 'ok', figures, details: { size: { name: sizeName, ...size }, morning, published, onss, peakRss, cpuSeconds, memory: { idle: memory.idle, connected, after: memory.after }, samples: watch.samples } };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchMain('national-morning', 'a national morning: 60,000 workers on 5,000 terminals', runMorningBench);
}
