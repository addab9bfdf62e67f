import type { KeyObject } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../shared/logging.ts';
import type { Clock } from '../shared/clock.ts';
import type { ForwardingSettings } from './forward/index.ts';
import { startForwarderThread, type ForwarderThreadHandle } from './forward/thread.ts';
import type { GatewayConfig, GatewaySecrets } from './config.ts';
import { ShiftNotifier } from './terminal-sync/shift-notifier.ts';
import type { ShiftChange } from './shifts/change.ts';
import type { ClusterBus } from './cluster/redis-bus.ts';
import { createGatewayMetrics, type GatewayMetrics } from './metrics.ts';
import { TapIngest } from './ingest/tap-ingest.ts';
import type { CommitQueue } from './ingest/commit-queue.ts';
import { TerminalStatusTracker } from './status/terminal-status.ts';
import { Gauge } from 'prom-client';
import { SitePublisher } from './terminal-sync/publisher.ts';
import type { SqlStore } from './store/sql-store.ts';
import { applicationName, storeLocationOf, type OpenedStore } from './store/gateway-store.ts';
import { terminalCredentials } from './site-data/terminals.ts';
import { TerminalAuthenticator } from './broker/auth.ts';
import { createTerminalBroker, type Listening, type TerminalBroker } from './broker/terminal-broker.ts';
import { createHttpServer, operationsRoutes } from './http-server.ts';
import { adminApiPlugin } from './http/index.ts';
import type { Lifecycle, Component } from './lifecycle/lifecycle.ts';
import { SiteDataService } from './site-data/service.ts';
import { startPairingListener, type PairingListener } from './http/pairing-server.ts';
import type { BadgeKeyRing } from './badge-security/key-ring.ts';
import { BadgeKeyHealth } from './ingest/badge-check.ts';
import { BadgeDesk } from './badge-security/desk-jobs.ts';
import type { TerminalCa } from './fleet/terminal-ca.ts';
import { FleetIdentity } from './fleet/service.ts';
import { ReleaseStore } from './fleet/releases.ts';
import { terminalRoutes } from './fleet/terminal-routes.ts';
import type { RunningGateway, StartGatewayOptions } from './running-gateway.ts';

/**
 * The gateway's components from the forwarder on (gateway/main.ts starts the database and the commit
 * writer, then loads this module while the writer thread starts): forwarder, cluster-bus, mqtt-broker,
 * terminal-sync, tap-ingest, cluster-watch, http, mqtt-listeners, pairing, in this order, on the
 * lifecycle main.ts made, which stops them in reverse (and stops everything if one fails to start).
 */
export interface ServingContext {
  config: GatewayConfig;
  secrets: GatewaySecrets;
  /** The `onss` section as read before anything opened; absent when the gateway does not forward. */
  onss: ForwardingSettings | undefined;
  badgeKeys: BadgeKeyRing;
  /** The release public key, read before anything opened; absent when none is configured. */
  releaseKey: KeyObject | undefined;
  terminalCa: TerminalCa;
  logger: Logger;
  clock: Clock;
  options: StartGatewayOptions;
  run: Lifecycle;
  /** In a cluster, this instance's name. */
  instance: string | undefined;
  /** The gateway's store (SQLite or PostgreSQL), opened and migrated by main.ts. */
  storage: OpenedStore;
  commits: CommitQueue;
}

/** Grace for the acks of the last commit to reach the wire before connections close (a terminal that misses one sends the tap again). */
const ACK_GRACE_MS = 100;

