import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { Logger } from '../../shared/logging.ts';
import { checkPublish, checkSubscribe, topicFor, type ParsedTopic } from '../../shared/mqtt/topics.ts';
import type { Ack } from '../../shared/mqtt/payloads.ts';
import type { TerminalAuthenticator } from './auth.ts';
import { createWriteCoalescer, guardedConnection } from './frame-guard.ts';

/**
 * The MQTT edge: an Aedes broker with the product's hooks, listening on plain TCP, TLS and optionally
 * WebSocket. Taps and status messages are taken in `authorizePublish` (handed to ingest there, no extra
 * subscription or copy) and then end: no terminal may subscribe to them, so they are not routed through the
 * broker's emitter at all.
 */
export interface BrokerHandlers {
  authenticator: TerminalAuthenticator;
  onTap(terminalId: string, payload: Buffer): void;
  onStatus(terminalId: string, payload: Buffer): void;
  onConnected(terminalId: string): void;
  onDisconnected(terminalId: string): void;
  onAclDenied(action: 'publish' | 'subscribe', terminalId: string, topic: string, rule: string): void;
  /** A connection closed by a guard: oversized packet, too deep topic, socket not drained. */
  onClientError?(reason: ClientErrorReason, terminalId: string | undefined, message: string): void;
}

export type ClientErrorReason = 'oversized-packet' | 'too-many-topic-levels' | 'drain-timeout';

/**
 * The counter label of an error a guard closed a connection with; undefined for the rest (refused logins,
 * peers that hang up), which are counted elsewhere or are no violation at all.
 */
export function clientErrorReason(message: string): ClientErrorReason | undefined {
  if (/packet of \d+ bytes refused|malformed MQTT remaining length/.test(message)) return 'oversized-packet';
  if (/too many levels/.test(message)) return 'too-many-topic-levels';
  if (/drain timeout/.test(message)) return 'drain-timeout';
  return undefined;
}

function reportClientError(h: BrokerHandlers, terminalId: string | undefined, err: Error): void {
  const reason = clientErrorReason(err.message);
  if (reason) h.onClientError?.(reason, terminalId, err.message);
}

export interface BrokerListenOptions {
  tcp: { host: string; port: number };
  tls?: { host: string; port: number; cert: Buffer; key: Buffer; ca?: Buffer; passphrase?: string };
  ws?: { host: string; port: number };
  drainTimeoutMs: number;
  maxTopicLevels: number;
  /** Largest MQTT packet accepted; a bigger one closes the connection before it is buffered. */
  maxPacketBytes: number;
}

export interface RunningBroker {
  mqttPort: number;
  tlsPort?: number;
  wsPort?: number;
  sendAck(terminalId: string, ack: Ack): void;
  publishRetained(topic: string, payload: string): void;
  connectedTerminals(): string[];
  disconnect(terminalId: string): void;
  /** Stops accepting connections. */
  stopListening(): Promise<void>;
  close(): Promise<void>;
}

function listen(server: TcpServer | TlsServer | HttpServer, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: TcpServer | TlsServer | HttpServer | undefined): Promise<void> {
  return new Promise((resolve) => (server && server.listening ? server.close(() => resolve()) : resolve()));
}

