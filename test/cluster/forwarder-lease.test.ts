import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createLogger } from '../../shared/logging.ts';
import { openDatabase } from '../../shared/sqlite.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { LeaseLostError, PostgresForwarderLease, readForwardingConfig, SqliteForwarderLease, forwardingConfigSchema } from '../../gateway/forward/index.ts';
import { InvalidInputError, type FieldProblem } from '../../shared/problems.ts';
import { ownHolderId } from '../../gateway/forward/lease.ts';
import { ForwardStore, type BatchRow } from '../../gateway/forward/forward-store.ts';
import { openPostgresStore } from '../../gateway/store/postgres/postgres-store.ts';
import { DirectForwardWriter } from '../../gateway/forward/forward-writes.ts';
import { clientReferenceFor } from '../../gateway/onss/index.ts';
import { openGatewayDb, rsaKeyPair, seedRegistrations, tempDir } from '../onss/helpers.ts';
import { startEmulator } from '../../simulator/emulator/index.ts';
import { startForwarder, type ForwarderHandle } from '../../gateway/forward/index.ts';
import { waitUntil } from '../gateway/helpers/wait.ts';
import { serviceMissing, startPostgres, type LocalPostgres } from '../../simulator/services/local-services.ts';

/**
 * The forwarder lease (gateway/forward/lease.ts): one holder at a time, renewed, taken over when its holder
 * is gone, and a batch never marked in flight by a process that does not hold it. The SQLite adapter on a
 * real database file shared by two connections; the PostgreSQL adapter against a real PostgreSQL, its
 * holder's connection terminated and its holder process SIGKILLed.
 */
const REPO = resolve(import.meta.dirname, '../..');
const logger = createLogger('lease-test', { level: 'silent' });
const tmp = tempDir('ciao-lease-');
afterAll(() => tmp.cleanup());

describe('the onss.lease section', () => {
  const base = { baseUrl: 'https://onss.invalid', clientId: 'gw', privateKey: 'unused' };
  const problems = (lease: unknown): FieldProblem[] => {
    try {
      readForwardingConfig({ ...base, lease });
    } catch (e) {
      if (e instanceof InvalidInputError) return e.problems.filter((p) => p.field.startsWith('onss.lease'));
      throw e;
    }
    return [];
  };

  it('names the field and the rule of a bad lease, and takes the SQLite row by default', () => {
    expect(problems({ store: 'redis' }).map((p) => p.field)).toEqual(['onss.lease.store']);
    expect(problems({ store: 'sqlite', ttlMs: 4000, renewMs: 3000 })).toEqual([expect.objectContaining({ field: 'onss.lease.renewMs', message: expect.stringContaining('at most half of ttlMs') })]);
    expect(problems({ store: 'postgres', url: 'mysql://x' }).map((p) => p.field)).toEqual(['onss.lease.url']);
    expect(forwardingConfigSchema.parse(base).lease).toEqual({ store: 'sqlite', ttlMs: 15_000, renewMs: 3_000 });
    expect(forwardingConfigSchema.parse({ ...base, lease: { store: 'postgres', url: 'postgres://ciao@db:5432/ciao' } }).lease).toEqual({ store: 'postgres', url: 'postgres://ciao@db:5432/ciao', lockId: 1, ttlMs: 10_000, renewMs: 2_000 });
  });
});

