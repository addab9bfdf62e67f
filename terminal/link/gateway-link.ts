import { EventEmitter } from 'node:events';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { Logger } from '../../shared/logging.ts';
import {
  ackSchema, rosterSchema, shiftsMessageSchema, terminalConfigSchema,
  type Ack, type Roster, type ShiftChange, type TerminalConfig, type TerminalStatus, type UpdateReport,
} from '../../shared/mqtt/payloads.ts';
import { topicFor } from '../../shared/mqtt/topics.ts';
import { parseWith } from '../../shared/schema.ts';
import { toOffsetIso } from '../../shared/time.ts';
import { ClockOffsetEstimator } from '../core/clock-offset.ts';
import { reconnectDelayMs } from './backoff.ts';
import { openMqttClient } from './mqtt-connection.ts';
import type { AckOutcome, Outbox, OutboxRow } from '../core/outbox.ts';
import type { Clock } from '../core/ports.ts';
import type { TerminalState } from '../core/state.ts';

/**
 * The terminal's connection to the gateway: MQTT over TLS, one client per connection attempt (so nothing
 * but the outbox ever resends a tap), taps published QoS1 in seq order with a bounded window in flight,
 * application acks applied to the outbox in batches, status with a retained last will, config and roster
 * taken from retained topics and kept on disk, workers' shift states (roster `shift`, `shifts` messages)
 * kept on disk for the direction proposal.
 */
export interface GatewayLinkOptions {
  terminalId: string;
  /** The secret login (LAN set-ups); unused when `identity` answers a certificate. */
  secret?: string;
  /**
   * The terminal's certificate and key (PEM), read at every connection attempt so that a renewed certificate
   * is used from the next connection on. With one, the terminal logs in with it and sends no password.
   */
  identity?: () => { key: string; cert: string } | undefined;
  /**
   * The gateway's addresses (one, or several gateways of a cluster, or a load balancer's): tried in turn,
   * moving to the next whenever one does not answer or drops the connection, with the reconnect backoff.
   */
  urls: string[];
  /** PEM of the CA that signed the gateway's certificate; only this CA is trusted when given. */
  ca?: Buffer;
  outbox: Outbox;
  state: TerminalState;
  clock: Clock;
  logger: Logger;
  version: string;
  /** Taps in flight (published, not yet acked). */
  window: number;
  statusIntervalMs: number;
  /** Resend from the oldest unacked tap when no ack came for this long. */
  ackTimeoutMs: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  keepaliveSeconds: number;
  /** Where the offered update stands, for the status message (terminal/update/agent.ts). */
  updateReport?: () => UpdateReport | undefined;
}

export interface GatewayLinkEvents {
  connected: [];
  disconnected: [reason: string];
  ack: [ack: Ack];
  config: [config: TerminalConfig];
  roster: [roster: Roster];
  /** Shift states heard from the gateway (a `shifts` message or a roster) that were newer than those held. */
  shifts: [badges: string[], source: 'shifts' | 'roster'];
}

const KV_CONFIG = 'gateway_config';
const KV_ROSTER = 'gateway_roster';

export class GatewayLink extends EventEmitter<GatewayLinkEvents> {
  private client: MqttClient | null = null;
  private connected = false;
  private stopped = false;
  /** Connection attempts that failed (or dropped) since the last good connection: drives the backoff. */
  private failures = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  private ackTimer: NodeJS.Timeout | null = null;
  /** Taps published on this connection and not yet acked: id -> seq, send time on the terminal clock (for
   * the skew) and on the monotonic clock (for the ack timeout, which is real time even under a virtual clock). */
  private readonly inflight = new Map<string, { seq: number; sentAt: number; sentMono: number }>();
  private cursor = 0;
  private buffer: OutboxRow[] = [];
  private pendingAcks: AckOutcome[] = [];
  private ackFlushScheduled = false;
  private readonly offset = new ClockOffsetEstimator();
  private lastAckAt = 0;
  /** Which of `urls` the current (or next) connection attempt goes to. */
  private index = 0;
  /** Set by reconnect(): the connection closing next was ended on purpose, so the list is not advanced. */
  private stayOnGateway = false;
  /** Counters for status and benchmarks. */
  readonly stats = { published: 0, acked: 0, rejected: 0, resends: 0, connects: 0 };

