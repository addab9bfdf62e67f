import { performance } from 'node:perf_hooks';
import { timeOrderedUuid } from '../../shared/ids.ts';
import pino from 'pino';
import type { IClientOptions } from 'mqtt';
import { createLogger } from '../../shared/logging.ts';
import { toOffsetIso } from '../../shared/time.ts';
import type { TapMessage } from '../../shared/mqtt/payloads.ts';
import { createProgress, type ProgressOutput } from '../progress/index.ts';
import type { TerminalCredentials } from './credentials.ts';
import { LatencyRecorder, summarise, type LatencySummary } from './latency.ts';
import { LoadTerminal } from './load-terminal.ts';

const log = createLogger('national-morning', {}, pino.destination(2));

/**
 * A national morning: every cleaner of the region comes in within the same hour. Each worker taps IN (work)
 * at their site's door between 06:00 and 07:00 (most around 06:30), goes on a break two hours later (OUT,
 * break) and comes back a quarter of an hour after (IN, break), and leaves four hours after arriving (OUT,
 * work): four taps a worker, from real MQTT connections, one per terminal, all connected before the morning
 * starts (terminals stay connected overnight). The morning is played faster than real time: one simulated
 * hour takes `hourSeconds` seconds; a tap carries the terminal's real clock when it is sent.
 *
 * What it measures: taps acked per second (the peak over any one second), publish-to-ack latency, and which
 * taps were never acked or refused. With the ONSS emulator's database, `tapToOnss` then measures how long
 * each tap took to become a registration ONSS created, and whether ONSS got any twice.
 */
export interface NationalMorningOptions {
  url: string;
  terminals: TerminalCredentials[];
  /** The badges of the workers who tap at each terminal. */
  badgesOf(terminalIndex: number): string[];
  /** Real seconds one simulated hour takes (default 120: the morning from 06:00 to about 11:30 in 11 minutes). */
  hourSeconds?: number;
  /** Seed of the workers' times (the same seed plays the same morning). */
  seed?: number;
  /** Connections opened at once while connecting (each costs the gateway an scrypt check). */
  connectConcurrency?: number;
  /** After the last tap, how long to wait for its ack (default 60 s). */
  drainTimeoutMs?: number;
  mqtt?: IClientOptions;
  progress?: false | { output?: ProgressOutput; mode?: 'tty' | 'plain' | 'off' };
  signal?: AbortSignal;
  /** Called once every terminal is connected, right before the first tap (a benchmark's starting line). */
  onMorningStart?: () => void;
}

export interface NationalMorningResult {
  terminals: number;
  workers: number;
  planned: number;
  sent: number;
  stored: number;
  rejected: number;
  /** Sent and never acked (lost with a connection, or not answered within the drain timeout). */
  unacked: number;
  unexpectedAcks: number;
  disconnects: number;
  hourSeconds: number;
  connectSeconds: number;
  /** First tap sent to last ack. */
  morningSeconds: number;
  peakAckedPerSecond: number;
  peakSentPerSecond: number;
  ackLatencyMs?: LatencySummary;
  /** When each tap was published (epoch ms), by tap id: for the tap-to-ONSS figure. */
  publishedAt: Map<string, number>;
}

/** The four taps of a worker's morning, in simulated minutes after 06:00. */
const KINDS: Array<{ direction: 'IN' | 'OUT'; reason: 'work' | 'break' }> = [
  { direction: 'IN', reason: 'work' },
  { direction: 'OUT', reason: 'break' },
  { direction: 'IN', reason: 'break' },
  { direction: 'OUT', reason: 'work' },
];

/** A small deterministic generator (mulberry32), so a seed always plays the same morning. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Plan {
  /** Real milliseconds after the morning's start, sorted ascending. */
  at: Float64Array;
  terminal: Int32Array;
  badge: string[];
  kind: Uint8Array;
}

