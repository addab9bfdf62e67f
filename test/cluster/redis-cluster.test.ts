import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { topicFor } from '../../shared/mqtt/topics.ts';
import { ackSchema, rosterSchema, shiftsMessageSchema, type Ack, type Roster, type ShiftsMessage } from '../../shared/mqtt/payloads.ts';
import { toOffsetIso } from '../../shared/time.ts';
import { startTestGateway, type TestGateway } from '../gateway/helpers/start-gateway.ts';
import { connectTerminal, makeTap, newestShiftState, publishTap } from '../gateway/helpers/mqtt.ts';
import { waitUntil } from '../gateway/helpers/wait.ts';
import { TEST_SEED } from '../gateway/helpers/seed.ts';
import { serviceMissing, startRedis, type LocalRedis } from '../../simulator/services/local-services.ts';
import { parseGatewayConfig } from '../../gateway/config.ts';
import { redactedRedisUrl } from '../../gateway/cluster/redis-bus.ts';

/**
 * Gateway instances joined over a real Redis (`cluster.redis`): two in-process gateways on one database,
 * terminals as real MQTT.js clients connected to one instance or the other. What crosses instances: a
 * worker's new shift state (a tap through one instance changes the proposal at a door on the other), an ack
 * for a terminal that moved while its tap was being committed, and Aedes' own announcement that closes a
 * terminal's older connection on the other instance. Redis SIGKILLed: taps are still stored and acked, health
 * says Redis is unreachable, and once Redis is back the doors on the other instance learn what they missed.
 */
const missing = serviceMissing('redis');
if (missing && process.env.CI) throw new Error(`the cluster tests need Redis: ${missing} (run scripts/setup.sh)`);
const SOLO = TEST_SEED.workers.solo.badge;

/** What one terminal heard on its topics. */
class Door {
  readonly rosters: Roster[] = [];
  readonly shifts: ShiftsMessage[] = [];
  readonly acks: Ack[] = [];
  constructor(readonly id: string, readonly client: MqttClient) {
    client.on('message', (topic, payload) => {
      const data = JSON.parse(payload.toString()) as unknown;
      if (topic.endsWith('/roster')) this.rosters.push(rosterSchema.parse(data));
      if (topic.endsWith('/shifts')) this.shifts.push(shiftsMessageSchema.parse(data));
      if (topic.endsWith('/acks')) this.acks.push(ackSchema.parse(data));
    });
  }

  static async connect(gw: TestGateway, id: string, secret: string): Promise<Door> {
    const client = await connectTerminal(gw.mqttPort, id, secret, { reconnectPeriod: 0 });
    const door = new Door(id, client);
    await client.subscribeAsync([topicFor(id, 'roster'), topicFor(id, 'shifts'), topicFor(id, 'acks')], { qos: 1 });
    await waitUntil(() => door.rosters.length > 0, { what: `${id}'s roster` });
    return door;
  }

  /** The newest state heard for a badge: the highest revision of rosters and shifts messages. */
  stateOf(badge: string) {
    return newestShiftState(this.rosters, this.shifts, badge);
  }
}

interface Health {
  status: string;
  cluster?: { instance: string; redis: string };
  terminalsOnline: number;
}
async function health(gw: TestGateway): Promise<Health> {
  return (await (await fetch(`http://127.0.0.1:${gw.httpPort}/health`)).json()) as Health;
}

let redis: LocalRedis;
const dirs: string[] = [];
const gateways: TestGateway[] = [];
const clients: MqttClient[] = [];
/** Commits of the first instance wait while this is set (the ack of a held tap then leaves after the terminal moved). */
let holdCommitsOfA = false;

async function twoInstances(): Promise<[TestGateway, TestGateway]> {
  const dirA = mkdtempSync(join(tmpdir(), 'ciao-cluster-a-'));
  const dirB = mkdtempSync(join(tmpdir(), 'ciao-cluster-b-'));
  dirs.push(dirA, dirB);
  const cluster = (instance: string) => ({ redis: redis.url, instance, connectTimeoutMs: 5000 });
  const a = await startTestGateway({ dir: dirA, config: { cluster: cluster('gw-a') }, gatewayOptions: { mayCommit: () => !holdCommitsOfA } });
  gateways.push(a);
  // The second instance shares the first one's database (as instances share one PostgreSQL).
  const b = await startTestGateway({ dir: dirB, seed: false, config: { database: a.dbPath, cluster: cluster('gw-b') } });
  gateways.push(b);
  return [a, b];
}