export async function startServing({ config, secrets, onss, badgeKeys, releaseKey, terminalCa, logger, clock, options, run, instance, storage, commits }: ServingContext): Promise<RunningGateway> {
  const metrics = createGatewayMetrics();
  const store = storage.store;
  const siteData = new SiteDataService(store, { now: () => clock.now() });
  // Fleet reads and writes through the storage port: certificates, releases, offers and update reports.
  const fleet: Fleet = {
    ca: terminalCa,
    identity: new FleetIdentity({ store: store, ca: terminalCa, validityDays: config.terminalCa.validityDays, siteData, logger: logger.child({ component: 'fleet' }) }),
    releases: new ReleaseStore(store, config.releases.dir!, releaseKey, config.releases.maxBytes),
    releaseKeyPem: secrets.releasePublicKey?.toString('utf8'),
  };
  const forwarder = await run.start(forwarding(config, onss, store, logger, clock, commits, options, instance));
  watchForwarderState(metrics, forwarder);
  const cluster = await run.start(clusterBus(config, logger, instance));
  const broker = await run.start(mqttBroker(config, store, logger, metrics, fleet, cluster));
  const shifts = new ShiftNotifier(broker, logger.child({ component: 'shifts' }));
  // In a cluster, each commit's shift changes go to the other instances too: each tells the terminals
  // connected to it. When Redis comes back after a loss, what crossed meanwhile may be lost: every roster
  // is published again, with the states of now.
  const notifyShifts = (changes: ShiftChange[]) => {
    shifts.notify(changes);
    cluster?.publishShiftChanges(changes);
  };
  cluster?.onShiftChanges((changes) => shifts.notify(changes));
  const publisher = await run.start(terminalSync(config, store, logger, clock, broker, fleet, shifts));
  cluster?.onReconnected(() => {
    publisher.publishAll().catch((err: unknown) => logger.error({ err }, 'could not republish terminal config and roster'));
  });
  const ingest = await run.start(tapIngest(store, logger, metrics, clock, broker, publisher, notifyShifts, forwarder, commits, fleet, cluster?.instance));
  if (cluster) await run.start(clusterWatch(config, store, logger, metrics, cluster, ingest.status));
  // Held taps a site-data change released: terminals learn the shift states, the forwarder sends, the
  // writer thread checks the secure badges' ones.
  siteData.onReleased((r) => {
    notifyShifts(r.shifts);
    if (r.registrations > 0) forwarder?.wake();
    if (r.badgeChecks > 0) ingest.taps.settleBadgeChecks();
  });
  const pairingInfo: { current?: { url: string; fingerprint: string } } = {};
  // The desk reader attached to this machine, on which the console personalises blank secure badges.
  const badgeDesk = new BadgeDesk({ store, keys: badgeKeys, settings: config.badgeSecurity.deskReader, logger: logger.child({ component: 'badge-desk' }), now: () => clock.now() });
  const http = await run.start(httpServer({ config, store, logger, metrics, clock, broker, taps: ingest.taps, badgeKeys: await BadgeKeyHealth.open(store, badgeKeys, logger), options, siteData, pairing: () => pairingInfo.current, fleet, badgeDesk, forwarder, cluster }));
  const listening = await run.start(mqttListeners(config, secrets, logger, metrics, broker, ingest, publisher, fleet));
  const pairing = await run.start(pairingListener(config, secrets, logger, siteData, listening, fleet));
  pairingInfo.current = pairing;
  const httpPort = (http.server.address() as { port: number }).port;
  logger.info({ mqttPort: listening.mqttPort, tlsPort: listening.tlsPort, wsPort: listening.wsPort, httpPort, database: config.database, components: run.order }, 'gateway started');
  const stop = async () => {
    logger.info('gateway stopping');
    await run.stop();
    logger.info('gateway stopped');
  };
  return { mqttPort: listening.mqttPort, tlsPort: listening.tlsPort, wsPort: listening.wsPort, httpPort, pairingPort: pairing?.port, pairingUrl: pairing?.url, store, get db() {
    if (!storage.db) throw new Error('this gateway runs on PostgreSQL (store.kind "postgres"): read its data through `store`');
    return storage.db;
  }, http, config, components: run.order, stop };
}

/**
 * The forwarder's state as a metric, read at each scrape, so that monitoring sees a forwarder thread that
 * died (`stopped`) as /health does, and which instance forwards: `forwarding`, `standby` (another instance
 * holds the lease), `off` (disabled in the config) or `stopped`.
 */
function watchForwarderState(metrics: GatewayMetrics, forwarder: ForwarderThreadHandle | undefined): void {
  new Gauge({
    name: 'ciao_gateway_forwarder_state',
    help: 'The ONSS forwarder of this gateway: 1 for its state now (forwarding, standby, off, stopped), 0 for the others',
    labelNames: ['state'],
    registers: [metrics.registry],
    collect() {
      const now = forwarder === undefined ? 'off' : forwarder.problem() !== undefined ? 'stopped' : forwarder.role();
      for (const state of ['forwarding', 'standby', 'off', 'stopped']) this.set({ state }, state === now ? 1 : 0);
    },
  });
}

/** Terminal identities by certificate and signed releases (gateway/fleet/). */
interface Fleet {
  ca: TerminalCa;
  identity: FleetIdentity;
  releases: ReleaseStore;
  releaseKeyPem?: string;
}

