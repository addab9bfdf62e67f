import type { MqttClient } from 'mqtt';
import { connect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { topicFor } from '../../../shared/mqtt/topics.ts';
import type { Ack } from '../../../shared/mqtt/payloads.ts';

/** Sum of a Prometheus counter over all its label sets (0 when absent). */
export function counterSum(metricsText: string, name: string, labels?: Record<string, string>): number {
  let sum = 0;
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    if (labels && !Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`))) continue;
    sum += Number(m[3]);
  }
  return sum;
}

export async function health(httpPort: number): Promise<{ status: number; body: { status?: string } }> {
  const r = await fetch(`http://127.0.0.1:${httpPort}/health`);
  return { status: r.status, body: (await r.json()) as { status?: string } };
}

/** Acks of one terminal, indexed by id (a fuzz stream has thousands: no linear scans). */
export class AckIndex {
  readonly byId = new Map<string, Ack[]>();
  count = 0;
  static async attach(client: MqttClient, terminalId: string): Promise<AckIndex> {
    const index = new AckIndex();
    client.on('message', (topic, payload) => {
      if (topic !== topicFor(terminalId, 'acks')) return;
      const ack = JSON.parse(payload.toString()) as Ack;
      const list = index.byId.get(ack.id) ?? [];
      list.push(ack);
      index.byId.set(ack.id, list);
      index.count++;
    });
    await client.subscribeAsync(topicFor(terminalId, 'acks'), { qos: 1 });
    return index;
  }
}

/** Publishes QoS 1 messages keeping at most `window` in flight. */
export async function publishPipelined(client: MqttClient, topic: string, payloads: Buffer[], window = 200): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < payloads.length) {
      const p = payloads[next++]!;
      await client.publishAsync(topic, p, { qos: 1 });
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, payloads.length) }, worker));
}

/**
 * A bare MQTT connection on a raw socket (mqtt-packet): it can come from another loopback address (an
 * attacker elsewhere than the terminals), send packets MQTT.js would refuse to build, and stop reading.
 */
export class RawMqtt {
  readonly packets: mqttPacket.Packet[] = [];
  closed = false;
  private readonly parser = mqttPacket.parser({ protocolVersion: 4 });
  private constructor(readonly socket: Socket) {
    this.parser.on('packet', (p) => this.packets.push(p));
    this.parser.on('error', () => undefined);
    socket.on('data', (d) => this.parser.parse(d));
    socket.on('error', () => undefined);
    socket.on('close', () => (this.closed = true));
  }

  static open(port: number, localAddress = '127.0.0.1'): Promise<RawMqtt> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, localAddress }, () => {
        socket.off('error', reject);
        resolve(new RawMqtt(socket));
      });
      socket.once('error', reject);
    });
  }

  send(packet: mqttPacket.Packet): boolean {
    return this.socket.write(mqttPacket.generate(packet));
  }

  connect(clientId: string, username?: string, password?: string): void {
    this.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId, ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password: Buffer.from(password) } : {}) } as mqttPacket.IConnectPacket);
  }

  /** Resolves with the CONNACK return code, or -1 when the connection closed without one. */
  async connack(timeoutMs = 10_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ack = this.packets.find((p) => p.cmd === 'connack') as mqttPacket.IConnackPacket | undefined;
      if (ack) return ack.returnCode ?? 0;
      if (this.closed) return -1;
      if (Date.now() > deadline) throw new Error('no CONNACK');
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  waitClosed(timeoutMs = 15_000): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.closed) return resolve(true);
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.socket.once('close', () => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}
