import type { Logger } from '../../shared/logging.ts';
import type { Ack, Language } from '../../shared/mqtt/payloads.ts';
import { toOffsetIso } from '../../shared/time.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { CommitStats, IngestItem, IngestOutcome } from './group-commit.ts';
import { InlineWriter, type CommitWriter } from './writers.ts';
import { CommitQueue } from './commit-queue.ts';
import type { StatusItem } from './batch-writer.ts';
import { ackDisplay } from './display.ts';
import type { ShiftChange } from '../shifts/change.ts';
import type { SqlStore } from '../store/sql-store.ts';

/** Where acks go: the broker adapter publishes them on the terminal's `acks` topic (QoS 1). */
export interface AckSink {
  sendAck(terminalId: string, ack: Ack): void;
}

export interface TapIngestOptions {
  /** The gateway's storage port: the inline writer's, when neither `queue` nor `writer` is given. */
  store: SqlStore;
  /**
   * The gateway's commit queue, shared with the forwarder (the gateway's one writer). Without it, ingest
   * makes its own on `writer` (inline on `store` by default), with `maxDelayMs`, `maxBatch` and `mayCommit`.
   */
  queue?: CommitQueue;
  /** Where commits run; inline on `store` by default. */
  writer?: CommitWriter;
  logger: Logger;
  metrics: GatewayMetrics;
  acks: AckSink;
  /** Of ingest's own queue (without `queue`): how long a batch gathers, and its largest size. */
  maxDelayMs?: number;
  maxBatch?: number;
  languageOf(terminalId: string): Language;
  /** Called after a commit that appended registrations. */
  onRegistrations(count: number): void;
  /** Called after a commit that changed workers' shift states (right after its acks). */
  onShiftChanges?(changes: ShiftChange[]): void;
  mayCommit?: () => boolean;
  /** The gateway's clock (a virtual one in the demo); Date.now by default. */
  now?: () => number;
}

/**
 * The ingest path: decode and validate a tap (the only per-tap work done on arrival), hand it to the group
 * commit, and ack each tap once its batch is durable. Rejections are quarantined in the same commit.
 */
export class TapIngest {
  private readonly committer: CommitQueue;
  /** Whether the queue is ingest's own (then stopping ingest stops it). */
  private readonly ownQueue: boolean;
  private lastFailureAt = 0;
  private lastFailure: string | undefined;
  /** Whether the failing commits carried taps: then only a commit of taps shows the database takes them again. */
  private failingWithTaps = false;
  private readonly now: () => number;
  private stopped = false;

  constructor(private readonly o: TapIngestOptions) {
    this.now = o.now ?? Date.now;
    this.ownQueue = o.queue === undefined;
    this.committer = o.queue ?? new CommitQueue(o.writer ?? new InlineWriter(o.store), { maxDelayMs: o.maxDelayMs ?? 2, maxBatch: o.maxBatch ?? 2000, mayCommit: o.mayCommit });
    this.committer.attach({
      committed: (outcomes, stats) => this.committed(outcomes, stats),
      failed: (err, items, retrying) => this.failed(err, items, retrying),
    });
  }

  receive(terminalId: string, payload: Buffer): void {
    // After the stop nothing is taken: the terminal keeps the tap and sends it again.
    if (this.stopped) return;
    const receivedMs = this.now();
    const arrivedPerf = performance.now();
    const receivedAt = new Date(receivedMs).toISOString();
    this.o.metrics.tapsReceived.inc();
    // Decoded and validated by the writer, off this thread (the broker's): the bytes go as they came.
    this.committer.submit({ kind: 'payload', terminalId, payload, receivedAt, receivedMs, arrivedPerf });
  }

  /**
   * Held taps a release handed to the badge check are settled with the next batch, on the writer thread
   * that holds the keys and read counters (asked after a site-data change, and once at start).
   */
  settleBadgeChecks(): void {
    this.committer.submit({ kind: 'badge-checks', at: new Date(this.now()).toISOString() });
  }

  /** Status changes are written with the next batch, so the database has a single writer. */
  note(item: StatusItem): void {
    this.committer.submit(item);
  }

