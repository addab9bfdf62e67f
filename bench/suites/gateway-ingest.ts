/**
 * Gateway durable ingest with 50 terminals, side by side in the same run with a plain Aedes QoS 1 relay and
 * a Mosquitto QoS 1 relay of the same messages. Every target gets the same load generator (50 MQTT clients,
 * a window of taps per terminal, as fast as acks allow) and answers every tap with an application ack on the
 * terminal's `acks` topic: the gateway after its group commit (fsync), the relays through an ack responder
 * that subscribes to all taps at QoS 1 and stores nothing. Also: bytes on disk per tap in the gateway.
 */
import { benchMain, type BenchSize } from '../lib/child-main.ts';
import type { BenchResult, Figure } from '../lib/result.ts';
import { gatewayMissing, startAedesTarget, startGatewayTarget, startMosquittoTarget, type LoadTarget } from '../lib/targets.ts';
import { runLoad, type LoadResult } from '../../simulator/load/index.ts';
import { mosquittoPath } from '../relay/mosquitto.ts';

export const INGEST_SIZES: Record<BenchSize, { terminals: number; count: number; warmup: number; rounds: number }> = {
  quick: { terminals: 50, count: 30_000, warmup: 3_000, rounds: 1 },
  full: { terminals: 50, count: 200_000, warmup: 10_000, rounds: 3 },
};

type TargetName = LoadTarget['name'];

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function measure(target: LoadTarget, size: (typeof INGEST_SIZES)[BenchSize]): Promise<LoadResult> {
  // Warm-up: JIT, SQLite page cache, the broker's subscription trees.
  await runLoad({ url: target.url, terminals: target.terminals, count: size.warmup, progress: false });
  return runLoad({ url: target.url, terminals: target.terminals, count: size.count, progress: { label: `ingest ${target.name}` } });
}

export async function runIngestBench(sizeName: BenchSize): Promise<Omit<BenchResult, 'id' | 'title'>> {
  const size = INGEST_SIZES[sizeName];
  const gatewayReason = gatewayMissing();
  const mosquittoReason = mosquittoPath() ? undefined : 'mosquitto is not installed (Debian package mosquitto)';
  const starters: Array<[TargetName, (n: number) => Promise<LoadTarget>]> = [
    ['aedes', startAedesTarget],
    ...(mosquittoReason ? [] : ([['mosquitto', startMosquittoTarget]] as Array<[TargetName, (n: number) => Promise<LoadTarget>]>)),
    ...(gatewayReason ? [] : ([['gateway', startGatewayTarget]] as Array<[TargetName, (n: number) => Promise<LoadTarget>]>)),
  ];
  const runs: Record<TargetName, LoadResult[]> = { aedes: [], mosquitto: [], gateway: [] };
  const failures: Partial<Record<TargetName, string>> = {};
  let storage: { bytes: number; registrations: number; taps: number } | undefined;

  for (let round = 0; round < size.rounds; round++) {
    for (const [name, start] of starters) {
      if (failures[name]) continue;
      let target: LoadTarget | undefined;
      try {
        target = await start(size.terminals);
        const result = await measure(target, size);
        runs[name].push(result);
        if (result.unacked > 0 || result.wrongAnswers > 0) failures[name] = `${result.unacked} taps unacked, ${result.wrongAnswers} wrong answers`;
        if (name === 'gateway') {
          await target.stop();
          const s = target.storage!();
          storage = { ...s, taps: size.warmup + size.count };
        }
      } catch (err) {
        failures[name] = (err as Error).message;
      } finally {
        await target?.stop();
        (target as { workspace?: { remove(): void } } | undefined)?.workspace?.remove();
      }
    }
  }

  const rate = (name: TargetName) => (runs[name].length && !failures[name] ? median(runs[name].map((r) => r.ackedPerSecond)) : null);
  const gateway = rate('gateway');
  const aedes = rate('aedes');
  const mosquitto = rate('mosquitto');
  const why = (name: TargetName, missing?: string) => missing ?? failures[name];
  const figures: Figure[] = [
    {
      name: 'gateway durable ingest, 50 terminals (acked after fsync)',
      value: gateway,
      unit: 'taps/s',
      target: { op: '>=', value: 20_000, text: '>= 20,000 taps/s' },
      note: why('gateway', gatewayReason),
    },
    { name: 'raw Aedes QoS 1 relay, same taps and acks', value: aedes, unit: 'taps/s', note: why('aedes') },
    { name: 'Mosquitto QoS 1 relay, same taps and acks', value: mosquitto, unit: 'taps/s', note: why('mosquitto', mosquittoReason) },
    {
      name: 'gateway / raw Aedes relay',
      value: gateway !== null && aedes ? Math.round((gateway / aedes) * 100) / 100 : null,
      unit: 'x',
      target: { op: '>=', value: 0.7, text: '>= 0.7x' },
    },
    { name: 'gateway / Mosquitto relay', value: gateway !== null && mosquitto ? Math.round((gateway / mosquitto) * 100) / 100 : null, unit: 'x' },
    {
      name: 'bytes on disk per tap (gateway database / taps)',
      value: storage && storage.taps > 0 ? Math.round(storage.bytes / storage.taps) : null,
      unit: 'B',
      note: storage ? `database files grew by ${storage.bytes.toLocaleString('en-US')} bytes over ${storage.taps.toLocaleString('en-US')} taps (${storage.registrations.toLocaleString('en-US')} registrations), measured after a clean stop of the gateway` : why('gateway', gatewayReason),
    },
  ];
  for (const f of figures) if (!f.note) delete f.note;
  const anyOk = figures.some((f) => f.value !== null);
  const problems = [gatewayReason && `gateway: ${gatewayReason}`, ...Object.entries(failures).map(([k, v]) => `${k}: ${v}`)].filter(Boolean);
  return {
    status: anyOk ? 'ok' : 'failed',
    ...(problems.length ? { reason: problems.join('; ') } : {}),
    figures,
    details: { size: { name: sizeName, ...size }, runs, storage, failures },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchMain('gateway-ingest', 'gateway durable ingest vs QoS 1 relays', runIngestBench);
}
