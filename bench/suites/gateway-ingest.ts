/**
 * Gateway durable ingest with 50 terminals, side by side in the same run with a plain Aedes QoS 1 relay and
 * a Mosquitto QoS 1 relay of the same messages. Every target gets the same load generator (50 MQTT clients,
 * a window of taps per terminal, as fast as acks allow) and answers every tap with an application ack on the
 * terminal's `acks` topic: the gateway after its group commit (fsync), the relays through an ack responder
 * that subscribes to all taps at QoS 1 and stores nothing.
 *
 * The gateway runs as in a deployment: its forwarder drains the registrations to the ONSS emulator (its own
 * process) while the taps come in; the same gateway with forwarding off is measured beside it. Also: bytes on
 * disk per tap, and the same loads with secure badges (NTAG 424 DNA), every tap's SUN message verified, and
 * its counter recorded, in the ingest transaction.
 */
import { benchMain, type BenchSize } from '../lib/child-main.ts';
import type { BenchResult, Figure } from '../lib/result.ts';
import { cpuSecondsOf, gatewayMissing, startAedesTarget, startGatewayTarget, startMosquittoTarget, startSecureGatewayTarget, type GatewayStorage, type LoadTarget } from '../lib/targets.ts';
import { runLoad, type LoadResult } from '../../simulator/load/index.ts';
import { mosquittoPath } from '../relay/mosquitto.ts';

export const INGEST_SIZES: Record<BenchSize, { terminals: number; count: number; warmup: number; rounds: number }> = {
  quick: { terminals: 50, count: 30_000, warmup: 3_000, rounds: 1 },
  full: { terminals: 50, count: 200_000, warmup: 10_000, rounds: 3 },
};

type TargetName = LoadTarget['name'];
type Size = (typeof INGEST_SIZES)[BenchSize];

