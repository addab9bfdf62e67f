import type { Logger } from '../../shared/logging.ts';
import type { Db } from '../../shared/sqlite.ts';
import { OnssClient, type BulkOutcome } from '../onss/client.ts';
import { TokenError } from '../onss/token.ts';
import { isFinalValidity, toOnssItem, type OnssRegistration } from '../onss/shapes.ts';
import { pemFrom, type ResolvedForwardingConfig } from './config.ts';
import { ForwardStore, type Answer, type BatchRow } from './forward-store.ts';
import { OutageJournal } from './outage-journal.ts';
import { systemClock, type Clock } from '../../shared/clock.ts';

/**
 * Sends registrations to ONSS in `seq` order, exactly once:
 * 1. a batch is marked in flight (committed) before it is sent;
 * 2. an answered batch records, per item, created (ONSS id, validity, remarks) or not created (errors);
 * 3. a call ONSS certainly did not process (429, 503, 401, unreachable) puts its items back to retry;
 * 4. a call it may have processed (timeout, reset, hang-up, 5xx) leaves its items in flight; they, and any
 *    left by a crash, are reconciled by client reference with ONSS's search once ONSS can no longer be
 *    working on the call (reconcileDelayMs), and only the ones ONSS does not hold are sent again.
 * Up to maxBatchesInFlight calls are on the wire at once, so the database and the network overlap.
 * Failures back off exponentially with jitter, open a circuit after repeated failures, and open an entry
 * in the outage journal; the first answered call closes it.
 */
export class Forwarder {
  private readonly store: ForwardStore;
  private readonly outages: OutageJournal;
  private readonly client: OnssClient;
  private stopped = false;
  private wakeUp: (() => void) | undefined;
  private sleepers = new Set<() => void>();
  private consecutiveFailures = 0;
  private circuitOpenUntil = 0;
  /** Lowered after a batch is refused as a whole, to isolate the item ONSS cannot take. */
  private batchLimit: number;
  private readonly reconcileDelayMs: number;
  private loops: Promise<void>[] = [];
  /** Batches on the wire (up to maxBatchesInFlight), and no new call before pauseUntil. */
  private readonly outstanding = new Set<Promise<void>>();
  private pauseUntil = 0;
  private reconcilePending = true;

  /**
   * `clock` stamps what the records say happened (sent, answered, outage start and end); the forwarder's
   * own timers (backoff, timeouts, circuit) always run on real time.
   */
  constructor(db: Db, private readonly config: ResolvedForwardingConfig, private readonly logger: Logger, private readonly clock: Clock = systemClock) {
    this.store = new ForwardStore(db);
    this.outages = new OutageJournal(db);
    this.client = new OnssClient({
      baseUrl: config.baseUrl!,
      clientId: config.clientId!,
      privateKeyPem: pemFrom(process.env.CIAO_ONSS_PRIVATE_KEY ?? config.privateKey!, 'privateKey'),
      keyId: config.keyId,
      tokenAudience: config.tokenAudience,
      ca: config.ca ? pemFrom(config.ca, 'ca') : undefined,
      requestTimeoutMs: config.requestTimeoutMs,
      tokenTimeoutMs: config.tokenTimeoutMs,
    });
    this.batchLimit = config.batchSize;
    this.reconcileDelayMs = config.reconcileDelayMs ?? config.requestTimeoutMs;
  }

  start(): void {
    this.loops.push(this.sendLoop());
    if (this.config.validityPollIntervalMs > 0) this.loops.push(this.validityLoop());
  }

