import { existsSync, readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { createLogger, type Logger } from '../shared/logging.ts';
import type { Db } from '../shared/sqlite.ts';
import { systemClock, type Clock } from '../shared/clock.ts';
import { forwardingConfigSchema, startForwarder, type ForwarderHandle, type ForwardingConfig } from './forward/index.ts';
import { parseWith } from '../shared/schema.ts';
import { InvalidInputError } from '../shared/problems.ts';
import { parseGatewayConfig, type GatewayConfig, type GatewayConfigInput } from './config.ts';
import { openGatewayDatabase } from './store/database.ts';
import { createGatewayMetrics } from './metrics.ts';
import { TapIngest } from './ingest/tap-ingest.ts';
import { InlineWriter, ThreadWriter } from './ingest/writers.ts';
import { TerminalStatusTracker } from './status/terminal-status.ts';
import { SitePublisher } from './site/publisher.ts';
import { terminalCredentials } from './site/terminals.ts';
import { TerminalAuthenticator } from './broker/auth.ts';
import { startBroker, type RunningBroker } from './broker/aedes-broker.ts';
import { createHttpServer, operationsRoutes } from './http-server.ts';
import { adminApiPlugin } from './http/index.ts';

/**
 * The gateway: MQTT broker with terminal auth and ACL, durable tap ingest with acks after commit,
 * enrichment into registrations, retained config and roster per terminal, status tracking, health and
 * metrics over HTTP, and the ONSS forwarder when configured.
 */
export interface StartGatewayOptions {
  logger?: Logger;
  /** The gateway's clock (the demo runs a virtual day); the system clock by default. */
  clock?: Clock;
  /** Serve the site manager's admin API and dashboard on the HTTP server (default true). */
  adminApi?: boolean;
  /** Further fastify plugins to register on the gateway's HTTP server. */
  httpPlugins?: Array<FastifyPluginAsync<{ db: Db }> | { plugin: FastifyPluginAsync<any>; options?: Record<string, unknown> }>;
}

export interface RunningGateway {
  mqttPort: number;
  tlsPort?: number;
  wsPort?: number;
  httpPort: number;
  db: Db;
  http: FastifyInstance;
  config: GatewayConfig;
  stop(): Promise<void>;
}

export async function startGateway(input: GatewayConfig | GatewayConfigInput, options: StartGatewayOptions = {}): Promise<RunningGateway> {
  const config = parseGatewayConfig(input);
  const logger = options.logger ?? createLogger('gateway', config.logLevel ? { level: config.logLevel } : {});
  // A short busy timeout: this connection runs on the broker's thread, so it must never wait long on a lock
  // held by `ciao admin`; a commit that cannot get the lock fails, nothing is acked, and the terminals send again.
  const db = openGatewayDatabase(config.database, { busyTimeoutMs: 250 });
  const clock = options.clock ?? systemClock;
  const metrics = createGatewayMetrics({ terminalsOnline: () => broker?.connectedTerminals().length ?? 0 });
  let broker: RunningBroker | undefined;
  let forwarder: ForwarderHandle | undefined;
  const cleanup: Array<() => Promise<void> | void> = [];

  try {
    const publisher = new SitePublisher(
      db,
      { publishRetained: (topic, payload) => broker?.publishRetained(topic, payload) },
      logger,
      {
        pollMs: config.terminals.siteDataPollMs,
        maxClockSkewMs: config.terminals.maxClockSkewMs,
        now: () => clock.now(),
        onChange: () => {
          // A terminal disabled (or deleted) while connected is put out now, not at its next reconnect.
          for (const id of broker?.connectedTerminals() ?? []) {
            const creds = terminalCredentials(db, id);
            if (!creds || creds.disabled) {
              logger.info({ terminalId: id }, 'disconnecting a terminal that is no longer allowed');
              broker?.disconnect(id);
            }
          }
        },
      },
    );
    const holdFile = process.env.CIAO_TEST_HOLD_COMMIT_FILE;
    const writer = config.groupCommit.writer === 'thread' ? await ThreadWriter.start(config.database, config.groupCommit.busyTimeoutMs, (reason) => logger.error({ reason }, 'commit writer thread stopped: starting a new one')) : new InlineWriter(db);
    // Everything the gateway writes goes through the group commit; this connection only reads (site data).
    cleanup.push(() => writer.close());
    const ingest = new TapIngest({
      db,
      writer,
      logger,
      metrics,
      acks: { sendAck: (terminalId, ack) => broker?.sendAck(terminalId, ack) },
      maxDelayMs: config.groupCommit.maxDelayMs,
      maxBatch: config.groupCommit.maxBatch,
      languageOf: (id) => publisher.languageOf(id),
      onRegistrations: () => forwarder?.wake(),
      now: () => clock.now().getTime(),
      ...(holdFile ? { mayCommit: () => !existsSync(holdFile) } : {}),
    });
    const status = new TerminalStatusTracker((item) => ingest.note(item), logger, () => clock.now());
    const authenticator = new TerminalAuthenticator(
      { credentials: (id) => terminalCredentials(db, id) },
      logger,
      { maxFailures: config.auth.maxFailures, maxFailuresPerAddress: config.auth.maxFailuresPerAddress, windowMs: config.auth.windowSeconds * 1000, lockoutMs: config.auth.lockoutSeconds * 1000 },
      (reason) => metrics.authFailures.inc({ reason }),
    );

    if (config.onss !== undefined) {
      // Checked here so a bad `onss` section fails the start with the field named; the forwarder reads the
      // section as written.
      const onss = parseWith(forwardingConfigSchema, config.onss);
      if (!onss.ok) throw new InvalidInputError(onss.problems.map((p) => ({ ...p, field: `onss.${p.field}`, message: `config onss.${p.message}` })));
      forwarder = await startForwarder({ db, config: config.onss as ForwardingConfig, logger: logger.child({ component: 'forwarder' }), clock });
    }

    const tls = config.mqtt.tls;
    broker = await startBroker(
      {
        authenticator,
        onTap: (terminalId, payload) => ingest.receive(terminalId, payload),
        onStatus: (terminalId, payload) => status.report(terminalId, payload),
        onConnected: (terminalId) => {
          status.online(terminalId);
          logger.info({ terminalId }, 'terminal connected');
        },
        onDisconnected: (terminalId) => {
          status.offline(terminalId);
          logger.info({ terminalId }, 'terminal disconnected');
        },
        onAclDenied: (action, terminalId, topic, rule) => {
          metrics.aclDenied.inc({ action });
          logger.warn({ terminalId, action, topic: topic.slice(0, 200), rule }, 'refused by the ACL');
        },
        onClientError: (reason, terminalId, message) => {
          metrics.clientErrors.inc({ reason });
          logger.warn({ terminalId, reason, err: message.slice(0, 200) }, 'connection closed by the broker');
        },
      },
      {
        tcp: { host: config.mqtt.host, port: config.mqtt.port },
        tls: tls
          ? {
              host: tls.host ?? config.mqtt.host,
              port: tls.port,
              cert: readFileSync(tls.cert),
              key: readFileSync(tls.key),
              ca: tls.ca ? readFileSync(tls.ca) : undefined,
              passphrase: tls.passphrase,
            }
          : undefined,
        ws: config.mqtt.ws ? { host: config.mqtt.ws.host ?? config.mqtt.host, port: config.mqtt.ws.port } : undefined,
        drainTimeoutMs: config.mqtt.drainTimeoutMs,
        maxTopicLevels: config.mqtt.maxTopicLevels,
        maxPacketBytes: config.mqtt.maxPacketBytes,
      },
      logger.child({ component: 'broker' }),
    );
    cleanup.push(() => broker?.close());
    publisher.start();
    cleanup.push(() => publisher.stop());

    const http = createHttpServer({ logger });
    cleanup.push(() => http.close());
    await http.register(
      operationsRoutes({
        registry: metrics.registry,
        health: {
          problem: () => ingest.degraded && `database commits failing (${ingest.degraded})`,
          details: () => ({ terminalsOnline: broker?.connectedTerminals().length ?? 0, pendingTaps: ingest.pending }),
        },
      }),
    );
    if (options.adminApi !== false) await http.register(adminApiPlugin, { db, now: () => clock.now() });
    for (const p of options.httpPlugins ?? []) {
      if (typeof p === 'function') await http.register(p, { db });
      else await http.register(p.plugin, { db, ...(p.options ?? {}) });
    }
    await http.listen({ host: config.http.host, port: config.http.port });
    const httpPort = (http.server.address() as { port: number }).port;
    logger.info({ mqttPort: broker.mqttPort, tlsPort: broker.tlsPort, wsPort: broker.wsPort, httpPort, database: config.database }, 'gateway started');

    let stopping: Promise<void> | undefined;
    const stop = () =>
      (stopping ??= (async () => {
        logger.info('gateway stopping');
        await broker!.stopListening();
        await ingest.stop();
        publisher.stop();
        // A moment for the acks of the last commit to reach the wire before the connections close; a
        // terminal that misses one sends the tap again and is acked again.
        await new Promise((r) => setTimeout(r, 100));
        if (forwarder) await forwarder.stop();
        await broker!.close();
        await http.close();
        db.close();
        logger.info('gateway stopped');
      })());

    return { mqttPort: broker.mqttPort, tlsPort: broker.tlsPort, wsPort: broker.wsPort, httpPort, db, http, config, stop };
  } catch (err) {
    for (const c of cleanup.reverse()) await c();
    if (forwarder) await forwarder.stop();
    db.close();
    throw err;
  }
}
