import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { startTestGateway, type TestGateway } from '../gateway/helpers/start-gateway.ts';
import { connectClient, connectTerminal, makeTap } from '../gateway/helpers/mqtt.ts';
import { sleep, waitUntil } from '../gateway/helpers/wait.ts';
import { topicFor } from '../../shared/mqtt/topics.ts';
import { AckIndex, counterSum, health, RawMqtt } from './support/gateway.ts';
import { recordFigure } from './support/figures.ts';

/**
 * Hostile clients against a real gateway: each attack must end in a clear refusal and a counter in
 * /metrics, while the terminals that behave keep connecting and storing taps, and nothing crashes.
 * Attackers connect from other loopback addresses (127.0.0.2 ...) so the per-address lockout they earn
 * does not also lock out the well-behaved terminals on 127.0.0.1, as on a real network.
 */
const AUTH = { maxFailures: 5, maxFailuresPerAddress: 50, windowSeconds: 60, lockoutSeconds: 60 };

describe('abuse: MQTT attacks on a real gateway', () => {
  let gw: TestGateway;
  const open: Array<MqttClient | RawMqtt> = [];
  const metrics = async () => gw.metrics();
  const tapsStored = (ids: string[]) => {
    const stmt = gw.db().prepare('SELECT 1 FROM taps WHERE tap_id = ?');
    return ids.filter((id) => stmt.get(id) !== undefined).length;
  };

  /** A well-behaved terminal on 127.0.0.1 that stores taps and collects its acks. */
  async function goodTerminal(id: string) {
    const t = await gw.addTerminal(id);
    const client = await connectTerminal(gw.mqttPort, t.id, t.secret);
    open.push(client);
    const acks = await AckIndex.attach(client, t.id);
    const sent: string[] = [];
    return {
      ...t,
      client,
      acks,
      sent,
      async tap(badge: string = gw.seed.workers.solo.badge) {
        const tap = makeTap(badge);
        sent.push(tap.id);
        await client.publishAsync(topicFor(t.id, 'taps'), JSON.stringify(tap), { qos: 1 });
        return tap.id;
      },
      /** Every tap sent so far acked `stored` and in SQLite. */
      async allStored() {
        await waitUntil(() => sent.every((s) => acks.byId.get(s)?.some((a) => a.status === 'stored')), { what: `acks of ${t.id}`, timeoutMs: 30_000 });
        expect(tapsStored(sent)).toBe(sent.length);
      },
    };
  }

  beforeAll(async () => {
    gw = await startTestGateway({ config: { auth: AUTH, mqtt: { drainTimeoutMs: 1000, maxPacketBytes: 65_536, maxTopicLevels: 8 } } });
  });
  afterAll(async () => {
    for (const c of open) {
      if (c instanceof RawMqtt) c.destroy();
      else c.end(true);
    }
    await gw?.stop();
  });

  it('refuses unauthenticated connections (no username, no password, empty client id) and counts them', async () => {
    const victim = await gw.addTerminal('unauth-victim');
    const before = await metrics();
    const results: number[] = [];
    for (const [clientId, username, password] of [
      [victim.id, undefined, undefined],
      [victim.id, victim.id, undefined],
      [victim.id, victim.id, ''],
      ['', undefined, undefined],
      ['', victim.id, victim.secret],
      ['not/an id', 'not/an id', 'x'],
    ] as Array<[string, string | undefined, string | undefined]>) {
      const raw = await RawMqtt.open(gw.mqttPort, '127.0.0.5');
      open.push(raw);
      raw.connect(clientId, username, password);
      results.push(await raw.connack());
      await raw.waitClosed();
      raw.destroy();
    }
    // 2: identifier rejected, 4: bad username or password; -1: closed before CONNACK. Never 0 (accepted).
    expect(results.every((rc) => rc === 2 || rc === 4 || rc === -1), JSON.stringify(results)).toBe(true);
    const after = await metrics();
    expect(counterSum(after, 'ciao_gateway_auth_failures_total') - counterSum(before, 'ciao_gateway_auth_failures_total')).toBe(results.length);
    for (const reason of ['username-mismatch', 'no-password', 'empty-client-id', 'bad-client-id']) {
      expect(counterSum(after, 'ciao_gateway_auth_failures_total', { reason }), reason).toBeGreaterThan(counterSum(before, 'ciao_gateway_auth_failures_total', { reason }));
    }
    expect(gw.logs()).not.toContain(victim.secret);
    // The victim itself still connects.
    const ok = await connectTerminal(gw.mqttPort, victim.id, victim.secret);
    await ok.endAsync();
  });

  it('withstands a storm of 200 wrong secrets: all refused, rate limited, counted, while good terminals store taps', async () => {
    const victim = await gw.addTerminal('storm-victim');
    const good = await Promise.all([goodTerminal('storm-good-1'), goodTerminal('storm-good-2')]);
    const before = await metrics();
    let stormDone = false;
    const tapping = Promise.all(
      good.map(async (g) => {
        while (!stormDone) {
          await g.tap();
          await sleep(5);
        }
      }),
    );
    const ATTEMPTS = 200;
    const codes: number[] = [];
    let next = 0;
    const attacker = async () => {
      while (next < ATTEMPTS) {
        const i = next++;
        // Half against one real terminal id, half against made-up ids; every secret is wrong.
        const id = i % 2 === 0 ? victim.id : `ghost-${i}`;
        const raw = await RawMqtt.open(gw.mqttPort, '127.0.0.2');
        raw.connect(id, id, randomBytes(16).toString('hex'));
        codes.push(await raw.connack());
        raw.destroy();
      }
    };
    await Promise.all(Array.from({ length: 8 }, attacker));
    // A new terminal connects and stores during the lockout of the attacker's address.
    const late = await goodTerminal('storm-late');
    await late.tap();
    stormDone = true;
    await tapping;
    for (const g of [...good, late]) await g.allStored();

    const accepted = codes.filter((c) => c === 0).length;
    const rateLimited = codes.filter((c) => c === 5).length;
    expect(codes.length).toBe(ATTEMPTS);
    expect(accepted).toBe(0);
    // After 50 failures from the address every attempt is refused without even checking the secret.
    expect(rateLimited).toBeGreaterThanOrEqual(ATTEMPTS - AUTH.maxFailuresPerAddress - 8);
    const after = await metrics();
    expect(counterSum(after, 'ciao_gateway_auth_failures_total') - counterSum(before, 'ciao_gateway_auth_failures_total')).toBe(ATTEMPTS);
    expect(counterSum(after, 'ciao_gateway_auth_failures_total', { reason: 'rate-limited' }) - counterSum(before, 'ciao_gateway_auth_failures_total', { reason: 'rate-limited' })).toBe(rateLimited);
    // The attacked id itself is locked out for lockoutSeconds, even with its secret: the price of the lockout.
    const raw = await RawMqtt.open(gw.mqttPort, '127.0.0.1');
    open.push(raw);
    raw.connect(victim.id, victim.id, victim.secret);
    expect(await raw.connack()).toBe(5);
    raw.destroy();
    expect((await health(gw.httpPort)).status).toBe(200);
    const storedDuringStorm = good.reduce((n, g) => n + g.sent.length, 0) + late.sent.length;
    expect(storedDuringStorm).toBeGreaterThan(2);
    recordFigure('mqtt-attacks', 'storm attempts refused', ATTEMPTS - accepted);
    recordFigure('mqtt-attacks', 'storm attempts rate-limited', rateLimited);
    recordFigure('mqtt-attacks', 'taps stored by good terminals during the storm', storedDuringStorm);
  });

  it("refuses a spoofed terminal id (another terminal's client id with its own secret, or username not the client id)", async () => {
    const a = await gw.addTerminal('spoof-a');
    const b = await goodTerminal('spoof-b');
    const before = await metrics();
    const codes: number[] = [];
    for (const [clientId, username, password] of [
      [b.id, b.id, a.secret], // A's secret does not open B
      [b.id, a.id, a.secret], // A's credentials with B's client id
      [a.id, b.id, b.secret], // B's credentials with A's client id
    ]) {
      const raw = await RawMqtt.open(gw.mqttPort, '127.0.0.3');
      raw.connect(clientId!, username, password);
      codes.push(await raw.connack());
      raw.destroy();
    }
    expect(codes).toEqual([4, 4, 4]);
    const after = await metrics();
    expect(counterSum(after, 'ciao_gateway_auth_failures_total', { reason: 'bad-secret' }) - counterSum(before, 'ciao_gateway_auth_failures_total', { reason: 'bad-secret' })).toBe(1);
    expect(counterSum(after, 'ciao_gateway_auth_failures_total', { reason: 'username-mismatch' }) - counterSum(before, 'ciao_gateway_auth_failures_total', { reason: 'username-mismatch' })).toBe(2);
    // B was not taken over: still connected, still storing.
    expect(b.client.connected).toBe(true);
    await b.tap();
    await b.allStored();
  });

  it('closes a connection announcing a packet over the frame limit, before and after authentication, and counts it', async () => {
    const t = await goodTerminal('frame-good');
    const before = await metrics();
    // Unauthenticated: a CONNECT announcing 10 MB.
    const anon = await RawMqtt.open(gw.mqttPort, '127.0.0.4');
    open.push(anon);
    anon.socket.write(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x05])); // remaining length 10,485,760
    anon.socket.write(randomBytes(1024));
    expect(await anon.waitClosed()).toBe(true);
    // Authenticated: a PUBLISH of 1 MB on its own taps topic.
    const s = await gw.addTerminal('frame-big');
    const raw = await RawMqtt.open(gw.mqttPort);
    open.push(raw);
    raw.connect(s.id, s.id, s.secret);
    expect(await raw.connack()).toBe(0);
    const tap = makeTap(gw.seed.workers.solo.badge);
    raw.send({ cmd: 'publish', topic: topicFor(s.id, 'taps'), payload: Buffer.concat([Buffer.from(JSON.stringify(tap)), Buffer.alloc(1_000_000, 0x20)]), qos: 1, messageId: 1, retain: false, dup: false });
    expect(await raw.waitClosed()).toBe(true);
    // A malformed remaining length (five continuation bytes).
    const bad = await RawMqtt.open(gw.mqttPort, '127.0.0.4');
    open.push(bad);
    bad.socket.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f]));
    expect(await bad.waitClosed()).toBe(true);

    await waitUntil(async () => counterSum(await metrics(), 'ciao_gateway_client_errors_total', { reason: 'oversized-packet' }) - counterSum(before, 'ciao_gateway_client_errors_total', { reason: 'oversized-packet' }) >= 3, { what: 'three oversized-packet refusals counted' });
    expect(tapsStored([tap.id])).toBe(0);
    await t.tap();
    await t.allStored();
    expect((await health(gw.httpPort)).status).toBe(200);
  });

  it('closes a connection that publishes or subscribes deeper than maxTopicLevels, and counts it', async () => {
    const t = await gw.addTerminal('deep');
    const good = await goodTerminal('deep-good');
    const levels = Array.from({ length: 20 }, (_, i) => `l${i}`).join('/');
    const deepCount = async () => counterSum(await metrics(), 'ciao_gateway_client_errors_total', { reason: 'too-many-topic-levels' });
    const start = await deepCount();
    // Subscribe: Aedes refuses the filter before the ACL sees it, and closes the connection.
    const sub = await connectTerminal(gw.mqttPort, t.id, t.secret);
    open.push(sub);
    const subClosed = new Promise<void>((r) => sub.once('close', () => r()));
    sub.subscribe(`${topicFor(t.id, 'acks')}/${levels}`, { qos: 1 });
    await subClosed;
    // Publish: the same, and nothing of it is stored.
    const pub = await connectTerminal(gw.mqttPort, t.id, t.secret);
    open.push(pub);
    const tap = makeTap(gw.seed.workers.solo.badge);
    const pubClosed = new Promise<void>((r) => pub.once('close', () => r()));
    pub.publish(`${topicFor(t.id, 'taps')}/${levels}`, JSON.stringify(tap), { qos: 1 });
    await pubClosed;
    await waitUntil(async () => (await deepCount()) - start >= 2, { what: 'both deep topics counted' });
    expect(tapsStored([tap.id])).toBe(0);
    sub.end(true);
    pub.end(true);
    await good.tap();
    await good.allStored();
    expect((await health(gw.httpPort)).status).toBe(200);
  });

  it("denies subscriptions to other terminals' topics, wildcards and $SYS, counts them, and leaks nothing", async () => {
    const spy = await goodTerminal('sub-spy');
    const other = await goodTerminal('sub-other');
    const before = await metrics();
    const filters = [topicFor(other.id, 'acks'), topicFor(other.id, 'config'), topicFor(other.id, 'roster'), 'ciao/v1/terminals/+/acks', 'ciao/v1/terminals/#', 'ciao/#', '#', '+/+/+/+/+', '$SYS/#', '$share/g/ciao/v1/terminals/+/acks', topicFor(spy.id, 'taps'), topicFor(other.id, 'taps'), 'ciao/v1/terminals/+/taps'];
    const seen: string[] = [];
    spy.client.on('message', (topic) => {
      if (!topic.startsWith(`ciao/v1/terminals/${spy.id}/`)) seen.push(topic);
    });
    for (const f of filters) {
      const granted = await spy.client.subscribeAsync(f, { qos: 1 }).then((g) => g.map((x) => x.qos), (e: { packet?: { granted?: number[] } }) => e.packet?.granted);
      expect(granted, f).toEqual([128]);
    }
    expect(spy.client.connected).toBe(true);
    const after = await metrics();
    expect(counterSum(after, 'ciao_gateway_acl_denied_total', { action: 'subscribe' }) - counterSum(before, 'ciao_gateway_acl_denied_total', { action: 'subscribe' })).toBe(filters.length);
    await other.tap();
    await other.allStored();
    await spy.tap();
    await spy.allStored();
    expect(seen).toEqual([]);
    recordFigure('mqtt-attacks', 'denied subscriptions', filters.length);
  });

  it('keeps the broker and other terminals working while a terminal never reads its socket nor acks, then drops it', async () => {
    const good = await goodTerminal('slow-good');
    const s = await gw.addTerminal('slow');
    const before = await metrics();
    const raw = await RawMqtt.open(gw.mqttPort);
    open.push(raw);
    raw.connect(s.id, s.id, s.secret);
    expect(await raw.connack()).toBe(0);
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: topicFor(s.id, 'acks'), qos: 1 }] } as never);
    await waitUntil(() => raw.packets.some((p) => p.cmd === 'suback'), { what: 'SUBACK' });
    // From now on it reads nothing and acks nothing, while it sends taps whose rejections make large acks.
    raw.socket.pause();
    const keys = Array.from({ length: 380 }, (_, i) => `"k${String(i).padStart(4, '0')}":0`).join(',');
    const heavy = () => Buffer.from(`{"v":1,"id":"${randomUUID()}",${keys}}`);
    let messageId = 2;
    const SENT = 2500;
    for (let i = 0; i < SENT && !raw.socket.destroyed; i++) {
      raw.send({ cmd: 'publish', topic: topicFor(s.id, 'taps'), payload: heavy(), qos: 1, messageId: messageId++ & 0xffff || 1, retain: false, dup: false });
      if (i % 100 === 0) await sleep(1);
    }
    // Meanwhile the others are served.
    for (let i = 0; i < 50; i++) await good.tap();
    await good.allStored();
    // The gateway gives up on the stuck client after drainTimeoutMs.
    await waitUntil(async () => counterSum(await metrics(), 'ciao_gateway_client_errors_total', { reason: 'drain-timeout' }) > counterSum(before, 'ciao_gateway_client_errors_total', { reason: 'drain-timeout' }), { what: 'the drain timeout', timeoutMs: 30_000 });
    await waitUntil(() => gw.db().prepare("SELECT state FROM terminal_status WHERE terminal_id = 'slow'").get() as { state: string } | undefined, { what: 'status row' });
    await waitUntil(() => (gw.db().prepare("SELECT state FROM terminal_status WHERE terminal_id = 'slow'").get() as { state: string }).state === 'offline', { what: 'the stuck terminal marked offline' });
    raw.destroy();
    // What it did send before being dropped was taken in and quarantined, each one once.
    const q = gw.db().prepare("SELECT COUNT(*) AS n, COUNT(DISTINCT tap_id) AS d FROM quarantine WHERE terminal_id = 'slow'").get() as { n: number; d: number };
    expect(q.n).toBeGreaterThan(0);
    expect(q.d).toBe(q.n);
    await good.tap();
    await good.allStored();
    expect((await health(gw.httpPort)).status).toBe(200);
    recordFigure('mqtt-attacks', 'slow consumer: heavy taps taken before the drop', q.n);
  });

  it('stores a tap replayed 100 times once, and acks it each time', async () => {
    const t = await goodTerminal('replay');
    const before = await metrics();
    const tap = makeTap(gw.seed.workers.solo.badge);
    const payload = JSON.stringify(tap);
    await Promise.all(Array.from({ length: 100 }, () => t.client.publishAsync(topicFor(t.id, 'taps'), payload, { qos: 1 })));
    await waitUntil(() => (t.acks.byId.get(tap.id)?.length ?? 0) >= 100, { what: '100 acks' });
    await sleep(100);
    const acks = t.acks.byId.get(tap.id)!;
    expect(acks.length).toBe(100);
    expect(acks.every((a) => a.status === 'stored')).toBe(true);
    const db = gw.db();
    expect((db.prepare('SELECT COUNT(*) AS n FROM taps WHERE tap_id = ?').get(tap.id) as { n: number }).n).toBe(1);
    expect((db.prepare('SELECT COUNT(*) AS n FROM registrations WHERE tap_id = ?').get(tap.id) as { n: number }).n).toBe(1);
    const after = await metrics();
    expect(counterSum(after, 'ciao_gateway_taps_stored_total') - counterSum(before, 'ciao_gateway_taps_stored_total')).toBe(1);
    expect(counterSum(after, 'ciao_gateway_taps_duplicate_total') - counterSum(before, 'ciao_gateway_taps_duplicate_total')).toBe(99);
    // Replayed after a reconnect too (a terminal that lost its acks): still once.
    t.client.end(true);
    const again = await connectClient(`mqtt://127.0.0.1:${gw.mqttPort}`, { clientId: t.id, username: t.id, password: t.secret });
    open.push(again);
    const acks2 = await AckIndex.attach(again, t.id);
    await again.publishAsync(topicFor(t.id, 'taps'), payload, { qos: 1 });
    await waitUntil(() => acks2.byId.get(tap.id)?.[0], { what: 'ack after reconnect' });
    expect(acks2.byId.get(tap.id)![0]!.status).toBe('stored');
    expect((db.prepare('SELECT COUNT(*) AS n FROM taps WHERE tap_id = ?').get(tap.id) as { n: number }).n).toBe(1);
    recordFigure('mqtt-attacks', 'replays acked (stored once)', 101);
  });
});
