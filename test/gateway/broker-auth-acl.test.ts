import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { connect } from 'node:net';
import { startTestGateway, type TestGateway } from './helpers/start-gateway.ts';
import { AckCollector, connectClient, connectTerminal, makeTap, publishTap } from './helpers/mqtt.ts';
import { sleep, waitUntil } from './helpers/wait.ts';
import { topicFor } from '../../shared/mqtt/topics.ts';
import { setTerminalDisabled } from '../../gateway/site-data/terminals.ts';
import { SqliteStore } from '../../gateway/store/sqlite-store.ts';

function refusal(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => {
      throw new Error('connection was accepted');
    },
    (err: Error & { code?: number }) => `${err.code ?? ''} ${err.message}`,
  );
}

describe('broker: authentication', () => {
  let gw: TestGateway;
  let a: { id: string; secret: string };
  let b: { id: string; secret: string };
  beforeAll(async () => {
    gw = await startTestGateway({ config: { auth: { maxFailures: 3, maxFailuresPerAddress: 1000, windowSeconds: 60, lockoutSeconds: 60 } } });
    a = await gw.addTerminal('auth-a');
    b = await gw.addTerminal('auth-b');
  });
  afterAll(async () => gw?.stop());

  it('accepts a terminal with its id as client id and username and its secret', async () => {
    const c = await connectTerminal(gw.mqttPort, a.id, a.secret);
    expect(c.connected).toBe(true);
    await c.endAsync();
  });

  it('refuses a wrong secret, an unknown terminal, a username other than the client id, and no password', async () => {
    expect(await refusal(connectTerminal(gw.mqttPort, b.id, 'wrong-secret'))).toMatch(/Bad username or password/i);
    expect(await refusal(connectTerminal(gw.mqttPort, 'nobody', b.secret))).toMatch(/Bad username or password/i);
    expect(await refusal(connectClient(`mqtt://127.0.0.1:${gw.mqttPort}`, { clientId: b.id, username: a.id, password: a.secret }))).toMatch(/Bad username or password/i);
    expect(await refusal(connectClient(`mqtt://127.0.0.1:${gw.mqttPort}`, { clientId: b.id, username: b.id }))).toMatch(/Bad username or password/i);
  });

  it("refuses a terminal connecting with another terminal's id (its own secret does not open another id)", async () => {
    const c = await gw.addTerminal('auth-c');
    expect(await refusal(connectClient(`mqtt://127.0.0.1:${gw.mqttPort}`, { clientId: c.id, username: c.id, password: a.secret }))).toMatch(/Bad username or password/i);
  });

  it('refuses an empty client id', async () => {
    const msg = await refusal(connectClient(`mqtt://127.0.0.1:${gw.mqttPort}`, { clientId: '', username: '', password: a.secret, clean: true }));
    expect(msg).toMatch(/closed|refused|Identifier/i);
  });

  it('refuses a disabled terminal and puts out a connected one when it is disabled', async () => {
    const t = await gw.addTerminal('auth-disabled');
    const c = await connectTerminal(gw.mqttPort, t.id, t.secret);
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    await setTerminalDisabled(SqliteStore.of(gw.db()), t.id, true);
    await closed; // the gateway notices the change and disconnects it
    expect(await refusal(connectTerminal(gw.mqttPort, t.id, t.secret))).toMatch(/Not authorized/i);
    await setTerminalDisabled(SqliteStore.of(gw.db()), t.id, false);
    const again = await connectTerminal(gw.mqttPort, t.id, t.secret);
    await again.endAsync();
  });

  it('does not let a second connection with the same id take over without the secret', async () => {
    const t = await gw.addTerminal('auth-takeover');
    const first = await connectTerminal(gw.mqttPort, t.id, t.secret);
    expect(await refusal(connectTerminal(gw.mqttPort, t.id, 'guess'))).toMatch(/Bad username or password/i);
    await sleep(100);
    expect(first.connected).toBe(true);
    // With the secret, the newer connection wins (MQTT session takeover), as a rebooted terminal needs.
    const closed = new Promise<void>((r) => first.once('close', () => r()));
    const second = await connectTerminal(gw.mqttPort, t.id, t.secret);
    await closed;
    expect(second.connected).toBe(true);
    first.end(true);
    await second.endAsync();
  });

  it('rate-limits repeated failures, logs them without the secret, and counts them', async () => {
    const t = await gw.addTerminal('auth-limited');
    for (let i = 0; i < 3; i++) await refusal(connectTerminal(gw.mqttPort, t.id, `bad-${i}-attempt`));
    // Locked out now, even with the right secret.
    expect(await refusal(connectTerminal(gw.mqttPort, t.id, t.secret))).toMatch(/Not authorized/i);
    const logs = gw.logs();
    expect(logs).toMatch(/"reason":"rate-limited"/);
    expect(logs).toMatch(/"reason":"bad-secret"/);
    expect(logs).not.toContain('bad-0-attempt');
    expect(logs).not.toContain(t.secret);
    expect(await gw.metrics()).toMatch(/ciao_gateway_auth_failures_total\{reason="rate-limited"\} [1-9]/);
  });
});

