import { afterAll, describe, expect, it } from 'vitest';
import { GatewayRunJournal, HEARTBEAT_EVERY_MS } from '../../gateway/status/outage-journal.ts';
import type { SqlStore } from '../../gateway/store/sql-store.ts';
import { storeKinds } from '../support/sql-stores.ts';

/**
 * The gateway's own outages when several processes share its database (a cluster's instances): the gateway
 * is out only while none of them runs. Each instance's journal beats under its own name, on its own
 * connection; clocks are set by the test. The journal is on the storage port: the same cases run on the
 * SQLite file and on a real PostgreSQL.
 */
const kinds = storeKinds();
afterAll(async () => {
  for (const k of kinds) await k.cleanup();
});

const gatewayOutages = (store: SqlStore) => store.all<{ startedAt: string; endedAt: string | null; cause: string }>("SELECT started_at AS \"startedAt\", ended_at AS \"endedAt\", cause FROM outage_events WHERE scope = 'gateway' ORDER BY id");

describe.each(kinds.map((k) => [k.kind, k] as const))('the gateway outage journal with several instances on one database (%s)', (_kind, k) => {
  /** Two instances' journals on one database, started and beating once, with a clock the test moves. */
  async function twoRunning() {
    const store = await k.fresh();
    const clock = { now: Date.parse('2026-12-02T06:00:00Z'), iso: () => new Date(clock.now).toISOString() };
    const a = new GatewayRunJournal(store, () => new Date(clock.now), 'gw-a');
    const b = new GatewayRunJournal(await k.second(store), () => new Date(clock.now), 'gw-b');
    await a.started();
    await b.started();
    clock.now += HEARTBEAT_EVERY_MS;
    await a.heartbeat();
    await b.heartbeat();
    return { store, a, b, clock };
  }

  it('journals no outage while another instance runs: a clean stop, a crash and a restart of one of them', async () => {
    const { store, a, b, clock } = await twoRunning();

    // gw-a stops cleanly while gw-b runs, and starts again an hour later (gw-b beating all along).
    await a.stopped();
    for (let i = 0; i < 60; i++) {
      clock.now += HEARTBEAT_EVERY_MS;
      await b.heartbeat();
    }
    await a.started();
    // gw-b crashes (no stop written); gw-a runs on, and gw-b starts again ten minutes later.
    for (let i = 0; i < 10; i++) {
      clock.now += HEARTBEAT_EVERY_MS;
      await a.heartbeat();
    }
    await b.started();
    expect(await gatewayOutages(store)).toEqual([]);
  });

  it('journals the outage when the last instance stops, and after a crash of all of them from the newest heartbeat', async () => {
    const { store, a, b, clock } = await twoRunning();
    const lastBeat = clock.iso();
    // Both crash; gw-a is back 30 minutes later: the gateway was out from the newest heartbeat of either.
    clock.now += 30 * HEARTBEAT_EVERY_MS;
    await a.started();
    const afterCrash = clock.iso();
    expect(await gatewayOutages(store)).toEqual([{ startedAt: lastBeat, endedAt: afterCrash, cause: expect.stringMatching(/crash or power cut/) }]);

    // gw-a, the only one running, stops cleanly: an outage opens, and closes when gw-b starts.
    clock.now += HEARTBEAT_EVERY_MS;
    const stoppedAt = clock.iso();
    await a.stopped();
    clock.now += 5 * HEARTBEAT_EVERY_MS;
    await b.started();
    expect((await gatewayOutages(store)).at(-1)).toEqual({ startedAt: stoppedAt, endedAt: clock.iso(), cause: 'gateway stopped' });
  });

  it('journals one crash when all instances start again at once after it', async () => {
    const { store, clock } = await twoRunning();
    const lastBeat = clock.iso();
    clock.now += 30 * HEARTBEAT_EVERY_MS;
    // On PostgreSQL each instance on a connection of its own, all starting at the same moment. SQLite's
    // instances are processes whose transactions the file lock orders; in one test process they share the
    // connection, whose store orders them (a second connection would wait for the first on this one thread).
    const connection = async () => (k.kind === 'postgres' ? k.second(store) : store);
    const again = await Promise.all(['gw-a', 'gw-b', 'gw-c'].map(async (name) => new GatewayRunJournal(await connection(), () => new Date(clock.now), name)));
    await Promise.all(again.map((j) => j.started()));
    expect(await gatewayOutages(store)).toEqual([{ startedAt: lastBeat, endedAt: clock.iso(), cause: expect.stringMatching(/crash or power cut/) }]);
  });

  it('keeps a lone gateway as before: its own stop and start', async () => {
    const store = await k.fresh();
    let now = Date.parse('2026-12-02T06:00:00Z');
    const lone = new GatewayRunJournal(store, () => new Date(now));
    await lone.started();
    await lone.stopped();
    now += 10 * HEARTBEAT_EVERY_MS;
    await lone.started();
    expect(await gatewayOutages(store)).toHaveLength(1);
    expect(await store.all("SELECT key FROM gateway_settings WHERE key LIKE 'heartbeat%'")).toEqual([{ key: 'heartbeat' }]);
  });
});
