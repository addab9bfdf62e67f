import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { randomUUID } from 'node:crypto';
import { topicFor } from '../../../shared/mqtt/topics.ts';
import type { Ack, Roster, ShiftsMessage, TapMessage } from '../../../shared/mqtt/payloads.ts';
import { toOffsetIso } from '../../../shared/time.ts';
import { waitUntil } from './wait.ts';

/** Connects a real MQTT.js client; resolves on CONNACK 0, rejects with the refusal otherwise. */
export function connectClient(url: string, opts: IClientOptions): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    const fail = (err: Error) => {
      client.end(true);
      reject(err);
    };
    client.once('connect', () => {
      client.off('error', fail);
      resolve(client);
    });
    client.once('error', fail);
    client.once('close', () => fail(new Error('connection closed before CONNACK')));
  });
}

export function connectTerminal(port: number, terminalId: string, secret: string, opts: IClientOptions = {}): Promise<MqttClient> {
  return connectClient(`mqtt://127.0.0.1:${port}`, { clientId: terminalId, username: terminalId, password: secret, ...opts });
}

let seq = 0;
export function makeTap(badge: string, over: Partial<TapMessage> = {}): TapMessage & { id: string } {
  return { v: 1, id: randomUUID(), seq: seq++, badge, direction: 'IN', reason: 'work', at: toOffsetIso(new Date()), ...over } as TapMessage & { id: string };
}

/** Collects the acks a terminal receives on its `acks` topic. */
export class AckCollector {
  readonly acks: Ack[] = [];
  private constructor(private readonly client: MqttClient) {
    client.on('message', (topic, payload) => {
      if (topic.endsWith('/acks')) this.acks.push(JSON.parse(payload.toString()) as Ack);
    });
  }

  static async attach(client: MqttClient, terminalId: string): Promise<AckCollector> {
    const c = new AckCollector(client);
    await client.subscribeAsync(topicFor(terminalId, 'acks'), { qos: 1 });
    return c;
  }

  for(id: string): Ack[] {
    return this.acks.filter((a) => a.id === id);
  }

  waitFor(id: string, count = 1): Promise<Ack[]> {
    return waitUntil(() => (this.for(id).length >= count ? this.for(id) : undefined), { what: `ack for tap ${id}` });
  }
}

export async function publishTap(client: MqttClient, terminalId: string, tap: unknown): Promise<void> {
  await client.publishAsync(topicFor(terminalId, 'taps'), typeof tap === 'string' || Buffer.isBuffer(tap) ? (tap as string) : JSON.stringify(tap), { qos: 1 });
}

/**
 * The newest shift state a terminal heard for a badge, from its rosters and `shifts` messages: the highest
 * revision wins, as the terminal itself keeps it (messages may arrive out of order).
 */
export function newestShiftState(rosters: readonly Roster[], shifts: readonly ShiftsMessage[], badge: string) {
  const heard = [
    ...rosters.flatMap((r) => (r.badges[badge]?.shift ? [r.badges[badge]!.shift!] : [])),
    ...shifts.flatMap((m) => m.badges.filter((b) => b.badge === badge)),
  ];
  return heard.sort((a, b) => b.rev - a.rev)[0];
}
