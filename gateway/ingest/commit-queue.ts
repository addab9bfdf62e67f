import type { Logger } from '../../shared/logging.ts';
import type { ForwardWrite, ForwardWriter } from '../forward/forward-writes.ts';
import type { LockHoldSummary } from '../forward/short-writes.ts';
import { GroupCommitter, type CommitStats, type IngestItem, type IngestOutcome } from './group-commit.ts';
import type { CommitWriter } from './writers.ts';

/**
 * The gateway's one writer: every change to the database's hot tables goes through one group commit on one
 * connection (the writer thread's): taps, rejects and terminal statuses from ingest, and the forwarder's
 * state changes. So the tap writer and the forwarder never wait on each other for the write lock (a waiting
 * SQLite connection sleeps 1, 2, 5, 10... ms between tries), and a forwarder change shares the COMMIT and
 * the fsync of the taps committed with it.
 *
 * Ingest attaches its handler for what it submitted; the forwarder's changes are settled here: each
 * resolves once its transaction committed, or fails with the commit's error (or its own, alone: a forwarder
 * change that fails is undone on its own savepoint and the taps of the batch still commit).
 */
export interface CommitHandler {
  committed(outcomes: IngestOutcome[], stats: CommitStats): void;
  failed(error: Error, items: IngestItem[], retrying: boolean): void;
}

export interface CommitQueueOptions {
  maxDelayMs: number;
  maxBatch: number;
  /** Checked before each commit; while it answers false the batch waits (crash-window tests). */
  mayCommit?: () => boolean;
  logger?: Logger;
}

type ForwardItem = Extract<IngestItem, { kind: 'forward' }>;

export class CommitQueue {
  private readonly committer: GroupCommitter;
  private handler: CommitHandler | undefined;
  private readonly waiting = new Map<ForwardItem, { resolve(v: number | undefined): void; reject(e: Error): void }>();

  constructor(private readonly writer: CommitWriter, private readonly o: CommitQueueOptions) {
    this.committer = new GroupCommitter(writer, {
      maxDelayMs: o.maxDelayMs,
      maxBatch: o.maxBatch,
      mayCommit: o.mayCommit,
      onCommitted: (outcomes, stats) => this.committed(outcomes, stats),
      onFailure: (err, items, retrying) => this.failed(err, items, retrying),
    });
  }

  /** Resolves once the writer can write (its thread started); rejects with why it could not. */
  ready(): Promise<void> {
    return this.writer.ready ?? Promise.resolve();
  }

  /** Who is told about the items it submitted (ingest). */
  attach(handler: CommitHandler): void {
    this.handler = handler;
  }

  submit(item: IngestItem): void {
    this.committer.submit(item);
  }

  get pendingCount(): number {
    return this.committer.pendingCount;
  }

  /** The forwarder's writer: its changes committed with the next batch. */
  readonly forwardWriter: ForwardWriter = {
    write: (change: ForwardWrite) =>
      new Promise<number | undefined>((resolve, reject) => {
        const item: ForwardItem = { kind: 'forward', change };
        this.waiting.set(item, { resolve, reject });
        this.committer.submit(item);
      }),
    // Its changes hold no lock of their own: they are part of the group commits.
    lockHold: (): LockHoldSummary => ({ transactions: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 }),
  };

  flush(): Promise<boolean> {
    return this.committer.flush();
  }

  /** Commits what was submitted, then closes the writer. */
  async stop(): Promise<void> {
    await this.committer.stop();
    // Nothing is committed any more: a change submitted after the stop is refused, not left waiting.
    for (const [item, w] of this.waiting) {
      this.waiting.delete(item);
      w.reject(new Error('the gateway is stopping: the change was not committed'));
    }
  }

  private committed(outcomes: IngestOutcome[], stats: CommitStats): void {
    const others: IngestOutcome[] = [];
    for (const o of outcomes) {
      if (o.item.kind !== 'forward') {
        others.push(o);
        continue;
      }
      const w = this.waiting.get(o.item);
      this.waiting.delete(o.item);
      if (!w) continue;
      if (o.status === 'failed') w.reject(Object.assign(new Error(o.error.message), { code: o.error.code }));
      else w.resolve('value' in o ? o.value : undefined);
    }
    if (others.length > 0 || stats.registrations > 0 || stats.shifts.length > 0) this.handler?.committed(others, stats);
  }

  private failed(err: Error, items: IngestItem[], retrying: boolean): void {
    if (!retrying) {
      for (const item of items) {
        if (item.kind !== 'forward') continue;
        const w = this.waiting.get(item);
        this.waiting.delete(item);
        w?.reject(err);
      }
    }
    const others = items.filter((i) => i.kind !== 'forward');
    if (this.handler) this.handler.failed(err, others, retrying);
    else this.o.logger?.error({ err, batch: items.length, retrying }, 'group commit failed');
  }
}
