import { Worker } from 'node:worker_threads';
import pino from 'pino';
import type { Logger } from '../../shared/logging.ts';
import { followable, type Clock, type ClockReading } from '../../shared/clock.ts';
import { InvalidInputError, type FieldProblem } from '../../shared/problems.ts';
import type { ForwardingSettings } from './config.ts';
import type { ForwardWriter } from './forward-writes.ts';
import type { ForwarderRole } from './leadership.ts';
import type { LockHoldSummary } from './short-writes.ts';
import { startForwarder, type ForwarderHandle } from './index.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { shareableWithThreads, type StoreLocation } from '../store/gateway-store.ts';
import type { ForwarderThreadData, FromForwarder, ToForwarder } from './thread-messages.ts';

/**
 * The running gateway's forwarder, on a thread of its own (forwarder-thread-main.ts), so that its work (JSON
 * of the batches, HTTPS to ONSS, reads of `registrations`, the answers) never holds up the broker's thread
 * and the acks. This side keeps the ForwarderHandle the gateway uses (wake, role, holder, lockHold, stop),
 * hands the thread's state changes to the gateway's writer (the taps' group commit) and answers each once
 * its transaction committed, or with the commit's error, and writes the thread's log lines.
 *
 * A thread that ends unasked (a crash) is logged, and `problem()` says so: /health turns degraded. The
 * forwarder is not started again by itself: the lease it held expires and, in a cluster, another gateway
 * takes over; a lone gateway forwards again once restarted (what was in flight is reconciled then).
 */
export interface ForwarderThreadHandle extends ForwarderHandle {
  /** Why the forwarder is not running as it should (its thread ended unasked); undefined while it is. */
  problem(): string | undefined;
  /** The forwarder thread's id (0 when it runs on the main thread, see startForwarderThread). */
  readonly threadId: number;
}

/** Starts the forwarder thread (tests inject one that records the Worker, to end it as a crash would). */
export type SpawnForwarderThread = (entry: URL, workerData: ForwarderThreadData) => Worker;

const defaultSpawn: SpawnForwarderThread = (entry, workerData) => new Worker(entry, { workerData });

export interface StartForwarderThreadOptions {
  /** Where the gateway keeps its data: the thread opens its own connection. */
  location: StoreLocation;
  /** The gateway's own store: used only when the forwarder cannot run on a thread (see below). */
  store: SqlStore;
  /** PostgreSQL: the thread's pool's name in `pg_stat_activity`. */
  applicationName?: string;
  settings: ForwardingSettings;
  logger: Logger;
  clock: Clock;
  /** Where the forwarder's changes are committed: the taps' group commit. */
  writer: ForwardWriter;
  spawn?: SpawnForwarderThread;
}

/** How long a stop may take beyond the ONSS request timeout before the thread is ended (its batch left for reconciliation). */
const STOP_GRACE_MS = 5_000;

/**
 * Starts the forwarder on its thread and resolves once its first attempt at the lease was made (as
 * startForwarder does); a forwarder that cannot start (its lease store, its database) fails this with the
 * thread's error. Two cases stay on the main thread, where startForwarder runs them as before: forwarding
 * switched off (nothing runs), and a gateway clock the thread cannot follow (neither the system clock nor a
 * VirtualClock, see shared/clock.ts) or an in-memory database the thread cannot open.
 */
export async function startForwarderThread(o: StartForwarderThreadOptions): Promise<ForwarderThreadHandle> {
  const { settings } = o;
  const clock = followable(o.clock);
  if (!settings.enabled || clock === undefined || !shareableWithThreads(o.location)) {
    if (settings.enabled) o.logger.warn('the forwarder runs on the main thread: the gateway clock or database cannot be shared with a thread');
    const handle = await startForwarder({ store: o.store, settings, logger: o.logger, clock: o.clock, writer: o.writer });
    return { ...handle, problem: () => undefined, threadId: 0 };
  }
  const data: ForwarderThreadData = { store: o.location, ...(o.applicationName ? { applicationName: o.applicationName } : {}), settings, logLevel: o.logger.level, ...(clock.reading ? { clock: clock.reading() } : {}) };
  const worker = (o.spawn ?? defaultSpawn)(new URL('./forwarder-thread.mjs', import.meta.url), data);
  return new ForwarderThread(worker, o, settings.connection.requestTimeoutMs + STOP_GRACE_MS, clock.onChange).started();
}

