import type { Logger } from '../../shared/logging.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { systemClock, type Clock } from '../../shared/clock.ts';
import type { OnssPort } from '../onss/port.ts';
import { Breaker } from './breaker.ts';
import type { ForwarderTuning } from './config.ts';
import { ForwardStore } from './forward-store.ts';
import { LeaseLostError, type ForwarderFence } from './lease.ts';
import { OutageJournal } from './outage-journal.ts';
import { Reconciler } from './reconciler.ts';
import { Sender, type SendReport } from './sender.ts';
import type { LockHoldSummary } from './short-writes.ts';
import { DirectForwardWriter, type ForwardWriter } from './forward-writes.ts';
import { ValidityPoller } from './validity.ts';

/**
 * Sends registrations to ONSS in `seq` order, exactly once. The work is done by four parts, each testable
 * on its own with a fake ONSS port:
 * - Sender: one batch, marked in flight before it leaves, its answer recorded;
 * - Reconciler: what an unanswered call or a crash left in flight, settled by asking ONSS;
 * - Breaker: when ONSS may be called again (backoff with jitter, circuit, Retry-After);
 * - ValidityPoller: ONSS's verdict on created registrations, by period.
 * This class only runs them: up to maxBatchesInFlight calls on the wire at once (so the database and the
 * network overlap), nothing new sent while a reconciliation is due, and the outage journal kept (opened on
 * the first failure, closed by the first answered call).
 */
export class Forwarder {
  private readonly writer: ForwardWriter;
  private readonly store: ForwardStore;
  private readonly outages: OutageJournal;
  private readonly breaker: Breaker;
  private readonly sender: Sender;
  private readonly reconciler: Reconciler;
  private readonly validity: ValidityPoller;
  private stopped = false;
  private wakeUp: (() => void) | undefined;
  private readonly sleepers = new Set<() => void>();
  private loops: Promise<void>[] = [];
  /** Batches on the wire (up to maxBatchesInFlight). */
  private readonly outstanding = new Set<Promise<void>>();
  private reconcilePending = true;
  /** The batch at hand was small and has waited once for more (`lingerMs`): it goes now. */
  private lingered = false;

  /**
   * `clock` stamps what the records say happened (sent, answered, outage start and end); the forwarder's
   * own timers (backoff, timeouts, circuit) always run on real time. `store`: where it reads (the storage
   * port). `writer`: where its changes are committed (in the gateway, with the taps' group commit); by
   * default its own short transactions on `store` (SQLite or PostgreSQL).
   * `fence`: the forwarder lease, checked when each batch is marked in flight.
   */
  constructor(store: SqlStore, private readonly port: OnssPort, private readonly tuning: ForwarderTuning, private readonly logger: Logger, private readonly clock: Clock = systemClock, writer?: ForwardWriter, fence?: ForwarderFence) {
    this.writer = writer ?? new DirectForwardWriter(store);
    this.store = new ForwardStore(store, this.writer, (tapId) => port.referenceFor(tapId), fence);
    this.outages = new OutageJournal(store, this.writer);
    this.breaker = new Breaker(tuning);
    this.sender = new Sender(this.store, this.outages, port, tuning.batchSize, clock, logger);
    this.reconciler = new Reconciler(
      this.store, this.outages, port,
      { requestTimeoutMs: tuning.requestTimeoutMs, reconcileDelayMs: tuning.reconcileDelayMs, concurrency: tuning.reconcileConcurrency, limit: tuning.batchSize * tuning.maxBatchesInFlight },
      clock, logger, () => this.stopped,
    );
    this.validity = new ValidityPoller(this.store, port, { intervalMs: tuning.validityPollIntervalMs, batch: tuning.validityPollBatch, concurrency: tuning.validityConcurrency }, logger, () => this.stopped);
  }

  start(): void {
    this.loops.push(this.sendLoop());
    if (this.tuning.validityPollIntervalMs > 0) this.loops.push(this.validityLoop());
  }

  wake(): void {
    this.wakeUp?.();
  }

