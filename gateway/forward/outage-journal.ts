import type { SqlStore } from '../store/sql-store.ts';
import type { OutageRow } from './schema.ts';
import type { ForwardWriter } from './forward-writes.ts';

/**
 * The outage journal: each period ONSS was unreachable or failing (start, end, cause, failures, how many
 * registrations it delayed), committed as it happens. It is the employer's proof of force majeure, so an
 * entry is opened on the first failure and closed on the first answered call after it. How many
 * registrations an outage delayed is counted with their answers (ForwardStore.recordAnswers), in the same
 * transaction. Changes are written one after the other (a failure seen while the outage is being opened
 * counts in that outage, never opens a second one); the state is what was committed.
 *
 * The journal's latest entry is read through the storage port once, by `load()` (or `OutageJournal.open`),
 * before the forwarder sends anything: `outageFor` needs it.
 */
export class OutageJournal {
  private current: OutageRow | undefined;
  private latest: OutageRow | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private loading: Promise<void> | undefined;
  private loaded = false;

  constructor(private readonly store: SqlStore, private readonly writer: ForwardWriter) {}

  /** A journal with its latest entry read. */
  static async open(store: SqlStore, writer: ForwardWriter): Promise<OutageJournal> {
    const journal = new OutageJournal(store, writer);
    await journal.load();
    return journal;
  }

  /** Reads the latest entry (once; a failed read is tried again at the next call). */
  load(): Promise<void> {
    this.loading ??= (async () => {
      const latest = await this.store.one<OutageRow>(`SELECT id, started_at, ended_at, cause, last_cause, failures, registrations_delayed
        FROM outage_journal ORDER BY id DESC LIMIT 1`);
      // Changes (failure, recovered) wait for this read: nothing newer can be here yet.
      this.latest = latest;
      this.current = latest && latest.ended_at === null ? latest : undefined;
      this.loaded = true;
    })().catch((err: unknown) => {
      this.loading = undefined;
      throw err;
    });
    return this.loading;
  }

  get isOpen(): boolean {
    return this.current !== undefined;
  }

  /** Opens an outage (the first failure) or counts one more failure in the open one. */
  failure(cause: string, at = new Date()): Promise<OutageRow> {
    return this.serially(async () => {
      await this.load();
      if (this.current) {
        const c = this.current;
        await this.writer.write({ kind: 'outage-failure', id: c.id, cause });
        c.failures++;
        c.last_cause = cause;
        return c;
      }
      const startedAt = at.toISOString();
      const id = (await this.writer.write({ kind: 'outage-opened', startedAt, cause }))!;
      this.current = { id, started_at: startedAt, ended_at: null, cause, last_cause: cause, failures: 1, registrations_delayed: 0 };
      this.latest = this.current;
      return this.current;
    });
  }

  /** Closes the open outage, if any (the first answered call after it). */
  recovered(at = new Date()): Promise<OutageRow | undefined> {
    return this.serially(async () => {
      await this.load();
      const c = this.current;
      if (!c) return undefined;
      const endedAt = at.toISOString();
      await this.writer.write({ kind: 'outage-closed', id: c.id, endedAt });
      c.ended_at = endedAt;
      this.current = undefined;
      return c;
    });
  }

  private serially<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op, op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * The outage that delayed a registration answered now: the latest outage, if the registration was
   * already waiting before it ended (received before its end, or it is still open). Earlier outages ended
   * before the latest began, so a registration they delayed was delayed by the latest one too.
   */
  outageFor(receivedAt: string): number | undefined {
    if (!this.loaded) throw new Error('the outage journal is read (load) before the forwarder sends');
    const l = this.latest;
    if (!l) return undefined;
    if (l.ended_at === null) return l.id;
    const received = Date.parse(receivedAt);
    // An unreadable arrival time errs toward the outage: the proof is kept rather than lost.
    if (Number.isNaN(received) || received <= Date.parse(l.ended_at)) return l.id;
    return undefined;
  }
}