  /**
   * Health: the last commit failure, while commits fail. A small commit (a status row) that gets through
   * while tap batches still fail (a disk nearly full) does not clear it; a failure with no commit of taps
   * since stays reported for a minute after the last one.
   */
  get degraded(): string | undefined {
    return this.lastFailure !== undefined && Date.now() - this.lastFailureAt < 60_000 ? this.lastFailure : undefined;
  }

  get pending(): number {
    return this.committer.pendingCount;
  }

  flush(): Promise<boolean> {
    return this.committer.flush();
  }

  /**
   * Stops taking taps and commits (and acks) what was received; a queue of its own is closed, a shared one
   * is left to its owner (the forwarder may still write through it).
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.ownQueue) await this.committer.stop();
    else while (this.committer.pendingCount > 0) if (!(await this.committer.flush())) break;
  }

  private committed(outcomes: IngestOutcome[], stats: CommitStats): void {
    const m = this.o.metrics;
    m.commitBatchSize.observe(stats.size);
    m.commitDuration.observe(stats.durationMs / 1000);
    if (this.lastFailure && (!this.failingWithTaps || outcomes.some((o) => o.status !== 'noted'))) {
      this.o.logger.info({ batch: stats.size }, 'commits succeed again');
      this.lastFailure = undefined;
      this.failingWithTaps = false;
    }
    const nowMs = this.now();
    const now = toOffsetIso(new Date(nowMs));
    for (const o of outcomes) {
      if (o.status === 'noted' || o.status === 'failed') continue;
      const lang = this.o.languageOf(o.item.terminalId);
      if (o.status === 'stored') {
        if (o.duplicate) m.tapsDuplicate.inc();
        else {
          m.tapsStored.inc();
          m.enrichment.inc({ status: o.enrichment! });
        }
        const shown = o.enrichment === 'enriched' || o.duplicate ? 'stored' : o.enrolling ? 'enrol' : 'review';
        const id = fromBytes(o) ? o.tapId : (o.item as Extract<IngestItem, { kind: 'tap' }>).tap.id;
        this.o.acks.sendAck(o.item.terminalId, { id, status: 'stored', display: ackDisplay(lang, shown), now });
      } else {
        const r = fromBytes(o) ? { tapId: o.tapId, reason: o.reason, problems: o.problems } : (o.item as Extract<IngestItem, { kind: 'reject' }>);
        m.tapsRejected.inc({ reason: r.reason });
        this.o.logger.warn({ terminalId: o.item.terminalId, tapId: r.tapId, reason: r.reason, problems: r.problems }, 'tap rejected and quarantined');
        // A payload without a readable id cannot be matched by the terminal; the ack still says why.
        this.o.acks.sendAck(o.item.terminalId, { id: r.tapId ?? '', status: 'rejected', reason: r.reason, problems: r.problems, display: ackDisplay(lang, 'rejected'), now });
      }
      m.ackLatency.observe((performance.now() - o.item.arrivedPerf) / 1000);
    }
    if (stats.shifts.length > 0) {
      try {
        this.o.onShiftChanges?.(stats.shifts);
      } catch (err) {
        this.o.logger.error({ err }, 'could not tell the terminals about shift changes');
      }
    }
    if (stats.registrations > 0) {
      m.registrationsAppended.inc(stats.registrations);
      this.o.onRegistrations(stats.registrations);
    }
  }

  private failed(err: Error, items: IngestItem[], retrying: boolean): void {
    const code = (err as { code?: string }).code ?? 'UNKNOWN';
    this.o.metrics.commitFailures.inc({ code });
    this.lastFailureAt = Date.now();
    this.lastFailure = code;
    if (items.some((i) => i.kind !== 'status')) this.failingWithTaps = true;
    if (retrying) this.o.logger.warn({ err, code, batch: items.length }, 'group commit failed: database locked, trying again');
    else this.o.logger.error({ err, code, batch: items.length }, 'group commit failed: nothing acked, terminals will send these taps again');
  }
}

/** An outcome of a tap that came as bytes: the writer decoded it and told its id (and why it was refused). */
function fromBytes<O extends IngestOutcome>(o: O): o is Extract<O, { item: { kind: 'payload' } }> {
  return o.item.kind === 'payload';
}
