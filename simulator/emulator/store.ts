import { timeOrderedUuid } from '../../shared/ids.ts';
import { migrate, openDatabase, type Db } from '../../shared/sqlite.ts';

/**
 * Everything the emulated ONSS service received, in its own SQLite file, so tests and benchmarks can count
 * registrations per client reference (one per tap) after the fact, even after the emulator stopped.
 * Opened with synchronous=NORMAL: this is a test double whose file may lose its last commits on power loss,
 * and it must take thousands of registrations a second on a small machine.
 */
export interface StoredRegistration {
  seq: number;
  id: string;
  client_id: string;
  client_reference: string | null;
  ssin: string | null;
  limosa_id: string | null;
  employer_kind: 'enterprise' | 'foreign';
  employer_id: string;
  reference: string;
  type: 'IN' | 'OUT';
  /** The capacity code as received (provisional field, gateway/onss/shapes.ts). */
  capacity: string | null;
  registration_date: string;
  place_of_work: string;
  validity: 'pending' | 'validated' | 'withRemarks';
  remarks: string;
  received_at: string;
  request_id: string;
}

const MIGRATIONS = [
  `
  CREATE TABLE registrations (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT NOT NULL UNIQUE,
    client_id         TEXT NOT NULL,
    client_reference  TEXT,
    ssin              TEXT,
    limosa_id         TEXT,
    employer_kind     TEXT NOT NULL,
    employer_id       TEXT NOT NULL,
    reference         TEXT NOT NULL,
    type              TEXT NOT NULL,
    registration_date TEXT NOT NULL,
    place_of_work     TEXT NOT NULL,
    validity          TEXT NOT NULL DEFAULT 'pending',
    remarks           TEXT NOT NULL DEFAULT '[]',
    received_at       TEXT NOT NULL,
    request_id        TEXT NOT NULL
  );
  CREATE INDEX registrations_client_reference ON registrations (client_id, client_reference);
  -- Also serves searches by ssin (its first column).
  CREATE INDEX registrations_same_declaration ON registrations (ssin, employer_id, reference, type, registration_date);
  CREATE INDEX registrations_pending ON registrations (seq) WHERE validity = 'pending';
  CREATE INDEX registrations_employer ON registrations (employer_id, registration_date);
  CREATE INDEX registrations_reference ON registrations (reference, registration_date);
  CREATE TABLE not_created (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id        TEXT NOT NULL,
    client_reference TEXT,
    errors           TEXT NOT NULL,
    item             TEXT NOT NULL,
    received_at      TEXT NOT NULL,
    request_id       TEXT NOT NULL
  );
  CREATE TABLE requests (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL,
    client_id    TEXT NOT NULL,
    items        INTEGER NOT NULL,
    created      INTEGER NOT NULL,
    not_created  INTEGER NOT NULL,
    answered     INTEGER NOT NULL,  -- 0 when a fault hung up after processing
    received_at  TEXT NOT NULL
  );
  CREATE TABLE used_jti (
    jti        TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  );
  `,
  // Every search covers a period: this index serves it, in the order pages are cut.
  `CREATE INDEX registrations_client_period ON registrations (client_id, registration_date)`,
  // FAQ 19: the worker's capacity, required on every item since the adapter sends it.
  `ALTER TABLE registrations ADD COLUMN capacity TEXT`,
];

export interface NewRegistration {
  clientReference: string | null;
  ssin: string | null;
  limosaId: string | null;
  employerKind: 'enterprise' | 'foreign';
  employerId: string;
  reference: string;
  type: 'IN' | 'OUT';
  capacity: string;
  registrationDate: string;
  placeOfWork: unknown;
}

export interface SearchQuery {
  clientId: string;
  ssin?: string;
  enterpriseNumber?: string;
  reference?: string;
  clientReference?: string;
  from?: string;
  to?: string;
  limit: number;
  offset: number;
}

export class EmulatorStore {
  readonly db: Db;
  private readonly insertRegistration;
  private readonly insertNotCreated;
  private readonly insertRequest;
  private readonly markAnswered;
  private readonly byId;
  private readonly insertJti;
  private readonly hasJti;
  private readonly deleteExpiredJtis;
  private readonly selectPending;
  private readonly selectEarlierSame;
  private readonly updateValidity;
  private readonly searches = new Map<string, ReturnType<Db['prepare']>>();