/** Two instances, the front door connected to the first and the back door to the second, on one site. */
async function twoDoorsOnTwoInstances() {
  const [a, b] = await twoInstances();
  const front = await a.addTerminal('front');
  const back = await a.addTerminal('back');
  const atFront = await Door.connect(a, front.id, front.secret);
  const atBack = await Door.connect(b, back.id, back.secret);
  clients.push(atFront.client, atBack.client);
  return { a, b, front, atFront, atBack };
}

beforeAll(async () => {
  if (!missing) redis = await startRedis();
});

afterEach(async () => {
  holdCommitsOfA = false;
  for (const c of clients.splice(0)) await c.endAsync(true);
  for (const g of gateways.splice(0).reverse()) await g.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  if (redis && !redis.alive) await redis.restart();
});

afterAll(async () => {
  await redis?.stop();
});

describe.skipIf(missing !== undefined)('gateway instances joined over Redis', () => {
  it('a tap through one instance changes the proposal at a door connected to the other', async () => {
    const { a, b, front, atFront, atBack } = await twoDoorsOnTwoInstances();
    expect(atBack.stateOf(SOLO)).toBeUndefined();

    const tap = makeTap(SOLO, { direction: 'IN', reason: 'work', at: toOffsetIso(new Date(Date.now() - 60_000)) });
    await publishTap(atFront.client, front.id, tap);
    await waitUntil(() => atFront.acks.find((k) => k.id === tap.id), { what: 'the ack of the tap at the front door' });
    const learnt = await waitUntil(() => (atBack.stateOf(SOLO)?.state === 'working' ? atBack.stateOf(SOLO) : undefined), { what: 'the back door (other instance) to learn she is working' });
    expect(learnt).toMatchObject({ badge: SOLO, state: 'working', site: TEST_SEED.sites.main, since: toOffsetIso(new Date(Date.parse(tap.at))) });
    // Told once, by the instance it is connected to: one `shifts` message for the one commit.
    expect(atBack.shifts.flatMap((m) => m.badges.filter((x) => x.badge === SOLO))).toHaveLength(1);
    expect((await health(a)).cluster).toEqual({ instance: 'gw-a', redis: 'connected' });
    expect((await health(b)).cluster).toEqual({ instance: 'gw-b', redis: 'connected' });
    expect(await a.metrics()).toMatch(/^ciao_gateway_cluster_redis_connected 1$/m);
    await waitUntil(async () => (/^ciao_gateway_cluster_peers 1$/m.test(await b.metrics()) ? true : undefined), { what: 'the other instance heard' });
  });

  it('delivers the ack of a tap to the instance its terminal moved to while the tap was being committed', async () => {
    const [a, b] = await twoInstances();
    const t = await a.addTerminal('mover');
    const first = await Door.connect(a, t.id, t.secret);
    holdCommitsOfA = true;
    const tap = makeTap(SOLO, { direction: 'IN', reason: 'work', at: toOffsetIso(new Date(Date.now() - 30_000)) });
    // PUBACK received: the first instance holds the tap, its commit waits.
    await publishTap(first.client, t.id, tap);
    await first.client.endAsync();
    const second = await Door.connect(b, t.id, t.secret);
    clients.push(second.client);
    holdCommitsOfA = false;
    const ack = await waitUntil(() => second.acks.find((k) => k.id === tap.id), { what: 'the ack, through the second instance' });
    expect(ack.status).toBe('stored');
    expect(first.acks).toEqual([]);
    const rows = a.db().prepare('SELECT COUNT(*) FROM taps WHERE tap_id = ?').pluck().get(tap.id);
    expect(rows).toBe(1);
  });

  it('closes the older connection of a terminal that connected again through the other instance', async () => {
    const [a, b] = await twoInstances();
    const t = await a.addTerminal('twice');
    const older = await Door.connect(a, t.id, t.secret);
    const closed = new Promise<void>((resolve) => older.client.once('close', () => resolve()));
    await waitUntil(async () => ((await health(a)).terminalsOnline === 1 ? true : undefined), { what: 'the terminal online on the first instance' });
    const newer = await Door.connect(b, t.id, t.secret);
    clients.push(newer.client);
    await closed;
    await waitUntil(async () => ((await health(a)).terminalsOnline === 0 ? true : undefined), { what: 'the first instance to let go of the terminal' });
    expect((await health(b)).terminalsOnline).toBe(1);
    expect(newer.client.connected).toBe(true);

    // The first instance closed a connection whose terminal moved, not a terminal that went away: neither the
    // close nor the last will it published marks the terminal offline. A tap through the first instance,
    // acked, shows that everything it noted before has been committed.
    const w = await a.addTerminal('witness');
    const witness = await connectTerminal(a.mqttPort, w.id, w.secret, { reconnectPeriod: 0 });
    clients.push(witness);
    const seen: string[] = [];
    witness.on('message', (_topic, payload) => seen.push((JSON.parse(payload.toString()) as { id: string }).id));
    await witness.subscribeAsync(topicFor(w.id, 'acks'), { qos: 1 });
    const tap = makeTap(SOLO);
    await publishTap(witness, w.id, tap);
    await waitUntil(() => seen.includes(tap.id), { what: 'the witness tap acked by the first instance' });
    const state = () => a.db().prepare('SELECT state FROM terminal_status WHERE terminal_id = ?').pluck().get(t.id);
    await waitUntil(() => state() === 'online', { what: 'the moved terminal recorded online' });
    // An offline noted by the first instance would have opened a terminal outage, whatever the order of the
    // two instances' commits.
    const outages = a.db().prepare('SELECT COUNT(*) FROM outage_events WHERE terminal_id = ?').pluck().get(t.id);
    expect(outages).toBe(0);
    expect(state()).toBe('online');
  });

  it('keeps storing and acking taps while Redis is down, says so, and tells the other doors once Redis is back', async () => {
    const { a, b, front, atFront, atBack } = await twoDoorsOnTwoInstances();

    await redis.kill();
    await waitUntil(async () => ((await health(a)).cluster?.redis === 'unreachable' ? true : undefined), { what: 'health to say Redis is unreachable' });
    const h = await fetch(`http://127.0.0.1:${a.httpPort}/health`);
    expect(h.status).toBe(200);
    expect(await a.metrics()).toMatch(/^ciao_gateway_cluster_redis_connected 0$/m);

    const tap = makeTap(SOLO, { direction: 'IN', reason: 'work', at: toOffsetIso(new Date(Date.now() - 10_000)) });
    await publishTap(atFront.client, front.id, tap);
    const ack = await waitUntil(() => atFront.acks.find((k) => k.id === tap.id), { what: 'the ack while Redis is down' });
    expect(ack.status).toBe('stored');
    // A terminal that connects meanwhile gets its roster and its acks: nothing of a terminal waits for Redis.
    const late = await a.addTerminal('late');
    const atLate = await Door.connect(b, late.id, late.secret);
    clients.push(atLate.client);
    const lateTap = makeTap(TEST_SEED.workers.posted.badge, { at: toOffsetIso(new Date(Date.now() - 5_000)) });
    await publishTap(atLate.client, late.id, lateTap);
    expect((await waitUntil(() => atLate.acks.find((k) => k.id === lateTap.id), { what: 'the ack of a terminal connected while Redis is down' })).status).toBe('stored');
    // The door on the same instance learns at once; the one on the other instance when Redis is back.
    await waitUntil(() => (atFront.stateOf(SOLO)?.state === 'working' ? true : undefined), { what: 'the front door to learn she is working' });

    await redis.restart();
    await waitUntil(async () => ((await health(b)).cluster?.redis === 'connected' ? true : undefined), { what: 'health to say Redis is back' });
    await waitUntil(() => (atBack.stateOf(SOLO)?.state === 'working' ? true : undefined), { what: 'the back door to learn she is working, after Redis came back' });
    expect(a.db().prepare('SELECT COUNT(*) FROM taps WHERE tap_id = ?').pluck().get(tap.id)).toBe(1);
  });

  it('marks offline the terminals of an instance that stopped answering, and only those', async () => {
    const dirA = mkdtempSync(join(tmpdir(), 'ciao-cluster-a-'));
    const dirB = mkdtempSync(join(tmpdir(), 'ciao-cluster-b-'));
    dirs.push(dirA, dirB);
    const cluster = (instance: string) => ({ redis: redis.url, instance, heartbeatSeconds: 1 });
    // The first instance is a process of its own, to be SIGKILLed.
    const a = await startTestGateway({ dir: dirA, child: true, config: { cluster: cluster('gw-a') } });
    gateways.push(a);
    const b = await startTestGateway({ dir: dirB, seed: false, config: { database: a.dbPath, cluster: cluster('gw-b') } });
    gateways.push(b);
    const withA = await a.addTerminal('with-a');
    const withB = await a.addTerminal('with-b');
    const onA = await Door.connect(a, withA.id, withA.secret);
    const onB = await Door.connect(b, withB.id, withB.secret);
    clients.push(onB.client);
    const status = (id: string) => a.db().prepare('SELECT state, connected_via AS via FROM terminal_status WHERE terminal_id = ?').get(id) as { state: string; via: string | null } | undefined;
    await waitUntil(() => status(withA.id)?.via === 'gw-a' && status(withB.id)?.via === 'gw-b', { what: 'each terminal recorded with its instance' });

    // The first instance dies, and the terminal on it with it (it does not connect again).
    await a.kill();
    await onA.client.endAsync(true);
    await waitUntil(() => status(withA.id)?.state === 'offline', { what: 'the terminal of the dead instance marked offline', timeoutMs: 20_000 });
    expect(status(withA.id)).toEqual({ state: 'offline', via: null });
    expect(status(withB.id)).toEqual({ state: 'online', via: 'gw-b' });
    const outages = a.db().prepare('SELECT terminal_id AS terminal, cause FROM outage_events WHERE terminal_id IS NOT NULL').all();
    expect(outages).toEqual([{ terminal: withA.id, cause: 'the gateway instance it was connected to (gw-a) stopped answering' }]);
    expect(b.logs()).toMatch(/"instance":"gw-a".*a gateway instance stopped answering/);
  });

  it('marks offline, when an instance starts again, the terminals its previous run had', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ciao-cluster-a-'));
    dirs.push(dir);
    // Alone in its cluster, and with heartbeats a minute apart: only its own start can mark the terminal.
    const a = await startTestGateway({ dir, child: true, config: { cluster: { redis: redis.url, instance: 'gw-a', heartbeatSeconds: 60 } } });
    gateways.push(a);
    const t = await a.addTerminal('before-restart');
    const door = await Door.connect(a, t.id, t.secret);
    const status = () => a.db().prepare('SELECT state, connected_via AS via FROM terminal_status WHERE terminal_id = ?').get(t.id) as { state: string; via: string | null } | undefined;
    await waitUntil(() => status()?.via === 'gw-a', { what: 'the terminal recorded with its instance' });

    await a.kill();
    await door.client.endAsync(true);
    expect(status()).toEqual({ state: 'online', via: 'gw-a' });
    await a.restart();
    await waitUntil(() => status()?.state === 'offline', { what: 'the terminal of the previous run marked offline' });
    expect(a.db().prepare('SELECT cause FROM outage_events WHERE terminal_id = ?').pluck().all(t.id)).toEqual(['the gateway instance it was connected to (gw-a) stopped answering']);
  });

  it('refuses to start when Redis cannot be reached, naming the setting', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ciao-cluster-x-'));
    dirs.push(dir);
    await expect(startTestGateway({ dir, config: { cluster: { redis: 'redis://127.0.0.1:1', connectTimeoutMs: 300 } } })).rejects.toThrow(/cannot reach Redis at redis:\/\/127\.0\.0\.1:1.*cluster\.redis/);
  });
});

