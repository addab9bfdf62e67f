import { parentPort, threadId, workerData } from 'node:worker_threads';
import pino from 'pino';
import { FollowedClock, systemClock } from '../../shared/clock.ts';
import type { Logger } from '../../shared/logging.ts';
import type { LockHoldSummary } from './short-writes.ts';
import { openGatewayStore, type OpenedStore } from '../store/gateway-store.ts';
import type { ForwardWrite, ForwardWriter } from './forward-writes.ts';
import { startForwarder, type ForwarderHandle } from './index.ts';
import type { ForwarderThreadData, FromForwarder, ToForwarder } from './thread-messages.ts';

/**
 * The forwarder thread: the ONSS forwarder of a running gateway, off the thread that runs the broker (its
 * JSON, its HTTPS calls, its reads of `registrations` no longer delay acks). It has its own connection to
 * the gateway database (reads, and the forwarder lease when that lease is a row of it), its own ONSS client
 * and lease; its state changes go to the main thread, which hands them to the taps' group commit on the
 * writer thread (one COMMIT and fsync for both) and answers once that commit is done. Its log lines go to the
 * main thread's logger, which redacts them like every other line.
 */
const data = workerData as ForwarderThreadData;
const port = parentPort!;
const post = (m: FromForwarder) => port.postMessage(m);

const clock = data.clock ? new FollowedClock(data.clock) : systemClock;
const logger = relayLogger(data.logLevel).child({ thread: threadId });

/** Each change is committed by the gateway's writer; this side waits for the answer. */
class RelayedForwardWriter implements ForwardWriter {
  private nextId = 1;
  readonly waiting = new Map<number, { resolve(v: number | undefined): void; reject(e: Error): void }>();

  write(change: ForwardWrite): Promise<number | undefined> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      post({ type: 'write', id, change });
    });
  }

  settle(m: Extract<ToForwarder, { type: 'written' }>): void {
    const w = this.waiting.get(m.id);
    if (!w) return;
    this.waiting.delete(m.id);
    if (m.ok) w.resolve(m.value);
    else w.reject(Object.assign(new Error(m.error.message), m.error.code === undefined ? {} : { code: m.error.code }));
  }

  // Its changes hold no lock of their own: they are part of the group commits.
  lockHold(): LockHoldSummary {
    return { transactions: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 };
  }
}

const writer = new RelayedForwardWriter();
let opened: OpenedStore | undefined;
let handle: ForwarderHandle | undefined;
let stopping: Promise<void> | undefined;

port.on('message', (m: ToForwarder) => {
  switch (m.type) {
    case 'wake':
      handle?.wake();
      return;
    case 'clock':
      if (clock instanceof FollowedClock) clock.follow(m.reading);
      return;
    case 'written':
      writer.settle(m);
      return;
    case 'stop':
      stopping ??= stop();
      return;
  }
});

try {
  // Writes only the lease row (when the lease lives in a SQLite database); a short wait, as for the main
  // thread's. Every read goes through the storage port on this connection, or on a small pool of PostgreSQL.
  opened = await openGatewayStore(data.store, { migrate: false, busyTimeoutMs: 1000, maxConnections: 2, ...(data.applicationName ? { applicationName: data.applicationName } : {}) });
  handle = await startForwarder({
    store: opened.store,
    settings: data.settings,
    logger,
    clock,
    writer,
    onRoleChange: (role, holder) => post({ type: 'state', role, holder }),
  });
  post({ type: 'started', threadId, role: handle.role() as 'forwarding' | 'standby', holder: handle.holder() });
} catch (err) {
  const e = err as Error & { problems?: unknown };
  post({ type: 'failed', error: { name: e.name, message: e.message, ...(e.problems !== undefined ? { problems: e.problems } : {}) } });
  await opened?.close().catch(() => undefined);
  // The thread ends once that message is out; the main thread fails the gateway's start with it.
  process.exitCode = 1;
  port.close();
}

/** Stops the forwarder (its batches on the wire settled, their answers committed), then ends the thread. */
async function stop(): Promise<void> {
  try {
    await handle?.stop();
  } catch (err) {
    logger.error({ err }, 'the forwarder did not stop cleanly: what it left in flight is reconciled at the next start');
    process.exitCode = 1;
  }
  await opened?.close().catch((err: unknown) => logger.warn({ err }, 'the forwarder thread\'s store did not close cleanly'));
  post({ type: 'stopped' });
  // Nothing is left to keep the thread: it ends.
  port.close();
}

/**
 * A pino logger that writes nothing here: each line's arguments and bindings go to the main thread, whose
 * logger (with its redaction and masking) writes it. Lines below the main thread's level are not sent.
 */
function relayLogger(level: string): Logger {
  return pino({
    level,
    base: null,
    hooks: {
      logMethod(args, _method, lineLevel) {
        post({ type: 'log', level: lineLevel, bindings: this.bindings(), args: cloneable(args) });
      },
    },
  });
}

/** Errors become plain objects (with their code) and anything that cannot cross a thread becomes text. */
function cloneable(args: unknown[]): unknown[] {
  const plain = (_key: string, v: unknown) => v instanceof Error
    ? { type: v.name, message: v.message, stack: v.stack, ...((v as { code?: unknown }).code !== undefined ? { code: (v as { code?: unknown }).code } : {}) }
    : typeof v === 'bigint' ? String(v) : v;
  try {
    return JSON.parse(JSON.stringify(args, plain)) as unknown[];
  } catch {
    return args.map((a) => String(a));
  }
}