  wake(): void {
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeUp?.();
    for (const s of [...this.sleepers]) s();
    await Promise.allSettled(this.loops);
    await Promise.allSettled([...this.outstanding]);
    this.client.close();
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
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wakeUp = undefined;
        this.sleepers.delete(done);
        resolve();
      };
      const t = setTimeout(done, this.config.idlePollMs);
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
        this.logger.error({ err: e }, 'forwarder step failed');
        await this.sleep(this.config.backoffInitialMs);
      }
    }
  }

  /** One unit of work; false when there was nothing to do. */
  async step(): Promise<boolean> {
    const now = Date.now();
    const pauseUntil = Math.max(this.circuitOpenUntil, this.pauseUntil);
    if (pauseUntil > now || this.outstanding.size >= this.config.maxBatchesInFlight) {
      if (this.outstanding.size > 0) await Promise.race(this.outstanding);
      else await this.sleep(pauseUntil - now);
      return true;
    }
    if (this.reconcilePending && this.outstanding.size > 0) {
      // An unanswered call must be reconciled before more goes out: let the others land first.
      await Promise.race(this.outstanding);
      return true;
    }
    if (this.outstanding.size === 0) {
      // Nothing of ours is on the wire: whatever is marked in flight was left by a crash or an unanswered call.
      const inFlight = this.store.inFlight(this.config.batchSize);
      this.reconcilePending = inFlight.length > 0;
      if (inFlight.length > 0) {
        const lastSent = Math.max(...inFlight.map((r) => Date.parse(r.last_sent_at ?? '') || 0));
        // ONSS may still be working on a call we gave up on: wait until it cannot be, then ask.
        const wait = lastSent + this.config.requestTimeoutMs + this.reconcileDelayMs - Date.now();
        if (wait > 0) {
          await this.sleep(wait);
          return true;
        }
        await this.reconcile(inFlight);
        return true;
      }
    }
    const batch = this.store.nextBatch(this.batchLimit);
    if (batch.length === 0) {
      if (this.outstanding.size === 0) return false;
      await Promise.race(this.outstanding);
      return true;
    }
    // A token first: if none can be had, nothing needs marking.
    try {
      await this.client.tokens.token();
    } catch (e) {
      const t = e as TokenError;
      if (t.status === 429) {
        this.logger.warn({ retryAfterMs: t.retryAfterMs }, 'ONSS rate limit on the token endpoint: waiting');
        this.pauseFor(t.retryAfterMs ?? 1000);
      } else {
        this.failed(`token: ${t.message}`);
        this.pauseFor(this.backoffDelay(t.retryAfterMs));
      }
      return true;
    }
    this.store.markInFlight(batch, this.clock.now().toISOString());
    const sending: Promise<void> = this.send(batch)
      .catch((e) => this.logger.error({ err: e }, 'forwarding a batch failed'))
      .finally(() => this.outstanding.delete(sending));
    this.outstanding.add(sending);
    return true;
  }

  private pauseFor(ms: number): void {
    this.pauseUntil = Math.max(this.pauseUntil, Date.now() + ms);
  }

  /** Sends a batch already marked in flight and records what became of it. */
  private async send(batch: BatchRow[]): Promise<void> {
    const items = batch.map((r) => toOnssItem(r, r.client_reference));
    const outcome: BulkOutcome = await this.client.registerInBulk(items);
    const seqs = batch.map((r) => r.seq);
    switch (outcome.kind) {
      case 'answered': {
        const answers: Answer[] = [];
        let delayed = 0;
        let outageId: number | undefined;
        this.succeeded();
        outcome.items.forEach((item, i) => {
          const row = batch[i]!;
          const o = this.outages.outageFor(row.received_at);
          if (o !== undefined) {
            delayed++;
            outageId = o;
          }
          answers.push(item.kind === 'created'
            ? { seq: row.seq, kind: 'created', onssId: item.id, validity: item.validity, remarks: item.remarks, outageId: o }
            : { seq: row.seq, kind: 'not-created', errors: item.errors, outageId: o });
        });
        this.store.recordAnswers(answers, this.clock.now().toISOString());
        if (outageId !== undefined) this.outages.countDelayed(outageId, delayed);
        const refused = answers.filter((a) => a.kind === 'not-created').length;
        if (refused > 0) this.logger.warn({ refused, batch: batch.length }, 'ONSS refused registrations');
        if (this.batchLimit < this.config.batchSize) this.batchLimit = Math.min(this.config.batchSize, this.batchLimit * 2);
        return;
      }
      case 'not-processed': {
        this.store.markRetry(seqs, outcome.cause);
        if (outcome.rateLimited) {
          this.logger.warn({ retryAfterMs: outcome.retryAfterMs }, 'ONSS rate limit: waiting');
          this.pauseFor(outcome.retryAfterMs ?? 1000);
          return;
        }
        this.failed(outcome.cause);
        this.pauseFor(this.backoffDelay(outcome.retryAfterMs));
        return;
      }
      case 'refused': {
        if (batch.length > 1) {
          // Something in the batch makes ONSS refuse all of it: halve until the culprit stands alone.
          this.store.markRetry(seqs, `batch refused: HTTP ${outcome.status}`);
          this.batchLimit = Math.max(1, Math.ceil(batch.length / 2));
          this.logger.warn({ status: outcome.status, detail: outcome.detail, next: this.batchLimit }, 'ONSS refused a whole batch: splitting');
          return;
        }
        const row = batch[0]!;
        this.store.recordAnswers([{ seq: row.seq, kind: 'not-created', errors: [{ code: `http${outcome.status}`, message: outcome.detail, problemType: outcome.problemType }] }], this.clock.now().toISOString());
        this.logger.warn({ seq: row.seq, status: outcome.status }, 'ONSS refused a registration');
        return;
      }
      case 'ambiguous': {
        this.store.noteFailure(seqs, outcome.cause);
        this.reconcilePending = true;
        this.logger.warn({ cause: outcome.cause, batch: batch.length }, 'ONSS call unanswered: reconciling before resending');
        this.failed(outcome.cause);
        this.pauseFor(this.backoffDelay());
        return;
      }
    }
  }

  /** Asks ONSS which in-flight registrations it holds; the others go back to be sent again. */
  private async reconcile(rows: Array<{ seq: number; client_reference: string; received_at: string }>): Promise<void> {
    const found = new Map<number, OnssRegistration[]>();
    let failure: { cause: string; retryAfterMs?: number } | undefined;
    let next = 0;
    const worker = async () => {
      while (!failure && next < rows.length && !this.stopped) {
        const row = rows[next++]!;
        const r = await this.client.searchByClientReference(row.client_reference);
        if (r.ok) found.set(row.seq, r.value);
        else failure ??= { cause: r.cause, retryAfterMs: r.retryAfterMs };
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.config.reconcileConcurrency, rows.length) }, worker));

    const answers: Answer[] = [];
    const absent: number[] = [];
    let delayed = 0;
    let outageId: number | undefined;
    for (const row of rows) {
      const regs = found.get(row.seq);
      if (!regs) continue;
      if (regs.length === 0) {
        absent.push(row.seq);
        continue;
      }
      const first = regs[0]!;
      if (regs.length > 1) this.logger.error({ seq: row.seq, count: regs.length }, 'ONSS holds several registrations for one tap');
      const o = this.outages.outageFor(row.received_at);
      if (o !== undefined) {
        delayed++;
        outageId = o;
      }
      answers.push({ seq: row.seq, kind: 'created', onssId: first.id, validity: first.validity, remarks: first.remarks, outageId: o, duplicates: regs.length - 1 });
    }
    this.store.recordAnswers(answers, this.clock.now().toISOString());
    if (outageId !== undefined) this.outages.countDelayed(outageId, delayed);
    this.store.markRetry(absent, 'not found at ONSS after an unanswered call');
    if (answers.length + absent.length > 0) {
      this.logger.info({ found: answers.length, absent: absent.length }, 'reconciled in-flight registrations with ONSS');
    }
    if (failure) {
      this.failed(`reconcile: ${failure.cause}`);
      this.pauseFor(this.backoffDelay(failure.retryAfterMs));
    }
  }

  private succeeded(): void {
    this.consecutiveFailures = 0;
    this.circuitOpenUntil = 0;
    const closed = this.outages.recovered(this.clock.now());
    if (closed) this.logger.warn({ outage: closed.id, since: closed.started_at, cause: closed.cause, failures: closed.failures }, 'ONSS reachable again: outage closed');
  }

  private failed(cause: string): void {
    this.consecutiveFailures++;
    const wasOpen = this.outages.isOpen;
    const o = this.outages.failure(cause, this.clock.now());
    if (!wasOpen) this.logger.warn({ outage: o.id, cause }, 'ONSS failing: outage opened');
    if (this.consecutiveFailures >= this.config.circuitFailureThreshold) {
      this.circuitOpenUntil = Date.now() + this.config.circuitOpenMs;
      this.logger.warn({ failures: this.consecutiveFailures, openMs: this.config.circuitOpenMs }, 'circuit open: pausing calls to ONSS');
    }
  }

  /** Exponential backoff with jitter (between half and all of the step); a Retry-After from ONSS is a floor. */
  private backoffDelay(retryAfterMs?: number): number {
    const exp = Math.min(this.config.backoffMaxMs, this.config.backoffInitialMs * 2 ** Math.min(30, Math.max(0, this.consecutiveFailures - 1)));
    return Math.max(exp / 2 + Math.random() * (exp / 2), retryAfterMs ?? 0);
  }

  /** Created registrations are polled until ONSS has run its checks (validity leaves `pending`). */
  private async validityLoop(): Promise<void> {
    while (!this.stopped) {
      await this.sleep(this.config.validityPollIntervalMs);
      if (this.stopped) return;
      if (this.circuitOpenUntil > Date.now()) continue;
      try {
        await this.pollValidity();
      } catch (e) {
        this.logger.error({ err: e }, 'validity poll failed');
      }
    }
  }

  async pollValidity(): Promise<number> {
    const due = this.store.pendingValidity(Date.now() - this.config.validityPollIntervalMs, this.config.validityPollBatch);
    const updates: Array<{ seq: number; validity?: string; remarks?: string[] }> = [];
    let next = 0;
    let failed = false;
    const worker = async () => {
      while (!failed && next < due.length && !this.stopped) {
        const row = due[next++]!;
        const r = await this.client.getRegistration(row.onss_id);
        if (!r.ok) {
          failed = true;
          return;
        }
        if (r.value && isFinalValidity(r.value.validity)) updates.push({ seq: row.seq, validity: r.value.validity, remarks: r.value.remarks });
        else updates.push({ seq: row.seq });
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, due.length) }, worker));
    this.store.recordValidity(updates);
    return updates.filter((u) => u.validity !== undefined).length;
  }
}