class ForwarderThread implements ForwarderThreadHandle {
  private state: { role: ForwarderRole; holder: string | undefined } = { role: 'standby', holder: undefined };
  private ended: string | undefined;
  private stopping = false;
  private id = 0;
  private readonly exited: Promise<number>;
  private readonly unfollow: (() => void) | undefined;
  private whenStarted: { resolve(): void; reject(e: Error): void } | undefined;

  constructor(private readonly worker: Worker, private readonly o: StartForwarderThreadOptions, private readonly stopWithinMs: number, onClockChange: ((listener: (r: ClockReading) => void) => () => void) | undefined) {
    worker.on('message', (m: FromForwarder) => this.received(m));
    worker.on('error', (err) => this.o.logger.error({ err }, 'the forwarder thread failed'));
    this.exited = new Promise((resolve) => worker.once('exit', (code) => {
      this.unfollow?.();
      if (!this.stopping) {
        this.ended = `the forwarder thread stopped (exit code ${code}): nothing is sent to ONSS until the gateway restarts`;
        this.o.logger.error({ exitCode: code, threadId: this.id }, 'the forwarder thread stopped unexpectedly: registrations are kept and sent once the gateway restarts');
      }
      const w = this.whenStarted;
      this.whenStarted = undefined;
      w?.reject(new Error(`the forwarder thread exited (${code}) while starting`));
      resolve(code);
    }));
    // A virtual clock's jumps and speed changes reach the thread in order with its wake-ups.
    this.unfollow = onClockChange?.((reading) => this.send({ type: 'clock', reading }));
  }

  started(): Promise<ForwarderThreadHandle> {
    return new Promise<ForwarderThreadHandle>((resolve, reject) => {
      this.whenStarted = {
        resolve: () => resolve(this),
        reject: (e) => {
          this.stopping = true;
          void this.worker.terminate();
          reject(e);
        },
      };
    });
  }

  get threadId(): number {
    return this.id;
  }

  wake(): void {
    this.send({ type: 'wake' });
  }

  role(): ForwarderRole | 'off' {
    return this.ended ? 'off' : this.state.role;
  }

  holder(): string | undefined {
    return this.ended ? undefined : this.state.holder;
  }

  lockHold(): LockHoldSummary {
    return this.o.writer.lockHold();
  }

  problem(): string | undefined {
    return this.ended;
  }

  /** Asks the thread to stop its forwarder (batches on the wire answered or left for reconciliation) and waits for it to end. */
  async stop(): Promise<void> {
    if (this.stopping) {
      await this.exited;
      return;
    }
    this.stopping = true;
    if (this.ended) return;
    this.send({ type: 'stop' });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), this.stopWithinMs)));
    const outcome = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (outcome === 'late') {
      this.o.logger.warn({ waitedMs: this.stopWithinMs }, 'the forwarder thread did not stop in time: ended; what it had in flight is reconciled at the next start');
      await this.worker.terminate();
    } else if (outcome !== 0) this.o.logger.warn({ exitCode: outcome }, 'the forwarder thread stopped with an error');
  }

  private send(m: ToForwarder): void {
    if (this.ended) return;
    try {
      this.worker.postMessage(m);
    } catch (err) {
      this.o.logger.warn({ err, type: m.type }, 'could not reach the forwarder thread');
    }
  }

  private received(m: FromForwarder): void {
    switch (m.type) {
      case 'write':
        // Answered once the group commit that carries it committed, or with that commit's error.
        this.o.writer.write(m.change).then(
          (value) => this.send({ type: 'written', id: m.id, ok: true, value }),
          (err: Error & { code?: string }) => this.send({ type: 'written', id: m.id, ok: false, error: { message: err.message, ...(err.code !== undefined ? { code: err.code } : {}) } }),
        );
        return;
      case 'log': {
        const label = pino.levels.labels[m.level] as pino.Level | undefined;
        if (!label) return;
        const target = Object.keys(m.bindings).length > 0 ? this.o.logger.child(m.bindings) : this.o.logger;
        (target[label] as (...a: unknown[]) => void)(...m.args);
        return;
      }
      case 'state':
        this.state = { role: m.role, holder: m.holder };
        return;
      case 'started': {
        this.id = m.threadId;
        this.state = { role: m.role, holder: m.holder };
        const w = this.whenStarted;
        this.whenStarted = undefined;
        w?.resolve();
        return;
      }
      case 'failed': {
        const problems = m.error.problems;
        const err = m.error.name === 'InvalidInputError' && Array.isArray(problems) ? new InvalidInputError(problems as FieldProblem[]) : Object.assign(new Error(m.error.message), { name: m.error.name });
        const w = this.whenStarted;
        this.whenStarted = undefined;
        w?.reject(err);
        return;
      }
      case 'stopped':
        return;
    }
  }
}
