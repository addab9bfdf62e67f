import { performance } from 'node:perf_hooks';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { ackSchema, type Ack, type TapMessage } from '../../shared/mqtt/payloads.ts';
import { topicFor } from '../../shared/mqtt/topics.ts';
import type { TerminalCredentials } from './credentials.ts';
import { TapSource, type TapSourceOptions } from './tap-source.ts';

/** What a terminal reports to the run for each ack it receives. */
export interface AckReport {
  terminalId: string;
  ack: Ack;
  /** Milliseconds from publish to ack; undefined for an ack of a tap this terminal was not waiting for. */
  latencyMs: number | undefined;
  /** The tap was made malformed on purpose. */
  invalidTap: boolean;
}

export interface LoadTerminalHandlers {
  onAck(report: AckReport): void;
  onMalformedAck(terminalId: string, payload: Buffer): void;
  onPublishError(terminalId: string, error: Error): void;
  onDisconnect(terminalId: string): void;
}

/**
 * One simulated terminal: a real MQTT client logged in with its own id and secret, subscribed to its own
 * `acks` topic, publishing taps at QoS 1 and timing each one until the gateway's application ack.
 */
export class LoadTerminal {
  private client: MqttClient | undefined;
  private readonly pending = new Map<string, { sentAt: number; invalid: boolean }>();
  private readonly taps: TapSource;
  private readonly tapsTopic: string;
  private readonly acksTopic: string;
  private connected = false;
  private closing = false;
  sent = 0;

  constructor(
    readonly credentials: TerminalCredentials,
    private readonly url: string,
    tapOptions: TapSourceOptions,
    private readonly handlers: LoadTerminalHandlers,
    private readonly mqttOptions: IClientOptions = {},
  ) {
    this.taps = new TapSource(tapOptions);
    this.tapsTopic = topicFor(credentials.id, 'taps');
    this.acksTopic = topicFor(credentials.id, 'acks');
  }

  get id(): string {
    return this.credentials.id;
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** Taps published and not yet acked. */
  get inFlight(): number {
    return this.pending.size;
  }

  async connect(timeoutMs: number): Promise<void> {
    const client = mqtt.connect(this.url, {
      clientId: this.credentials.id,
      username: this.credentials.id,
      password: this.credentials.secret,
      protocolVersion: 4,
      clean: true,
      connectTimeout: timeoutMs,
      // A refused login must fail the run with the broker's reason, not retry forever.
      reconnectPeriod: 0,
      ...this.mqttOptions,
    });
    this.client = client;
    // Taps are small and latency-bound: without TCP_NODELAY, Nagle's algorithm and delayed ACKs hold
    // each one back up to 40 ms on Linux.
    client.on('connect', () => (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true));
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        cleanup();
        client.end(true);
        reject(new Error(`terminal ${this.id} could not connect to ${this.url}: ${err.message}`));
      };
      const onClose = () => {
        cleanup();
        reject(new Error(`terminal ${this.id} could not connect to ${this.url}: connection closed before CONNACK`));
      };
      const onConnect = () => {
        cleanup();
        resolve();
      };
      const cleanup = () => {
        client.off('error', onError);
        client.off('close', onClose);
        client.off('connect', onConnect);
      };
      client.on('error', onError);
      client.on('close', onClose);
      client.on('connect', onConnect);
    });
    this.connected = true;
    client.on('message', (topic, payload) => {
      if (topic === this.acksTopic) this.onAckPayload(payload);
    });
    client.on('close', () => {
      const wasConnected = this.connected;
      this.connected = false;
      if (wasConnected && !this.closing) this.handlers.onDisconnect(this.id);
    });
    client.on('error', () => {
      // Errors after the connection are reported through 'close'; the run counts what stays unacked.
    });
    const granted = await client.subscribeAsync(this.acksTopic, { qos: 1 });
    if (!granted[0] || granted[0].qos === 128) {
      throw new Error(`terminal ${this.id}: the broker refused the subscription to ${this.acksTopic}`);
    }
  }

  /** Publishes the next tap; returns false when the connection is gone. */
  send(): boolean {
    const { message, invalid } = this.taps.next();
    return this.sendMessage(message, invalid);
  }

  /** Publishes a tap made by the caller (a scheduled one); returns false when the connection is gone. */
  sendMessage(message: TapMessage, invalid = false): boolean {
    const client = this.client;
    if (!client || !this.connected) return false;
    this.pending.set(message.id, { sentAt: performance.now(), invalid });
    this.sent++;
    client.publish(this.tapsTopic, JSON.stringify(message), { qos: 1 }, (err) => {
      if (err) this.handlers.onPublishError(this.id, err);
    });
    return true;
  }

  private onAckPayload(payload: Buffer): void {
    let data: unknown;
    try {
      data = JSON.parse(payload.toString('utf8'));
    } catch {
      this.handlers.onMalformedAck(this.id, payload);
      return;
    }
    const parsed = ackSchema.safeParse(data);
    if (!parsed.success) {
      this.handlers.onMalformedAck(this.id, payload);
      return;
    }
    const ack = parsed.data;
    const waiting = this.pending.get(ack.id);
    if (waiting) this.pending.delete(ack.id);
    this.handlers.onAck({
      terminalId: this.id,
      ack,
      latencyMs: waiting ? performance.now() - waiting.sentAt : undefined,
      invalidTap: waiting?.invalid ?? false,
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    const client = this.client;
    if (!client) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => client.end(true, () => resolve()), 2000);
      client.end(false, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