  constructor(path: string) {
    this.db = openDatabase(path, { synchronous: 'NORMAL' });
    // Its indexes (client references, NISS) take random-order inserts: a page cache larger than SQLite's
    // 2 MB default keeps most of their upper pages in memory. Not much larger: the cache is memory the process
    // keeps for good, and 256 MB of it made the emulator grow from 88 to 421 MB over a long run; the pages
    // it misses come from the operating system's file cache, not the disk.
    this.db.pragma('cache_size = -32768');
    migrate(this.db, 'onss-emulator', MIGRATIONS);
    this.insertRegistration = this.db.prepare(`INSERT INTO registrations
      (id, client_id, client_reference, ssin, limosa_id, employer_kind, employer_id, reference, type, capacity, registration_date, place_of_work, received_at, request_id)
      VALUES (@id, @clientId, @clientReference, @ssin, @limosaId, @employerKind, @employerId, @reference, @type, @capacity, @registrationDate, @placeOfWork, @receivedAt, @requestId)`);
    this.insertNotCreated = this.db.prepare(`INSERT INTO not_created (client_id, client_reference, errors, item, received_at, request_id)
      VALUES (?, ?, ?, ?, ?, ?)`);
    this.insertRequest = this.db.prepare(`INSERT INTO requests (id, client_id, items, created, not_created, answered, received_at) VALUES (?, ?, ?, ?, ?, 1, ?)`);
    this.markAnswered = this.db.prepare('UPDATE requests SET answered = ? WHERE id = ?');
    this.byId = this.db.prepare('SELECT * FROM registrations WHERE id = ? AND client_id = ?');
    this.insertJti = this.db.prepare('INSERT INTO used_jti (jti, client_id, expires_at) VALUES (?, ?, ?)');
    this.hasJti = this.db.prepare('SELECT 1 FROM used_jti WHERE jti = ?');
    this.deleteExpiredJtis = this.db.prepare('DELETE FROM used_jti WHERE expires_at < ?');
    this.selectPending = this.db.prepare("SELECT * FROM registrations WHERE validity = 'pending' AND received_at <= ? ORDER BY seq LIMIT ?");
    this.selectEarlierSame = this.db.prepare(
      'SELECT 1 FROM registrations WHERE ssin IS ? AND limosa_id IS ? AND employer_id = ? AND reference = ? AND type = ? AND registration_date = ? AND seq < ? LIMIT 1',
    );
    this.updateValidity = this.db.prepare('UPDATE registrations SET validity = ?, remarks = ? WHERE seq = ?');
  }

  /** Records one bulk request in one transaction: created items, refused items, and the request itself. */
  recordBulk(
    clientId: string,
    outcomes: Array<{ created: NewRegistration } | { refused: { clientReference: string | null; errors: unknown; item: unknown } }>,
  ): { requestId: string; ids: Array<string | null> } {
    // Time-ordered ids (shared/ids.ts): they land at the end of their index.
    const requestId = timeOrderedUuid();
    const receivedAt = new Date().toISOString();
    const ids: Array<string | null> = [];
    this.db.transaction(() => {
      let created = 0;
      for (const o of outcomes) {
        if ('created' in o) {
          const id = timeOrderedUuid();
          const r = o.created;
          this.insertRegistration.run({
            id, clientId, clientReference: r.clientReference, ssin: r.ssin, limosaId: r.limosaId, employerKind: r.employerKind, employerId: r.employerId,
            reference: r.reference, type: r.type, capacity: r.capacity, registrationDate: r.registrationDate, placeOfWork: JSON.stringify(r.placeOfWork ?? null),
            receivedAt, requestId,
          });
          ids.push(id);
          created++;
        } else {
          this.insertNotCreated.run(clientId, o.refused.clientReference, JSON.stringify(o.refused.errors), JSON.stringify(o.refused.item ?? null), receivedAt, requestId);
          ids.push(null);
        }
      }
      this.insertRequest.run(requestId, clientId, outcomes.length, created, outcomes.length - created, receivedAt);
    })();
    return { requestId, ids };
  }

  /** A fault dropped the answer of a processed request: keep that fact for tests. */
  markUnanswered(requestId: string): void {
    this.markAnswered.run(0, requestId);
  }

  get(id: string, clientId: string): StoredRegistration | undefined {
    return this.byId.get(id, clientId) as StoredRegistration | undefined;
  }

