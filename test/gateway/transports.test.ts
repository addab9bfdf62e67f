import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestGateway, type TestGateway } from './helpers/start-gateway.ts';
import { makeTestCertificates } from './helpers/tls.ts';
import { AckCollector, connectClient, makeTap, publishTap } from './helpers/mqtt.ts';
import { waitUntil } from './helpers/wait.ts';
import { topicFor } from '../../shared/mqtt/topics.ts';
import { rosterSchema, terminalConfigSchema } from '../../shared/mqtt/payloads.ts';

const run = promisify(execFile);
const haveMosquitto = existsSync('/usr/bin/mosquitto_pub') && existsSync('/usr/bin/mosquitto_sub');
if (!haveMosquitto && process.env.CI === 'true') throw new Error('mosquitto-clients is required under CI (apt-get install mosquitto-clients)');
if (!haveMosquitto) console.warn('SKIPPING mosquitto_pub/mosquitto_sub tests: mosquitto-clients is not installed');

describe('transports: TLS, WebSocket, and Debian mosquitto clients', () => {
  let gw: TestGateway;
  let certDir: string;
  let certs: { ca: string; cert: string; key: string };
  let t: { id: string; secret: string };

  beforeAll(async () => {
    certDir = mkdtempSync(join(tmpdir(), 'ciao-tls-'));
    certs = makeTestCertificates(certDir);
    gw = await startTestGateway({ config: { mqtt: { tls: { port: 0, cert: certs.cert, key: certs.key }, ws: { port: 0 } } } });
    t = await gw.addTerminal('transport-1');
  });
  afterAll(async () => {
    await gw?.stop();
    rmSync(certDir, { recursive: true, force: true });
  });

  it('takes taps over TLS from a client that trusts the CA, and acks them', async () => {
    const c = await connectClient(`mqtts://localhost:${gw.tlsPort}`, { clientId: t.id, username: t.id, password: t.secret, ca: readFileSync(certs.ca) });
    const acks = await AckCollector.attach(c, t.id);
    const tap = makeTap(gw.seed.workers.solo.badge);
    await publishTap(c, t.id, tap);
    expect((await acks.waitFor(tap.id))[0]!.status).toBe('stored');
    await c.endAsync();
  });

  it('fails the TLS handshake for a client that does not trust the CA', async () => {
    await expect(connectClient(`mqtts://localhost:${gw.tlsPort}`, { clientId: t.id, username: t.id, password: t.secret })).rejects.toThrow(/certificate/i);
  });

  it('refuses a wrong secret over TLS too', async () => {
    await expect(connectClient(`mqtts://localhost:${gw.tlsPort}`, { clientId: t.id, username: t.id, password: 'nope', ca: readFileSync(certs.ca) })).rejects.toThrow(/Bad username or password/i);
  });

  it('serves MQTT over WebSocket with the same auth and ingest', async () => {
    const c = await connectClient(`ws://127.0.0.1:${gw.wsPort}`, { clientId: t.id, username: t.id, password: t.secret });
    const acks = await AckCollector.attach(c, t.id);
    const tap = makeTap(gw.seed.workers.solo.badge);
    await publishTap(c, t.id, tap);
    expect((await acks.waitFor(tap.id))[0]!.status).toBe('stored');
    await c.endAsync();
  });

  it.skipIf(!haveMosquitto)('mosquitto_sub receives the retained config and roster; mosquitto_pub taps are stored (TCP and TLS)', async () => {
    const auth = ['-i', t.id, '-u', t.id, '-P', t.secret];
    const sub = await run('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(gw.mqttPort), ...auth, '-q', '1', '-t', topicFor(t.id, 'config'), '-t', topicFor(t.id, 'roster'), '-C', '2', '-W', '10', '-v']);
    const lines = sub.stdout.trim().split('\n');
    const config = lines.find((l) => l.startsWith(topicFor(t.id, 'config')))!.slice(topicFor(t.id, 'config').length + 1);
    const roster = lines.find((l) => l.startsWith(topicFor(t.id, 'roster')))!.slice(topicFor(t.id, 'roster').length + 1);
    expect(terminalConfigSchema.parse(JSON.parse(config)).site.id).toBe(gw.seed.sites.main);
    expect(Object.keys(rosterSchema.parse(JSON.parse(roster)).badges)).toContain(gw.seed.workers.solo.badge);

    const tcpTap = makeTap(gw.seed.workers.solo.badge);
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(gw.mqttPort), ...auth, '-q', '1', '-t', topicFor(t.id, 'taps'), '-m', JSON.stringify(tcpTap)]);
    const tlsTap = makeTap(gw.seed.workers.solo.badge, { direction: 'OUT' });
    await run('mosquitto_pub', ['-h', 'localhost', '-p', String(gw.tlsPort), '--cafile', certs.ca, ...auth, '-q', '1', '-t', topicFor(t.id, 'taps'), '-m', JSON.stringify(tlsTap)]);
    for (const id of [tcpTap.id, tlsTap.id]) {
      await waitUntil(() => gw.db().prepare("SELECT 1 FROM registrations WHERE tap_id = ?").get(id), { what: `tap ${id} stored` });
    }
  });

  it.skipIf(!haveMosquitto)('mosquitto clients are refused with a wrong secret and denied other terminals\' topics', async () => {
    const bad = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(gw.mqttPort), '-i', t.id, '-u', t.id, '-P', 'wrong', '-q', '1', '-t', topicFor(t.id, 'taps'), '-m', '{}']).then(
      () => 'accepted',
      (e: { stderr: string }) => e.stderr,
    );
    expect(bad).toMatch(/not authori[sz]ed|bad user name or password/i);
    const other = await gw.addTerminal('transport-other');
    const denied = await run('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(gw.mqttPort), '-i', t.id, '-u', t.id, '-P', t.secret, '-q', '1', '-t', topicFor(other.id, 'acks'), '-C', '1', '-W', '3']).then(
      (r) => r.stderr,
      (e: { stderr: string }) => e.stderr,
    );
    expect(denied).toMatch(/denied/i);
  });
});
