import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WebSocketServer, createWebSocketStream } from 'ws';
import type { MQEmitter } from 'mqemitter';
import type { Logger } from '../../shared/logging.ts';
import { checkPublish, checkSubscribe, topicFor } from '../../shared/mqtt/topics.ts';
import type { Ack } from '../../shared/mqtt/payloads.ts';
import type { PresentedCertificate, TerminalAuthenticator } from './auth.ts';
import { createWriteCoalescer, guardedConnection } from './frame-guard.ts';

/**
 * The MQTT edge: an Aedes broker with the product's hooks, used through Aedes' public API only (options,
 * hooks, `handle`, `publish`, the `client`/`clientDisconnect` events, `Client.close`). It comes up in two
 * steps so that nothing is bound late: `createTerminalBroker` gives the outgoing channel (acks, retained
 * config and roster, who is connected) that ingest and the publisher need; `listen` then opens the ports and
 * hands incoming taps and status messages to ingest. Taps and status messages are taken in
 * `authorizePublish`; no terminal may subscribe to them (ACL), so routing them on finds no subscriber.
 */
export interface BrokerGuards {
  authenticator: TerminalAuthenticator;
  onAclDenied(action: 'publish' | 'subscribe', terminalId: string, topic: string, rule: string): void;
  /** A connection closed by a guard: oversized packet, too deep topic, socket not drained. */
  onClientError?(reason: ClientErrorReason, terminalId: string | undefined, message: string): void;
}

/** What terminals send, and their comings and goings: wired when the broker starts listening. */
export interface TerminalTraffic {
  onTap(terminalId: string, payload: Buffer): void;
  onStatus(terminalId: string, payload: Buffer): void;
  onConnected(terminalId: string): void;
  onDisconnected(terminalId: string): void;
}

export type ClientErrorReason = 'oversized-packet' | 'too-many-topic-levels' | 'drain-timeout';

/**
 * The counter label of an error a guard closed a connection with; undefined for the rest (refused logins,
 * peers that hang up), which are counted elsewhere or are no violation at all.
 */
function clientErrorReason(message: string): ClientErrorReason | undefined {
  if (/packet of \d+ bytes refused|malformed MQTT remaining length/.test(message)) return 'oversized-packet';
  if (/too many levels/.test(message)) return 'too-many-topic-levels';
  if (/drain timeout/.test(message)) return 'drain-timeout';
  return undefined;
}

/**
 * The broker's side of a cluster (gateway/cluster/redis-bus.ts): the emitter Aedes delivers with, and acks
 * that cross to the instance their terminal is connected to.
 */
export interface BrokerCluster {
  mq: MQEmitter;
  sendAck(terminalId: string, payload: Buffer): void;
  onAck(handler: (terminalId: string, payload: Buffer) => void): void;
}

export interface BrokerOptions {
  drainTimeoutMs: number;
  maxTopicLevels: number;
  /** Largest MQTT packet accepted; a bigger one closes the connection before it is buffered. */
  maxPacketBytes: number;
}

export interface ListenOptions {
  tcp: { host: string; port: number };
  /**
   * MQTT over TLS. With `clientCa` (the terminal CA), the listener asks every client for a certificate:
   * one that the CA signed logs the terminal in; a client without one logs in with its secret as before.
   */
  tls?: { host: string; port: number; cert: Buffer; key: Buffer; ca?: Buffer; passphrase?: string; clientCa?: Buffer };
  ws?: { host: string; port: number };
}

export interface Listening {
  mqttPort: number;
  tlsPort?: number;
  wsPort?: number;
  /** Stops accepting connections; the open ones stay until the broker closes. */
  stopListening(): Promise<void>;
}

export interface TerminalBroker {
  /** Publishes an ack on the terminal's `acks` topic (QoS 1). */
  sendAck(terminalId: string, ack: Ack): void;
  /** A payload given as bytes may be shared by many topics (a site's roster for each of its terminals). */
  publishRetained(topic: string, payload: string | Buffer): void;
  /** Publishes a `shifts` message to a terminal (QoS 1, not retained). */
  sendShifts(terminalId: string, payload: string): void;
  /** The terminals connected now that subscribed to their `shifts` topic (a message to them is delivered). */
  shiftReceivers(): ReadonlySet<string>;
  connectedTerminals(): string[];
  /** The certificate serial a connected terminal logged in with (undefined: it used its secret). */
  connectedCertificate(terminalId: string): string | undefined;
  disconnect(terminalId: string): void;
  listen(traffic: TerminalTraffic, o: ListenOptions): Promise<Listening>;
  /** Closes every connection and the broker. */
  close(): Promise<void>;
}

