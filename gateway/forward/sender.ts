import type { Logger } from '../../shared/logging.ts';
import type { Clock } from '../../shared/clock.ts';
import type { OnssPort } from '../onss/port.ts';
import type { Answer, BatchRow, ForwardStore } from './forward-store.ts';
import type { OutageJournal } from './outage-journal.ts';
import { PENDING_VALIDITY } from './schema.ts';

/**
 * Sends one batch and records what became of it:
 * - marked in flight (committed) before the call leaves;
 * - answered: per item, created (ONSS id, validity, remarks) or not created (errors, never resent blindly);
 * - not processed (429, 503, 401, unreachable): back to retry;
 * - refused as a whole (400, 413, 422): halved until the registration ONSS cannot take stands alone, which
 *   is then recorded as not created;
 * - ambiguous (timeout, reset, hang-up, 5xx): left in flight for the reconciler.
 * It decides nothing about timing: the report tells the forwarder whether ONSS answered or failed.
 */
export type SendReport =
  | { kind: 'answered'; created: number; refused: number }
  | { kind: 'not-processed'; cause: string; rateLimited: boolean; retryAfterMs?: number }
  | { kind: 'split'; next: number }
  | { kind: 'refused'; seq: number }
  | { kind: 'ambiguous'; cause: string };

export class Sender {
  /** Lowered after a batch is refused as a whole, to isolate the registration ONSS cannot take. */
  private limit: number;

  constructor(
    private readonly store: ForwardStore,
    private readonly outages: OutageJournal,
    private readonly port: OnssPort,
    private readonly batchSize: number,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    this.limit = Math.min(batchSize, port.maxBatch);
  }

  get batchLimit(): number {
    return this.limit;
  }

  /** The next batch to send (retries first, then new registrations, in `seq` order). */
  next(): Promise<BatchRow[]> {
    return this.store.nextBatch(this.limit);
  }

  /** Commits the batch as in flight: from now on ONSS may hold it, until an answer or a reconciliation says. */
  markInFlight(batch: BatchRow[]): Promise<void> {
    return this.store.markInFlight(batch, this.clock.now().toISOString());
  }

  /** Sends a batch already marked in flight and records what became of it. */
  async send(batch: BatchRow[]): Promise<SendReport> {
    const outcome = await this.port.send(batch.map((row) => ({ row, clientReference: row.client_reference })));
    const seqs = batch.map((r) => r.seq);
    switch (outcome.kind) {
      case 'answered': {
        const answers: Answer[] = [];
        let delayed = 0;
        let outageId: number | undefined;
        outcome.items.forEach((item, i) => {
          const row = batch[i]!;
          const o = this.outages.outageFor(row.received_at);
          if (o !== undefined) {
            delayed++;
            outageId = o;
          }
          answers.push(item.kind === 'created'
            ? { seq: row.seq, kind: 'created', onssId: item.id, validity: item.settled ? item.validity : PENDING_VALIDITY, remarks: item.remarks, outageId: o }
            : { seq: row.seq, kind: 'not-created', errors: item.errors, outageId: o });
        });
        await this.store.recordAnswers(answers, this.clock.now().toISOString(), outageId === undefined ? undefined : { outageId, count: delayed });
        const refused = answers.filter((a) => a.kind === 'not-created').length;
        if (refused > 0) this.logger.warn({ refused, batch: batch.length }, 'ONSS refused registrations');
        if (this.limit < this.batchSize) this.limit = Math.min(this.batchSize, this.limit * 2);
        return { kind: 'answered', created: answers.length - refused, refused };
      }
      case 'not-processed':
        await this.store.markRetry(seqs, outcome.cause);
        return { kind: 'not-processed', cause: outcome.cause, rateLimited: outcome.rateLimited === true, retryAfterMs: outcome.retryAfterMs };
      case 'refused': {
        if (batch.length > 1) {
          // Something in the batch makes ONSS refuse all of it: halve until the culprit stands alone.
          await this.store.markRetry(seqs, `batch refused: HTTP ${outcome.status}`);
          this.limit = Math.max(1, Math.ceil(batch.length / 2));
          this.logger.warn({ status: outcome.status, detail: outcome.detail, next: this.limit }, 'ONSS refused a whole batch: splitting');
          return { kind: 'split', next: this.limit };
        }
        const row = batch[0]!;
        await this.store.recordAnswers(
          [{ seq: row.seq, kind: 'not-created', errors: [{ code: `http${outcome.status}`, message: outcome.detail, problemType: outcome.problemType }] }],
          this.clock.now().toISOString(),
        );
        this.logger.warn({ seq: row.seq, status: outcome.status }, 'ONSS refused a registration');
        return { kind: 'refused', seq: row.seq };
      }
      case 'ambiguous':
        await this.store.noteFailure(seqs, outcome.cause);
        this.logger.warn({ cause: outcome.cause, batch: batch.length }, 'ONSS call unanswered: reconciling before resending');
        return { kind: 'ambiguous', cause: outcome.cause };
    }
  }
}
