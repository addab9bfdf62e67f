/**
 * Gateway durable ingest with 50 terminals, side by side in the same run with a plain Aedes QoS 1 relay and
 * a Mosquitto QoS 1 relay of the same messages. Every target gets the same load generator (50 MQTT clients,
 * a window of taps per terminal, as fast as acks allow) and answers every tap with an application ack on the
 * terminal's `acks` topic: the gateway after its group commit (fsync), the relays through an ack responder
 * that subscribes to all taps at QoS 1 and stores nothing. Also: bytes on disk per tap in the gateway. And the
 * same gateway load with secure badges (NTAG 424 DNA): every tap carries a SUN message that the gateway
 * verifies, and whose read counter it records, in the ingest transaction; beside the UID-only figure.
 */
import { benchMain, type BenchSize } from '../lib/child-main.ts';
import type { BenchResult, Figure } from '../lib/result.ts';
import { gatewayMissing, startAedesTarget, startGatewayTarget, startMosquittoTarget, startSecureGatewayTarget, type LoadTarget } from '../lib/targets.ts';
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
  const sun = target.sun ? { sun: target.sun } : {};
  // Warm-up: JIT, SQLite page cache, the broker's subscription trees.
  await runLoad({ url: target.url, terminals: target.terminals, count: size.warmup, progress: false, ...sun });
  return runLoad({ url: target.url, terminals: target.terminals, count: size.count, progress: { label: `ingest ${target.name}` }, ...sun });
}

/** SUN messages each secure badge needs: its share of the warm-up and the run (16 badges a terminal), and a margin. */
function messagesPerBadge(size: (typeof INGEST_SIZES)[BenchSize]): number {
  return Math.ceil((size.warmup + size.count) / (size.terminals * 16)) + 8;
}

export async function runIngestBench(sizeName: BenchSize): Promise<Omit<BenchResult, 'id' | 'title'>> {
  const size = INGEST_SIZES[sizeName];
  const gatewayReason = gatewayMissing();
  const mosquittoReason = mosquittoPath() ? undefined : 'mosquitto is not installed (Debian package mosquitto)';
  const starters: Array<[TargetName, (n: number) => Promise<LoadTarget>]> = [
    ['aedes', startAedesTarget],
    ...(mosquittoReason ? [] : ([['mosquitto', startMosquittoTarget]] as Array<[TargetName, (n: number) => Promise<LoadTarget>]>)),
    ...(gatewayReason
      ? []
      : ([
          ['gateway', (n) => startGatewayTarget(n)],
          ['gateway-secure', (n) => startSecureGatewayTarget(n, messagesPerBadge(size))],
        ] as Array<[TargetName, (n: number) => Promise<LoadTarget>]>)),
  ];
  const runs: Record<TargetName, LoadResult[]> = { aedes: [], mosquitto: [], gateway: [], 'gateway-secure': [] };
  const failures: Partial<Record<TargetName, string>> = {};
  type Storage = { bytes: number; registrations: number; sunReads: number; held: number; taps: number };
  const storage: Partial<Record<'gateway' | 'gateway-secure', Storage>> = {};

  for (let round = 0; round < size.rounds; round++) {
    for (const [name, start] of starters) {
      if (failures[name]) continue;
      let target: LoadTarget | undefined;
      try {
        target = await start(size.terminals);
        const result = await measure(target, size);
        runs[name].push(result);
        if (result.unacked > 0 || result.wrongAnswers > 0) failures[name] = `${result.unacked} taps unacked, ${result.wrongAnswers} wrong answers`;
        if (name === 'gateway' || name === 'gateway-secure') {
          await target.stop();
          const s = { ...target.storage!(), taps: size.warmup + size.count };
          storage[name] = s;
          // Every secure tap must have been verified and registered, or the figure is not about verification.
          if (name === 'gateway-secure' && (s.held > 0 || s.sunReads !== s.taps || s.registrations !== s.taps)) {
            failures[name] = `${s.held} taps held by the badge check, ${s.sunReads} read counters recorded, ${s.registrations} registrations for ${s.taps} taps`;
          }
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
  const secure = rate('gateway-secure');
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
      value: perTap(storage.gateway),
      unit: 'B',
      note: storage.gateway ? `database files grew by ${storage.gateway.bytes.toLocaleString('en-US')} bytes over ${storage.gateway.taps.toLocaleString('en-US')} taps (${storage.gateway.registrations.toLocaleString('en-US')} registrations), measured after a clean stop of the gateway` : why('gateway', gatewayReason),
    },
    {
      name: 'gateway durable ingest, 50 terminals, secure badges (SUN verified in the transaction)',
      value: secure,
      unit: 'taps/s',
      note: why('gateway-secure', gatewayReason) ?? 'every tap carries a SUN message; the gateway decrypts it, checks its MAC and UID, and records its read counter with the tap',
    },
    {
      name: 'secure badges / UID-only badges, gateway ingest',
      value: secure !== null && gateway ? Math.round((secure / gateway) * 100) / 100 : null,
      unit: 'x',
      target: { op: '>=', value: 0.9, text: '>= 0.9x (no measurable slowdown)' },
    },
    {
      name: 'bytes on disk per tap, secure badges',
      value: perTap(storage['gateway-secure']),
      unit: 'B',
      note: storage['gateway-secure'] ? `${storage['gateway-secure'].sunReads.toLocaleString('en-US')} read counters recorded, ${storage['gateway-secure'].held} taps held` : why('gateway-secure', gatewayReason),
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

function perTap(s: { bytes: number; taps: number } | undefined): number | null {
  return s && s.taps > 0 ? Math.round(s.bytes / s.taps) : null;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchMain('gateway-ingest', 'gateway durable ingest vs QoS 1 relays', runIngestBench);
}
