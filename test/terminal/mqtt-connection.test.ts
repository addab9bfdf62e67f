import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createServer as createTlsServer, type Server, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { Aedes } from 'aedes';
import type { MqttClient } from 'mqtt';
import { openMqttClient } from '../../terminal/link/mqtt-connection.ts';
import { makeCa } from './helpers/certs.ts';
import { tempDir } from './helpers/harness.ts';
import { waitFor } from './helpers/wait.ts';

/**
 * The terminal opens its MQTT socket itself for mqtt:// and mqtts:// (terminal/link/mqtt-connection.ts): a
 * real Aedes broker behind a real TLS server checks that the name in the URL is sent for SNI and checked
 * against the certificate, that an IP address is not sent as a name, and that a CA other than the pinned
 * one is refused with an error, as MQTT.js's own TLS transport does.
 */
describe('the gateway link\'s MQTT connection', () => {
  let tmp: ReturnType<typeof tempDir>;
  let broker: Aedes | undefined;
  let server: Server | undefined;
  let client: MqttClient | undefined;
  afterEach(async () => {
    client?.end(true);
    if (server) await new Promise<void>((r) => server!.close(() => r()));
    if (broker) await new Promise<void>((r) => broker!.close(() => r()));
    tmp.cleanup();
  });

  async function tlsBroker(key: string, cert: string) {
    broker = await Aedes.createBroker();
    const names: Array<string | false> = [];
    server = createTlsServer({ key, cert }, (socket: TLSSocket) => {
      names.push(socket.servername ?? false);
      broker!.handle(socket);
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return { port: (server.address() as AddressInfo).port, names };
  }

  it('connects over TLS to the name in the URL, sending it for SNI, with only the pinned CA trusted', async () => {
    tmp = tempDir();
    const ca = makeCa(tmp.dir, 'gw');
    const { port, names } = await tlsBroker(ca.key, ca.cert);
    client = openMqttClient(`mqtts://localhost:${port}`, { clientId: 't-1', ca: readFileSync(ca.caPath), rejectUnauthorized: true, reconnectPeriod: 0 });
    await waitFor(() => client!.connected, { what: 'CONNACK over TLS' });
    expect(names).toEqual(['localhost']);
    client.end(true);

    client = openMqttClient(`mqtts://127.0.0.1:${port}`, { clientId: 't-2', ca: readFileSync(ca.caPath), rejectUnauthorized: true, reconnectPeriod: 0 });
    await waitFor(() => client!.connected, { what: 'CONNACK over TLS by address' });
    expect(names).toEqual(['localhost', false]);
  });

  it('refuses a gateway whose certificate another CA signed, reporting the TLS error', async () => {
    tmp = tempDir();
    const pinned = makeCa(tmp.dir, 'pinned');
    const other = makeCa(tmp.dir, 'other');
    const { port } = await tlsBroker(other.key, other.cert);
    const errors: Array<{ code?: string }> = [];
    let closed = false;
    client = openMqttClient(`mqtts://localhost:${port}`, { clientId: 't-3', ca: readFileSync(pinned.caPath), rejectUnauthorized: true, reconnectPeriod: 0 });
    client.on('error', (err) => errors.push(err as { code?: string }));
    client.on('close', () => (closed = true));
    await waitFor(() => closed, { what: 'connection closed' });
    expect(client.connected).toBe(false);
    expect(errors.map((e) => e.code)).toContain('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('connects over plain TCP for mqtt:// and tcp://', async () => {
    tmp = tempDir();
    broker = await Aedes.createBroker();
    const { createServer } = await import('node:net');
    const plain = createServer(broker.handle);
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    const port = (plain.address() as AddressInfo).port;
    try {
      for (const scheme of ['mqtt', 'tcp']) {
        client = openMqttClient(`${scheme}://127.0.0.1:${port}`, { clientId: `t-${scheme}`, reconnectPeriod: 0 });
        await waitFor(() => client!.connected, { what: `${scheme}:// CONNACK` });
        client.end(true);
      }
    } finally {
      await new Promise<void>((r) => plain.close(() => r()));
    }
  });
});