export async function startBroker(h: BrokerHandlers, o: BrokerListenOptions, logger: Logger): Promise<RunningBroker> {
  // Packets the gateway consumed in authorizePublish (taps, status): nobody may subscribe to them, so
  // routing them through the broker's emitter would be work for no one.
  const consumed = new WeakSet<object>();
  const broker = await Aedes.createBroker({
    drainTimeout: o.drainTimeoutMs,
    maxTopicLevels: o.maxTopicLevels,
    maxClientsIdLength: 64,
    preConnect(client, packet, callback) {
      // An empty client id would get a generated one; terminals must say who they are.
      if (!packet.clientId) {
        h.authenticator.authenticate('', packet.username, packet.password, remoteOf(client)).finally(() => callback(new Error('empty client id refused'), false));
        return;
      }
      callback(null, true);
    },
    authenticate(client, username, password, done) {
      h.authenticator.authenticate(client.id, username, password as Buffer | undefined, remoteOf(client)).then(
        (outcome) => {
          if (outcome.ok) return done(null, true);
          const err = new Error(outcome.reason) as AuthenticateError;
          err.returnCode = outcome.returnCode as AuthenticateError['returnCode'];
          done(err, false);
        },
        (err) => {
          logger.error({ err }, 'authentication failed unexpectedly');
          const e = new Error('server unavailable') as AuthenticateError;
          e.returnCode = 3 as AuthenticateError['returnCode'];
          done(e, false);
        },
      );
    },
    authorizePublish(client, packet, callback) {
      // Wills published after the owner is gone arrive with client = null; they were checked when stored.
      const terminalId = client?.id ?? /^ciao\/v1\/terminals\/([^/]+)\/status$/.exec(packet.topic)?.[1];
      if (!terminalId) return callback(new Error('not authorised'));
      const allowed = checkPublish(terminalId, packet.topic);
      if (!allowed.ok) {
        h.onAclDenied('publish', terminalId, packet.topic, allowed.problem.rule);
        return callback(new Error(allowed.problem.message));
      }
      const kind: ParsedTopic['kind'] = allowed.value.kind;
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      if (kind === 'taps') {
        // Never keep a tap as a retained message: it is stored in SQLite, not in the broker.
        packet.retain = false;
        consumed.add(packet);
        h.onTap(terminalId, payload);
      } else if (kind === 'status') {
        consumed.add(packet);
        h.onStatus(terminalId, payload);
      }
      callback(null);
    },
    authorizeSubscribe(client, sub, callback) {
      const allowed = checkSubscribe(client.id, sub.topic);
      if (!allowed.ok) {
        h.onAclDenied('subscribe', client.id, sub.topic, allowed.problem.rule);
        return callback(null, null); // refused: SUBACK 0x80 for this filter, the connection stays
      }
      callback(null, sub);
    },
  });

  // Aedes calls publish(packet, client, done) right after authorizePublish (and after PUBACK for QoS 1);
  // a consumed packet ends there. Everything else (acks, config, roster) is routed as usual.
  const route = broker.publish.bind(broker) as (packet: object, client: unknown, done?: (err?: Error) => void) => void;
  (broker as unknown as { publish: typeof route }).publish = (packet, client, done) => {
    if (consumed.has(packet)) {
      const cb = typeof client === 'function' ? (client as (err?: Error) => void) : done;
      cb?.();
      return;
    }
    route(packet, client, done);
  };

  broker.on('client', (client: Client) => h.onConnected(client.id));
  broker.on('clientDisconnect', (client: Client) => {
    // A client replaced by a newer connection with the same id must not mark the terminal offline.
    const current = (broker as unknown as { clients: Record<string, Client> }).clients[client.id];
    if (!current || current === client) h.onDisconnected(client.id);
  });
  broker.on('clientError', (client: Client, err: Error) => {
    logger.debug({ terminalId: client?.id, err: err.message }, 'client error');
    reportClientError(h, client?.id, err);
  });
  broker.on('connectionError', (client: Client, err: Error) => {
    logger.debug({ err: err.message }, 'connection error');
    reportClientError(h, undefined, err);
  });

  // Acks are small writes that follow a PUBACK: with Nagle's algorithm they would wait for the client's
  // delayed TCP ACK (tens of ms). Latency matters more here than packet count.
  // Without Nagle, each small packet would be its own send: writes made in one turn of the event loop (the
  // PUBACKs of a burst of taps, the acks of one commit) are coalesced into one send instead.
  const coalesce = createWriteCoalescer();
  const socketOf = new WeakMap<object, Socket>();
  const handle = (conn: Socket | TLSSocket) => {
    conn.setNoDelay(true);
    conn.on('data', () => coalesce(conn));
    const guarded = guardedConnection(conn, o.maxPacketBytes, (err) => reportClientError(h, undefined, err));
    socketOf.set(guarded, conn);
    broker.handle(guarded as Socket);
  };
  const tcpServer = createTcpServer({ noDelay: true }, handle);
  const mqttPort = await listen(tcpServer, o.tcp.host, o.tcp.port);
  let tlsServer: TlsServer | undefined;
  let tlsPort: number | undefined;
  if (o.tls) {
    tlsServer = createTlsServer({ cert: o.tls.cert, key: o.tls.key, ca: o.tls.ca, passphrase: o.tls.passphrase, minVersion: 'TLSv1.2' }, handle);
    tlsServer.on('tlsClientError', (err) => logger.debug({ err: err.message }, 'TLS handshake failed'));
    tlsPort = await listen(tlsServer, o.tls.host, o.tls.port);
  }
  let httpServer: HttpServer | undefined;
  let wss: WebSocketServer | undefined;
  let wsPort: number | undefined;
  if (o.ws) {
    httpServer = createHttpServer((_req, res) => {
      res.writeHead(426).end('MQTT over WebSocket only');
    });
    wss = new WebSocketServer({ server: httpServer, perMessageDeflate: false, maxPayload: o.maxPacketBytes + 5 });
    wss.on('connection', (socket, req) => {
      (req.socket as Socket).setNoDelay(true);
      broker.handle(createWebSocketStream(socket) as never, req);
    });
    wsPort = await listen(httpServer, o.ws.host, o.ws.port);
  }
  logger.info({ mqttPort, tlsPort, wsPort }, 'MQTT broker listening');

  let serversClosed: Promise<void> | undefined;
  const clients = () => (broker as unknown as { clients: Record<string, Client> }).clients;

  return {
    mqttPort,
    tlsPort,
    wsPort,
    sendAck(terminalId, ack) {
      const socket = socketOf.get(clients()[terminalId]?.conn as object);
      if (socket) coalesce(socket);
      broker.publish({ cmd: 'publish', topic: topicFor(terminalId, 'acks'), payload: Buffer.from(JSON.stringify(ack)), qos: 1, retain: false, dup: false }, (err?: Error) => {
        if (err) logger.warn({ terminalId, err: err.message }, 'ack not published');
      });
    },
    publishRetained(topic, payload) {
      broker.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: true, dup: false }, (err?: Error) => {
        if (err) logger.warn({ topic, err: err.message }, 'retained message not published');
      });
    },
    connectedTerminals() {
      return Object.values(clients()).filter((c) => c.connected).map((c) => c.id);
    },
    disconnect(terminalId) {
      clients()[terminalId]?.close();
    },
    async stopListening() {
      // Servers finish closing once their connections are gone, i.e. after close() below.
      serversClosed ??= Promise.all([closeServer(tcpServer), closeServer(tlsServer), closeServer(httpServer)]).then(() => undefined);
    },
    async close() {
      serversClosed ??= Promise.all([closeServer(tcpServer), closeServer(tlsServer), closeServer(httpServer)]).then(() => undefined);
      for (const c of wss?.clients ?? []) c.terminate();
      wss?.close();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await serversClosed;
    },
  };
}

function remoteOf(client: Client): string | undefined {
  const conn = (client as unknown as { conn?: { remoteAddress?: string } }).conn;
  return conn?.remoteAddress;
}