/** One measured run, with the CPU the gateway and the emulator used during it. */
interface Run extends LoadResult {
  gatewayCpuSeconds?: number;
  emulatorCpuSeconds?: number;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function measure(target: LoadTarget, size: Size): Promise<Run> {
  const sun = target.sun ? { sun: target.sun } : {};
  // Warm-up: JIT, SQLite page cache, the broker's subscription trees, the forwarder's token.
  await runLoad({ url: target.url, terminals: target.terminals, count: size.warmup, progress: false, ...sun });
  const cpu0 = cpuSecondsOf(target.pid);
  const emu0 = cpuSecondsOf(target.emulator?.pid);
  const r = await runLoad({ url: target.url, terminals: target.terminals, count: size.count, progress: { label: `ingest ${target.name}` }, ...sun });
  return {
    ...r,
    ...(target.pid ? { gatewayCpuSeconds: Math.round((cpuSecondsOf(target.pid) - cpu0) * 100) / 100 } : {}),
    ...(target.emulator ? { emulatorCpuSeconds: Math.round((cpuSecondsOf(target.emulator.pid) - emu0) * 100) / 100 } : {}),
  };
}

/** SUN messages each secure badge needs: its share of the warm-up and the run (16 badges a terminal), and a margin. */
function messagesPerBadge(size: Size): number {
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
          ['gateway', (n) => startGatewayTarget(n, { forwarder: true })],
          ['gateway-off', (n) => startGatewayTarget(n)],
          ['gateway-secure', (n) => startSecureGatewayTarget(n, messagesPerBadge(size), { forwarder: true })],
          ['gateway-secure-off', (n) => startSecureGatewayTarget(n, messagesPerBadge(size))],
        ] as Array<[TargetName, (n: number) => Promise<LoadTarget>]>)),
  ];
  const runs: Record<TargetName, Run[]> = { aedes: [], mosquitto: [], gateway: [], 'gateway-off': [], 'gateway-secure': [], 'gateway-secure-off': [] };
  const failures: Partial<Record<TargetName, string>> = {};
  type Stored = GatewayStorage & { taps: number };
  const storage: Partial<Record<TargetName, Stored>> = {};

  for (let round = 0; round < size.rounds; round++) {
    for (const [name, start] of starters) {
      if (failures[name]) continue;
      let target: LoadTarget | undefined;
      try {
        target = await start(size.terminals);
        const result = await measure(target, size);
        runs[name].push(result);
        if (result.unacked > 0 || result.wrongAnswers > 0) failures[name] = `${result.unacked} taps unacked, ${result.wrongAnswers} wrong answers`;
        if (target.storage) {
          await target.stop();
          const s = { ...target.storage(), taps: size.warmup + size.count };
          storage[name] = s;
          // Every secure tap must have been verified and registered, or the figure is not about verification.
          if (name.startsWith('gateway-secure') && (s.held > 0 || s.sunReads !== s.taps || s.registrations !== s.taps)) {
            failures[name] = `${s.held} taps held by the badge check, ${s.sunReads} read counters recorded, ${s.registrations} registrations for ${s.taps} taps`;
          }
        }
      } catch (err) {
        failures[name] = (err as Error).message;
      } finally {
        await target?.stop();
        await (target as { workspace?: { remove(): Promise<void> } } | undefined)?.workspace?.remove();
      }
    }
  }

  const rate = (name: TargetName) => (runs[name].length && !failures[name] ? median(runs[name].map((r) => r.ackedPerSecond)) : null);
  const ratio = (a: number | null, b: number | null) => (a !== null && b ? Math.round((a / b) * 100) / 100 : null);
  const gateway = rate('gateway');
  const gatewayOff = rate('gateway-off');
  const secure = rate('gateway-secure');
  const secureOff = rate('gateway-secure-off');
  const aedes = rate('aedes');
  const mosquitto = rate('mosquitto');
  const why = (name: TargetName, missing?: string) => missing ?? failures[name];
  const fwd = storage.gateway;
  const cpuPerThousand = (name: TargetName) => {
    const r = runs[name].filter((x) => x.gatewayCpuSeconds !== undefined);
    return r.length ? Math.round((median(r.map((x) => x.gatewayCpuSeconds! / (x.stored + x.rejected))) * 1_000_000)) / 1000 : undefined;
  };
  const figures: Figure[] = [
    {
      name: 'gateway durable ingest, 50 terminals, forwarder draining to the emulator (acked after fsync)',
      value: gateway,
      unit: 'taps/s',
      target: { op: '>=', value: 20_000, text: '>= 20,000 taps/s' },
      note: why('gateway', gatewayReason) ?? (fwd ? `the forwarder had ONSS create ${fwd.created.toLocaleString('en-US')} of the ${fwd.registrations.toLocaleString('en-US')} registrations by the gateway's stop; gateway CPU ${cpuPerThousand('gateway')} s per 1,000 taps` : undefined),
    },
    {
      name: 'gateway durable ingest, 50 terminals, forwarder off',
      value: gatewayOff,
      unit: 'taps/s',
      note: why('gateway-off', gatewayReason) ?? `gateway CPU ${cpuPerThousand('gateway-off')} s per 1,000 taps`,
    },
    { name: 'raw Aedes QoS 1 relay, same taps and acks', value: aedes, unit: 'taps/s', note: why('aedes') },
    { name: 'Mosquitto QoS 1 relay, same taps and acks', value: mosquitto, unit: 'taps/s', note: why('mosquitto', mosquittoReason) },
    { name: 'gateway (forwarder on) / raw Aedes relay', value: ratio(gateway, aedes), unit: 'x', target: { op: '>=', value: 1.0, text: '>= 1.0x' } },
    { name: 'gateway (forwarder off) / raw Aedes relay', value: ratio(gatewayOff, aedes), unit: 'x' },
    { name: 'gateway (forwarder on) / Mosquitto relay', value: ratio(gateway, mosquitto), unit: 'x', note: `forwarder off: ${ratio(gatewayOff, mosquitto) ?? '-'}x` },
    {
      name: 'bytes on disk per tap (taps, their registrations and indexes)',
      value: perTap(fwd?.tapBytes, fwd?.taps),
      unit: 'B',
      target: { op: '<=', value: 350, text: '<= 350 B' },
      note: fwd
        ? `database pages of the taps table (each tap's registration in its row), its indexes and the registration contexts, grown over ${fwd.taps.toLocaleString('en-US')} taps (${fwd.registrations.toLocaleString('en-US')} registrations), after a clean stop; the whole file grew ${perTap(fwd.bytes, fwd.taps)} B per tap, of which the forwarder's state ${perTap(fwd.forwardBytes, fwd.taps)} B per registration`
        : why('gateway', gatewayReason),
    },
    {
      name: 'gateway durable ingest, secure badges (SUN verified in the transaction), forwarder on',
      value: secure,
      unit: 'taps/s',
      note: why('gateway-secure', gatewayReason) ?? 'every tap carries a SUN message; the gateway decrypts it, checks its MAC and UID, and records its read counter with the tap',
    },
    {
      name: 'gateway durable ingest, secure badges, forwarder off',
      value: secureOff,
      unit: 'taps/s',
      note: why('gateway-secure-off', gatewayReason) ?? `gateway CPU ${cpuPerThousand('gateway-secure-off')} s per 1,000 taps`,
    },
    {
      name: 'secure badges / UID-only badges, gateway ingest (forwarder off)',
      value: ratio(secureOff, gatewayOff),
      unit: 'x',
      target: { op: '>=', value: 0.9, text: '>= 0.9x (no measurable slowdown)' },
      note: `forwarder on: ${ratio(secure, gateway) ?? '-'}x`,
    },
    {
      name: 'bytes on disk per tap, secure badges',
      value: perTap(storage['gateway-secure']?.tapBytes, storage['gateway-secure']?.taps),
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

function perTap(bytes: number | undefined, taps: number | undefined): number | null {
  return bytes !== undefined && taps ? Math.round(bytes / taps) : null;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchMain('gateway-ingest', 'gateway durable ingest vs QoS 1 relays', runIngestBench);
}