describe('the SQLite forwarder lease', () => {
  const timing = { ttlMs: 10_000, renewMs: 1_000 };

  it('has one holder at a time, is renewed, taken over once expired, and handed over at once when released', async () => {
    const file = join(tmp.dir, 'lease.db');
    const dbA = openDatabase(file);
    const dbB = openDatabase(file);
    let now = Date.parse('2026-03-02T08:00:00Z');
    const a = new SqliteForwarderLease(SqliteStore.of(dbA), timing, 'gw-a:1:100:aa', () => now);
    const b = new SqliteForwarderLease(SqliteStore.of(dbB), timing, 'gw-b:1:100:bb', () => now);

    expect(await a.acquire()).toBe(true);
    expect(await b.acquire()).toBe(false);
    expect(await b.holder()).toEqual({ holder: 'gw-a:1:100:aa', expiresAt: new Date(now + 10_000) });
    await expect(a.assertHeld()).resolves.toBeUndefined();
    await expect(b.assertHeld()).rejects.toThrow(LeaseLostError);

    now += 6_000;
    expect(await a.renew()).toBe(true);
    now += 6_000; // 12 s after it was taken, 6 s after its renewal: still held
    expect(await b.acquire()).toBe(false);

    now += 5_000; // 11 s after the last renewal: expired
    await expect(a.assertHeld()).rejects.toThrow(/expired/);
    expect(await b.acquire()).toBe(true);
    expect(await a.renew()).toBe(false);
    await expect(a.assertHeld()).rejects.toThrow(/held by gw-b/);
    expect((await a.holder())?.holder).toBe('gw-b:1:100:bb');

    await b.release();
    expect(await b.holder()).toBeUndefined();
    expect(await a.acquire()).toBe(true);
    dbA.close();
    dbB.close();
  });

  it('is taken at once from a holder of this machine whose process is gone, never from one that lives', async () => {
    const db = openDatabase(join(tmp.dir, 'gone.db'));
    const [host, ns] = ownHolderId().split(':');
    const child = spawn(process.execPath, ['-e', '']);
    const deadPid = await new Promise<number>((r) => child.once('exit', () => r(child.pid!)));

    const dead = new SqliteForwarderLease(SqliteStore.of(db), timing, `${host}:${ns}:${deadPid}:dd`);
    expect(await dead.acquire()).toBe(true);
    const successor = new SqliteForwarderLease(SqliteStore.of(db), timing);
    expect(await successor.acquire()).toBe(true);
    expect((await successor.holder())?.holder).toBe(successor.holderId);

    // The test process itself is alive: a lease in its name (another nonce) is not taken before it expires.
    const living = new SqliteForwarderLease(SqliteStore.of(db), timing, `${host}:${ns}:${process.pid}:ee`);
    await successor.release();
    expect(await living.acquire()).toBe(true);
    expect(await successor.acquire()).toBe(false);
    db.close();
  });

  it('keeps a process that does not hold it from marking a batch in flight', async () => {
    const db = openGatewayDb(join(tmp.dir, 'fenced.db'));
    seedRegistrations(db, { count: 5 });
    const holder = new SqliteForwarderLease(SqliteStore.of(db), timing, 'gw-a:1:1:aa');
    const other = new SqliteForwarderLease(SqliteStore.of(db), timing, 'gw-b:1:1:bb');
    expect(await holder.acquire()).toBe(true);
    const writer = new DirectForwardWriter(SqliteStore.of(db));
    const store = new ForwardStore(SqliteStore.of(db), writer, clientReferenceFor, { assertHeld: () => other.assertHeld(), holderInDatabase: other.holderId });
    const batch = await store.nextBatch(5);
    expect(batch).toHaveLength(5);
    await expect(store.markInFlight(batch, new Date().toISOString())).rejects.toThrow(LeaseLostError);
    expect(db.prepare('SELECT COUNT(*) FROM forward_state').pluck().get()).toBe(0);
    // A process whose own view is stale (its check passes) is still stopped by the transaction that marks the
    // batch, which reads the lease row again.
    const stale = new ForwardStore(SqliteStore.of(db), writer, clientReferenceFor, { assertHeld: async () => {}, holderInDatabase: other.holderId });
    await expect(stale.markInFlight(batch, new Date().toISOString())).rejects.toThrow(LeaseLostError);
    expect(db.prepare('SELECT COUNT(*) FROM forward_state').pluck().get()).toBe(0);

    const allowed = new ForwardStore(SqliteStore.of(db), writer, clientReferenceFor, { assertHeld: () => holder.assertHeld(), holderInDatabase: holder.holderId });
    await allowed.markInFlight(batch, new Date().toISOString());
    expect(db.prepare("SELECT COUNT(*) FROM forward_state WHERE state = 'in_flight'").pluck().get()).toBe(5);
    db.close();
  });
});

