/**
 * Soak: the gateway as an operator runs it, for an hour: 1,000 taps/s from 200 terminals, the forwarder
 * draining to the ONSS emulator and settling validity as it goes (its default settings). Every 10 s the
 * gateway's and the emulator's memory, the WAL, the gateway's descriptors and the forwarder's backlogs are
 * sampled; at the end every tap must be at ONSS once. What it shows: no leak (memory flat over the last
 * half), ack latency under a sustained load with the forwarder writing, and a validity backlog that does not
 * grow.
 */
import { benchMain, type BenchSize } from '../lib/child-main.ts';
import type { BenchResult, Figure } from '../lib/result.ts';
import { gatewayMissing, startGatewayTarget } from '../lib/targets.ts';
import { buildRelease } from '../lib/release.ts';
import { GatewayWatch, peakRssMbOf, slopePerSecond, type WatchSample } from '../lib/gateway-watch.ts';
import { runLoad, type LoadResult } from '../../simulator/load/index.ts';
import { openDatabase } from '../../shared/sqlite.ts';
import { EMULATOR_NODE_FLAGS } from '../lib/emulator.ts';

export const SOAK_SIZES: Record<BenchSize, { terminals: number; rate: number; seconds: number; sampleEveryMs: number }> = {
  quick: { terminals: 200, rate: 1000, seconds: 120, sampleEveryMs: 5000 },
  full: { terminals: 200, rate: 1000, seconds: 3600, sampleEveryMs: 10_000 },
};

const round1 = (n: number) => Math.round(n * 10) / 10;

