import type { Db } from '../../shared/sqlite.ts';
import type { OutageRow } from './schema.ts';
import type { ShortWrites } from './short-writes.ts';

/**
 * The outage journal: each period ONSS was unreachable or failing (start, end, cause, failures, how many
 * registrations it delayed), committed as it happens. It is the employer's proof of force majeure, so an
 * entry is opened on the first failure and closed on the first answered call after it. How many
 * registrations an outage delayed is counted with their answers (ForwardStore.recordAnswers), in the same
 * transaction.
 */
export class OutageJournal {
  private current: OutageRow | undefined;
  private latest: OutageRow | undefined;
  private readonly open;
  private readonly bump;
  private readonly close;

  constructor(db: Db, private readonly writes: ShortWrites) {
    this.open = db.prepare('INSERT INTO outage_journal (started_at, cause, last_cause) VALUES (?, ?, ?)');
    this.bump = db.prepare('UPDATE outage_journal SET failures = failures + 1, last_cause = ? WHERE id = ?');
    this.close = db.prepare('UPDATE outage_journal SET ended_at = ? WHERE id = ?');
    this.latest = db.prepare('SELECT * FROM outage_journal ORDER BY id DESC LIMIT 1').get() as OutageRow | undefined;
    this.current = this.latest && this.latest.ended_at === null ? this.latest : undefined;
  }

  get isOpen(): boolean {
    return this.current !== undefined;
  }

  failure(cause: string, at = new Date()): OutageRow {
    if (this.current) {
      const id = this.current.id;
      this.writes.run(() => this.bump.run(cause, id));
      this.current.failures++;
      this.current.last_cause = cause;
      return this.current;
    }
    const startedAt = at.toISOString();
    const id = this.writes.run(() => Number(this.open.run(startedAt, cause, cause).lastInsertRowid));
    this.current = { id, started_at: startedAt, ended_at: null, cause, last_cause: cause, failures: 1, registrations_delayed: 0 };
    this.latest = this.current;
    return this.current;
  }

  recovered(at = new Date()): OutageRow | undefined {
    const c = this.current;
    if (!c) return undefined;
    c.ended_at = at.toISOString();
    const endedAt = c.ended_at;
    this.writes.run(() => this.close.run(endedAt, c.id));
    this.current = undefined;
    return c;
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
