import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { MqttClient } from 'mqtt';
import { createLogger } from '../../shared/logging.ts';
import { toOffsetIso } from '../../shared/time.ts';
import { openGatewayDatabase } from '../../gateway/store/database.ts';
import { addTerminal } from '../../gateway/site-data/terminals.ts';
import { upsertBadge } from '../../gateway/site-data/badges.ts';
import { startGateway, type RunningGateway } from '../../gateway/main.ts';
import { addUser } from '../../gateway/access/users.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';
import { seedTestWorld, TEST_SEED } from '../gateway/helpers/seed.ts';
import { AckCollector, connectTerminal, makeTap, publishTap } from '../gateway/helpers/mqtt.ts';
import { waitUntil } from '../gateway/helpers/wait.ts';

/**
 * The whole path: a real gateway (Aedes broker, ingest, SQLite) serving the admin API on its HTTP server,
 * a terminal publishing taps over MQTT, and the site manager's API showing what happened.
 */
let dir: string;
let gateway: RunningGateway;
let terminal: MqttClient;
let acks: AckCollector;
let token: string;
let api: string;
const TID = 'term-e2e';

/** A row of an API answer: the tests read a few fields by name. */
type Row = Record<string, unknown>;

async function get(path: string): Promise<Record<string, Row[]>> {
  const r = await fetch(`${api}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return r.json() as Promise<Record<string, Row[]>>;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ciao-siteman-e2e-'));
  const dbPath = join(dir, 'gateway.db');
  const db = openGatewayDatabase(dbPath);
  await seedTestWorld(db);
  const { secret } = await addTerminal(SqliteStore.of(db), { id: TID, siteId: TEST_SEED.sites.main });
  token = (await addUser(SqliteStore.of(db), { name: 'Manager', role: 'manager', sites: [TEST_SEED.sites.main] })).token;
  db.close();
  const logger = createLogger('gateway', { level: 'warn' }, pino.destination({ dest: join(dir, 'gateway.log'), sync: true }));
  gateway = await startGateway(
    { database: dbPath, mqtt: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, terminals: { siteDataPollMs: 100 } },
    { logger },
  );
  api = `http://127.0.0.1:${gateway.httpPort}/api/v1`;
  terminal = await connectTerminal(gateway.mqttPort, TID, secret);
  acks = await AckCollector.attach(terminal, TID);
}, 30_000);

afterAll(async () => {
  await terminal?.endAsync(true).catch(() => undefined);
  await gateway?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('site manager over a running gateway', () => {
  it('shows a worker present after an IN over MQTT', async () => {
    const tap = makeTap(TEST_SEED.workers.solo.badge, { direction: 'IN', at: toOffsetIso(new Date(Date.now() - 60_000)) });
    await publishTap(terminal, TID, tap);
    expect((await acks.waitFor(tap.id))[0]!.status).toBe('stored');
    const presence = await waitUntil(async () => ((await get('/presence')).presence).find((p) => p.workerId === 'w-solo'), { what: 'presence of w-solo' });
    expect(presence).toMatchObject({ siteId: TEST_SEED.sites.main, state: 'working', workerName: TEST_SEED.workers.solo.name });
  });

  it('raises an unknown-badge remark from a real tap and clears it when the badge is enrolled', async () => {
    const tap = makeTap(TEST_SEED.unknownBadge, { direction: 'IN' });
    await publishTap(terminal, TID, tap);
    await acks.waitFor(tap.id);
    const remark = await waitUntil(async () => ((await get('/remarks')).remarks).find((r) => r.kind === 'unknown-badge'), { what: 'unknown-badge remark' });
    expect((remark.details as Row).badge).toBe(TEST_SEED.unknownBadge);
    const db = openGatewayDatabase(join(dir, 'gateway.db'));
    try {
      await upsertBadge(SqliteStore.of(db), { uid: TEST_SEED.unknownBadge, worker: 'w-solo', validFrom: '2020-01-01' });
    } finally {
      db.close();
    }
    await waitUntil(async () => !((await get('/remarks')).remarks).some((r) => r.kind === 'unknown-badge'), { what: 'remark cleared' });
  });

  it('shows the terminal online, then offline once it disconnects', async () => {
    const online = await waitUntil(async () => ((await get('/terminals')).terminals).find((t) => t.terminalId === TID && t.state === 'online'), { what: 'terminal online' });
    expect(online.siteId).toBe(TEST_SEED.sites.main);
    await terminal.endAsync(true);
    await waitUntil(async () => ((await get('/terminals')).terminals).find((t) => t.terminalId === TID && t.state === 'offline'), { what: 'terminal offline' });
  });
});
