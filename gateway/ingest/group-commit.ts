import type { EnrichmentStatus } from './enrich.ts';
import type { BadgeChecksItem, ForwardItem, IngestItem, PayloadItem, StatusItem } from './batch-writer.ts';
import type { FieldProblem } from '../../shared/problems.ts';
import type { RejectReason } from '../../shared/mqtt/payloads.ts';
import type { CommitWriter } from './writers.ts';
import type { ShiftChange } from '../shifts/change.ts';

/**
 * Group commit: taps arriving within a short window (or until the batch is full) are written in one
 * transaction, so one fsync covers many taps; while a commit runs, the next batch gathers, and goes as soon
 * as that commit returns. Acks go out only from `onCommitted`, i.e. after COMMIT returned with
 * synchronous=FULL. If the transaction fails (disk full, I/O error, locked), nothing of the batch is acked:
 * each terminal keeps its taps and sends them again.
 */
export type { IngestItem } from './batch-writer.ts';

export type IngestOutcome =
  | { item: Extract<IngestItem, { kind: 'tap' }>; status: 'stored'; duplicate: boolean; enrichment?: EnrichmentStatus; enrolling?: boolean }
  | { item: Extract<IngestItem, { kind: 'reject' }>; status: 'rejected' }
  /** A tap that came as bytes: the writer decoded it, and says its id (and why it was refused). */
  | { item: PayloadItem; status: 'stored'; duplicate: boolean; enrichment?: EnrichmentStatus; enrolling?: boolean; tapId: string }
  | { item: PayloadItem; status: 'rejected'; tapId?: string; reason: RejectReason; problems: FieldProblem[] }
  | { item: StatusItem | BadgeChecksItem; status: 'noted' }
  | { item: ForwardItem; status: 'noted'; value?: number }
  | { item: ForwardItem; status: 'failed'; error: { message: string; code?: string } };

export interface CommitStats {
  size: number;
  registrations: number;
  durationMs: number;
  /** Workers' shift states the commit changed. */
  shifts: ShiftChange[];
}

export interface GroupCommitOptions {
  maxDelayMs: number;
  maxBatch: number;
  onCommitted(outcomes: IngestOutcome[], stats: CommitStats): void;
  /** A commit failed; `retrying` when the batch will be tried again (a lock held elsewhere). */
  onFailure(error: Error, items: IngestItem[], retrying: boolean): void;
  /** Checked before each commit; while it answers false the batch waits (used to test crash windows). */
  mayCommit?: () => boolean;
}

/** Lock errors are transient: the batch is tried again a few times before it is given up (and not acked). */
const RETRYABLE = new Set(['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_BUSY_TIMEOUT']);
const MAX_ATTEMPTS = 4;
const RETRY_DELAY_MS = 100;

export class GroupCommitter {
  private pending: IngestItem[] = [];
  private readonly attempts = new WeakMap<IngestItem, number>();
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<boolean> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** After a lock error, wait for the retry timer rather than hammering the lock. */
  private waitForRetry = false;
  private stopped = false;

  constructor(private readonly writer: CommitWriter, private readonly opts: GroupCommitOptions) {}

  get pendingCount(): number {
    return this.pending.length;
  }

  submit(item: IngestItem): void {
    if (this.stopped) return;
    this.pending.push(item);
    if (this.inFlight || this.waitForRetry) return; // goes with the next batch, right after the running commit
    if (this.pending.length >= this.opts.maxBatch) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.opts.maxDelayMs);
  }

  /** Commits what is pending now (after the running commit). Resolves false if the commit failed. */
  async flush(): Promise<boolean> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.inFlight) await this.inFlight;
    if (this.pending.length === 0) return true;
    if (this.opts.mayCommit && !this.opts.mayCommit()) {
      if (!this.stopped) this.timer ??= setTimeout(() => void this.flush(), 20);
      return false;
    }
    const items = this.pending.splice(0, this.opts.maxBatch);
    const run = this.writer.write(items).then((r) => ({ ok: true as const, r }), (err: unknown) => ({ ok: false as const, err: err as Error }));
    this.inFlight = run.then((x) => x.ok);
    const done = await run;
    this.inFlight = undefined;
    if (!done.ok) {
      this.failed(done.err, items);
      // What arrived during the commit has waited long enough: send it now (unless a retry is scheduled).
      if (this.pending.length && !this.stopped && !this.waitForRetry) void this.flush();
      return false;
    }
    this.waitForRetry = false;
    // The next batch goes to the writer before this one's acks are sent: its commit and these acks overlap.
    if (this.pending.length && !this.stopped) void this.flush();
    const r = done.r;
    const outcomes = items.map((item, i) => ({ item, ...r.results[i]! }) as IngestOutcome);
    this.opts.onCommitted(outcomes, { size: items.length, registrations: r.registrations, durationMs: r.durationMs, shifts: r.shifts ?? [] });
    return true;
  }

  private failed(err: Error, items: IngestItem[]): void {
    const code = (err as { code?: string }).code ?? '';
    const attempt = (this.attempts.get(items[0]!) ?? 1);
    const retrying = RETRYABLE.has(code) && attempt < MAX_ATTEMPTS && !this.stopped;
    this.opts.onFailure(err, items, retrying);
    this.waitForRetry = retrying;
    if (retrying) {
      for (const item of items) this.attempts.set(item, attempt + 1);
      this.pending.unshift(...items);
      this.retryTimer ??= setTimeout(() => {
        this.retryTimer = undefined;
        void this.flush();
      }, RETRY_DELAY_MS);
    }
  }

  /** Stops taking taps, commits what was already received, and closes the writer. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.timer = undefined;
    this.retryTimer = undefined;
    while (this.inFlight) await this.inFlight;
    const gate = this.opts.mayCommit;
    while (this.pending.length && (!gate || gate())) if (!(await this.flush())) break;
    await this.writer.close();
  }
}