  search(q: SearchQuery): { total: number; rows: StoredRegistration[] } {
    const where = ['client_id = @clientId'];
    if (q.ssin) where.push('ssin = @ssin');
    if (q.enterpriseNumber) where.push("employer_kind = 'enterprise' AND employer_id = @enterpriseNumber");
    if (q.reference) where.push('reference = @reference');
    if (q.clientReference) where.push('client_reference = @clientReference');
    if (q.from) where.push('registration_date >= @from');
    if (q.to) where.push('registration_date <= @to');
    const clause = where.join(' AND ');
    const params = { ...q };
    // The narrowest criterion picks the index: without statistics SQLite would take the period index for
    // its order, and scan a whole busy day to find one client reference.
    const index = q.clientReference ? 'registrations_client_reference' : q.ssin ? 'registrations_same_declaration'
      : q.reference ? 'registrations_reference' : q.enterpriseNumber ? 'registrations_employer' : q.from || q.to ? 'registrations_client_period' : undefined;
    const source = index ? `registrations INDEXED BY ${index}` : 'registrations';
    const total = (this.prepared(`SELECT COUNT(*) AS n FROM ${source} WHERE ${clause}`).get(params) as { n: number }).n;
    // By date, then arrival: a registration filed meanwhile with an earlier date shifts later pages, as a
    // real service's may; the client takes each registration once, by id.
    const rows = this.prepared(`SELECT * FROM ${source} WHERE ${clause} ORDER BY registration_date, seq LIMIT @limit OFFSET @offset`)
      .all(params) as StoredRegistration[];
    return { total, rows };
  }

  /** Searches combine a few criteria: each combination's statement is prepared once. */
  private prepared(sql: string) {
    let s = this.searches.get(sql);
    if (!s) this.searches.set(sql, (s = this.db.prepare(sql)));
    return s;
  }

  /** Registers a JWT id; false when it was already used (a replayed client assertion). */
  useJti(jti: string, clientId: string, expiresAtSec: number): boolean {
    if (this.hasJti.get(jti)) return false;
    this.insertJti.run(jti, clientId, expiresAtSec);
    return true;
  }

  forgetExpiredJtis(nowSec: number): void {
    // A jti can be forgotten once its assertion expired: an expired assertion is refused anyway.
    this.deleteExpiredJtis.run(nowSec - 60);
  }

  /** Pending registrations received before `before`, oldest first, for the remarks pass. */
  pending(before: string, limit: number): StoredRegistration[] {
    return this.selectPending.all(before, limit) as StoredRegistration[];
  }

  hasEarlierSame(r: StoredRegistration): boolean {
    return !!this.selectEarlierSame.get(r.ssin, r.limosa_id, r.employer_id, r.reference, r.type, r.registration_date, r.seq);
  }

  setValidity(updates: Array<{ seq: number; validity: string; remarks: string[] }>): void {
    this.db.transaction(() => {
      for (const u of updates) this.updateValidity.run(u.validity, JSON.stringify(u.remarks), u.seq);
    })();
  }

  stats(): { registrations: number; pendingValidity: number; notCreated: number; requests: number; unanswered: number; duplicateClientReferences: number } {
    const one = (sql: string) => (this.db.prepare(sql).get() as { n: number }).n;
    return {
      registrations: one('SELECT COUNT(*) AS n FROM registrations'),
      pendingValidity: one("SELECT COUNT(*) AS n FROM registrations WHERE validity = 'pending'"),
      notCreated: one('SELECT COUNT(*) AS n FROM not_created'),
      requests: one('SELECT COUNT(*) AS n FROM requests'),
      unanswered: one('SELECT COUNT(*) AS n FROM requests WHERE answered = 0'),
      duplicateClientReferences: one(
        'SELECT COUNT(*) AS n FROM (SELECT client_reference FROM registrations WHERE client_reference IS NOT NULL GROUP BY client_id, client_reference HAVING COUNT(*) > 1)',
      ),
    };
  }

  /** Read-only page of what was received, oldest first, for tests and the admin view. */
  received(afterSeq: number, limit: number): StoredRegistration[] {
    return this.db.prepare('SELECT * FROM registrations WHERE seq > ? ORDER BY seq LIMIT ?').all(afterSeq, limit) as StoredRegistration[];
  }

  notCreated(afterSeq: number, limit: number): unknown[] {
    return this.db.prepare('SELECT * FROM not_created WHERE seq > ? ORDER BY seq LIMIT ?').all(afterSeq, limit);
  }

  close(): void {
    this.db.close();
  }
}