describe('broker: ACL', () => {
  let gw: TestGateway;
  let a: { id: string; secret: string };
  let b: { id: string; secret: string };
  let ca: MqttClient;
  let cb: MqttClient;
  beforeAll(async () => {
    gw = await startTestGateway();
    a = await gw.addTerminal('acl-a');
    b = await gw.addTerminal('acl-b');
    ca = await connectTerminal(gw.mqttPort, a.id, a.secret);
    cb = await connectTerminal(gw.mqttPort, b.id, b.secret);
  });
  afterAll(async () => {
    ca?.end(true);
    cb?.end(true);
    await gw?.stop();
  });

  it('grants a terminal its own acks, config and roster', async () => {
    for (const kind of ['acks', 'config', 'roster'] as const) {
      const granted = await ca.subscribeAsync(topicFor(a.id, kind), { qos: 1 });
      expect(granted[0]!.qos).toBe(1);
    }
  });

  it("refuses subscriptions to another terminal's topics, to wildcards, to $SYS and to taps", async () => {
    for (const filter of [topicFor(b.id, 'acks'), topicFor(b.id, 'roster'), 'ciao/v1/terminals/+/acks', 'ciao/v1/terminals/#', '#', '$SYS/#', topicFor(a.id, 'taps'), topicFor(a.id, 'status')]) {
      const err = await ca.subscribeAsync(filter, { qos: 1 }).then(() => undefined, (e: { packet?: { granted?: number[] } }) => e);
      expect(err?.packet?.granted, filter).toEqual([128]);
    }
    expect(ca.connected).toBe(true);
    expect(await gw.metrics()).toMatch(/ciao_gateway_acl_denied_total\{action="subscribe"\} 8/);
  });

  it("disconnects a terminal publishing under another terminal's id, and stores nothing of it", async () => {
    const acksB = await AckCollector.attach(cb, b.id);
    const intruder = await connectTerminal(gw.mqttPort, a.id, a.secret);
    const closed = new Promise<void>((r) => intruder.once('close', () => r()));
    const tap = makeTap(gw.seed.workers.solo.badge);
    intruder.publish(topicFor(b.id, 'taps'), JSON.stringify(tap), { qos: 1 });
    await closed;
    await sleep(200);
    expect(gw.db().prepare('SELECT 1 FROM taps WHERE tap_id = ?').get(tap.id)).toBeUndefined();
    expect(acksB.for(tap.id)).toEqual([]);
    intruder.end(true);
  });

  it('disconnects a terminal publishing to a gateway-to-terminal topic (acks, config, roster)', async () => {
    for (const kind of ['acks', 'config', 'roster'] as const) {
      const c = await connectTerminal(gw.mqttPort, a.id, a.secret);
      const closed = new Promise<void>((r) => c.once('close', () => r()));
      c.publish(topicFor(a.id, kind), '{"forged":true}', { qos: 1, retain: true });
      await closed;
      c.end(true);
    }
    // The forged retained config did not replace the gateway's.
    const watcher = await connectTerminal(gw.mqttPort, b.id, b.secret);
    const got: string[] = [];
    watcher.on('message', (_t, p) => got.push(p.toString()));
    await watcher.subscribeAsync(topicFor(b.id, 'config'), { qos: 1 });
    await waitUntil(() => got.length > 0);
    expect(got.join()).not.toContain('forged');
    watcher.end(true);
  });

  it('disconnects on topics outside the API and on $SYS publishes', async () => {
    for (const topic of ['other/topic', '$SYS/broker/x', `ciao/v1/terminals/${a.id}/taps/extra`]) {
      const c = await connectTerminal(gw.mqttPort, a.id, a.secret);
      const closed = new Promise<void>((r) => c.once('close', () => r()));
      c.publish(topic, 'x', { qos: 1 });
      await closed;
      c.end(true);
    }
  });

  it('accepts its own taps and status', async () => {
    const c = await connectTerminal(gw.mqttPort, a.id, a.secret);
    const acks = await AckCollector.attach(c, a.id);
    const tap = makeTap(gw.seed.workers.solo.badge);
    await publishTap(c, a.id, tap);
    expect((await acks.waitFor(tap.id))[0]!.status).toBe('stored');
    await c.publishAsync(topicFor(a.id, 'status'), JSON.stringify({ state: 'online', at: new Date().toISOString(), queued: 0 }), { qos: 1, retain: true });
    expect(c.connected).toBe(true);
    await c.endAsync();
  });
});

describe('broker: hostile bytes', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ seed: false });
  });
  afterAll(async () => gw?.stop());

  const rawSend = (bytes: Buffer) =>
    new Promise<string>((resolve) => {
      const s = connect(gw.mqttPort, '127.0.0.1', () => s.write(bytes));
      s.on('error', () => undefined);
      s.on('close', () => resolve('closed'));
      setTimeout(() => {
        s.destroy();
        resolve('still open');
      }, 5000);
    });

  it('closes a connection announcing a packet above the limit before buffering it', async () => {
    // CONNECT with a remaining length of 10 MiB (varint 0x80 0x80 0x80 0x05), then a few bytes.
    expect(await rawSend(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x05, 0, 4, 0x4d, 0x51]))).toBe('closed');
  });

  it('closes a connection sending garbage, and keeps serving others', async () => {
    expect(await rawSend(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))).toBe('closed');
    expect(await rawSend(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))).toBe('closed');
    const t = await gw.addTerminal('hostile-ok', null);
    const c = await connectTerminal(gw.mqttPort, t.id, t.secret);
    expect(c.connected).toBe(true);
    await c.endAsync();
  });
});
