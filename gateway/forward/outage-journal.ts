import type { Db } from '../../shared/sqlite.ts';
import type { OutageRow } from './schema.ts';
import type { ForwardWriter } from './forward-writes.ts';

/**
 * The outage journal: each period ONSS was unreachable or failing (start, end, cause, failures, how many
 * registrations it delayed), committed as it happens. It is the employer's proof of force majeure, so an
 * entry is opened on the first failure and closed on the first answered call after it. How many
 * registrations an outage delayed is counted with their answers (ForwardStore.recordAnswers), in the same
 * transaction. Changes are written one after the other (a failure seen while the outage is being opened
 * counts in that outage, never opens a second one); the state is what was committed.
 */
export class OutageJournal {
  private current: OutageRow | undefined;
  private latest: OutageRow | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(db: Db, private readonly writer: ForwardWriter) {
    this.latest = db.prepare('SELECT * FROM outage_journal ORDER BY id DESC LIMIT 1').get() as OutageRow | undefined;
    this.current = this.latest && this.latest.ended_at === null ? this.latest : undefined;
  }

  get isOpen(): boolean {
    return this.current !== undefined;
  }

  /** Opens an outage (the first failure) or counts one more failure in the open one. */
  failure(cause: string, at = new Date()): Promise<OutageRow> {
    return this.serially(async () => {
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
    const l = this.latest;
    if (!l) return undefined;
    if (l.ended_at === null) return l.id;
    const received = Date.parse(receivedAt);
    // An unreadable arrival time errs toward the outage: the proof is kept rather than lost.
    if (Number.isNaN(received) || received <= Date.parse(l.ended_at)) return l.id;
    return undefined;
  }
}
