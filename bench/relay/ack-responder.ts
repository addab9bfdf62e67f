import mqtt, { type MqttClient } from 'mqtt';
import { decodeTap, type Ack } from '../../shared/mqtt/payloads.ts';
import { parseTopic, topicFor, TOPIC_PREFIX } from '../../shared/mqtt/topics.ts';
import { toOffsetIso } from '../../shared/time.ts';

/**
 * A subscriber that receives every terminal's taps at QoS 1 and answers each with an application ack on the
 * terminal's `acks` topic: `stored` for a valid tap, `rejected` with the reason for a malformed one.
 * It stores nothing. On a plain broker this is the relay the gateway's durable ingest is compared with: the
 * same messages, the same acks, without authentication, storage or fsync.
 */
export interface AckResponder {
  received: number;
  close(): Promise<void>;
}

export async function startAckResponder(url: string, clientId = 'bench-ack-responder'): Promise<AckResponder> {
  const client: MqttClient = await mqtt.connectAsync(url, { clientId, protocolVersion: 4, clean: true, reconnectPeriod: 0 });
  (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  const state = { received: 0 };
  let cachedMs = -1;
  let cachedNow = '';
  client.on('message', (topic, payload) => {
    state.received++;
    const parsedTopic = parseTopic(topic);
    if (!parsedTopic.ok || parsedTopic.value.kind !== 'taps') return;
    const decoded = decodeTap(payload);
    const ms = Date.now();
    if (ms !== cachedMs) {
      cachedMs = ms;
      cachedNow = toOffsetIso(new Date(ms));
    }
    let ack: Ack;
    if (decoded.ok) ack = { id: decoded.value.id, status: 'stored', now: cachedNow };
    else if (decoded.id) ack = { id: decoded.id, status: 'rejected', reason: decoded.reason, problems: decoded.problems, now: cachedNow };
    else return;
    client.publish(topicFor(parsedTopic.value.terminalId, 'acks'), JSON.stringify(ack), { qos: 1 });
  });
  await client.subscribeAsync(`${TOPIC_PREFIX}/+/taps`, { qos: 1 });
  return {
    get received() {
      return state.received;
    },
    close: () => client.endAsync(true),
  };
}
