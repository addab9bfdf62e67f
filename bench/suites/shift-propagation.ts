/**
 * How fast the other doors learn a worker's new shift state (issue "day-correct registrations": every terminal
 * of the worker's sites learns it within a second of the commit). A real gateway process with three terminals
 * on one site: the first taps a badge (IN, then OUT, alternating, so every tap changes the worker's state);
 * the other two listen on their `shifts` topic as real terminals do. Measured from the tap's publish to the
 * change arriving at each listening door, with the tap's own `stored` ack (after the group commit's fsync)
 * beside it; the same taps while 20 other terminals send taps at 500 taps/s, so the commit is a real one.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import { benchMain, type BenchSize } from '../lib/child-main.ts';
import type { BenchResult, Figure } from '../lib/result.ts';
import { gatewayMissing, startGatewayTarget } from '../lib/targets.ts';
import { runLoad } from '../../simulator/load/index.ts';
import { defaultBadges } from '../../simulator/load/tap-source.ts';
import { percentileOfSorted } from '../../simulator/load/latency.ts';
import { topicFor } from '../../shared/mqtt/topics.ts';
import { toOffsetIso } from '../../shared/time.ts';

const SIZES: Record<BenchSize, { taps: number; gapMs: number; loadTerminals: number; loadRate: number }> = {
  quick: { taps: 100, gapMs: 30, loadTerminals: 20, loadRate: 500 },
  full: { taps: 1000, gapMs: 30, loadTerminals: 20, loadRate: 500 },
};

interface Sample {
  ackMs: number;
  doorMs: number[];
}

function connect(url: string, id: string, secret: string): Promise<MqttClient> {
  return mqtt.connectAsync(url, { clientId: id, username: id, password: secret, clean: true, reconnectPeriod: 0, connectTimeout: 10_000 });
}

function summary(values: number[]): { p50: number; p99: number; max: number; count: number } {
  const sorted = Float64Array.from(values).sort();
  const r = (v: number) => Math.round(v * 100) / 100;
  return { p50: r(percentileOfSorted(sorted, 50)), p99: r(percentileOfSorted(sorted, 99)), max: r(sorted[sorted.length - 1] ?? 0), count: sorted.length };
}

async function measure(sizeName: BenchSize): Promise<{ samples: Sample[]; loadAcked: number }> {
  const size = SIZES[sizeName];
  // Three doors of the site, then the terminals that make the background load.
  const target = await startGatewayTarget(3 + size.loadTerminals);
  const clients: MqttClient[] = [];
  try {
    const [tapper, ...doors] = await Promise.all(target.terminals.slice(0, 3).map((t) => connect(target.url, t.id, t.secret)));
    clients.push(tapper!, ...doors);
    const acks = new Map<string, (at: number) => void>();
    tapper!.on('message', (_topic, payload) => {
      const ack = JSON.parse(payload.toString()) as { id?: string; status?: string };
      if (ack.id && ack.status === 'stored') acks.get(ack.id)?.(performance.now());
    });
    await tapper!.subscribeAsync(topicFor(target.terminals[0]!.id, 'acks'), { qos: 1 });
    const heard = doors.map(() => new Map<string, (at: number) => void>());
    doors.forEach((door, i) => {
      door.on('message', (topic, payload) => {
        if (!topic.endsWith('/shifts')) return;
        const m = JSON.parse(payload.toString()) as { badges?: Array<{ badge: string; rev: number }> };
        for (const c of m.badges ?? []) heard[i]!.get(`${c.badge}`)?.(performance.now());
      });
    });
    await Promise.all(doors.map((d, i) => d.subscribeAsync([topicFor(target.terminals[i + 1]!.id, 'shifts'), topicFor(target.terminals[i + 1]!.id, 'roster')], { qos: 1 })));

    const background = runLoad({ url: target.url, terminals: target.terminals.slice(3), rate: size.loadRate, duration: (size.taps * size.gapMs) / 1000 + 2, progress: false });
    const badges = defaultBadges(0);
    const samples: Sample[] = [];
    for (let n = 0; n < size.taps; n++) {
      const badge = badges[n % badges.length]!;
      // Each badge goes IN on its odd passes and OUT on its even ones: every tap changes that worker's state.
      const direction = Math.floor(n / badges.length) % 2 === 0 ? 'IN' : 'OUT';
      const id = randomUUID();
      const ackAt = new Promise<number>((resolve) => acks.set(id, resolve));
      const doorAt = heard.map((h) => new Promise<number>((resolve) => h.set(badge, resolve)));
      const sent = performance.now();
      tapper!.publish(topicFor(target.terminals[0]!.id, 'taps'), JSON.stringify({ v: 1, id, seq: n, badge, direction, reason: 'work', at: toOffsetIso(new Date()) }), { qos: 1 });
      const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`tap ${n}: no ack or shift change within 10 s`)), 10_000).unref());
      const [ack, ...doorsAt] = await Promise.race([Promise.all([ackAt, ...doorAt]), timeout]);
      acks.delete(id);
      samples.push({ ackMs: ack - sent, doorMs: doorsAt.map((d) => d - sent) });
      await new Promise((r) => setTimeout(r, size.gapMs));
    }
    const load = await background;
    return { samples, loadAcked: load.stored };
  } finally {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await target.stop();
    await target.workspace.remove();
  }
}

export async function runShiftPropagationBench(sizeName: BenchSize): Promise<Omit<BenchResult, 'id' | 'title'>> {
  const missing = gatewayMissing();
  if (missing) return { status: 'failed', reason: missing, figures: [] };
  const { samples, loadAcked } = await measure(sizeName);
  const door = summary(samples.flatMap((s) => s.doorMs));
  const ack = summary(samples.map((s) => s.ackMs));
  const size = SIZES[sizeName];
  const figures: Figure[] = [
    { name: 'shift state at the other doors, p50 from the tap', value: door.p50, unit: 'ms', note: `${samples.length} taps, each heard by 2 other doors; max ${door.max} ms; ${size.loadRate} taps/s from ${size.loadTerminals} other terminals meanwhile (${loadAcked} stored)` },
    { name: 'shift state at the other doors, p99 from the tap', value: door.p99, unit: 'ms', target: { op: '<=', value: 1000, text: '<= 1,000 ms' } },
    { name: 'the same taps\' stored ack, p99 (reference)', value: ack.p99, unit: 'ms', note: `p50 ${ack.p50} ms, max ${ack.max} ms` },
  ];
  return { status: 'ok', figures, details: { size: { name: sizeName, ...size }, door, ack } };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchMain('shift-propagation', 'shift state across doors', runShiftPropagationBench);
}
