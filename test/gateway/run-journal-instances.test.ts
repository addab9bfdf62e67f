import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openGatewayDatabase } from '../../gateway/store/database.ts';
import { GatewayRunJournal, HEARTBEAT_EVERY_MS } from '../../gateway/status/outage-journal.ts';
import type { Db } from '../../shared/sqlite.ts';

/**
 * The gateway's own outages when several processes share its database (a cluster's instances): the gateway
 * is out only while none of them runs. Each instance's journal beats under its own name; clocks are set by
 * the test.
 */
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function database(): Db {
  const dir = mkdtempSync(join(tmpdir(), 'ciao-runs-'));
  dirs.push(dir);
  return openGatewayDatabase(join(dir, 'gateway.db'));
}

const gatewayOutages = (db: Db) => db.prepare("SELECT started_at AS startedAt, ended_at AS endedAt, cause FROM outage_events WHERE scope = 'gateway' ORDER BY id").all() as Array<{ startedAt: string; endedAt: string | null; cause: string }>;

/** Two instances' journals on one database, started and beating once, with a clock the test moves. */
function twoRunning() {
  const db = database();
  const clock = { now: Date.parse('2026-12-02T06:00:00Z'), iso: () => new Date(clock.now).toISOString() };
  const a = new GatewayRunJournal(db, () => new Date(clock.now), 'gw-a');
  const b = new GatewayRunJournal(db, () => new Date(clock.now), 'gw-b');
  a.started();
  b.started();
  clock.now += HEARTBEAT_EVERY_MS;
  a.heartbeat();
  b.heartbeat();
  return { db, a, b, clock };
}

describe('the gateway outage journal with several instances on one database', () => {
  it('journals no outage while another instance runs: a clean stop, a crash and a restart of one of them', () => {
    const { db, a, b, clock } = twoRunning();

    // gw-a stops cleanly while gw-b runs, and starts again an hour later (gw-b beating all along).
    a.stopped();
    for (let i = 0; i < 60; i++) {
      clock.now += HEARTBEAT_EVERY_MS;
      b.heartbeat();
    }
    a.started();
    // gw-b crashes (no stop written); gw-a runs on, and gw-b starts again ten minutes later.
    for (let i = 0; i < 10; i++) {
      clock.now += HEARTBEAT_EVERY_MS;
      a.heartbeat();
    }
    b.started();
    expect(gatewayOutages(db)).toEqual([]);
  });

  it('journals the outage when the last instance stops, and after a crash of all of them from the newest heartbeat', () => {
    const { db, a, b, clock } = twoRunning();
    const lastBeat = clock.iso();
    // Both crash; gw-a is back 30 minutes later: the gateway was out from the newest heartbeat of either.
    clock.now += 30 * HEARTBEAT_EVERY_MS;
    a.started();
    const afterCrash = clock.iso();
    expect(gatewayOutages(db)).toEqual([{ startedAt: lastBeat, endedAt: afterCrash, cause: expect.stringMatching(/crash or power cut/) }]);

    // gw-a, the only one running, stops cleanly: an outage opens, and closes when gw-b starts.
    clock.now += HEARTBEAT_EVERY_MS;
    const stoppedAt = clock.iso();
    a.stopped();
    clock.now += 5 * HEARTBEAT_EVERY_MS;
    b.started();
    expect(gatewayOutages(db).at(-1)).toEqual({ startedAt: stoppedAt, endedAt: clock.iso(), cause: 'gateway stopped' });
  });

  it('keeps a lone gateway as before: its own stop and start', () => {
    const db = database();
    let now = Date.parse('2026-12-02T06:00:00Z');
    const lone = new GatewayRunJournal(db, () => new Date(now));
    lone.started();
    lone.stopped();
    now += 10 * HEARTBEAT_EVERY_MS;
    lone.started();
    expect(gatewayOutages(db)).toHaveLength(1);
    expect(db.prepare("SELECT key FROM gateway_settings WHERE key LIKE 'heartbeat%'").pluck().all()).toEqual(['heartbeat']);
  });
});
