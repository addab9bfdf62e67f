import type { Statement } from 'better-sqlite3';
import type { Db } from '../../shared/sqlite.ts';
import { bindable, type SqlParams, type SqlStore } from './sql-store.ts';

/**
 * The storage port (gateway/store/sql-store.ts) on the gateway's SQLite connection, the embedded default.
 *
 * better-sqlite3 is synchronous: a statement runs at once, in the caller's turn, and the promise it returns
 * is already settled. SQLite reads `$1` as a named parameter, so the port's SQL is prepared as written (once
 * per SQL text, kept in a bounded cache) and its parameters bound by number.
 *
 * A transaction's callback is asynchronous, and the connection is one: while it is open, a statement of any
 * other caller of this store would run inside it (and be committed or rolled back with it). So a transaction
 * holds the store: other callers' statements and transactions queue, in order, until it ends. Code that
 * still uses the connection directly (the areas not on the port yet) does not queue; it cannot run inside a
 * transaction as long as the callback awaits only its `tx` (no timer or I/O, see the port's rules).
 */
export interface SqliteStoreOptions {
  /** Close the connection with the store: for a store that opened its own. Default: the owner closes it. */
  closeConnection?: boolean;
  /** How many prepared statements are kept (one per SQL text); the oldest goes first. */
  maxStatements?: number;
}

type Bound = Record<number, string | number | null | Buffer>;

function bound(params: SqlParams | undefined): Bound | undefined {
  if (!params || params.length === 0) return undefined;
  const out: Bound = {};
  for (let i = 0; i < params.length; i++) out[i + 1] = bindable(params[i]);
  return out;
}

export class SqliteStore implements SqlStore {
  readonly dialect = 'sqlite' as const;
  private readonly statements = new Map<string, Statement>();
  private readonly maxStatements: number;
  /** A transaction holds the connection. */
  private held = false;
  /** Callers waiting for it, in order. */
  private readonly waiting: Array<() => void> = [];
  private closed = false;

  constructor(readonly db: Db, private readonly options: SqliteStoreOptions = {}) {
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
    this.release();
    if (this.options.closeConnection) this.db.close();
  }

  // ---- run at once: by the store when free, by its transaction while it holds the store ----

  /** @internal */
  allNow<T>(sql: string, params: SqlParams | undefined): T[] {
    const s = this.prepared(sql);
    const b = bound(params);
    if (!s.reader) {
      if (b) s.run(b);
      else s.run();
      return [];
    }
    return (b ? s.all(b) : s.all()) as T[];
  }

  /** @internal */
  oneNow<T>(sql: string, params: SqlParams | undefined): T | undefined {
    const s = this.prepared(sql);
    const b = bound(params);
    if (!s.reader) {
      if (b) s.run(b);
      else s.run();
      return undefined;
    }
    return (b ? s.get(b) : s.get()) as T | undefined;
  }

  /** @internal */
  runNow(sql: string, params: SqlParams | undefined): { changes: number } {
    const s = this.prepared(sql);
    const b = bound(params);
    return { changes: (b ? s.run(b) : s.run()).changes };
  }

  private prepared(sql: string): Statement {
    let s = this.statements.get(sql);
    if (s) return s;
    s = this.db.prepare(sql);
    if (this.statements.size >= this.maxStatements) this.statements.delete(this.statements.keys().next().value!);
    this.statements.set(sql, s);
    return s;
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
