import type { Logger } from '../../shared/logging.ts';
import type { Clock } from '../../shared/clock.ts';
import type { OnssPort, OnssRegistration } from '../onss/port.ts';
import type { Answer, ForwardStore, InFlightRow } from './forward-store.ts';
import type { OutageJournal } from './outage-journal.ts';
import { PENDING_VALIDITY } from './schema.ts';

/**
 * Settles registrations left in flight by an unanswered call or a crash, by asking ONSS what it holds
 * under each client reference. Nothing in flight is ever sent again before ONSS has said it does not hold
 * it at a moment it can no longer be working on the call.
 *
 * Two looks:
 * - a **first look** as soon as nothing of ours is on the wire: what ONSS shows is created, at once. A call
 *   ONSS processed and then failed to answer (a hang-up) is settled within seconds this way, and sending
 *   resumes;
 * - what the first look did not find stays in flight until `requestTimeoutMs + reconcileDelayMs` after the
 *   call was sent (ONSS may still be working on a call the gateway gave up on); then a **last look**: found
 *   is created, not found goes back to be sent again.
 */
export type ReconcilePlan =
  | { kind: 'none' }
  | { kind: 'look'; rows: InFlightRow[]; last: boolean }
  | { kind: 'wait'; untilMs: number };

export interface ReconcileReport {
  /** Found at ONSS: recorded as created. */
  found: number;
  /** Not found at the last look: back to retry. */
  absent: number;
  /** Not found at a first look: still in flight, asked again at the last look. */
  unresolved: number;
  /** ONSS could not be asked (the rows not asked stay as they were). */
  failure?: { cause: string; retryAfterMs?: number };
}

export interface ReconcilerOptions {
  requestTimeoutMs: number;
  reconcileDelayMs: number;
  concurrency: number;
  /** Rows looked at per plan. */
  limit: number;
}

interface Unanswered {
  /** Real time (ms) the call left, when this process sent it. */
  sentMs?: number;
  /** A first look did not find it. */
  looked: boolean;
}

export class Reconciler {
  /** In-flight rows this process knows about: bounded by what is in flight. */
  private readonly unanswered = new Map<number, Unanswered>();

  constructor(
    private readonly store: ForwardStore,
    private readonly outages: OutageJournal,
    private readonly port: OnssPort,
    private readonly options: ReconcilerOptions,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly stopped: () => boolean = () => false,
  ) {}

  /** A call carrying these registrations went unanswered; `sentMs` is the real time it left. */
  noteUnanswered(seqs: number[], sentMs: number): void {
    for (const seq of seqs) this.unanswered.set(seq, { sentMs, looked: false });
  }

  /** What to do about registrations in flight, when nothing of ours is on the wire. */
  async plan(nowMs = Date.now()): Promise<ReconcilePlan> {
    const rows = await this.store.inFlight(this.options.limit);
    if (rows.length === 0) {
      this.unanswered.clear();
      return { kind: 'none' };
    }
    const safeAt = Math.max(...rows.map((r) => this.sentMs(r, nowMs))) + this.options.requestTimeoutMs + this.options.reconcileDelayMs;
    if (nowMs >= safeAt) return { kind: 'look', rows, last: true };
    const firstLook = rows.filter((r) => !this.unanswered.get(r.seq)?.looked);
    if (firstLook.length > 0) return { kind: 'look', rows: firstLook, last: false };
    return { kind: 'wait', untilMs: safeAt };
  }

  /**
   * When the call carrying a row left, in real time: known for calls of this process; for rows left by an
   * earlier process, measured on the records' clock (which may run a virtual day) from `last_sent_at`.
   */
  private sentMs(row: InFlightRow, nowMs: number): number {
    const known = this.unanswered.get(row.seq)?.sentMs;
    if (known !== undefined) return known;
    const stamped = Date.parse(row.last_sent_at ?? '');
    if (Number.isNaN(stamped)) return 0;
    return nowMs - Math.max(0, this.clock.now().getTime() - stamped);
  }

  async reconcile(rows: InFlightRow[], last: boolean): Promise<ReconcileReport> {
    const found = new Map<number, OnssRegistration[]>();
    let failure: ReconcileReport['failure'];
    let next = 0;
    const worker = async () => {
      while (!failure && next < rows.length && !this.stopped()) {
        const row = rows[next++]!;
        const r = await this.port.findByClientReference(row.client_reference, row.at_utc);
        if (r.ok) found.set(row.seq, r.value);
        else failure ??= { cause: r.cause, retryAfterMs: r.retryAfterMs };
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency, rows.length) }, worker));

    const answers: Answer[] = [];
    const absent: number[] = [];
    let unresolved = 0;
    let delayed = 0;
    let outageId: number | undefined;
    for (const row of rows) {
      const regs = found.get(row.seq);
      if (!regs) continue;
      if (regs.length === 0) {
        if (last) absent.push(row.seq);
        else {
          unresolved++;
          this.unanswered.set(row.seq, { ...this.unanswered.get(row.seq), looked: true });
        }
        continue;
      }
      const first = regs[0]!;
      if (regs.length > 1) this.logger.error({ seq: row.seq, count: regs.length }, 'ONSS holds several registrations for one tap');
      const o = this.outages.outageFor(row.received_at);
      if (o !== undefined) {
        delayed++;
        outageId = o;
      }
      answers.push({
        seq: row.seq, kind: 'created', onssId: first.id, validity: first.settled ? first.validity : PENDING_VALIDITY, remarks: first.remarks,
        outageId: o, duplicates: regs.length - 1,
      });
    }
    await this.store.recordAnswers(answers, this.clock.now().toISOString(), outageId === undefined ? undefined : { outageId, count: delayed });
    await this.store.markRetry(absent, 'not found at ONSS after an unanswered call');
    for (const a of answers) this.unanswered.delete(a.seq);
    for (const s of absent) this.unanswered.delete(s);
    if (answers.length + absent.length + unresolved > 0) {
      this.logger.info({ found: answers.length, absent: absent.length, unresolved, look: last ? 'last' : 'first' }, 'reconciled in-flight registrations with ONSS');
    }
    return { found: answers.length, absent: absent.length, unresolved, failure };
  }
}