/**
 * The ONSS forwarder, on a thread of its own (gateway/forward/thread.ts): its work never delays the broker's
 * acks. Its changes are committed by the gateway's one writer, with the taps. It stops before the commit
 * writer, so the answers to its last batches are committed.
 */
function forwarding(config: GatewayConfig, settings: ForwardingSettings | undefined, store: SqlStore, logger: Logger, clock: Clock, commits: CommitQueue, options: StartGatewayOptions, instance: string | undefined): Component<ForwarderThreadHandle | undefined> {
  return {
    name: 'forwarder',
    async start() {
      if (settings === undefined) return { value: undefined };
      const forwarder = await startForwarderThread({
        location: storeLocationOf(config),
        store,
        applicationName: applicationName(instance, 'forwarder'),
        settings,
        logger: logger.child({ component: 'forwarder' }),
        clock,
        writer: commits.forwardWriter,
        ...(options.spawnForwarderThread ? { spawn: options.spawnForwarderThread } : {}),
      });
      return { value: forwarder, stop: () => forwarder.stop() };
    },
  };
}

/** The other instances of a cluster, over Redis (only with a `cluster` section; docs/cluster.md). */
function clusterBus(config: GatewayConfig, logger: Logger, instance: string | undefined): Component<ClusterBus | undefined> {
  return {
    name: 'cluster-bus',
    async start() {
      const c = config.cluster;
      if (!c) return { value: undefined };
      // Loaded only in a cluster: the Redis client is not on a lone gateway's start.
      const { connectClusterBus } = await import('./cluster/redis-bus.ts');
      const bus = await connectClusterBus({ url: c.redis, channelPrefix: c.channelPrefix, connectTimeoutMs: c.connectTimeoutMs, instance, heartbeatMs: c.heartbeatSeconds * 1000, logger });
      return { value: bus, stop: () => bus.close() };
    },
  };
}

function mqttBroker(config: GatewayConfig, store: SqlStore, logger: Logger, metrics: GatewayMetrics, fleet: Fleet, cluster: ClusterBus | undefined): Component<TerminalBroker> {
  return {
    name: 'mqtt-broker',
    async start() {
      const authenticator = new TerminalAuthenticator(
        { credentials: (id) => terminalCredentials(store, id) },
        logger,
        { maxFailures: config.auth.maxFailures, maxFailuresPerAddress: config.auth.maxFailuresPerAddress, windowMs: config.auth.windowSeconds * 1000, lockoutMs: config.auth.lockoutSeconds * 1000 },
        (reason) => metrics.authFailures.inc({ reason }),
        fleet.identity.registry(),
      );
      const broker = await createTerminalBroker(
        {
          authenticator,
          onAclDenied: (action, terminalId, topic, rule) => {
            metrics.aclDenied.inc({ action });
            logger.warn({ terminalId, action, topic: topic.slice(0, 200), rule }, 'refused by the ACL');
          },
          onClientError: (reason, terminalId, message) => {
            metrics.clientErrors.inc({ reason });
            logger.warn({ terminalId, reason, err: message.slice(0, 200) }, 'connection closed by the broker');
          },
        },
        { drainTimeoutMs: config.mqtt.drainTimeoutMs, maxTopicLevels: config.mqtt.maxTopicLevels, maxPacketBytes: config.mqtt.maxPacketBytes },
        logger.child({ component: 'broker' }),
        cluster,
      );
      return { value: broker, stop: () => broker.close() };
    },
  };
}

function terminalSync(config: GatewayConfig, store: SqlStore, logger: Logger, clock: Clock, broker: TerminalBroker, fleet: Fleet, shifts: ShiftNotifier): Component<SitePublisher> {
  return {
    name: 'terminal-sync',
    async start() {
      const publisher = new SitePublisher(store, broker, logger, {
        pollMs: config.terminals.siteDataPollMs,
        maxClockSkewMs: config.terminals.maxClockSkewMs,
        maxShiftHours: config.terminals.maxShiftHours,
        shifts,
        now: () => clock.now(),
        onChange: async () => {
          // A terminal disabled (or deleted) while connected is put out now, not at its next reconnect.
          // So is one whose certificate was revoked (disabling a terminal revokes its certificates).
          for (const id of broker.connectedTerminals()) {
            const creds = await terminalCredentials(store, id);
            const serial = broker.connectedCertificate(id);
            if (!creds || creds.disabled || (serial !== undefined && !(await fleet.identity.stillAllowed(id, serial)))) {
              logger.info({ terminalId: id, serial }, 'disconnecting a terminal that is no longer allowed');
              broker.disconnect(id);
            }
          }
        },
      });
      await publisher.start();
      return { value: publisher, stop: () => publisher.stop() };
    },
  };
}

