import { Redis } from 'ioredis';
import mqemitter, { type MQEmitter, type Message } from 'mqemitter';
import MQEmitterRedis from 'mqemitter-redis';
import type { Logger } from '../../shared/logging.ts';
import type { ShiftChange } from '../shifts/change.ts';
import { RoutedEmitter } from './routed-emitter.ts';
import { clusterInstanceName } from './instance-name.ts';
import { redactedUrl } from '../../shared/redacted-url.ts';

/**
 * What the instances of a cluster tell each other, over Redis (docs/cluster.md, "Several instances"):
 * - Aedes' own announcements (a client that connected to another instance has its older connection here
 *   closed), through the broker's emitter;
 * - an ack for a terminal connected to another instance (the tap reached this one, then the terminal moved);
 * - each commit's shift changes, so that every instance tells the terminals connected to it, and knows
 *   which rosters are stale.
 * Terminals' own topics stay within each instance (routed-emitter.ts): a terminal's connection never waits
 * for Redis. While Redis is away, what crosses is held by the Redis client for a while and may then be lost;
 * when Redis is back, `onReconnected` lets the gateway republish every roster with the states of now.
 */
export interface ClusterBus {
  /** This instance's name in logs and /health. */
  readonly instance: string;
  /** The emitter given to Aedes. */
  readonly mq: MQEmitter;
  /** Whether both Redis connections are up now. */
  connected(): boolean;
  /** Hands an ack to the other instances: the one its terminal is connected to delivers it. */
  sendAck(terminalId: string, payload: Buffer): void;
  onAck(handler: (terminalId: string, payload: Buffer) => void): void;
  /** The shift changes of a commit made here. */
  publishShiftChanges(changes: ShiftChange[]): void;
  /** Shift changes committed by another instance. */
  onShiftChanges(handler: (changes: ShiftChange[]) => void): void;
  /** Redis came back after a loss. */
  onReconnected(handler: () => void): void;
  /** When each other instance was last heard saying it is alive (ms since the epoch). */
  peers(): ReadonlyMap<string, number>;
  /** For how long both Redis connections have been up without a break (0 while one is down). */
  upForMs(): number;
  close(): Promise<void>;
}

export interface ClusterBusOptions {
  url: string;
  channelPrefix: string;
  connectTimeoutMs: number;
  instance?: string;
  /** Aedes' delivery concurrency (its default, 100). */
  concurrency?: number;
  /** How often this instance says it is alive (`ciao/cluster/alive`). */
  heartbeatMs: number;
  logger: Logger;
}

const ACKS = 'ciao/cluster/acks';
const SHIFTS = 'ciao/cluster/shifts';
const ALIVE = 'ciao/cluster/alive';

/** The parts of mqemitter-redis this module relies on beyond its published types (see its source). */
interface RedisEmitterInternals {
  /** Errors of its connections are re-emitted here; an EventEmitter 'error' without a listener would throw. */
  state: { on(event: 'error', listener: (err: Error) => void): void };
}
type RedisEmitterWithPrefix = new (prefix: string, options: Record<string, unknown>) => MQEmitter & RedisEmitterInternals;

/** A Redis URL without its password, for logs. */
export const redactedRedisUrl = (url: string): string => redactedUrl(url, 'redis');

function whenReady(conn: Redis, timeoutMs: number, url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      conn.off('ready', ready);
      reject(new Error(`cannot reach Redis at ${redactedRedisUrl(url)} within ${timeoutMs} ms (cluster.redis)`));
    }, timeoutMs);
    const ready = () => {
      clearTimeout(timer);
      resolve();
    };
    if (conn.status === 'ready') ready();
    else conn.once('ready', ready);
  });
}