describe('the cluster section of the gateway config', () => {
  it('names the field and the rule of a bad value, and takes the Redis URL from the environment', () => {
    expect(() => parseGatewayConfig({ database: 'g.db', cluster: { redis: 'http://10.0.0.5:6379' } })).toThrow(/cluster\.redis.*redis:\/\/10\.0\.0\.5:6379\/0/);
    expect(() => parseGatewayConfig({ database: 'g.db', cluster: { redis: 'redis://r:6379', channelPrefix: 'has space' } })).toThrow(/cluster\.channelPrefix/);
    expect(() => parseGatewayConfig({ database: 'g.db', cluster: { redis: 'redis://r:6379', extra: 1 } })).toThrow(/extra/);
    const c = parseGatewayConfig({ database: 'g.db', cluster: { redis: 'redis://r:6379' } }, '/srv', { CIAO_GATEWAY_REDIS_URL: 'redis://:s3cret@10.0.0.5:6379/2' });
    expect(c.cluster).toEqual({ redis: 'redis://:s3cret@10.0.0.5:6379/2', channelPrefix: 'ciao:', connectTimeoutMs: 10_000, heartbeatSeconds: 5 });
    expect(() => parseGatewayConfig({ database: 'g.db', cluster: { redis: 'redis://r:6379', heartbeatSeconds: 0 } })).toThrow(/cluster\.heartbeatSeconds.*1 to 60/);
    // Logs and errors never carry the password.
    expect(redactedRedisUrl(c.cluster!.redis)).toBe('redis://:***@10.0.0.5:6379/2');
  });
});