/** What TLS saw of a client's certificate; undefined when it sent none. */
function presentedCertificate(conn: TLSSocket): PresentedCertificate | undefined {
  const cert = conn.getPeerX509Certificate();
  if (!cert) return undefined;
  const commonNames = cert.subject.split('\n').filter((l) => l.startsWith('CN=')).map((l) => l.slice(3));
  return {
    verified: conn.authorized,
    ...(conn.authorizationError ? { error: String((conn.authorizationError as Error & { code?: string }).code ?? conn.authorizationError) } : {}),
    commonNames,
    serial: cert.serialNumber,
  };
}

function listenOn(server: TcpServer | TlsServer | HttpServer, host: string, port: number): Promise<number> {
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

export async function createTerminalBroker(g: BrokerGuards, o: BrokerOptions, logger: Logger, cluster?: BrokerCluster): Promise<TerminalBroker> {
  const report = (terminalId: string | undefined, err: Error) => {
    const reason = clientErrorReason(err.message);
    if (reason) g.onClientError?.(reason, terminalId, err.message);
  };
  // What the broker knows of each connection, kept by us from what `handle` returned and the client events.
  const remoteAddress = new WeakMap<Client, string | undefined>();
  const socketOf = new WeakMap<Client, Socket>();
  /** The client certificate a TLS connection presented, and the serial a terminal logged in with. */
  const presented = new WeakMap<Client, PresentedCertificate>();
  const loggedInWith = new WeakMap<Client, string>();
  /** The current connection of each terminal id (a newer connection with the same id replaces the older). */
  const connected = new Map<string, Client>();
  /**
   * Terminals that subscribed to their `shifts` topic. Third-party terminals do not: nothing is built or
   * published for them (a message nobody subscribed to would be dropped by the broker anyway).
   */
  const shiftSubscribers = new Set<string>();
  /** Of those, the ones connected now (kept as they come and go: the notifier asks after every commit). */
  const shiftReceivers = new Set<string>();
  let traffic: TerminalTraffic | undefined;
  /**
   * In a cluster: connections closed because their terminal connected to another instance (MQTT's one session
   * per client id, kept across the cluster by Aedes' `$SYS/<broker>/new/clients` announcement). Such a close
   * is no disconnection of the terminal: neither it nor the last will it publishes may mark the terminal
   * offline, which the instance it is on now has just marked online.
   */
  const movedAway = new WeakSet<Client>();

  // Registered on the emitter before Aedes registers its own listener (which closes the older connection), so
  // that ours runs first, while the connection is still ours to recognise.
  cluster?.mq.on('$SYS/+/new/clients', (packet, done) => {
    const client = connected.get(String(packet.payload));
    if (client && String(packet.topic).split('/')[1] !== broker.id) movedAway.add(client);
    done();
  });
  const broker = await Aedes.createBroker({
    ...(cluster ? { mq: cluster.mq } : {}),
    drainTimeout: o.drainTimeoutMs,
    maxTopicLevels: o.maxTopicLevels,
    maxClientsIdLength: 64,
    preConnect(client, packet, callback) {
      // An empty client id would get a generated one; terminals must say who they are.
      if (!packet.clientId) {
        // Counted as a refused login like the others; the connection is refused whatever the outcome.
        void g.authenticator.authenticate('', packet.username, packet.password, remoteAddress.get(client)).finally(() => callback(new Error('empty client id refused'), false));
        return;
      }
      callback(null, true);
    },
    authenticate(client, username, password, done) {
      g.authenticator.authenticate(client.id, username, password as Buffer | undefined, remoteAddress.get(client), presented.get(client)).then(
        (outcome) => {
          if (outcome.ok) {
            if (outcome.serial) loggedInWith.set(client, outcome.serial);
            return done(null, true);
          }
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
      if (!terminalId || !traffic) return callback(new Error('not authorised'));
      const allowed = checkPublish(terminalId, packet.topic);
      if (!allowed.ok) {
        g.onAclDenied('publish', terminalId, packet.topic, allowed.problem.rule);
        return callback(new Error(allowed.problem.message));
      }
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      if (allowed.value.kind === 'taps') {
        // Never keep a tap as a retained message: it is stored in SQLite, not in the broker.
        packet.retain = false;
        traffic.onTap(terminalId, payload);
      } else if (allowed.value.kind === 'status') {
        // The last will of a connection closed because its terminal moved to another instance says nothing.
        if (!client || !movedAway.has(client)) traffic.onStatus(terminalId, payload);
      }
      callback(null);
    },
    authorizeSubscribe(client, sub, callback) {
      const allowed = checkSubscribe(client.id, sub.topic);
      if (!allowed.ok) {
        g.onAclDenied('subscribe', client.id, sub.topic, allowed.problem.rule);
        return callback(null, null); // refused: SUBACK 0x80 for this filter, the connection stays
      }
      if (allowed.value.kind === 'shifts') {
        shiftSubscribers.add(client.id);
        if (connected.get(client.id) === client) shiftReceivers.add(client.id);
      }
      callback(null, sub);
    },
  });

  broker.on('client', (client: Client) => {
    connected.set(client.id, client);
    // A persistent session keeps its subscription across reconnections.
    if (shiftSubscribers.has(client.id)) shiftReceivers.add(client.id);
    traffic?.onConnected(client.id);
  });
  broker.on('clientDisconnect', (client: Client) => {
    // A client replaced by a newer connection with the same id must not mark the terminal offline.
    if (connected.get(client.id) !== client) return;
    connected.delete(client.id);
    shiftReceivers.delete(client.id);
    // Nor one whose terminal moved to another instance.
    if (!movedAway.has(client)) traffic?.onDisconnected(client.id);
  });
  broker.on('clientError', (client: Client, err: Error) => {
    logger.debug({ terminalId: client?.id, err: err.message }, 'client error');
    report(client?.id, err);
  });
  broker.on('connectionError', (_client: Client, err: Error) => {
    logger.debug({ err: err.message }, 'connection error');
    report(undefined, err);
  });

  // An ack for a terminal connected here, from the instance that stored its tap (the terminal moved).
  const ackPacket = (terminalId: string, payload: Buffer) => ({ cmd: 'publish' as const, topic: topicFor(terminalId, 'acks'), payload, qos: 1 as const, retain: false, dup: false });
  cluster?.onAck((terminalId, payload) => {
    connected.get(terminalId)?.publish(ackPacket(terminalId, payload), (err?: Error) => {
      if (err) logger.warn({ terminalId, err: err.message }, 'ack from another instance not published');
    });
  });

  // Acks are small writes that follow a PUBACK: with Nagle's algorithm they would wait for the client's
  // delayed TCP ACK (tens of ms). Latency matters more here than packet count.
  // Without Nagle, each small packet would be its own send: writes made in one turn of the event loop (the
  // PUBACKs of a burst of taps, the acks of one commit) are coalesced into one send instead.
  const coalesce = createWriteCoalescer();
  const handleSocket = (conn: Socket | TLSSocket) => {
    conn.setNoDelay(true);
    conn.on('data', () => coalesce(conn));
    const guarded = guardedConnection(conn, o.maxPacketBytes, (err) => report(undefined, err));
    const client = broker.handle(guarded as Socket);
    remoteAddress.set(client, conn.remoteAddress);
    socketOf.set(client, conn);
    const certificate = 'getPeerX509Certificate' in conn ? presentedCertificate(conn) : undefined;
    if (certificate) presented.set(client, certificate);
  };
  const handleWebSocket = (stream: ReturnType<typeof createWebSocketStream>, req: IncomingMessage) => {
    (req.socket as Socket).setNoDelay(true);
    const client = broker.handle(stream as never, req);
    remoteAddress.set(client, req.socket.remoteAddress);
  };

  let servers: Array<TcpServer | TlsServer | HttpServer> = [];
  let wss: WebSocketServer | undefined;
  // A server's close callback fires once its last connection is gone, i.e. after `close()` below: stopping
  // to listen turns new connections away at once and leaves the wait to `close()`.
  let serversClosed: Promise<void> | undefined;
  const closeServers = () => (serversClosed ??= Promise.all(servers.map(closeServer)).then(() => undefined));
  const stopListening = async () => {
    void closeServers();
  };

  return {
    sendAck(terminalId, ack) {
      const client = connected.get(terminalId);
      const packet = ackPacket(terminalId, Buffer.from(JSON.stringify(ack)));
      const done = (err?: Error) => {
        if (err) logger.warn({ terminalId, err: err.message }, 'ack not published');
      };
      if (!client) {
        // Not connected here: in a cluster, the instance it is connected to now delivers it; otherwise the
        // broker keeps it for a persistent session, if the terminal has one. A terminal that gets no ack
        // sends the tap again, which is stored once and acked again.
        if (cluster) cluster.sendAck(terminalId, packet.payload);
        else broker.publish(packet, done);
        return;
      }
      const socket = socketOf.get(client);
      if (socket) coalesce(socket);
      // An ack has one receiver, the terminal it answers: handed to its connection (Aedes' Client#publish, QoS 1
      // kept), rather than matched against every subscription of the broker.
      client.publish(packet, done);
    },
    publishRetained(topic, payload) {
      broker.publish({ cmd: 'publish', topic, payload: typeof payload === 'string' ? Buffer.from(payload) : payload, qos: 1, retain: true, dup: false }, (err?: Error) => {
        if (err) logger.warn({ topic, err: err.message }, 'retained message not published');
      });
    },
    sendShifts(terminalId, payload) {
      broker.publish({ cmd: 'publish', topic: topicFor(terminalId, 'shifts'), payload: Buffer.from(payload), qos: 1, retain: false, dup: false }, (err?: Error) => {
        if (err) logger.warn({ terminalId, err: err.message }, 'shift states not published');
      });
    },
    shiftReceivers() {
      return shiftReceivers;
    },
    connectedTerminals() {
      return [...connected.keys()];
    },
    connectedCertificate(terminalId) {
      const client = connected.get(terminalId);
      return client ? loggedInWith.get(client) : undefined;
    },
    disconnect(terminalId) {
      connected.get(terminalId)?.close();
    },
    async listen(t, l) {
      if (traffic) throw new Error('the broker is already listening');
      traffic = t;
      const tcpServer = createTcpServer({ noDelay: true }, handleSocket);
      servers.push(tcpServer);
      const mqttPort = await listenOn(tcpServer, l.tcp.host, l.tcp.port);
      let tlsPort: number | undefined;
      if (l.tls) {
        // With client certificates, `ca` is what client certificates are checked against: the terminal CA
        // alone (a certificate from the server's own CA must not pass for a terminal). The server's CA, when
        // given, then travels in the chain it presents instead.
        const clientCa = l.tls.clientCa;
        const tlsServer = createTlsServer(
          clientCa
            ? { cert: l.tls.ca ? Buffer.concat([l.tls.cert, Buffer.from('\n'), l.tls.ca]) : l.tls.cert, key: l.tls.key, passphrase: l.tls.passphrase, ca: clientCa, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' }
            : { cert: l.tls.cert, key: l.tls.key, ca: l.tls.ca, passphrase: l.tls.passphrase, minVersion: 'TLSv1.2' },
          handleSocket,
        );
        tlsServer.on('tlsClientError', (err) => logger.debug({ err: err.message }, 'TLS handshake failed'));
        servers.push(tlsServer);
        tlsPort = await listenOn(tlsServer, l.tls.host, l.tls.port);
      }
      let wsPort: number | undefined;
      if (l.ws) {
        const httpServer = createHttpServer((_req, res) => {
          res.writeHead(426).end('MQTT over WebSocket only');
        });
        // Loaded only for a WebSocket listener (most gateways have none): it costs the start tens of ms.
        const { WebSocketServer: Server, createWebSocketStream: streamOf } = await import('ws');
        wss = new Server({ server: httpServer, perMessageDeflate: false, maxPayload: o.maxPacketBytes + 5 });
        wss.on('connection', (socket, req) => handleWebSocket(streamOf(socket), req));
        servers.push(httpServer);
        wsPort = await listenOn(httpServer, l.ws.host, l.ws.port);
      }
      logger.info({ mqttPort, tlsPort, wsPort }, 'MQTT broker listening');
      return { mqttPort, tlsPort, wsPort, stopListening };
    },
    async close() {
      const closed = closeServers();
      for (const c of wss?.clients ?? []) c.terminate();
      wss?.close();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await closed;
      servers = [];
    },
  };
}