  /** How long the forwarder's write transactions held the database's write lock. */
  lockHold(): LockHoldSummary {
    return this.writer.lockHold();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeUp?.();
    for (const s of [...this.sleepers]) s();
    await Promise.allSettled(this.loops);
    await Promise.allSettled([...this.outstanding]);
    this.port.close();
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.sleepers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.sleepers.add(done);
    });
  }

  private idle(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wakeUp = undefined;
        this.sleepers.delete(done);
        resolve();
      };
      const t = setTimeout(done, this.tuning.idlePollMs);
      this.wakeUp = done;
      this.sleepers.add(done);
    });
  }

  private async sendLoop(): Promise<void> {
    while (!this.stopped) {
      try {
        const worked = await this.step();
        if (!worked && !this.stopped) await this.idle();
      } catch (e) {
        // The lease went elsewhere: nothing was marked or sent; the leadership stops this forwarder.
        if (e instanceof LeaseLostError) this.logger.warn({ err: e.message }, 'not sending: the forwarder lease is not held');
        else this.logger.error({ err: e }, 'forwarder step failed');
        await this.sleep(this.tuning.backoffInitialMs);
      }
    }
  }

  /** One unit of work; false when there was nothing to do. */
  async step(): Promise<boolean> {
    // The journal's latest entry, read once before anything is sent (an answer is matched to its outage).
    await this.outages.load();
    const now = Date.now();
    const blockedUntil = this.breaker.blockedUntil();
    if (blockedUntil > now || this.outstanding.size >= this.tuning.maxBatchesInFlight) {
      if (this.outstanding.size > 0) await Promise.race(this.outstanding);
      else await this.sleep(blockedUntil - now);
      return true;
    }
    if (this.reconcilePending && this.outstanding.size > 0) {
      // An unanswered call must be reconciled before more goes out: let the others land first.
      await Promise.race(this.outstanding);
      return true;
    }
    if (this.outstanding.size === 0) {
      // Nothing of ours is on the wire: whatever is marked in flight was left by a crash or an unanswered call.
      const plan = await this.reconciler.plan(now);
      this.reconcilePending = plan.kind !== 'none';
      if (plan.kind === 'wait') {
        await this.sleep(plan.untilMs - now);
        return true;
      }
      if (plan.kind === 'look') {
        const report = await this.reconciler.reconcile(plan.rows, plan.last);
        if (report.failure) await this.failed(`reconcile: ${report.failure.cause}`, report.failure.retryAfterMs);
        return true;
      }
    }
    const batch = await this.sender.next();
    if (batch.length === 0) {
      if (this.outstanding.size === 0) return false;
      await Promise.race(this.outstanding);
      return true;
    }
    if (batch.length < this.sender.batchLimit && this.tuning.lingerMs > 0 && !this.lingered) {
      // A small batch waits once for more: a steady trickle of taps then makes calls of tens, not of one.
      this.lingered = true;
      await this.sleep(this.tuning.lingerMs);
      return true;
    }
    this.lingered = false;
    // A token first: if none can be had, nothing needs marking.
    const ready = await this.port.ready();
    if (!ready.ok) {
      if (ready.rateLimited) {
        this.logger.warn({ retryAfterMs: ready.retryAfterMs }, 'ONSS rate limit on the token endpoint: waiting');
        this.breaker.rateLimited(Date.now(), ready.retryAfterMs);
      } else await this.failed(`token: ${ready.cause}`, ready.retryAfterMs);
      return true;
    }
    // Committed before the call leaves; the next batch is read only after (the rows are then marked).
    await this.sender.markInFlight(batch);
    const sentMs = Date.now();
    const sending: Promise<void> = this.sender.send(batch)
      .then((report) => this.onReport(report, batch.map((r) => r.seq), sentMs))
      .catch((e) => this.logger.error({ err: e }, 'forwarding a batch failed'))
      .finally(() => this.outstanding.delete(sending));
    this.outstanding.add(sending);
    return true;
  }

  private async onReport(report: SendReport, seqs: number[], sentMs: number): Promise<void> {
    switch (report.kind) {
      case 'answered':
        await this.succeeded();
        return;
      case 'not-processed':
        if (report.rateLimited) {
          this.logger.warn({ retryAfterMs: report.retryAfterMs }, 'ONSS rate limit: waiting');
          this.breaker.rateLimited(Date.now(), report.retryAfterMs);
        } else await this.failed(report.cause, report.retryAfterMs);
        return;
      case 'ambiguous':
        this.reconciler.noteUnanswered(seqs, sentMs);
        this.reconcilePending = true;
        await this.failed(report.cause);
        return;
      case 'split':
      case 'refused':
        return;
    }
  }

  private async succeeded(): Promise<void> {
    this.breaker.success();
    const closed = await this.outages.recovered(this.clock.now());
    if (closed) this.logger.warn({ outage: closed.id, since: closed.started_at, cause: closed.cause, failures: closed.failures }, 'ONSS reachable again: outage closed');
  }

  private async failed(cause: string, retryAfterMs?: number): Promise<void> {
    // The breaker first: its backoff holds whatever happens to the journal's write.
    const { circuitOpened } = this.breaker.failure(Date.now(), retryAfterMs);
    if (circuitOpened) this.logger.warn({ failures: this.breaker.failures, openMs: this.tuning.circuitOpenMs }, 'circuit open: pausing calls to ONSS');
    const o = await this.outages.failure(cause, this.clock.now());
    if (o.failures === 1) this.logger.warn({ outage: o.id, cause }, 'ONSS failing: outage opened');
  }

  /** Created registrations are asked about until ONSS has run its checks; never while the circuit is open. */
  private async validityLoop(): Promise<void> {
    while (!this.stopped) {
      let more = false;
      if (!this.breaker.isCircuitOpen(Date.now())) {
        try {
          const round = await this.validity.round();
          // A full round with no failure: more are due now, go on at once.
          more = round.due >= this.tuning.validityPollBatch && round.failure === undefined;
        } catch (e) {
          this.logger.error({ err: e }, 'validity check failed');
        }
      }
      if (!more) await this.sleep(this.tuning.validityPollIntervalMs);
    }
  }
}
