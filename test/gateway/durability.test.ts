import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startTestGateway, type TestGateway } from './helpers/start-gateway.ts';
import { AckCollector, connectTerminal, makeTap, publishTap } from './helpers/mqtt.ts';
import { sleep, waitUntil } from './helpers/wait.ts';
import { storeKinds } from '../support/sql-stores.ts';

const HELD_COMMIT_GATEWAY = join(import.meta.dirname, 'fixtures/held-commit-gateway.ts');

/**
 * The ack rule under failure: a tap is acked only after its commit. A gateway killed between receive and
 * commit acks nothing; the terminal sends again and the tap is stored once (on each database: on PostgreSQL
 * the server keeps running while the gateway is killed and restarted). A database that cannot commit acks
 * nothing until it can.
 */
const kinds = storeKinds();
afterAll(async () => {
  for (const k of kinds) await k.cleanup();
});

describe.each(kinds.map((k) => [k.kind, k] as const))('durability of the ack rule (%s)', (_kind, k) => {
  let gw: TestGateway | undefined;
  const cleanup: Array<() => void> = [];
  afterEach(async () => {
    await gw?.stop();
    gw = undefined;
    for (const c of cleanup.splice(0)) c();
  });

  it('SIGKILL between receive and commit: no ack, the re-sent tap is stored once and acked', async () => {
    // The gateway runs with a commit gate (its mayCommit option): while this file exists, received taps wait before their commit.
    const dir = mkdtempSync(join(tmpdir(), 'ciao-crash-'));
    const hold = join(dir, 'hold-commits');
    writeFileSync(hold, '');
    gw = await startTestGateway({ store: k, child: true, dir, childScript: { path: HELD_COMMIT_GATEWAY, args: ['--hold', hold] } });
    const g = gw;
    const store = await g.store();
    const t = await g.addTerminal('crash-1');
    const c = await connectTerminal(g.mqttPort, t.id, t.secret);
    const acks = await AckCollector.attach(c, t.id);
    const tap = makeTap(g.seed.workers.solo.badge);
    await publishTap(c, t.id, tap); // PUBACK: the broker has it, the database does not yet
    await waitUntil(async () => /ciao_gateway_taps_received_total 1\b/.test(await g.metrics()), { what: 'the tap received' });
    await sleep(150);
    expect(acks.for(tap.id)).toEqual([]);
    await g.kill();
    c.end(true);
    expect(acks.for(tap.id)).toEqual([]);
    expect(await store.one('SELECT 1 AS found FROM taps WHERE tap_id = $1', [tap.id])).toBeUndefined();

    // The terminal still has the tap in its outbox: after the restart it sends it again (twice, even).
    rmSync(hold);
    await g.restart();
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const c2 = await connectTerminal(g.mqttPort, t.id, t.secret);
    const acks2 = await AckCollector.attach(c2, t.id);
    await publishTap(c2, t.id, tap);
    expect((await acks2.waitFor(tap.id))[0]!.status).toBe('stored');
    await publishTap(c2, t.id, tap);
    expect((await acks2.waitFor(tap.id, 2)).map((a) => a.status)).toEqual(['stored', 'stored']);
    expect(await store.one('SELECT COUNT(*) AS n FROM taps WHERE tap_id = $1', [tap.id])).toEqual({ n: 1 });
    expect(await store.one('SELECT COUNT(*) AS n FROM registrations WHERE tap_id = $1', [tap.id])).toEqual({ n: 1 });
    await c2.endAsync();
  });

  it('SIGTERM flushes the commit group before exiting: what was received is stored', async () => {
    gw = await startTestGateway({ store: k, child: true, config: { groupCommit: { maxDelayMs: 1000, maxBatch: 100_000 } } });
    const g = gw;
    const t = await g.addTerminal('graceful-1');
    const c = await connectTerminal(g.mqttPort, t.id, t.secret);
    const taps = Array.from({ length: 20 }, () => makeTap(g.seed.workers.solo.badge));
    for (const tap of taps) await publishTap(c, t.id, tap);
    await waitUntil(async () => /ciao_gateway_taps_received_total 20\b/.test(await g.metrics()));
    g.child!.kill('SIGTERM');
    await new Promise<void>((r) => (g.child!.exitCode !== null ? r() : g.child!.once('exit', () => r())));
    expect(g.child!.exitCode).toBe(0);
    const ids = taps.map((x) => x.id);
    expect(await (await g.store()).one(`SELECT COUNT(*) AS n FROM taps WHERE tap_id IN (${ids.map((_, i) => `$${i + 1}`).join(',')})`, ids)).toEqual({ n: 20 });
    c.end(true);
  });
});

describe('durability of the ack rule (SQLite only: its write lock and its files)', () => {
  let gw: TestGateway | undefined;
  afterEach(async () => {
    await gw?.stop();
    gw = undefined;
  });

  it('a locked database: no ack while commits fail, health degraded; stored once and acked when the lock goes', async () => {
    gw = await startTestGateway({ config: { groupCommit: { busyTimeoutMs: 100 } } });
    const g = gw;
    const t = await g.addTerminal('locked-1');
    const c = await connectTerminal(g.mqttPort, t.id, t.secret);
    const acks = await AckCollector.attach(c, t.id);
    // Another process holding the write lock (as a stuck admin transaction would).
    const other = new Database(g.dbPath);
    other.exec('BEGIN IMMEDIATE');
    const tap = makeTap(g.seed.workers.solo.badge);
    await publishTap(c, t.id, tap);
    // The batch is tried a few times, then given up: nothing acked, the terminal keeps the tap.
    await waitUntil(() => /group commit failed: nothing acked/.test(g.logs()), { what: 'the batch given up' });
    expect(await g.metrics()).toMatch(/ciao_gateway_commit_failures_total\{code="SQLITE_BUSY"\} [4-9]/);
    expect(acks.for(tap.id)).toEqual([]);
    const health = await fetch(`http://127.0.0.1:${g.httpPort}/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: 'degraded' });

    // A short lock: the retry succeeds without the terminal doing anything.
    const second = makeTap(g.seed.workers.solo.badge, { direction: 'OUT' });
    await publishTap(c, t.id, second);
    await waitUntil(async () => /ciao_gateway_commit_failures_total\{code="SQLITE_BUSY"\} ([5-9]|\d\d)/.test(await g.metrics()));
    other.exec('ROLLBACK');
    other.close();
    expect((await acks.waitFor(second.id))[0]!.status).toBe('stored');
    expect(acks.for(tap.id)).toEqual([]);

    await publishTap(c, t.id, tap); // the terminal's retry of the given-up tap
    expect((await acks.waitFor(tap.id))[0]!.status).toBe('stored');
    for (const id of [tap.id, second.id]) expect(g.db().prepare('SELECT COUNT(*) AS n FROM taps WHERE tap_id = ?').get(id)).toEqual({ n: 1 });
    await c.endAsync();
  });

  it('creates the database files with mode 0600', async () => {
    gw = await startTestGateway();
    const t = await gw.addTerminal('mode-1');
    const c = await connectTerminal(gw.mqttPort, t.id, t.secret);
    const acks = await AckCollector.attach(c, t.id);
    const tap = makeTap(gw.seed.workers.solo.badge);
    await publishTap(c, t.id, tap);
    await acks.waitFor(tap.id);
    for (const f of [gw.dbPath, `${gw.dbPath}-wal`]) expect((statSync(f).mode & 0o777).toString(8), f).toBe('600');
    await c.endAsync();
  });
});