interface Ingest {
  taps: TapIngest;
  status: TerminalStatusTracker;
}

/**
 * In a cluster: the terminals of an instance that stopped answering are marked offline
 * (gateway/cluster/instance-watch.ts); so are those this instance had before it (re)started, which connect
 * again in a moment if they can.
 */
function clusterWatch(config: GatewayConfig, store: SqlStore, logger: Logger, metrics: GatewayMetrics, cluster: ClusterBus, status: TerminalStatusTracker): Component<void> {
  return {
    name: 'cluster-watch',
    async start() {
      const heartbeatMs = config.cluster!.heartbeatSeconds * 1000;
      // Read at each scrape: whether Redis is reachable, and how many other instances were heard lately.
      new Gauge({ name: 'ciao_gateway_cluster_redis_connected', help: '1 while both Redis connections of the cluster are up', registers: [metrics.registry], collect() {
        this.set(cluster.connected() ? 1 : 0);
      } });
      new Gauge({ name: 'ciao_gateway_cluster_peers', help: 'Other instances heard saying they are alive within three heartbeats', registers: [metrics.registry], collect() {
        const now = Date.now();
        this.set([...cluster.peers().values()].filter((t) => now - t <= 3 * heartbeatMs).length);
      } });
      status.instanceGone(cluster.instance);
      const { watchInstances } = await import('./cluster/instance-watch.ts');
      const watch = watchInstances({
        store: store,
        self: cluster.instance,
        heartbeatMs,
        peers: () => cluster.peers(),
        upForMs: () => cluster.upForMs(),
        onGone: (instance) => status.instanceGone(instance),
        logger: logger.child({ component: 'cluster' }),
      });
      return { value: undefined, stop: () => watch.stop() };
    },
  };
}

function tapIngest(store: SqlStore, logger: Logger, metrics: GatewayMetrics, clock: Clock, broker: TerminalBroker, publisher: SitePublisher, notifyShifts: (changes: ShiftChange[]) => void, forwarder: ForwarderThreadHandle | undefined, commits: CommitQueue, fleet: Fleet, instance: string | undefined): Component<Ingest> {
  return {
    name: 'tap-ingest',
    async start() {
      await commits.ready();
      const taps = new TapIngest({
        store,
        queue: commits,
        logger,
        metrics,
        acks: broker,
        languageOf: (id) => publisher.languageOf(id),
        onRegistrations: () => forwarder?.wake(),
        onShiftChanges: notifyShifts,
        now: () => clock.now().getTime(),
      });
      const status = new TerminalStatusTracker((item) => taps.note(item), logger, () => clock.now(), (terminalId, report) => {
        // What a terminal says about its update goes to the fleet's table (written only when it changes).
        const update = report.update;
        if (!update) return;
        fleet.releases.noteReport(terminalId, update, new Date()).then(
          (changed) => {
            if (changed) logger.info({ terminalId, update }, 'terminal update report');
          },
          (err: unknown) => logger.warn({ terminalId, err: (err as Error).message }, 'could not keep a terminal update report'),
        );
      }, instance);
      // Held taps a release (here or from `ciao admin`) handed to the badge check are settled by the writer.
      taps.settleBadgeChecks();
      publisher.onSiteDataChange(() => taps.settleBadgeChecks());
      return {
        value: { taps, status },
        // Commits (and acks) what was received, then leaves a moment for those acks to reach the wire
        // before the broker closes the connections.
        stop: async () => {
          await taps.stop();
          await new Promise((r) => setTimeout(r, ACK_GRACE_MS));
        },
      };
    },
  };
}

/** What the HTTP component serves: operations (health, metrics), the admin API and the console. */
interface HttpDeps {
  config: GatewayConfig;
  store: SqlStore;
  logger: Logger;
  metrics: GatewayMetrics;
  clock: Clock;
  broker: TerminalBroker;
  taps: TapIngest;
  badgeKeys: BadgeKeyHealth;
  options: StartGatewayOptions;
  siteData: SiteDataService;
  pairing: () => { url: string; fingerprint: string } | undefined;
  fleet: Fleet;
  badgeDesk: BadgeDesk;
  /** Absent when this gateway does not forward to ONSS. */
  forwarder: ForwarderThreadHandle | undefined;
  /** Absent when this gateway is not in a cluster. */
  cluster: ClusterBus | undefined;
}