export async function runSoakBench(sizeName: BenchSize): Promise<Omit<BenchResult, 'id' | 'title'>> {
  const size = SOAK_SIZES[sizeName];
  const missing = gatewayMissing();
  if (missing) return { status: 'not-run', reason: missing, figures: [] };
  // The gateway as deployed: the compiled release, as the service starts it.
  const release = buildRelease();
  const target = await startGatewayTarget(size.terminals, { forwarder: true, release });
  const watch = new GatewayWatch({ databasePath: target.workspace.databasePath, gatewayPid: target.pid, emulatorPid: target.emulator?.pid, everyMs: size.sampleEveryMs });
  let load: LoadResult;
  let drained: WatchSample;
  let atOnss = { registrations: 0, duplicates: 0 };
  try {
    watch.start();
    load = await runLoad({ url: target.url, terminals: target.terminals, rate: size.rate, duration: size.seconds, progress: { label: 'soak', plainIntervalMs: 60_000 } });
    // Then the forwarder finishes what it had not sent yet (at most a few batches behind at this rate).
    const deadline = Date.now() + 300_000;
    do {
      await new Promise((r) => setTimeout(r, 1000));
      drained = watch.sample();
    } while (drained.unsent > 0 && Date.now() < deadline);
    watch.stop();
  } finally {
    await target.stop();
  }
  try {
    const emu = openDatabase(target.emulator!.dbPath, { readonly: true });
    try {
      atOnss = {
        registrations: emu.prepare('SELECT COUNT(DISTINCT client_reference) FROM registrations').pluck().get() as number,
        duplicates: emu.prepare('SELECT COUNT(*) FROM (SELECT client_reference FROM registrations GROUP BY client_reference HAVING COUNT(*) > 1)').pluck().get() as number,
      };
    } finally {
      emu.close();
    }
  } finally {
    await target.workspace.remove();
    release.remove();
  }

  const samples = watch.samples;
  const end = samples.at(-1)!.t;
  const lastHalf = samples.filter((s) => s.t >= end / 2 && s.t <= size.seconds + 5);
  const firstHalf = samples.filter((s) => s.t < end / 2);
  const slopeMbPerHour = (key: 'gatewayRssMb' | 'emulatorRssMb') => round1(slopePerSecond(lastHalf.map((s) => ({ t: s.t, y: s[key] }))) * 3600);
  const peakOf = (list: WatchSample[], key: keyof WatchSample) => Math.max(0, ...list.map((s) => s[key]));
  const validityRatio = peakOf(firstHalf, 'pendingValidity') > 0 ? Math.round((peakOf(lastHalf, 'pendingValidity') / peakOf(firstHalf, 'pendingValidity')) * 100) / 100 : null;
  const cpu = samples.at(-1)!.gatewayCpuSeconds - samples[0]!.gatewayCpuSeconds;
  const lat = load.latencyMs;
  const figures: Figure[] = [
    {
      name: `soak ${size.seconds / 60} min at ${size.rate.toLocaleString('en-US')} taps/s, forwarder on: ack latency p99`,
      value: lat?.p99Ms ?? null,
      unit: 'ms',
      target: { op: '<=', value: 25, text: '<= 25 ms' },
      note: `p50 ${lat?.p50Ms} ms, max ${lat?.maxMs} ms; ${load.stored.toLocaleString('en-US')} taps stored from ${size.terminals} terminals, ${load.unacked} unacked; achieved ${load.ackedPerSecond.toLocaleString('en-US')} taps/s`,
    },
    {
      name: 'soak: gateway RSS slope over the last half',
      value: slopeMbPerHour('gatewayRssMb'),
      unit: 'MB/h',
      target: { op: '<=', value: 10, text: '<= 10 MB/h (flat)' },
      note: `RSS ${samples[0]!.gatewayRssMb} MB at the start, peak ${peakRssMbOf(target.pid) || peakOf(samples, 'gatewayRssMb')} MB, ${samples.at(-1)!.gatewayRssMb} MB at the end; descriptors ${samples[0]!.fds} -> ${samples.at(-1)!.fds}; WAL at most ${peakOf(samples, 'walMb')} MB`,
    },
    {
      name: 'soak: emulator RSS slope over the last half',
      value: slopeMbPerHour('emulatorRssMb'),
      unit: 'MB/h',
      target: { op: '<=', value: 10, text: '<= 10 MB/h (flat)' },
      note: `emulator RSS ${samples[0]!.emulatorRssMb} MB at the start, ${peakOf(samples, 'emulatorRssMb')} MB at most, ${samples.at(-1)!.emulatorRssMb} MB at the end; Node flags ${EMULATOR_NODE_FLAGS.join(' ') || "none (V8's defaults)"}`,
    },
    {
      name: 'soak: validity backlog, peak of the last half / peak of the first half',
      value: validityRatio,
      unit: 'x',
      target: { op: '<=', value: 1.25, text: '<= 1.25x (bounded)' },
      note: `created registrations waiting for their validity: at most ${peakOf(samples, 'pendingValidity').toLocaleString('en-US')}, ${samples.at(-1)!.pendingValidity.toLocaleString('en-US')} at the end (validity asked one poll interval after creation, by period)`,
    },
    {
      name: 'soak: registrations at ONSS / taps stored',
      value: load.stored ? Math.round((atOnss.registrations / load.stored) * 10000) / 10000 : null,
      unit: 'x',
      target: { op: '>=', value: 1, text: '= 1 (every tap, once)' },
      note: `${atOnss.registrations.toLocaleString('en-US')} registrations at the emulator, ${atOnss.duplicates} duplicates; ${drained.unsent} not sent ${Math.round(drained.t - size.seconds)} s after the load stopped`,
    },
    {
      name: 'soak: gateway CPU per 1,000 taps',
      value: load.stored ? Math.round((cpu / load.stored) * 1000 * 1000) / 1000 : null,
      unit: 's',
      note: `${round1(cpu)} s of CPU over the run (all threads: broker, writer, forwarder)`,
    },
  ];
  const problems = [load.unacked ? `${load.unacked} taps unacked` : '', atOnss.duplicates ? `${atOnss.duplicates} duplicates at ONSS` : '', atOnss.registrations < load.stored ? `${load.stored - atOnss.registrations} taps not at ONSS` : ''].filter(Boolean);
  return {
    status: 'ok',
    ...(problems.length ? { reason: problems.join('; ') } : {}),
    figures,
    details: { size: { name: sizeName, ...size }, load, samples, atOnss },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchMain('soak', 'soak: an hour at 1,000 taps/s, forwarder on', runSoakBench);
}
