import { performance } from 'node:perf_hooks';
import pino from 'pino';
import type { IClientOptions } from 'mqtt';
import { InvalidInputError, type FieldProblem } from '../../shared/problems.ts';
import { createLogger } from '../../shared/logging.ts';
import { createProgress, type Progress, type ProgressOutput } from '../progress/index.ts';
import { resolveTerminals, type TerminalSource } from './credentials.ts';
import { LatencyRecorder, type LatencySummary } from './latency.ts';
import { LoadTerminal, type AckReport } from './load-terminal.ts';
import type { SunSupply } from './tap-source.ts';

// Logs go to stderr: stdout carries the result (`ciao sim --load --json`).
const log = createLogger('load', {}, pino.destination(2));

export interface RunLoadOptions {
  /** Broker URL: `mqtt://127.0.0.1:1883`, `mqtts://...`. */
  url: string;
  /** Credentials, or a count and a function that creates each terminal. */
  terminals: TerminalSource;
  /** Total taps per second over all terminals; without it, each terminal sends as fast as its window allows. */
  rate?: number;
  /** Stop after this many taps in total. */
  count?: number;
  /** Stop sending after this many seconds. */
  duration?: number;
  /** Taps a terminal may have awaiting their ack (default 32 without a rate, 1,000 with one). */
  window?: number;
  /** After the last tap is sent, how long to wait for the outstanding acks (default 30 s). */
  drainTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Every Nth tap of each terminal is malformed on purpose, to measure the reject path. */
  invalidEvery?: number;
  /** Badge UIDs the terminals tap (hex); made-up ones by default. */
  badges?: string[];
  /** Secure badges: each terminal's badges and their SUN messages (see SunSupply). */
  sun?: SunSupply;
  /** First sequence number of every terminal (default 0). */
  seqStart?: number;
  /** Extra MQTT.js options (TLS certificates, ...). */
  mqtt?: IClientOptions;
  /** Progress on stderr (TTY line or plain lines); false for none. */
  progress?: false | { output?: ProgressOutput; mode?: 'tty' | 'plain' | 'off'; label?: string; plainIntervalMs?: number };
  /** Stops sending early; outstanding acks are still awaited. */
  signal?: AbortSignal;
}

export interface LoadResult {
  url: string;
  terminals: number;
  mode: 'fixed-rate' | 'max';
  targetRate?: number;
  window: number;
  sent: number;
  /** Taps made malformed on purpose. */
  invalidSent: number;
  stored: number;
  rejected: number;
  rejectReasons: Record<string, number>;
  /** Sent and never acked (within the drain timeout, or lost with a connection). */
  unacked: number;
  /** Acks for a tap already acked or never sent by that terminal. */
  unexpectedAcks: number;
  malformedAcks: number;
  publishErrors: number;
  disconnects: number;
  /** Valid taps rejected, or malformed taps stored: a wrong answer from the gateway. */
  wrongAnswers: number;
  connectSeconds: number;
  /** First publish to last ack. */
  elapsedSeconds: number;
  /** First publish to last publish. */
  sendSeconds: number;
  /** Acked (stored or rejected) taps per second over elapsedSeconds. */
  ackedPerSecond: number;
  storedPerSecond: number;
  /** How far the fixed-rate schedule fell behind at worst (taps that were due but not yet sent). */
  maxBehind: number;
  /** Publish to ack, every ack (stored and rejected). */
  latencyMs?: LatencySummary;
}

function check(options: RunLoadOptions): void {
  const problems: FieldProblem[] = [];
  const positive = (field: keyof RunLoadOptions, integer: boolean) => {
    const v = options[field];
    if (v === undefined) return;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
      problems.push({ field, rule: 'min', message: `${field}: must be a ${integer ? 'whole ' : ''}number above 0, got ${String(v)}` });
    }
  };
  positive('rate', false);
  positive('count', true);
  positive('duration', false);
  positive('window', true);
  positive('invalidEvery', true);
  if (options.count === undefined && options.duration === undefined) {
    problems.push({ field: 'count', rule: 'required', message: 'count or duration: one of them is required, or the run would never end' });
  }
  if (typeof options.url !== 'string' || !/^(mqtts?|wss?|tcp|ssl):\/\//.test(options.url)) {
    problems.push({ field: 'url', rule: 'format', message: `url: must be an MQTT URL such as mqtt://127.0.0.1:1883, got ${String(options.url)}` });
  }
  if (problems.length) throw new InvalidInputError(problems);
}