/** Every tap of the morning, in the order they are due. */
export function planMorning(terminals: number, badgesOf: (t: number) => string[], hourSeconds: number, seed = 1): Plan {
  const rnd = random(seed);
  const entries: Array<[number, number, string, number]> = [];
  const minuteMs = (hourSeconds * 1000) / 60;
  for (let t = 0; t < terminals; t++) {
    for (const badge of badgesOf(t)) {
      // Arrival: a triangle over the hour, most around half past six.
      const arrive = (rnd() + rnd()) * 30;
      const breakStart = arrive + 120 + rnd() * 30;
      const breakEnd = breakStart + 15 + rnd() * 15;
      const leave = arrive + 240 + rnd() * 30;
      [arrive, breakStart, breakEnd, leave].forEach((minute, kind) => entries.push([minute * minuteMs, t, badge, kind]));
    }
  }
  entries.sort((a, b) => a[0] - b[0]);
  return {
    at: Float64Array.from(entries, (e) => e[0]),
    terminal: Int32Array.from(entries, (e) => e[1]),
    badge: entries.map((e) => e[2]),
    kind: Uint8Array.from(entries, (e) => e[3]),
  };
}

export async function runNationalMorning(o: NationalMorningOptions): Promise<NationalMorningResult> {
  const hourSeconds = o.hourSeconds ?? 120;
  const plan = planMorning(o.terminals.length, o.badgesOf, hourSeconds, o.seed ?? 1);
  const workers = o.terminals.reduce((n, _, t) => n + o.badgesOf(t).length, 0);
  const latency = new LatencyRecorder();
  const publishedAt = new Map<string, number>();
  const ackedPerSecond = new Map<number, number>();
  const sentPerSecond = new Map<number, number>();
  let stored = 0;
  let rejected = 0;
  let unexpectedAcks = 0;
  let disconnects = 0;
  let sent = 0;
  let lastAckAt = 0;
  let firstSentAt = 0;
  const seqOf = new Int32Array(o.terminals.length);

  const terminals = o.terminals.map(
    (c, index) =>
      new LoadTerminal(c, o.url, { terminalIndex: index, badges: o.badgesOf(index) }, {
        onAck: (r) => {
          if (r.latencyMs === undefined) {
            unexpectedAcks++;
            return;
          }
          lastAckAt = performance.now();
          latency.record(r.latencyMs);
          const second = Math.floor(Date.now() / 1000);
          ackedPerSecond.set(second, (ackedPerSecond.get(second) ?? 0) + 1);
          if (r.ack.status === 'stored') stored++;
          else rejected++;
        },
        onMalformedAck: () => {
          unexpectedAcks++;
        },
        onPublishError: () => undefined,
        onDisconnect: (id) => {
          disconnects++;
          log.warn({ terminal: id }, 'terminal disconnected during the morning');
        },
      }, o.mqtt),
  );

  const progressOutput = o.progress === false ? undefined : o.progress;
  const connecting = o.progress === false ? undefined : createProgress({ label: 'connecting', unit: 'terminals', total: terminals.length, output: progressOutput?.output, mode: progressOutput?.mode });
  const connectStart = performance.now();
  const concurrency = o.connectConcurrency ?? 20;
  try {
    for (let i = 0; i < terminals.length; i += concurrency) {
      await Promise.all(terminals.slice(i, i + concurrency).map((t) => t.connect(30_000)));
      connecting?.update(Math.min(terminals.length, i + concurrency));
      if (o.signal?.aborted) throw new Error('stopped while connecting');
    }
  } catch (err) {
    await Promise.all(terminals.map((t) => t.close()));
    throw err;
  }
  connecting?.finish();
  const connectSeconds = (performance.now() - connectStart) / 1000;

  const progress = o.progress === false ? undefined : createProgress({ label: 'morning', unit: 'taps', total: plan.at.length, output: progressOutput?.output, mode: progressOutput?.mode });
  o.onMorningStart?.();
  const start = performance.now();
  let next = 0;
  // The taps' clock: formatted once per millisecond (many taps share one).
  let isoMs = -1;
  let iso = '';
  await new Promise<void>((resolve) => {
    const tick = () => {
      const elapsed = performance.now() - start;
      while (next < plan.at.length && plan.at[next]! <= elapsed && !o.signal?.aborted) {
        const t = plan.terminal[next]!;
        const kind = KINDS[plan.kind[next]!]!;
        const now = Date.now();
        if (now !== isoMs) {
          isoMs = now;
          iso = toOffsetIso(new Date(now));
        }
        const message: TapMessage = { v: 1, id: timeOrderedUuid(now), seq: seqOf[t]!++, badge: plan.badge[next]!, direction: kind.direction, reason: kind.reason, at: iso };
        if (terminals[t]!.sendMessage(message)) {
          publishedAt.set(message.id, now);
          sent++;
          const second = Math.floor(now / 1000);
          sentPerSecond.set(second, (sentPerSecond.get(second) ?? 0) + 1);
          if (firstSentAt === 0) firstSentAt = performance.now();
        }
        next++;
      }
      progress?.update(stored + rejected, `sent ${sent} | in flight ${sent - stored - rejected}`);
      if (next >= plan.at.length || o.signal?.aborted) return resolve();
      setTimeout(tick, 5);
    };
    tick();
  });

  // The last acks: every tap answered, or the drain timeout.
  const outstanding = () => terminals.reduce((n, t) => n + t.inFlight, 0);
  const deadline = performance.now() + (o.drainTimeoutMs ?? 60_000);
  while (outstanding() > 0 && performance.now() < deadline && terminals.some((t) => t.isConnected)) await new Promise((r) => setTimeout(r, 50));
  const unacked = outstanding();
  progress?.finish(`stored ${stored} | rejected ${rejected} | unacked ${unacked}`);
  await Promise.all(terminals.map((t) => t.close()));
  const peak = (m: Map<number, number>) => Math.max(0, ...m.values());
  return {
    terminals: terminals.length,
    workers,
    planned: plan.at.length,
    sent,
    stored,
    rejected,
    unacked,
    unexpectedAcks,
    disconnects,
    hourSeconds,
    connectSeconds: Math.round(connectSeconds * 10) / 10,
    morningSeconds: firstSentAt ? Math.round((lastAckAt - firstSentAt) / 100) / 10 : 0,
    peakAckedPerSecond: peak(ackedPerSecond),
    peakSentPerSecond: peak(sentPerSecond),
    ackLatencyMs: latency.summary(),
    publishedAt,
  };
}

