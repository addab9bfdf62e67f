import type { Statement } from 'better-sqlite3';
import type { Db } from '../../shared/sqlite.ts';
import { bindable, type SqlParams, type SqlStore } from './sql-store.ts';

/**
 * The storage port (gateway/store/sql-store.ts) on the gateway's SQLite connection, the embedded default.
 *
 * better-sqlite3 is synchronous: a statement runs at once, in the caller's turn, and the promise it returns
 * is already settled. The port's `$1, $2` become SQLite's anonymous `?` (bound by position, which costs less
 * than SQLite's own named `$1`), once per SQL text: the prepared statement and the order of its parameters
 * are kept in a bounded cache.
 *
 * A transaction's callback is asynchronous, and the connection is one: while it is open, a statement of any
 * other caller of this store would run inside it (and be committed or rolled back with it). So a transaction
 * holds the store: other callers' statements and transactions queue, in order, until it ends. Code that
 * still uses the connection directly (the areas not on the port yet) does not queue. No timer or I/O callback
 * can run while the callback awaits only its `tx` (the port's rules), but at each of its awaits, promise
 * continuations already queued do run: one that then uses the connection directly (an async function of an
 * area not on the port, resumed after an await) puts its statements inside the open transaction, committed or
 * rolled back with it. That risk lasts only while areas of one connection are on both paths; each area moved
 * ends its share of it.
 * The queue works only if every caller goes through the same store: a connection has one store at a time
 * (`SqliteStore.of(db)` finds it; a second `new SqliteStore(db)` is refused).
 */
export interface SqliteStoreOptions {
  /** Close the connection with the store: for a store that opened its own. Default: the owner closes it. */
  closeConnection?: boolean;
  /** How many prepared statements are kept (one per SQL text); the oldest goes first. */
  maxStatements?: number;
}

/** The port's SQL with `?` for SQLite, and for each `?` the index of the parameter it takes. */
export interface PositionalSql {
  sql: string;
  order: number[];
  /** The highest parameter number the SQL uses: the number of parameters it must be given. */
  count: number;
}

const DIGIT = /[0-9]/;
const WORD = /[A-Za-z0-9_$]/;

/** Where the quoted text (a string literal, a quoted identifier) opened at `start` ends, its quote included. */
function afterQuoted(sql: string, start: number): number {
  const q = sql[start]!;
  let i = start + 1;
  for (;;) {
    const end = sql.indexOf(q, i);
    if (end < 0) return sql.length;
    // A doubled quote is the quote itself, inside.
    if (sql[end + 1] === q) i = end + 2;
    else return end + 1;
  }
}

/**
 * Rewrites the port's numbered parameters for better-sqlite3. String literals, quoted identifiers and
 * comments are kept as written; `$1` glued to a word (`a$1`) is a name, not a parameter. A `?` is refused:
 * the other database would not take it.
 */
export function positionalSql(sql: string): PositionalSql {
  let out = '';
  const order: number[] = [];
  let from = 0;
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      i = afterQuoted(sql, i);
    } else if (c === '-' && sql[i + 1] === '-') {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? sql.length : nl;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
    } else if (c === '?') {
      throw new Error(`SQL for the storage port numbers its parameters ($1, $2, …); found "?" in: ${sql}`);
    } else if (c === '$' && DIGIT.test(sql[i + 1] ?? '') && !(i > 0 && WORD.test(sql[i - 1]!))) {
      let j = i + 1;
      while (j < sql.length && DIGIT.test(sql[j]!)) j++;
      const n = Number(sql.slice(i + 1, j));
      if (n < 1) throw new Error(`SQL for the storage port numbers its parameters from $1; found $${sql.slice(i + 1, j)} in: ${sql}`);
      out += `${sql.slice(from, i)}?`;
      order.push(n - 1);
      from = i = j;
    } else {
      i++;
    }
  }
  out += sql.slice(from);
  return { sql: out, order, count: order.length ? Math.max(...order) + 1 : 0 };
}

interface Prepared extends PositionalSql {
  statement: Statement;
}

function bound(p: Prepared, params: SqlParams | undefined): Array<string | number | null | Buffer> {
  const given = params?.length ?? 0;
  // As PostgreSQL does: every parameter given is used, and every one used is given.
  if (given !== p.count) throw new Error(`${given} parameter(s) given to SQL that uses ${p.count}: ${p.sql}`);
  return p.order.map((k) => bindable(params![k]));
}

/** The store of each connection: two would each let the other's statements into their transactions. */
const storeOf = new WeakMap<Db, SqliteStore>();

export class SqliteStore implements SqlStore {
  /** The store of this connection, made at the first call. */
  static of(db: Db, options: SqliteStoreOptions = {}): SqliteStore {
    return storeOf.get(db) ?? new SqliteStore(db, options);
  }

  readonly dialect = 'sqlite' as const;
  private readonly statements = new Map<string, Prepared>();
  private readonly maxStatements: number;
  /** A transaction holds the connection. */
  private held = false;
  /** Callers waiting for it, in order. */
  private readonly waiting: Array<() => void> = [];
  private closed = false;

  constructor(readonly db: Db, private readonly options: SqliteStoreOptions = {}) {
    if (storeOf.has(db)) throw new Error('this SQLite connection has a store already: use SqliteStore.of(db), so that every caller queues behind its transactions');
    storeOf.set(db, this);
    this.maxStatements = options.maxStatements ?? 500;
  }

  all<T = Record<string, unknown>>(sql: string, params?: SqlParams): Promise<T[]> {
    return this.whenFree(() => this.allNow<T>(sql, params));
  }