/**
 * Runs many simulated terminals against a broker and measures what the gateway's acks say: throughput
 * (acked taps per second), ack latency percentiles, and the counts of stored, rejected and unacked taps.
 */
export async function runLoad(options: RunLoadOptions): Promise<LoadResult> {
  check(options);
  const credentials = await resolveTerminals(options.terminals);
  const mode = options.rate !== undefined ? 'fixed-rate' : 'max';
  const window = options.window ?? (mode === 'max' ? 32 : 1000);
  const drainTimeoutMs = options.drainTimeoutMs ?? 30_000;
  const latency = new LatencyRecorder();
  const rejectReasons: Record<string, number> = {};
  let stored = 0;
  let rejected = 0;
  let unexpectedAcks = 0;
  let malformedAcks = 0;
  let publishErrors = 0;
  let disconnects = 0;
  let wrongAnswers = 0;
  let issued = 0;
  let sendingStopped = false;
  let firstSendAt = 0;
  let lastSendAt = 0;
  let lastAckAt = 0;
  let maxBehind = 0;
  let wake: (() => void) | undefined;

  const terminals: LoadTerminal[] = credentials.map(
    (c, index) =>
      new LoadTerminal(
        c,
        options.url,
        { terminalIndex: index, badges: options.badges, seqStart: options.seqStart, invalidEvery: options.invalidEvery, ...(options.sun ? { sun: options.sun } : {}) },
        {
          onAck: (r) => onAck(r, terminals[index]!),
          onMalformedAck: () => {
            malformedAcks++;
          },
          onPublishError: () => {
            publishErrors++;
          },
          onDisconnect: (id) => {
            disconnects++;
            log.warn({ terminal: id }, 'terminal disconnected during the load run');
            // With every connection gone nothing more can be sent or acked: end the run, counting the rest unacked.
            if (terminals.every((t) => !t.isConnected)) stopSending();
            wake?.();
          },
        },
        options.mqtt,
      ),
  );

  const canSend = () => !sendingStopped && (options.count === undefined || issued < options.count);

  function sendOn(t: LoadTerminal): boolean {
    if (!t.send()) return false;
    issued++;
    lastSendAt = performance.now();
    if (firstSendAt === 0) firstSendAt = lastSendAt;
    if (options.count !== undefined && issued >= options.count) stopSending();
    return true;
  }

  function onAck(r: AckReport, t: LoadTerminal): void {
    if (r.latencyMs === undefined) {
      unexpectedAcks++;
      return;
    }
    lastAckAt = performance.now();
    latency.record(r.latencyMs);
    if (r.ack.status === 'stored') {
      stored++;
      if (r.invalidTap) wrongAnswers++;
    } else {
      rejected++;
      const reason = r.ack.reason ?? 'unspecified';
      rejectReasons[reason] = (rejectReasons[reason] ?? 0) + 1;
      if (!r.invalidTap) wrongAnswers++;
    }
    if (mode === 'max' && canSend() && t.inFlight < window) sendOn(t);
    if (sendingStopped && outstanding() === 0) wake?.();
  }

  const outstanding = () => terminals.reduce((n, t) => n + t.inFlight, 0);

  function stopSending(): void {
    sendingStopped = true;
    wake?.();
  }

  // Connect in small batches: a gateway checks each secret with scrypt, and a thousand at once would
  // measure its login queue rather than its ingest.
  const connectStart = performance.now();
  try {
    for (let i = 0; i < terminals.length; i += 20) {
      await Promise.all(terminals.slice(i, i + 20).map((t) => t.connect(options.connectTimeoutMs ?? 10_000)));
    }
  } catch (err) {
    await Promise.all(terminals.map((t) => t.close()));
    throw err;
  }
  const connectSeconds = (performance.now() - connectStart) / 1000;

  const total = options.count ?? (options.rate !== undefined && options.duration !== undefined ? Math.round(options.rate * options.duration) : undefined);
  let progress: Progress | undefined;
  let progressTimer: NodeJS.Timeout | undefined;
  if (options.progress !== false) {
    const p = options.progress ?? {};
    progress = createProgress({ label: p.label ?? 'load', unit: 'taps', total, output: p.output, mode: p.mode, plainIntervalMs: p.plainIntervalMs });
    progressTimer = setInterval(() => {
      progress!.update(stored + rejected, `sent ${issued} | in flight ${outstanding()} | rejected ${rejected}`);
    }, 100);
    progressTimer.unref();
  }

  const onAbort = () => stopSending();
  options.signal?.addEventListener('abort', onAbort);
  let durationTimer: NodeJS.Timeout | undefined;
  if (options.duration !== undefined) durationTimer = setTimeout(stopSending, options.duration * 1000);

  const start = performance.now();
  if (mode === 'max') {
    // Fill every window; from then on each ack releases the next tap of its terminal.
    for (let k = 0; k < window && canSend(); k++) {
      for (const t of terminals) {
        if (!canSend()) break;
        sendOn(t);
      }
    }
  } else {
    const rate = options.rate!;
    let cursor = 0;
    await new Promise<void>((resolve) => {
      const tick = () => {
        if (!canSend()) return resolve();
        const elapsed = performance.now() - start;
        // The schedule itself ends the run on time, so a late timer never adds taps beyond rate x duration.
        if (options.duration !== undefined && elapsed >= options.duration * 1000) {
          stopSending();
          return resolve();
        }
        const due = Math.floor((elapsed * rate) / 1000) + 1 - issued;
        let left = options.count !== undefined ? Math.min(due, options.count - issued) : due;
        let blocked = 0;
        while (left > 0 && blocked < terminals.length && canSend()) {
          const t = terminals[cursor]!;
          cursor = (cursor + 1) % terminals.length;
          if (t.inFlight >= window || !sendOn(t)) {
            blocked++;
            continue;
          }
          blocked = 0;
          left--;
        }
        if (left > maxBehind) maxBehind = left;
        if (!canSend()) return resolve();
        setTimeout(tick, 1);
      };
      tick();
    });
  }

  // Wait until sending has stopped and every ack is in, or the drain timeout passes.
  await new Promise<void>((resolve) => {
    let drainTimer: NodeJS.Timeout | undefined;
    const checkDone = () => {
      if (sendingStopped && (outstanding() === 0 || terminals.every((t) => !t.isConnected))) {
        clearTimeout(drainTimer);
        wake = undefined;
        resolve();
        return;
      }
      if (sendingStopped && !drainTimer) drainTimer = setTimeout(() => {
        wake = undefined;
        resolve();
      }, drainTimeoutMs);
    };
    wake = checkDone;
    checkDone();
  });
  clearTimeout(durationTimer);
  options.signal?.removeEventListener('abort', onAbort);
  if (progressTimer) clearInterval(progressTimer);
  progress?.update(stored + rejected);
  progress?.finish(`rejected ${rejected} | unacked ${outstanding()}`);

  const unacked = outstanding();
  await Promise.all(terminals.map((t) => t.close()));

  const end = lastAckAt > 0 ? lastAckAt : performance.now();
  const elapsedSeconds = firstSendAt > 0 ? Math.max(0, (end - firstSendAt) / 1000) : 0;
  const acked = stored + rejected;
  return {
    url: options.url,
    terminals: terminals.length,
    mode,
    ...(options.rate !== undefined ? { targetRate: options.rate } : {}),
    window,
    sent: issued,
    // TapSource makes the Nth, 2Nth, ... tap of each terminal malformed.
    invalidSent: options.invalidEvery ? terminals.reduce((n, t) => n + Math.floor(t.sent / options.invalidEvery!), 0) : 0,
    stored,
    rejected,
    rejectReasons,
    unacked,
    unexpectedAcks,
    malformedAcks,
    publishErrors,
    disconnects,
    wrongAnswers,
    connectSeconds: round3(connectSeconds),
    elapsedSeconds: round3(elapsedSeconds),
    sendSeconds: round3(firstSendAt > 0 ? (lastSendAt - firstSendAt) / 1000 : 0),
    ackedPerSecond: elapsedSeconds > 0 ? Math.round(acked / elapsedSeconds) : 0,
    storedPerSecond: elapsedSeconds > 0 ? Math.round(stored / elapsedSeconds) : 0,
    maxBehind,
    latencyMs: latency.summary(),
  };
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