const noPostgres = serviceMissing('postgresql');
describe.skipIf(noPostgres !== undefined)(`the PostgreSQL forwarder lease${noPostgres ? ` (skipped: ${noPostgres})` : ''}`, () => {
  const timing = { ttlMs: 4_000, renewMs: 200 };
  let server: LocalPostgres;
  let admin: pg.Client;
  const leases: PostgresForwarderLease[] = [];
  const children: ChildProcess[] = [];
  const open = async (lockId: number) => {
    const lease = await PostgresForwarderLease.open({ url: server.url, lockId, timing, logger });
    leases.push(lease);
    return lease;
  };

  beforeAll(async () => {
    server = await startPostgres();
    admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
  });
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    for (const l of leases) await l.close();
    await admin?.end();
    await server?.stop();
  });

  it('has one holder; when its connection is terminated a standby takes over and the old holder knows it lost', async () => {
    const a = await open(7);
    const b = await open(7);
    const elsewhere = await open(8);
    expect(await a.acquire()).toBe(true);
    expect(await b.acquire()).toBe(false);
    expect(await elsewhere.acquire()).toBe(true); // another lock id: another deployment's lease
    expect((await b.holder())?.holder).toBe(a.holderId);
    expect(await a.renew()).toBe(true);
    await expect(a.assertHeld()).resolves.toBeUndefined();

    const killed = await admin.query<{ ok: boolean }>('SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1', [`ciao-fwd ${a.holderId}`.slice(0, 63)]);
    expect(killed.rows.map((r) => r.ok)).toEqual([true]);
    await waitUntil(() => b.acquire(), { what: 'the standby to take the lease', timeoutMs: 10_000, intervalMs: timing.renewMs });
    expect(await a.renew()).toBe(false);
    await expect(a.assertHeld()).rejects.toThrow(LeaseLostError);
    expect(await a.acquire()).toBe(false);
    expect((await a.holder())?.holder).toBe(b.holderId);

    await b.release();
    expect(await a.acquire()).toBe(true);
  });

  it('keeps two forwarders on one database to one sender; the holder\'s connection cut, the other takes over and each registration reaches ONSS once', async () => {
    const keys = await rsaKeyPair();
    const emulator = await startEmulator({ dbPath: join(tmp.dir, 'pg-emu.db'), clients: [{ clientId: 'gw', publicKeyPem: keys.publicKeyPem }], logger });
    const file = join(tmp.dir, 'pg-forwarders.db');
    const dbA = openGatewayDb(file);
    const dbB = openGatewayDb(file);
    const taps = seedRegistrations(dbA, { count: 400 });
    const config = {
      baseUrl: emulator.url, clientId: 'gw', privateKey: keys.privateKeyPem, batchSize: 20, maxBatchesInFlight: 1, requestTimeoutMs: 2000, reconcileDelayMs: 200,
      backoffInitialMs: 20, backoffMaxMs: 200, circuitOpenMs: 200, idlePollMs: 30, validityPollIntervalMs: 0,
      lease: { store: 'postgres' as const, url: server.url, lockId: 11, ttlMs: 4000, renewMs: 200 },
    };
    const handles: ForwarderHandle[] = [];
    try {
      const a = await startForwarder({ store: SqliteStore.of(dbA), logger, config });
      handles.push(a);
      const b = await startForwarder({ store: SqliteStore.of(dbB), logger, config });
      handles.push(b);
      expect(a.role()).toBe('forwarding');
      expect(b.role()).toBe('standby');
      await waitUntil(() => b.holder() === a.holder(), { what: 'the standby to name the holder', timeoutMs: 5000 });

      await waitUntil(() => emulator.store.stats().registrations >= 100, { what: 'the first forwarder to send', timeoutMs: 20_000 });
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [`ciao-fwd ${a.holder()}`.slice(0, 63)]);
      await waitUntil(() => b.role() === 'forwarding' && a.role() === 'standby', { what: 'the standby to take over', timeoutMs: 10_000, intervalMs: 50 });
      // Registrations appended after the takeover are the new holder's alone to send.
      taps.push(...seedRegistrations(dbB, { count: 200, start: 400 }));
      b.wake();
      await waitUntil(() => dbA.prepare("SELECT COUNT(*) FROM forward_state WHERE state = 'created'").pluck().get() === 600, { what: 'every registration created', timeoutMs: 30_000 });

      const counts = taps.map((t) => emulator.store.search({ clientId: 'gw', clientReference: clientReferenceFor(t), limit: 10, offset: 0 }).total);
      expect(counts.filter((n) => n !== 1)).toEqual([]);
      expect(emulator.store.stats().registrations).toBe(600);
      expect(a.role()).toBe('standby');
    } finally {
      for (const h of handles) await h.stop();
      dbA.close();
      dbB.close();
      await emulator.stop();
    }
  });

  it('keeps a holder whose lease connection died, before it noticed, from marking a batch in flight in the gateway database', async () => {
    // The gateway's data on the same server and database as the lock: the in-flight transaction asks pg_locks.
    const store = await openPostgresStore({ url: server.url, maxConnections: 2 });
    try {
      const writer = new DirectForwardWriter(store);
      const rows = (from: number) => [from, from + 1].map((seq) => ({ seq, tap_id: `tap-${seq}`, client_reference: `ref-${seq}`, known: false }) as BatchRow);
      const inFlight = async () => (await store.one<{ n: number }>("SELECT COUNT(*) AS n FROM forward_state WHERE state = 'in_flight'"))!.n;
      const a = await open(12);
      expect(await a.acquire()).toBe(true);
      const seenByA = a.heldLock()!;
      expect(seenByA).toMatchObject({ lockId: 12 });
      // What `a` believes at the moment it checks (assertHeld passes, the lock and its backend as they were).
      const stale = new ForwardStore(store, writer, clientReferenceFor, { assertHeld: async () => {}, advisoryLockInDatabase: () => seenByA });
      await stale.markInFlight(rows(1), new Date().toISOString());
      expect(await inFlight()).toBe(2);

      await admin.query('SELECT pg_terminate_backend($1)', [seenByA.pid]);
      const b = await open(12);
      await waitUntil(() => b.acquire(), { what: 'another process to take the lock once the holder\'s session ended', timeoutMs: 10_000, intervalMs: 50 });
      await expect(stale.markInFlight(rows(3), new Date().toISOString())).rejects.toThrow(LeaseLostError);
      expect(await inFlight()).toBe(2);
      // The new holder marks its batch; a process that knows it holds nothing is stopped before the transaction.
      await new ForwardStore(store, writer, clientReferenceFor, { assertHeld: () => b.assertHeld(), advisoryLockInDatabase: () => b.heldLock() }).markInFlight(rows(3), new Date().toISOString());
      expect(await inFlight()).toBe(4);
      await waitUntil(async () => !(await a.renew()), { what: 'the old holder to notice', timeoutMs: 5000 });
      await expect(new ForwardStore(store, writer, clientReferenceFor, { assertHeld: async () => {}, advisoryLockInDatabase: () => a.heldLock() }).markInFlight(rows(5), new Date().toISOString())).rejects.toThrow(LeaseLostError);
      expect(await inFlight()).toBe(4);
    } finally {
      await store.close();
    }
  });

  it('is taken over within seconds when its holder process is SIGKILLed', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'test/cluster/fixtures/lease-holder.ts'), server.url, '9'], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    const held = await new Promise<string>((resolveHeld, reject) => {
      createInterface({ input: child.stdout! }).once('line', (line) => resolveHeld((JSON.parse(line) as { holder: string }).holder));
      child.once('exit', (code) => reject(new Error(`lease holder exited (${code})`)));
    });
    const standby = await open(9);
    expect(await standby.acquire()).toBe(false);
    expect((await standby.holder())?.holder).toBe(held);

    await new Promise<void>((r) => {
      child.once('exit', () => r());
      child.kill('SIGKILL');
    });
    await waitUntil(() => standby.acquire(), { what: 'the standby to take the lease after the SIGKILL', timeoutMs: 10_000, intervalMs: timing.renewMs });
    expect((await standby.holder())?.holder).toBe(standby.holderId);
  });
});