function httpServer({ config, store, logger, metrics, clock, broker, taps, badgeKeys, options, siteData, pairing, fleet, badgeDesk, forwarder, cluster }: HttpDeps): Component<FastifyInstance> {
  return {
    name: 'http',
    async start() {
      const http = createHttpServer({ logger });
      try {
        await http.register(
          operationsRoutes({
            registry: metrics.registry,
            health: {
              problem: () => (taps.degraded && `database commits failing (${taps.degraded})`) || forwarder?.problem() || badgeKeys.problem(),
              // A standby (another gateway holds the forwarder lease) is healthy: it takes terminals and taps.
              // In a cluster, Redis away does not make an instance unhealthy (its terminals' taps are stored and
              // acked), but it is said: acks and shift changes for other instances wait for it.
              details: () => ({
                terminalsOnline: broker.connectedTerminals().length,
                pendingTaps: taps.pending,
                forwarder: forwarder?.role() ?? 'off',
                ...(forwarder?.holder() ? { forwarderHolder: forwarder.holder() } : {}),
                ...(cluster ? { cluster: { instance: cluster.instance, redis: cluster.connected() ? 'connected' : 'unreachable' } } : {}),
              }),
            },
          }),
        );
        if (options.adminApi !== false) await http.register(adminApiPlugin, { store, now: () => clock.now(), siteData, pairing, releases: fleet.releases, badgeDesk });
        for (const plugin of options.httpPlugins ?? []) await http.register(plugin, { store });
        await http.listen({ host: config.http.host, port: config.http.port });
      } catch (err) {
        await http.close();
        throw err;
      }
      // A personalisation waiting for a badge stops waiting before the database closes.
      return { value: http, stop: async () => { await badgeDesk.stop(); await http.close(); } };
    },
  };
}

function pairingListener(config: GatewayConfig, secrets: GatewaySecrets, logger: Logger, siteData: SiteDataService, listening: Listening, fleet: Fleet): Component<PairingListener | undefined> {
  return {
    name: 'pairing',
    async start() {
      const p = config.http.pairing;
      if (!p || !secrets.pairing) return { value: undefined };
      const listener = await startPairingListener({
        host: p.host ?? config.http.host,
        port: p.port,
        ...secrets.pairing,
        mqttCa: secrets.tls?.ca,
        publicUrl: p.publicUrl,
        mqttUrl: p.mqttUrl,
        mqttPorts: () => ({ port: listening.mqttPort, tlsPort: listening.tlsPort }),
        service: siteData,
        logger,
        certificates: {
          clientCaPem: fleet.ca.certPem,
          pairWithCsr: (code, csr, from) => fleet.identity.pairWithCsr(code, csr, from),
          releaseKeyPem: fleet.releaseKeyPem,
          routes: terminalRoutes({ identity: fleet.identity, releases: fleet.releases }),
        },
      });
      return { value: listener, stop: () => listener.close() };
    },
  };
}

function mqttListeners(config: GatewayConfig, secrets: GatewaySecrets, logger: Logger, metrics: GatewayMetrics, broker: TerminalBroker, ingest: Ingest, publisher: SitePublisher, fleet: Fleet): Component<Listening> {
  return {
    name: 'mqtt-listeners',
    async start() {
      const tls = config.mqtt.tls;
      const listening = await broker.listen(
        {
          onTap: (terminalId, payload) => ingest.taps.receive(terminalId, payload),
          onStatus: (terminalId, payload) => ingest.status.report(terminalId, payload),
          onConnected: (terminalId) => {
            ingest.status.online(terminalId);
            // The states it missed while away: its roster again, with every worker's state of now.
            void publisher.publishRoster(terminalId);
            metrics.terminalsOnline.inc();
            logger.info({ terminalId }, 'terminal connected');
          },
          onDisconnected: (terminalId) => {
            ingest.status.offline(terminalId);
            metrics.terminalsOnline.dec();
            logger.info({ terminalId }, 'terminal disconnected');
          },
        },
        {
          tcp: { host: config.mqtt.host, port: config.mqtt.port },
          tls: tls && secrets.tls ? { host: tls.host ?? config.mqtt.host, port: tls.port, ...secrets.tls, passphrase: tls.passphrase, clientCa: Buffer.from(fleet.ca.certPem) } : undefined,
          ws: config.mqtt.ws ? { host: config.mqtt.ws.host ?? config.mqtt.host, port: config.mqtt.ws.port } : undefined,
        },
      );
      return { value: listening, stop: () => listening.stopListening() };
    },
  };
}