  constructor(private readonly o: GatewayLinkOptions) {
    super();
    this.loadRetained();
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** The address of the gateway this terminal is connected to; undefined while offline. */
  get gateway(): string | undefined {
    return this.connected ? this.o.urls[this.index] : undefined;
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  start(): void {
    this.stopped = false;
    this.connect();
    this.statusTimer = setInterval(() => this.publishStatus(), this.o.statusIntervalMs);
    this.statusTimer.unref();
    this.ackTimer = setInterval(() => this.checkAckTimeout(), Math.min(1000, this.o.ackTimeoutMs));
    this.ackTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.statusTimer) clearInterval(this.statusTimer);
    if (this.ackTimer) clearInterval(this.ackTimer);
    this.flushAcks();
    const client = this.client;
    this.client = null;
    this.connected = false;
    if (client) {
      // A clean stop says so; the will covers crashes and lost links.
      if (client.connected) {
        await new Promise<void>((resolve) => {
          client.publish(topicFor(this.o.terminalId, 'status'), JSON.stringify(this.status('offline')), { qos: 1, retain: true }, () => resolve());
          setTimeout(resolve, 500).unref();
        });
      }
      await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
    }
  }

  /**
   * Drops the connection and connects again at once (taps stay in the outbox; what was in flight is sent
   * again and the gateway stores it once): after a certificate renewal, so that the new certificate is used
   * and the old one retired now rather than at the next network hiccup.
   */
  reconnect(): void {
    const client = this.client;
    if (!client || this.stopped) return;
    this.o.logger.info('reconnecting to the gateway');
    // Asked for, not a failure: the next attempt goes to the same gateway.
    this.stayOnGateway = true;
    client.end(true);
  }

  /** A tap became ready to publish. */
  kick(): void {
    if (this.connected) this.fill();
  }

  private connect(): void {
    if (this.stopped) return;
    const { terminalId } = this.o;
    let identity: { key: string; cert: string } | undefined;
    try {
      identity = this.o.identity?.();
    } catch (err) {
      this.o.logger.error({ err: (err as Error).message }, 'cannot read the terminal certificate; trying again');
      this.scheduleReconnect();
      return;
    }
    const opts: IClientOptions = {
      clientId: terminalId,
      username: terminalId,
      ...(identity ? { key: identity.key, cert: identity.cert } : { password: this.o.secret }),
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      keepalive: this.o.keepaliveSeconds,
      protocolVersion: 4,
      will: { topic: topicFor(terminalId, 'status'), payload: Buffer.from(JSON.stringify(this.status('offline'))), qos: 1, retain: true },
    };
    if (this.o.ca) {
      opts.ca = this.o.ca;
      opts.rejectUnauthorized = true;
    }
    const url = this.o.urls[this.index]!;
    let client: MqttClient;
    try {
      client = openMqttClient(url, opts);
    } catch (err) {
      this.o.logger.error({ err, gateway: url }, 'cannot create MQTT client');
      this.nextGateway(false);
      this.scheduleReconnect();
      return;
    }
    this.client = client;
    let closed = false;
    client.on('connect', () => this.onConnected(client));
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    client.on('error', (err) => this.o.logger.warn({ err: err.message, gateway: url }, 'gateway connection error'));
    client.on('close', () => {
      if (closed) return;
      closed = true;
      this.onClosed(client);
    });
  }

  private onConnected(client: MqttClient): void {
    if (client !== this.client) return;
    // Taps and acks are small and latency-bound: never let Nagle hold them back.
    (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
    this.connected = true;
    this.failures = 0;
    this.stats.connects += 1;
    const url = this.o.urls[this.index]!;
    this.o.logger.info({ url, gateway: url, ...(this.o.urls.length > 1 ? { of: this.o.urls.length } : {}), queued: this.o.outbox.queued }, 'connected to gateway');
    const id = this.o.terminalId;
    client.subscribe([topicFor(id, 'acks'), topicFor(id, 'config'), topicFor(id, 'roster')], { qos: 1 }, (err) => {
      if (err) this.o.logger.warn({ err: err.message }, 'subscribe failed');
    });
    // On its own: a gateway (or broker) that predates the topic refuses this filter alone, and the terminal
    // then proposes directions from its roster and its own taps.
    client.subscribe(topicFor(id, 'shifts'), { qos: 1 }, (err, granted) => {
      if (err) this.o.logger.warn({ err: err.message }, 'subscribe to shifts failed');
      else if (granted?.some((g) => g.qos === 128)) this.o.logger.info('the gateway offers no shifts topic; directions follow the roster and this terminal\'s taps');
    });
    this.o.state.setOnline(true, url);
    this.publishStatus();
    this.resetPump();
    this.fill();
    this.emit('connected');
  }

  private onClosed(client: MqttClient): void {
    if (client === this.client) {
      this.client = null;
      const wasConnected = this.connected;
      this.connected = false;
      this.flushAcks();
      this.resetPump();
      this.o.state.setOnline(false);
      if (wasConnected) {
        this.o.logger.warn({ gateway: this.o.urls[this.index], queued: this.o.outbox.queued }, 'gateway connection lost; taps stay in the outbox');
        this.emit('disconnected', 'closed');
      }
      this.nextGateway(wasConnected);
    }
    client.end(true);
    this.scheduleReconnect();
  }

  /** The next attempt goes to the next address of the list (with one address, the same one). */
  private nextGateway(wasConnected: boolean): void {
    if (this.stayOnGateway) {
      this.stayOnGateway = false;
      return;
    }
    if (this.o.urls.length < 2) return;
    const failed = this.o.urls[this.index];
    this.index = (this.index + 1) % this.o.urls.length;
    this.o.logger.info({ failed, next: this.o.urls[this.index] }, wasConnected ? 'trying the next gateway after the connection was lost' : 'gateway did not answer; trying the next one');
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    const delay = reconnectDelayMs(this.failures, { minMs: this.o.reconnectMinMs, maxMs: this.o.reconnectMaxMs });
    this.failures += 1;
    // Unref'd: the link never decides alone that a process lives on (`ciao terminal` holds itself open until
    // it is stopped; an embedding program that forgets to stop a terminal still exits).
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }

  /** Forget what was in flight: the next fill resends from the oldest tap in the outbox. */
  private resetPump(): void {
    this.inflight.clear();
    this.cursor = 0;
    this.buffer = [];
  }

  private fill(): void {
    const client = this.client;
    if (!client || !this.connected) return;
    this.flushAcks();
    const topic = topicFor(this.o.terminalId, 'taps');
    while (this.inflight.size < this.o.window) {
      if (this.buffer.length === 0) {
        this.buffer = this.o.outbox.page(this.cursor, 512);
        if (this.buffer.length === 0) return;
      }
      const row = this.buffer[0]!;
      if (!row.ready) {
        // A worker is still choosing an employer: later taps wait so the gateway sees them in order.
        this.buffer = [];
        return;
      }
      this.buffer.shift();
      this.cursor = row.seq;
      this.inflight.set(row.id, { seq: row.seq, sentAt: this.o.clock.now().getTime(), sentMono: performance.now() });
      this.stats.published += 1;
      client.publish(topic, row.payload, { qos: 1 });
    }
  }

  private onMessage(topic: string, payload: Buffer): void {
    try {
      const kind = topic.slice(topic.lastIndexOf('/') + 1);
      let data: unknown;
      try {
        data = JSON.parse(payload.toString('utf8'));
      } catch {
        this.o.logger.warn({ topic }, 'ignored a message that is not JSON');
        return;
      }
      if (kind === 'acks') this.onAck(data);
      else if (kind === 'config') this.onConfig(data, payload.toString('utf8'));
      else if (kind === 'roster') this.onRoster(data, payload.toString('utf8'));
      else if (kind === 'shifts') this.onShifts(data);
    } catch (err) {
      this.o.logger.error({ err, topic }, 'failed to handle a gateway message');
    }
  }

  private onAck(data: unknown): void {
    const parsed = parseWith(ackSchema, data);
    if (!parsed.ok) {
      this.o.logger.warn({ problems: parsed.problems }, 'ignored a malformed ack');
      return;
    }
    const ack = parsed.value;
    const receivedAt = this.o.clock.now().getTime();
    const sent = this.inflight.get(ack.id);
    const gatewayNow = Date.parse(ack.now);
    if (Number.isFinite(gatewayNow)) {
      const skew = this.offset.add(gatewayNow, sent?.sentAt, receivedAt);
      const wasWrong = this.o.state.clockWrong;
      this.o.state.setClockSkew(skew);
      if (wasWrong !== this.o.state.clockWrong) {
        this.o.logger.warn({ clockSkewMs: skew, maxClockSkewMs: this.o.state.settings.maxClockSkewMs }, this.o.state.clockWrong ? 'terminal clock is off' : 'terminal clock is back within tolerance');
        this.publishStatus();
      }
    }
    this.inflight.delete(ack.id);
    this.lastAckAt = performance.now();
    if (ack.status === 'rejected') {
      this.stats.rejected += 1;
      this.o.logger.warn({ id: ack.id, reason: ack.reason, problems: ack.problems }, 'gateway rejected a tap; kept in rejected_taps');
    } else {
      this.stats.acked += 1;
    }
    this.pendingAcks.push({ id: ack.id, status: ack.status, reason: ack.reason, problems: ack.problems });
    if (!this.ackFlushScheduled) {
      this.ackFlushScheduled = true;
      setImmediate(() => {
        this.flushAcks();
        this.fill();
      });
    }
    this.emit('ack', ack);
  }

  /** Deletes acked taps in one transaction per batch: a lost delete only means a harmless resend. */
  private flushAcks(): void {
    this.ackFlushScheduled = false;
    if (this.pendingAcks.length === 0) return;
    const batch = this.pendingAcks;
    this.pendingAcks = [];
    try {
      this.o.outbox.acknowledge(batch, new Date(this.o.clock.now().getTime()).toISOString());
    } catch (err) {
      this.o.logger.error({ err }, 'failed to apply acks to the outbox; the taps will be resent');
    }
  }

  private checkAckTimeout(): void {
    if (!this.connected || this.inflight.size === 0) return;
    const now = performance.now();
    const oldest = this.inflight.values().next().value as { sentMono: number } | undefined;
    if (oldest && now - oldest.sentMono > this.o.ackTimeoutMs && now - this.lastAckAt > this.o.ackTimeoutMs) {
      this.o.logger.warn({ inflight: this.inflight.size }, 'no ack from the gateway in time; resending from the oldest tap');
      this.stats.resends += 1;
      this.resetPump();
      this.fill();
    }
  }

  private onConfig(data: unknown, raw: string): void {
    const parsed = parseWith(terminalConfigSchema, data);
    if (!parsed.ok) {
      this.o.logger.warn({ problems: parsed.problems }, 'ignored an invalid config; keeping the last good one');
      return;
    }
    if (parsed.value.terminalId !== this.o.terminalId) {
      this.o.logger.warn({ terminalId: parsed.value.terminalId }, 'ignored a config meant for another terminal');
      return;
    }
    this.o.outbox.setValue(KV_CONFIG, raw);
    this.o.state.setConfig(parsed.value);
    this.emit('config', parsed.value);
    // Tell the gateway at once which settings are in force (not at the next periodic status).
    if (parsed.value.configVersion !== undefined) this.publishStatus();
  }

  private onRoster(data: unknown, raw: string): void {
    const parsed = parseWith(rosterSchema, data);
    if (!parsed.ok) {
      this.o.logger.warn({ problems: parsed.problems.slice(0, 5) }, 'ignored an invalid roster; keeping the last good one');
      return;
    }
    this.o.outbox.setValue(KV_ROSTER, raw);
    this.o.state.setRoster(parsed.value);
    this.emit('roster', parsed.value);
    const states: ShiftChange[] = [];
    for (const [badge, entry] of Object.entries(parsed.value.badges)) if (entry.shift) states.push({ badge: badge.toUpperCase(), ...entry.shift });
    this.recordShifts(states, 'roster');
  }

  /** A `shifts` message: states another tap (at any door of any site) gave this terminal's workers. */
  private onShifts(data: unknown): void {
    const parsed = parseWith(shiftsMessageSchema, data);
    if (!parsed.ok) {
      this.o.logger.warn({ problems: parsed.problems.slice(0, 5) }, 'ignored an invalid shifts message');
      return;
    }
    this.recordShifts(parsed.value.badges, 'shifts');
  }

  private recordShifts(states: ShiftChange[], source: 'shifts' | 'roster'): void {
    if (states.length === 0) return;
    const taken = this.o.outbox.recordHeardShifts(states);
    if (taken.length > 0) this.emit('shifts', taken, source);
  }

  /** The last good config and roster from disk, so a terminal that starts offline knows its site. */
  private loadRetained(): void {
    for (const [key, schema, apply] of [
      [KV_CONFIG, terminalConfigSchema, (v: unknown) => this.o.state.setConfig(v as TerminalConfig)],
      [KV_ROSTER, rosterSchema, (v: unknown) => this.o.state.setRoster(v as Roster)],
    ] as const) {
      const raw = this.o.outbox.getValue(key);
      if (!raw) continue;
      try {
        const parsed = parseWith(schema, JSON.parse(raw));
        if (parsed.ok) apply(parsed.value);
      } catch {
        this.o.logger.warn({ key }, 'ignored an unreadable saved copy');
      }
    }
  }

  private status(state: 'online' | 'offline'): TerminalStatus {
    const skew = this.o.state.clockSkewMs;
    return {
      state,
      at: toOffsetIso(new Date(this.o.clock.now().getTime())),
      version: this.o.version,
      queued: this.o.outbox.queued,
      ...(skew !== null ? { clockSkewMs: skew } : {}),
      // Reported only when the gateway's config carries a version (a gateway that does not know the field
      // never receives it): the console shows the settings as applied once this matches.
      ...(this.o.state.config?.configVersion !== undefined ? { configVersion: this.o.state.config.configVersion } : {}),
      // Likewise only when the gateway offered a release (it then knows the field).
      ...withUpdate(this.o.updateReport?.()),
      // FAQ 31, sent only while it holds: the gateway journals a terminal that cannot register.
      ...(state === 'online' && this.o.state.cannotRegister.length > 0 ? { cannotRegister: this.o.state.cannotRegister } : {}),
    };
  }

  publishStatus(): void {
    const client = this.client;
    if (!client || !this.connected) return;
    client.publish(topicFor(this.o.terminalId, 'status'), JSON.stringify(this.status('online')), { qos: 1, retain: true });
  }
}

function withUpdate(report: UpdateReport | undefined): { update?: UpdateReport } {
  return report ? { update: report } : {};
}