export interface TapToOnss {
  /** Taps of the morning ONSS created a registration for. */
  created: number;
  /** Client references ONSS holds more than once. */
  duplicates: number;
  /** Taps whose registration never reached ONSS within the wait. */
  missing: number;
  /** From the tap's publish to the call that created its registration at ONSS. */
  latencyMs?: LatencySummary;
  /** How long the last registrations took to arrive after the morning's last ack. */
  waitedSeconds: number;
}

/**
 * Reads what the emulator created for the morning's taps (its database, read-only) until every tap is
 * there or the wait is over: created count, duplicates, and publish-to-created latency.
 */
export async function tapToOnss(emulatorDb: string, publishedAt: Map<string, number>, o: { timeoutMs?: number; referenceFor(tapId: string): string } ): Promise<TapToOnss> {
  const { openDatabase } = await import('../../shared/sqlite.ts');
  const started = performance.now();
  const byReference = new Map<string, number>();
  for (const [tapId, at] of publishedAt) byReference.set(o.referenceFor(tapId), at);
  const latencies: number[] = [];
  const seen = new Set<string>();
  let duplicates = 0;
  let afterSeq = 0;
  const deadline = performance.now() + (o.timeoutMs ?? 300_000);
  for (;;) {
    const db = openDatabase(emulatorDb, { readonly: true });
    try {
      const rows = db.prepare('SELECT seq, client_reference, received_at FROM registrations WHERE seq > ? ORDER BY seq LIMIT 50000').all(afterSeq) as Array<{ seq: number; client_reference: string | null; received_at: string }>;
      for (const r of rows) {
        afterSeq = r.seq;
        if (!r.client_reference) continue;
        const at = byReference.get(r.client_reference);
        if (at === undefined) continue;
        if (seen.has(r.client_reference)) {
          duplicates++;
          continue;
        }
        seen.add(r.client_reference);
        latencies.push(Date.parse(r.received_at) - at);
      }
      if (rows.length === 50_000) continue;
    } finally {
      db.close();
    }
    if (seen.size >= byReference.size || performance.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  return {
    created: seen.size,
    duplicates,
    missing: byReference.size - seen.size,
    latencyMs: summarise(latencies),
    waitedSeconds: Math.round((performance.now() - started) / 100) / 10,
  };
}
