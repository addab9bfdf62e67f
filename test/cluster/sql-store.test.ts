import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { SqlStore } from '../../gateway/store/sql-store.ts';
import { openPostgresStore } from '../../gateway/store/postgres/postgres-store.ts';
import { positionalSql, SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { storeKinds } from '../support/sql-stores.ts';

/**
 * The storage port's contract (gateway/store/sql-store.ts), the same cases on both adapters: the SQLite file
 * of the embedded gateway and a real PostgreSQL, each with the gateway's whole schema. The SQL below is the
 * port's shared subset, written once.
 */
const kinds = storeKinds();
afterAll(async () => {
  for (const k of kinds) await k.cleanup();
});

const ITEMS = 'CREATE TABLE port_items (id bigint PRIMARY KEY, name text NOT NULL UNIQUE, qty bigint, note text)';

interface Item { id: number; name: string; qty: number | null; note: string | null }

/** A promise the test settles itself, and whether something else has settled yet. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function settledFlag(p: Promise<unknown>): { readonly settled: boolean } {
  const flag = { settled: false };
  p.then(() => (flag.settled = true), () => (flag.settled = true));
  return flag;
}

/** Lets every pending callback run (timers included), so that a statement that could run has run. */
const aWhile = () => new Promise((r) => setTimeout(r, 50));

describe.each(kinds.map((k) => [k.kind, k] as const))('the storage port on %s', (kind, k) => {
  async function withItems(): Promise<SqlStore> {
    const store = await k.fresh();
    await store.run(ITEMS);
    return store;
  }

  it('runs all, one and run, and counts the rows a statement changed', async () => {
    const store = await withItems();
    expect(store.dialect).toBe(kind);
    expect(await store.run('INSERT INTO port_items (id, name, qty) VALUES ($1, $2, $3)', [1, 'mop', 3])).toEqual({ changes: 1 });
    expect(await store.run('INSERT INTO port_items (id, name, qty) VALUES ($1, $2, $3), ($4, $5, $6)', [2, 'bucket', 5, 3, 'cloth', 5])).toEqual({ changes: 2 });
    expect(await store.run('UPDATE port_items SET note = $1 WHERE qty = $2', ['restock', 5])).toEqual({ changes: 2 });
    expect(await store.run('DELETE FROM port_items WHERE id = $1', [99])).toEqual({ changes: 0 });
    expect(await store.all<Item>('SELECT id, name, qty, note FROM port_items ORDER BY id')).toEqual([
      { id: 1, name: 'mop', qty: 3, note: null },
      { id: 2, name: 'bucket', qty: 5, note: 'restock' },
      { id: 3, name: 'cloth', qty: 5, note: 'restock' },
    ]);
    expect(await store.one<Item>('SELECT id, name FROM port_items WHERE name = $1', ['cloth'])).toEqual({ id: 3, name: 'cloth' });
    expect(await store.one('SELECT id FROM port_items WHERE name = $1', ['broom'])).toBeUndefined();
    expect(await store.all('SELECT id FROM port_items WHERE qty > $1', [100])).toEqual([]);
    expect(await store.one('SELECT count(*) AS n FROM port_items')).toEqual({ n: 3 });
  });

  it('answers what an insert made with RETURNING, numbered by the table as on the other database', async () => {
    const store = await k.fresh();
    const made = [];
    for (const at of ['2026-12-02T06:00:00.000Z', '2026-12-02T07:00:00.000Z']) {
      made.push(await store.one<{ id: number; started_at: string }>("INSERT INTO outage_events (scope, started_at, cause) VALUES ('gateway', $1, 'test') RETURNING id, started_at", [at]));
    }
    expect(made).toEqual([{ id: 1, started_at: '2026-12-02T06:00:00.000Z' }, { id: 2, started_at: '2026-12-02T07:00:00.000Z' }]);
    expect(await store.all('UPDATE outage_events SET ended_at = $1 WHERE ended_at IS NULL RETURNING id', ['2026-12-02T08:00:00.000Z'])).toEqual([{ id: 1 }, { id: 2 }]);
  });

  it('upserts with ON CONFLICT: DO NOTHING changes nothing, DO UPDATE takes the new values', async () => {
    const store = await withItems();
    await store.run('INSERT INTO port_items (id, name, qty) VALUES ($1, $2, $3)', [1, 'mop', 3]);
    expect(await store.run('INSERT INTO port_items (id, name, qty) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING', [1, 'other', 9])).toEqual({ changes: 0 });
    expect(await store.run('INSERT INTO port_items (id, name, qty) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET qty = port_items.qty + excluded.qty', [7, 'mop', 4])).toEqual({ changes: 1 });
    expect(await store.all('SELECT id, name, qty FROM port_items')).toEqual([{ id: 1, name: 'mop', qty: 7 }]);
    // A unique constraint without ON CONFLICT is refused, naming nothing of the adapter.
    await expect(store.run('INSERT INTO port_items (id, name) VALUES ($1, $2)', [2, 'mop'])).rejects.toThrow(/unique/i);
  });

  it('binds $1..$n in order, one parameter used several times, and NULLs', async () => {
    const store = await withItems();
    const params = [1, 'a', 10, null, 2, 'b', 20, 'x', 3, 'c', null, undefined];
    expect(await store.run('INSERT INTO port_items (id, name, qty, note) VALUES ($1, $2, $3, $4), ($5, $6, $7, $8), ($9, $10, $11, $12)', params)).toEqual({ changes: 3 });
    expect(await store.all('SELECT id, name, qty, note FROM port_items ORDER BY id')).toEqual([
      { id: 1, name: 'a', qty: 10, note: null },
      { id: 2, name: 'b', qty: 20, note: 'x' },
      { id: 3, name: 'c', qty: null, note: null },
    ]);
    // $1 twice, in two places of one type; $2 after it.
    expect(await store.all('SELECT name FROM port_items WHERE qty >= $1 AND id <> $1 AND name <> $2 ORDER BY id', [2, 'c'])).toEqual([{ name: 'a' }]);
    expect(await store.one('SELECT count(*) AS n FROM port_items WHERE note IS NULL AND qty IS NULL')).toEqual({ n: 1 });
    // Booleans are bound as SQLite stores them; a comparison comes back as 1 or 0 on both.
    expect(await store.one('SELECT CAST($1 AS bigint) AS yes, CAST($2 AS bigint) AS no, (1 = 1) AS cmp', [true, false])).toEqual({ yes: 1, no: 0, cmp: 1 });
  });

  it('gives integers beyond 2^31 back as numbers, sums and counts included', async () => {
    const store = await withItems();
    const big = 2 ** 40 + 7;
    await store.run('INSERT INTO port_items (id, name, qty) VALUES ($1, $2, $3), ($4, $5, $6)', [big, 'big', big, 2 ** 33, 'bigger', 2 ** 33]);
    const row = await store.one<{ id: number; qty: number }>('SELECT id, qty FROM port_items WHERE id = $1', [big]);
    expect(row).toEqual({ id: big, qty: big });
    expect(typeof row!.qty).toBe('number');
    expect(await store.one('SELECT SUM(qty) AS total, count(*) AS n, MAX(id) AS top FROM port_items')).toEqual({ total: big + 2 ** 33, n: 2, top: big });
  });

  it('leaves text that looks like a parameter inside a string literal as written', async () => {
    const store = await withItems();
    expect(await store.one("SELECT '$1 and $2' AS t, CAST($1 AS bigint) AS n", [5])).toEqual({ t: '$1 and $2', n: 5 });
    await store.run("INSERT INTO port_items (id, name, note) VALUES ($1, $2, 'it''s $1, not $2')", [1, 'sign']);
    expect(await store.one('SELECT name, note FROM port_items')).toEqual({ name: 'sign', note: "it's $1, not $2" });
    // In a quoted name and in comments alike; the parameter after them is still one.
    expect(await store.one('SELECT note AS "note $2" /* not $2 */ FROM port_items -- nor $3\n WHERE id = $1', [1])).toEqual({ 'note $2': "it's $1, not $2" });
  });

  it('refuses SQL outside the shared subset of parameters: a "?", or not as many parameters as it uses', async () => {
    const store = await withItems();
    await expect(store.one('SELECT id FROM port_items WHERE id = ?', [1])).rejects.toThrow();
    await expect(store.one('SELECT id FROM port_items WHERE id = $1', [1, 2])).rejects.toThrow(/parameter/);
    await expect(store.one('SELECT id FROM port_items WHERE id = $1 AND name = $2', [1])).rejects.toThrow(/parameter/);
  });

  it('commits a transaction that resolves: its rows are there for another connection', async () => {
    const store = await withItems();
    const answer = await store.transaction(async (tx) => {
      await tx.run('INSERT INTO port_items (id, name) VALUES ($1, $2)', [1, 'a']);
      await tx.run('INSERT INTO port_items (id, name) VALUES ($1, $2)', [2, 'b']);
      return (await tx.one<{ n: number }>('SELECT count(*) AS n FROM port_items'))!.n;
    });
    expect(answer).toBe(2);
    const other = await k.second(store);
    expect(await other.all('SELECT name FROM port_items ORDER BY id')).toEqual([{ name: 'a' }, { name: 'b' }]);
  });

  it('rolls back a transaction that throws, and passes its error on', async () => {
    const store = await withItems();
    await store.run('INSERT INTO port_items (id, name) VALUES ($1, $2)', [1, 'kept']);
    const failure = new Error('the caller changed its mind');
    await expect(store.transaction(async (tx) => {
      await tx.run('INSERT INTO port_items (id, name) VALUES ($1, $2)', [2, 'undone']);
      await tx.run('UPDATE port_items SET note = $1', ['undone too']);
      throw failure;
    })).rejects.toBe(failure);
    // A statement the database refuses rolls back the same way.
    await expect(store.transaction(async (tx) => {
      await tx.run('INSERT INTO port_items (id, name) VALUES ($1, $2)', [3, 'undone']);
      await tx.run('INSERT INTO port_items (id, name) VALUES ($1, $2)', [1, 'same id']);
    })).rejects.toThrow(/unique|duplicate/i);
    expect(await store.all('SELECT id, name, note FROM port_items')).toEqual([{ id: 1, name: 'kept', note: null }]);
    // The store goes on: a new transaction commits.
    await store.transaction(async (tx) => tx.run('INSERT INTO port_items (id, name) VALUES ($1, $2)', [4, 'after']));
    expect(await store.one('SELECT count(*) AS n FROM port_items')).toEqual({ n: 2 });
  });

  it('keeps other callers out of an open transaction: they are not rolled back with it, nor see its rows', async () => {
    const store = await withItems();
    const held = deferred();
    const inside = deferred();
    const tx1 = store.transaction(async (tx) => {
      await tx.run('INSERT INTO port_items (id, name) VALUES ($1, $2)', [1, 'in the transaction']);
      inside.resolve();
      // Held open by the test, as a slow transaction would be.
      await held.promise;
      throw new Error('rolled back');
    });
    await inside.promise;
    const outsideWrite = store.run('INSERT INTO port_items (id, name) VALUES ($1, $2)', [2, 'outside']);
    const outsideRead = store.all<{ name: string }>('SELECT name FROM port_items ORDER BY id');
    const queuedTx = store.transaction(async (tx) => tx.run('INSERT INTO port_items (id, name) VALUES ($1, $2)', [3, 'next transaction']));
    const write = settledFlag(outsideWrite);
    const read = settledFlag(outsideRead);
    await aWhile();
    if (kind === 'sqlite') {
      // One connection: they wait for the transaction to end, in order.
      expect(write.settled).toBe(false);
      expect(read.settled).toBe(false);
    }
    held.resolve();
    await expect(tx1).rejects.toThrow('rolled back');
    expect(await outsideWrite).toEqual({ changes: 1 });
    expect((await outsideRead).map((r) => r.name)).not.toContain('in the transaction');
    expect(await queuedTx).toEqual({ changes: 1 });
    expect(await store.all('SELECT name FROM port_items ORDER BY id')).toEqual([{ name: 'outside' }, { name: 'next transaction' }]);
  });

  it('runs transactions that read and write the same row one after the other: no update is lost', async () => {
    const store = await k.fresh();
    await store.run("INSERT INTO gateway_settings (key, value) VALUES ('counter', '0')");
    const increment = () => store.transaction(async (tx) => {
      const row = await tx.one<{ value: string }>("SELECT value FROM gateway_settings WHERE key = 'counter'");
      await tx.run("UPDATE gateway_settings SET value = $1 WHERE key = 'counter'", [String(Number(row!.value) + 1)]);
    });
    await Promise.all([increment(), increment(), increment(), increment()]);
    expect(await store.one("SELECT value FROM gateway_settings WHERE key = 'counter'")).toEqual({ value: '4' });
  });

  it('makes a nested transaction a savepoint: undone alone when it throws, undone with its transaction', async () => {
    const store = await withItems();
    await store.transaction(async (tx) => {
      await tx.run('INSERT INTO port_items (id, name) VALUES ($1, $2)', [1, 'outer']);
      await expect(tx.transaction(async (inner) => {
        await inner.run('INSERT INTO port_items (id, name) VALUES ($1, $2)', [2, 'inner undone']);
        throw new Error('inner fails');
      })).rejects.toThrow('inner fails');
      await tx.transaction(async (inner) => {
        await inner.run('INSERT INTO port_items (id, name) VALUES ($1, $2)', [3, 'inner kept']);
        // Two deep.
        await inner.transaction(async (deeper) => deeper.run('INSERT INTO port_items (id, name) VALUES ($1, $2)', [4, 'deeper kept']));
      });
    });
    expect(await store.all('SELECT name FROM port_items ORDER BY id')).toEqual([{ name: 'outer' }, { name: 'inner kept' }, { name: 'deeper kept' }]);
    await expect(store.transaction(async (tx) => {
      await tx.transaction(async (inner) => inner.run('INSERT INTO port_items (id, name) VALUES ($1, $2)', [5, 'gone with the outer']));
      throw new Error('outer fails');
    })).rejects.toThrow('outer fails');
    expect(await store.one('SELECT count(*) AS n FROM port_items')).toEqual({ n: 3 });
  });

  it('gives its connection back after transactions that failed: the next statements still run', async () => {
    const store = await withItems();
    // More failures than the PostgreSQL pool has connections (4 in these tests): a connection kept by a
    // failed transaction would leave the statements below waiting for ever.
    for (let i = 0; i < 10; i++) {
      await expect(store.transaction(async (tx) => {
        await tx.run('INSERT INTO port_items (id, name) VALUES ($1, $2)', [100 + i, `try ${i}`]);
        await tx.run('INSERT INTO no_such_table (id) VALUES ($1)', [i]);
      })).rejects.toThrow(/no_such_table|no such table/);
    }
    expect(await store.one('SELECT count(*) AS n FROM port_items')).toEqual({ n: 0 });
    expect(await store.transaction(async (tx) => (await tx.run('INSERT INTO port_items (id, name) VALUES ($1, $2)', [1, 'after'])).changes)).toBe(1);
  });

  it('refuses a statement on a transaction that has ended, and statements after close', async () => {
    const store = await withItems();
    let leaked: SqlStore | undefined;
    await store.transaction(async (tx) => {
      leaked = tx;
    });
    await expect(leaked!.run('INSERT INTO port_items (id, name) VALUES ($1, $2)', [1, 'late'])).rejects.toThrow(/after the transaction ended/);
    const other = await k.second(store);
    const held = deferred();
    const running = other.transaction(async (tx) => {
      await tx.run('INSERT INTO port_items (id, name) VALUES ($1, $2)', [2, 'before close']);
      await held.promise;
    });
    await aWhile();
    const closing = other.close();
    held.resolve();
    await running;
    await closing;
    await expect(other.one('SELECT 1 AS one')).rejects.toThrow(/closed/);
    expect(await store.all('SELECT name FROM port_items')).toEqual([{ name: 'before close' }]);
  });
});

describe('the SQLite adapter\'s parameters', () => {
  it('rewrites $n to positional ?, each taking its parameter, and leaves quoted text, names and comments alone', () => {
    expect(positionalSql("UPDATE t SET a = $2, b = 'x $1 ''$3''' WHERE id = $1 OR parent = $1")).toEqual({
      sql: "UPDATE t SET a = ?, b = 'x $1 ''$3''' WHERE id = ? OR parent = ?", order: [1, 0, 0], count: 2,
    });
    expect(positionalSql('SELECT a$1, "b $2" FROM t /* $3 */ -- $4\nWHERE c = $10')).toEqual({
      sql: 'SELECT a$1, "b $2" FROM t /* $3 */ -- $4\nWHERE c = ?', order: [9], count: 10,
    });
    expect(positionalSql('SELECT 1')).toEqual({ sql: 'SELECT 1', order: [], count: 0 });
    expect(() => positionalSql('SELECT * FROM t WHERE id = ?')).toThrow(/numbers its parameters \(\$1, \$2, …\); found "\?"/);
    expect(() => positionalSql('SELECT $0')).toThrow(/from \$1/);
  });
});

describe('the SQLite adapter\'s transactions', () => {
  it('is one store per connection, so that every caller of the connection queues behind its transactions', async () => {
    const k = kinds.find((x) => x.kind === 'sqlite')!;
    const store = (await k.fresh()) as SqliteStore;
    expect(SqliteStore.of(store.db)).toBe(store);
    expect(() => new SqliteStore(store.db)).toThrow(/has a store already: use SqliteStore\.of\(db\)/);
  });

  it('passes on a write lock held by another process, and lets the next caller in', async () => {
    const k = kinds.find((x) => x.kind === 'sqlite')!;
    const store = await k.fresh();
    const own = (store as SqliteStore).db;
    own.pragma('busy_timeout = 100');
    // Another process's connection (ciao admin, another instance) holding the write lock.
    const other = ((await k.second(store)) as SqliteStore).db;
    other.exec('BEGIN IMMEDIATE');
    await expect(store.transaction(async (tx) => tx.run("INSERT INTO gateway_settings (key, value) VALUES ('a', '1')"))).rejects.toThrow(/database is locked/);
    other.exec('COMMIT');
    await store.transaction(async (tx) => tx.run("INSERT INTO gateway_settings (key, value) VALUES ('a', '1')"));
    expect(await store.one("SELECT value FROM gateway_settings WHERE key = 'a'")).toEqual({ value: '1' });
  });
});

describe.skipIf(!kinds.some((k) => k.kind === 'postgres'))('the PostgreSQL adapter', () => {
  it('names the server it could not reach, without the password of its URL', async () => {
    const err = await openPostgresStore({ url: 'postgres://ciao:s3cret-pw@127.0.0.1:1/ciao', connectTimeoutMs: 2000 }).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^PostgreSQL store at postgres:\/\/ciao:\*\*\*@127\.0\.0\.1:1\/ciao: cannot connect: /);
    expect((err as Error).message).not.toContain('s3cret-pw');
  });

  it('parses numbers for its own pool only: other clients of pg keep its defaults', async () => {
    const k = kinds.find((x) => x.kind === 'postgres')!;
    const store = await k.fresh();
    expect(await store.one('SELECT CAST($1 AS bigint) AS n', [2 ** 40])).toEqual({ n: 2 ** 40 });
    const url = (store as unknown as { where: string }).where;
    const plain = new pg.Client({ connectionString: url });
    await plain.connect();
    try {
      expect((await plain.query('SELECT CAST(1099511627776 AS bigint) AS n')).rows).toEqual([{ n: '1099511627776' }]);
    } finally {
      await plain.end();
    }
  });
});
