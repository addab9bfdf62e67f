import { migrate, openDatabase, type Db } from '../../shared/sqlite.ts';
import type { ShiftChange, ShiftStateName, TapMessage } from '../../shared/mqtt/payloads.ts';
import type { Direction, Reason } from '../../shared/registration.ts';
import type { FieldProblem } from '../../shared/problems.ts';

/**
 * The terminal's durable outbox: every tap is committed here (WAL, synchronous=FULL) before the worker
 * sees any feedback, and leaves only when the gateway answers `stored` or `rejected` for its id.
 * Rejected taps move to `rejected_taps` for inspection; nothing is ever dropped silently.
 * The same file keeps the little state the terminal must remember across restarts: the next `seq`,
 * each badge's last tap here (`own_taps`) and the workers' shift states last heard from the gateway
 * (`heard_shifts`), from which the next tap's direction is proposed even after a restart offline, and the last
 * good config and roster.
 */
const MIGRATIONS = [
  `CREATE TABLE outbox (
     seq INTEGER PRIMARY KEY,
     id TEXT NOT NULL UNIQUE,
     payload TEXT NOT NULL,
     -- 0 while the worker is still choosing an employer: the publisher stops there to keep seq order.
     ready INTEGER NOT NULL DEFAULT 1,
     queued_at TEXT NOT NULL
   );
   CREATE TABLE rejected_taps (
     seq INTEGER PRIMARY KEY,
     id TEXT NOT NULL,
     payload TEXT NOT NULL,
     reason TEXT,
     problems TEXT,
     rejected_at TEXT NOT NULL
   );
   CREATE TABLE badge_state (
     site TEXT NOT NULL,
     badge TEXT NOT NULL,
     day TEXT NOT NULL,
     direction TEXT NOT NULL,
     reason TEXT NOT NULL,
     at_ms INTEGER NOT NULL,
     PRIMARY KEY (site, badge)
   );
   CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
  // The direction follows the worker's shift across doors and midnight, no longer this door's day: each badge's
  // last tap here whatever the day (kept from the old per-site, per-day table), and the states heard from the gateway.
  `CREATE TABLE own_taps (
     badge TEXT PRIMARY KEY,
     direction TEXT NOT NULL,
     reason TEXT NOT NULL,
     -- the tap's instant as sent (at), compared with the gateway's states
     at_ms INTEGER NOT NULL,
     -- this terminal's own clock at the tap, for the debounce
     local_ms INTEGER NOT NULL
   );
   INSERT INTO own_taps (badge, direction, reason, at_ms, local_ms)
     SELECT badge, direction, reason, at_ms, at_ms FROM badge_state b
     WHERE at_ms = (SELECT max(at_ms) FROM badge_state WHERE badge = b.badge) GROUP BY badge;
   DROP TABLE badge_state;
   CREATE TABLE heard_shifts (
     badge TEXT PRIMARY KEY,
     state TEXT NOT NULL,
     since TEXT NOT NULL,
     since_ms INTEGER NOT NULL,
     site TEXT NOT NULL,
     rev INTEGER NOT NULL
   );`,
];

export interface OutboxRow {
  seq: number;
  id: string;
  payload: string;
  ready: boolean;
}

/** A badge's last tap on this terminal. */
export interface OwnTapRecord {
  direction: Direction;
  reason: Reason;
  /** The tap's instant as sent in `at`. */
  atMs: number;
  /** This terminal's clock when it was made (debounce). */
  localMs: number;
}

/** A worker's shift state as last heard from the gateway for one badge. */
export interface HeardShiftRecord {
  state: ShiftStateName;
  since: string;
  sinceMs: number;
  site: string;
  rev: number;
}

export interface AckOutcome {
  id: string;
  status: 'stored' | 'rejected';
  reason?: string;
  problems?: FieldProblem[];
}

export type NewTap = Omit<TapMessage, 'seq'>;

/** The outbox connection's SQLite page cache, in KiB. */
const OUTBOX_CACHE_KIB = 2000;

export class Outbox {
  readonly db: Db;
  private nextSeq: number;
  private readonly stmts;
  /** Kept in memory so status reports never scan the table. */
  private queuedCount: number;

  private checkpointTimer: NodeJS.Timeout | null = null;

  constructor(path: string, opts: { checkpointIntervalMs?: number } = {}) {
    this.db = openDatabase(path, { synchronous: 'FULL' });
    migrate(this.db, 'terminal-outbox', MIGRATIONS);
    // SQLite would otherwise checkpoint inside whichever commit crosses 1000 WAL pages, often a tap's:
    // checkpoint on a timer instead, so a tap's commit is only its own WAL append and fsync.
    this.db.pragma('wal_autocheckpoint = 0');
    // better-sqlite3 raises SQLite's page cache to 16 MB per connection; a terminal reading through a backlog
    // of days would fill it, on a box that has little memory. The taps are read once, in order: SQLite's own
    // default of 2 MB (and the OS's file cache) serves that as well.
    this.db.pragma(`cache_size = -${OUTBOX_CACHE_KIB}`);
    this.checkpointTimer = setInterval(() => this.checkpoint(), opts.checkpointIntervalMs ?? 2000);
    this.checkpointTimer.unref();
    const db = this.db;
    this.stmts = {
      insert: db.prepare('INSERT INTO outbox (seq, id, payload, ready, queued_at) VALUES (?, ?, ?, ?, ?)'),
      setKv: db.prepare('INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      getKv: db.prepare('SELECT value FROM kv WHERE key = ?'),
      setOwnTap: db.prepare(
        `INSERT INTO own_taps (badge, direction, reason, at_ms, local_ms) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(badge) DO UPDATE SET direction = excluded.direction, reason = excluded.reason, at_ms = excluded.at_ms, local_ms = excluded.local_ms`,
      ),
      getOwnTap: db.prepare('SELECT direction, reason, at_ms AS atMs, local_ms AS localMs FROM own_taps WHERE badge = ?'),
      // A state is taken only when its revision is higher than the one held: messages may arrive out of order,
      // and a retained roster may be older than a `shifts` message already applied.
      setHeard: db.prepare(
        `INSERT INTO heard_shifts (badge, state, since, since_ms, site, rev) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(badge) DO UPDATE SET state = excluded.state, since = excluded.since, since_ms = excluded.since_ms, site = excluded.site, rev = excluded.rev
         WHERE excluded.rev > heard_shifts.rev`,
      ),
      getHeard: db.prepare('SELECT state, since, since_ms AS sinceMs, site, rev FROM heard_shifts WHERE badge = ?'),
      page: db.prepare('SELECT seq, id, payload, ready FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?'),
      bySeq: db.prepare('SELECT seq, id, payload, ready FROM outbox WHERE seq = ?'),
      byId: db.prepare('SELECT seq, id, payload, ready FROM outbox WHERE id = ?'),
      complete: db.prepare('UPDATE outbox SET payload = ?, ready = 1 WHERE seq = ?'),
      releaseHeld: db.prepare('UPDATE outbox SET ready = 1 WHERE ready = 0'),
      deleteById: db.prepare('DELETE FROM outbox WHERE id = ?'),
      reject: db.prepare('INSERT OR REPLACE INTO rejected_taps (seq, id, payload, reason, problems, rejected_at) VALUES (?, ?, ?, ?, ?, ?)'),
      count: db.prepare('SELECT count(*) AS n FROM outbox'),
      maxSeq: db.prepare('SELECT max(seq) AS m FROM (SELECT max(seq) AS seq FROM outbox UNION ALL SELECT max(seq) FROM rejected_taps)'),
      rejected: db.prepare('SELECT seq, id, payload, reason, problems, rejected_at AS rejectedAt FROM rejected_taps ORDER BY seq'),
    };
    const stored = Number(this.getValue('next_seq') ?? '1');
    const maxRow = (this.stmts.maxSeq.get() as { m: number | null }).m ?? 0;
    this.nextSeq = Math.max(stored, maxRow + 1);
    this.queuedCount = (this.stmts.count.get() as { n: number }).n;
  }

  get queued(): number {
    return this.queuedCount;
  }

  /**
   * Commits a new tap and the badge's new state in one durable transaction and returns the tap with its
   * seq. `ready: false` holds it back from publishing until `complete` (employer choice in progress).
   */
  append(tap: NewTap, opts: { ready: boolean; nowIso: string; atMs: number; localMs: number }): TapMessage {
    const full = { ...tap, seq: this.nextSeq } as TapMessage;
    const ordered = orderTap(full);
    this.db.transaction(() => {
      this.stmts.insert.run(full.seq, full.id, JSON.stringify(ordered), opts.ready ? 1 : 0, opts.nowIso);
      this.stmts.setKv.run('next_seq', String(full.seq + 1));
      this.stmts.setOwnTap.run(full.badge, full.direction, full.reason, opts.atMs, opts.localMs);
    })();
    this.nextSeq += 1;
    this.queuedCount += 1;
    return ordered;
  }

  /** Fills the outbox in bulk (offline buffer benchmarks and tests): one transaction for many taps. */
  appendMany(taps: NewTap[], nowIso: string): number {
    const insert = this.db.transaction((list: NewTap[]) => {
      for (const tap of list) {
        const full = orderTap({ ...tap, seq: this.nextSeq } as TapMessage);
        this.stmts.insert.run(full.seq, full.id, JSON.stringify(full), 1, nowIso);
        this.nextSeq += 1;
      }
      this.stmts.setKv.run('next_seq', String(this.nextSeq));
    });
    insert(taps);
    this.queuedCount += taps.length;
    return taps.length;
  }

  /** Releases a held tap, with the employer the worker chose (or none, when the choice timed out). */
  complete(seq: number, employer: string | undefined): TapMessage | undefined {
    const row = this.stmts.bySeq.get(seq) as RawRow | undefined;
    if (!row) return undefined;
    const tap = JSON.parse(row.payload) as TapMessage;
    if (employer !== undefined) tap.employer = employer;
    const ordered = orderTap(tap);
    this.stmts.complete.run(JSON.stringify(ordered), seq);
    return ordered;
  }

  /** After a restart nobody is choosing any more: held taps go out without an employer. */
  releaseHeld(): number {
    return this.stmts.releaseHeld.run().changes;
  }

  /** Rows after `afterSeq`, in seq order. */
  page(afterSeq: number, limit: number): OutboxRow[] {
    return (this.stmts.page.all(afterSeq, limit) as RawRow[]).map(fromRaw);
  }

  find(id: string): OutboxRow | undefined {
    const r = this.stmts.byId.get(id) as RawRow | undefined;
    return r ? fromRaw(r) : undefined;
  }

  /**
   * Applies gateway acks in one transaction. Acks for ids no longer here (a repeat ack) are ignored.
   * Returns how many rows left the outbox.
   */
  acknowledge(acks: AckOutcome[], nowIso: string): number {
    let removed = 0;
    // A lost delete only means a resend the gateway answers again, so these commits skip the fsync (WAL with
    // synchronous=NORMAL is still atomic); the next tap's FULL commit makes them durable anyway.
    this.db.pragma('synchronous = NORMAL');
    try {
      this.applyAcks(acks, nowIso, (n) => (removed += n));
    } finally {
      this.db.pragma('synchronous = FULL');
    }
    this.queuedCount -= removed;
    return removed;
  }

  private applyAcks(acks: AckOutcome[], nowIso: string, count: (n: number) => void): void {
    this.db.transaction(() => {
      for (const ack of acks) {
        if (ack.status === 'rejected') {
          const row = this.stmts.byId.get(ack.id) as RawRow | undefined;
          if (!row) continue;
          this.stmts.reject.run(row.seq, row.id, row.payload, ack.reason ?? null, ack.problems ? JSON.stringify(ack.problems) : null, nowIso);
        }
        count(this.stmts.deleteById.run(ack.id).changes);
      }
    })();
  }

  /** Moves committed WAL pages into the database file (never inside a tap's commit). */
  checkpoint(): void {
    try {
      if (this.db.open) this.db.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      // Busy or closing: the next round does it.
    }
  }

  rejected(): Array<{ seq: number; id: string; payload: string; reason: string | null; problems: string | null; rejectedAt: string }> {
    return this.stmts.rejected.all() as never;
  }

  /** The badge's last tap on this terminal, whatever the day. */
  lastOwnTap(badge: string): OwnTapRecord | undefined {
    return this.stmts.getOwnTap.get(badge) as OwnTapRecord | undefined;
  }

  /** The shift state last heard from the gateway for this badge. */
  heardShift(badge: string): HeardShiftRecord | undefined {
    return this.stmts.getHeard.get(badge) as HeardShiftRecord | undefined;
  }

  /**
   * Keeps the states heard from the gateway, each only when its `rev` is higher than the one held for that
   * badge, in one durable transaction. Returns the badges whose state was taken.
   */
  recordHeardShifts(changes: ReadonlyArray<Pick<ShiftChange, 'badge' | 'state' | 'since' | 'site' | 'rev'>>): string[] {
    const taken: string[] = [];
    this.db.transaction(() => {
      for (const c of changes) {
        const sinceMs = Date.parse(c.since);
        if (!Number.isFinite(sinceMs)) continue;
        const badge = c.badge.toUpperCase();
        if (this.stmts.setHeard.run(badge, c.state, c.since, sinceMs, c.site, c.rev).changes > 0) taken.push(badge);
      }
    })();
    return taken;
  }

  getValue(key: string): string | undefined {
    return (this.stmts.getKv.get(key) as { value: string } | undefined)?.value;
  }

  setValue(key: string, value: string): void {
    this.stmts.setKv.run(key, value);
  }

  close(): void {
    if (this.checkpointTimer) clearInterval(this.checkpointTimer);
    this.checkpointTimer = null;
    if (this.db.open) {
      this.checkpoint();
      this.db.close();
    }
  }
}

interface RawRow {
  seq: number;
  id: string;
  payload: string;
  ready: number;
}

function fromRaw(r: RawRow): OutboxRow {
  return { seq: r.seq, id: r.id, payload: r.payload, ready: r.ready === 1 };
}

/** A stable key order keeps payloads readable in logs and byte-identical across resends. */
function orderTap(t: TapMessage): TapMessage {
  const out: Record<string, unknown> = { v: t.v, id: t.id, seq: t.seq, badge: t.badge, direction: t.direction, reason: t.reason, at: t.at };
  if (t.localAt !== undefined) out.localAt = t.localAt;
  if (t.employer !== undefined) out.employer = t.employer;
  if (t.sun !== undefined) out.sun = { picc: t.sun.picc, mac: t.sun.mac };
  return out as TapMessage;
}