export async function connectClusterBus(o: ClusterBusOptions): Promise<ClusterBus> {
  const instance = clusterInstanceName(o.instance);
  const log = o.logger.child({ component: 'cluster', instance });
  // Our own connections (mqemitter-redis takes them as `subConn`/`pubConn`), so that their comings and goings
  // are ours to watch. Reconnection is ioredis's: every 0.2 s to 2 s, for ever; a command waits through 20
  // attempts, then fails (what crossed then is lost; `onReconnected` repairs what matters).
  const options = {
    lazyConnect: true,
    retryStrategy: (times: number) => Math.min(times * 200, 2000),
    connectionName: `ciao-gateway:${instance}`,
  };
  const pub = new Redis(o.url, options);
  const sub = new Redis(o.url, options);
  let lost = false;
  let closing = false;
  /** Since when both connections have been up. */
  let upSince: number | undefined;
  const reconnected: Array<() => void> = [];
  let warned = 0;
  for (const [name, conn] of [['pub', pub], ['sub', sub]] as const) {
    conn.on('error', (err: Error) => {
      // ioredis retries by itself; say it once per loss rather than at every attempt.
      if (Date.now() - warned > 10_000) {
        warned = Date.now();
        log.warn({ connection: name, err: err.message }, 'Redis unreachable: instances cannot exchange messages until it is back');
      }
    });
    conn.on('close', () => {
      upSince = undefined;
      if (!closing) lost = true;
    });
    conn.on('ready', () => {
      if (pub.status === 'ready' && sub.status === 'ready') upSince ??= Date.now();
      if (!lost || pub.status !== 'ready' || sub.status !== 'ready') return;
      lost = false;
      log.info('Redis is back: republishing what may have been lost');
      for (const h of reconnected) h();
    });
  }
  try {
    await Promise.all([pub.connect(), sub.connect()]).catch(() => undefined);
    await Promise.all([whenReady(pub, o.connectTimeoutMs, o.url), whenReady(sub, o.connectTimeoutMs, o.url)]);
  } catch (err) {
    closing = true;
    pub.disconnect();
    sub.disconnect();
    throw err;
  }

  const Prefixed = (MQEmitterRedis as unknown as { MQEmitterRedisPrefix: RedisEmitterWithPrefix }).MQEmitterRedisPrefix;
  const concurrency = o.concurrency ?? 100;
  // [MQTT-4.7.1-3] for both sides, as Aedes sets for its default emitter.
  const remote = new Prefixed(o.channelPrefix, { pubConn: pub, subConn: sub, concurrency, matchEmptyLevels: true });
  remote.state.on('error', () => undefined); // already reported by the connections' own listeners above
  const local = mqemitter({ concurrency, matchEmptyLevels: true });
  const mq = new RoutedEmitter(local, remote);

  const ackHandlers: Array<(terminalId: string, payload: Buffer) => void> = [];
  const shiftHandlers: Array<(changes: ShiftChange[]) => void> = [];
  // While Redis is away, every message waiting in the Redis client fails after its retries: said once every
  // 10 s with how many, not once per message.
  let unsent = 0;
  let unsentSaidAt = 0;
  const emitted = (err?: Error) => {
    if (!err) return;
    unsent += 1;
    if (Date.now() - unsentSaidAt < 10_000) return;
    unsentSaidAt = Date.now();
    log.warn({ err: err.message, unsent }, 'messages for the other instances were not sent');
    unsent = 0;
  };
  // Subscribed before the gateway goes on, so that nothing sent once it is up is missed.
  await new Promise<void>((resolve) =>
    remote.on(
      ACKS,
      (m: Message, done) => {
        if (m.from !== instance && typeof m.terminalId === 'string' && Buffer.isBuffer(m.payload)) for (const h of ackHandlers) h(m.terminalId, m.payload);
        done();
      },
      resolve,
    ),
  );
  await new Promise<void>((resolve) =>
    remote.on(
      SHIFTS,
      (m: Message, done) => {
        if (m.from !== instance && Array.isArray(m.changes)) for (const h of shiftHandlers) h(m.changes as ShiftChange[]);
        done();
      },
      resolve,
    ),
  );
  const peers = new Map<string, number>();
  await new Promise<void>((resolve) =>
    remote.on(
      ALIVE,
      (m: Message, done) => {
        if (typeof m.from === 'string' && m.from !== instance) peers.set(m.from, Date.now());
        done();
      },
      resolve,
    ),
  );
  // Said while Redis is away too: the Redis client drops what it cannot send, quietly.
  const sayAlive = () => remote.emit({ topic: ALIVE, from: instance }, () => undefined);
  sayAlive();
  const heartbeat = setInterval(sayAlive, o.heartbeatMs);
  heartbeat.unref();
  log.info({ redis: redactedRedisUrl(o.url), channelPrefix: o.channelPrefix }, 'joined the cluster');

  return {
    instance,
    mq,
    connected: () => pub.status === 'ready' && sub.status === 'ready',
    sendAck(terminalId, payload) {
      remote.emit({ topic: ACKS, from: instance, terminalId, payload }, emitted);
    },
    onAck(handler) {
      ackHandlers.push(handler);
    },
    publishShiftChanges(changes) {
      if (changes.length > 0) remote.emit({ topic: SHIFTS, from: instance, changes }, emitted);
    },
    onShiftChanges(handler) {
      shiftHandlers.push(handler);
    },
    onReconnected(handler) {
      reconnected.push(handler);
    },
    peers: () => peers,
    upForMs: () => (upSince === undefined ? 0 : Date.now() - upSince),
    async close() {
      if (closing) return;
      closing = true;
      clearInterval(heartbeat);
      // mqemitter-redis quits both connections, letting the commands already sent finish; with Redis away
      // a QUIT would wait for it, so after a short grace the connections are dropped instead.
      const grace = setTimeout(() => {
        pub.disconnect();
        sub.disconnect();
      }, 1000);
      await new Promise<void>((resolve) => remote.close(() => resolve()));
      clearTimeout(grace);
    },
  };
}