  one<T = Record<string, unknown>>(sql: string, params?: SqlParams): Promise<T | undefined> {
    return this.whenFree(() => this.oneNow<T>(sql, params));
  }

  run(sql: string, params?: SqlParams): Promise<{ changes: number }> {
    return this.whenFree(() => this.runNow(sql, params));
  }

  async transaction<T>(fn: (tx: SqlStore) => Promise<T>): Promise<T> {
    await this.hold();
    let tx: SqliteTransaction | undefined;
    try {
      this.db.exec('BEGIN IMMEDIATE');
      tx = new SqliteTransaction(this);
      let result: T;
      try {
        result = await fn(tx);
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
      try {
        this.db.exec('COMMIT');
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
      return result;
    } finally {
      tx?.end();
      this.release();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.hold();
    this.closed = true;
    this.statements.clear();
    storeOf.delete(this.db);
    this.release();
    if (this.options.closeConnection) this.db.close();
  }

  // ---- run at once: by the store when free, by its transaction while it holds the store ----

  /** @internal */
  allNow<T>(sql: string, params: SqlParams | undefined): T[] {
    const p = this.prepared(sql);
    const values = bound(p, params);
    if (!p.statement.reader) {
      p.statement.run(values);
      return [];
    }
    return p.statement.all(values) as T[];
  }

  /** @internal */
  oneNow<T>(sql: string, params: SqlParams | undefined): T | undefined {
    const p = this.prepared(sql);
    const values = bound(p, params);
    if (!p.statement.reader) {
      p.statement.run(values);
      return undefined;
    }
    return p.statement.get(values) as T | undefined;
  }

  /** @internal */
  runNow(sql: string, params: SqlParams | undefined): { changes: number } {
    const p = this.prepared(sql);
    return { changes: p.statement.run(bound(p, params)).changes };
  }

  private prepared(sql: string): Prepared {
    let p = this.statements.get(sql);
    if (p) return p;
    const positional = positionalSql(sql);
    p = { ...positional, statement: this.db.prepare(positional.sql) };
    if (this.statements.size >= this.maxStatements) this.statements.delete(this.statements.keys().next().value!);
    this.statements.set(sql, p);
    return p;
  }

  // ---- the queue ----

  private whenFree<T>(work: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the SQLite store is closed'));
    if (!this.held && this.waiting.length === 0) {
      try {
        return Promise.resolve(work());
      } catch (err) {
        return Promise.reject(err as Error);
      }
    }
    return new Promise<T>((resolve, reject) => {
      this.waiting.push(() => {
        if (this.closed) {
          reject(new Error('the SQLite store is closed'));
          return;
        }
        try {
          resolve(work());
        } catch (err) {
          reject(err as Error);
        }
      });
    });
  }

  /** Resolves once this caller holds the store (its turn came: nothing holds it, nobody before it waits). */
  private hold(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the SQLite store is closed'));
    if (!this.held && this.waiting.length === 0) {
      this.held = true;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      this.waiting.push(() => {
        if (this.closed) {
          reject(new Error('the SQLite store is closed'));
          return;
        }
        this.held = true;
        resolve();
      });
    });
  }

  /** Gives the turn on: queued statements run now, until a queued transaction holds the store again. */
  private release(): void {
    this.held = false;
    while (!this.held && this.waiting.length > 0) this.waiting.shift()!();
  }
}

/** The store as a transaction's callback sees it: statements run at once, inside the transaction. */
class SqliteTransaction implements SqlStore {
  readonly dialect = 'sqlite' as const;
  private open = true;
  private inSavepoint = false;

  /** `depth` 0 is the transaction, 1 its first savepoint, and so on. */
  constructor(private readonly store: SqliteStore, private readonly parent?: SqliteTransaction, private readonly depth = 0) {}

  end(): void {
    this.open = false;
  }

  private ended(): boolean {
    return !this.open || (this.parent?.ended() ?? false);
  }

  private check(): void {
    if (this.ended()) throw new Error('a transaction\'s statement came after the transaction ended: await every statement inside its callback');
  }

  all<T = Record<string, unknown>>(sql: string, params?: SqlParams): Promise<T[]> {
    return this.now(() => this.store.allNow<T>(sql, params));
  }

  one<T = Record<string, unknown>>(sql: string, params?: SqlParams): Promise<T | undefined> {
    return this.now(() => this.store.oneNow<T>(sql, params));
  }

  run(sql: string, params?: SqlParams): Promise<{ changes: number }> {
    return this.now(() => this.store.runNow(sql, params));
  }

  private now<T>(work: () => T): Promise<T> {
    try {
      this.check();
      return Promise.resolve(work());
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /** A savepoint: what `fn` did is undone alone when it throws; the transaction goes on. */
  async transaction<T>(fn: (tx: SqlStore) => Promise<T>): Promise<T> {
    this.check();
    if (this.inSavepoint) throw new Error('one savepoint at a time: await a nested transaction before starting the next');
    const name = `port_sp_${this.depth + 1}`;
    const db = this.store.db;
    db.exec(`SAVEPOINT ${name}`);
    this.inSavepoint = true;
    const inner = new SqliteTransaction(this.store, this, this.depth + 1);
    try {
      const result = await fn(inner);
      db.exec(`RELEASE ${name}`);
      return result;
    } catch (err) {
      if (db.inTransaction) {
        db.exec(`ROLLBACK TO ${name}`);
        db.exec(`RELEASE ${name}`);
      }
      throw err;
    } finally {
      inner.end();
      this.inSavepoint = false;
    }
  }

  close(): Promise<void> {
    return Promise.reject(new Error('a transaction cannot close its store'));
  }
}
