import { createLogger, type Logger } from '../shared/logging.ts';
import { systemClock, type Clock } from '../shared/clock.ts';
import { readForwardingConfig } from './forward/config.ts';
import { configSourceOf, gatewayConfigOf, readGatewaySecrets, type GatewayConfig, type GatewayConfigInput } from './config.ts';
import { saveMaxShiftHours } from './store/database.ts';
import { applicationName, openGatewayStore, storeLocationOf, type OpenedStore } from './store/gateway-store.ts';
import { clusterInstanceName } from './cluster/instance-name.ts';
import { GatewayRunJournal, HEARTBEAT_EVERY_MS } from './status/outage-journal.ts';
import { saveReleaseHorizonDays } from './site-data/held-tap-release.ts';
import { InlineWriter, ThreadWriter } from './ingest/writers.ts';
import type { RunningGateway, StartGatewayOptions } from './running-gateway.ts';
import { CommitQueue } from './ingest/commit-queue.ts';
import { Lifecycle, type Component } from './lifecycle/lifecycle.ts';
import { loadKeyRing, type BadgeKeyRing } from './badge-security/key-ring.ts';
import { openTerminalCa } from './fleet/terminal-ca.ts';
import { readReleasePublicKey } from '../shared/release/manifest.ts';

/**
 * The gateway: MQTT broker with terminal auth and ACL, durable tap ingest with acks after commit,
 * enrichment into registrations, retained config and roster per terminal, status tracking, health and
 * metrics over HTTP, and the ONSS forwarder when configured.
 *
 * It is a list of components, started in this order and stopped in reverse (docs/gateway.md, "How it is
 * built"): database, commit-writer, forwarder, cluster-bus, mqtt-broker, terminal-sync, tap-ingest,
 * cluster-watch, http, mqtt-listeners, pairing. Each gets
 * what the earlier ones made; terminals can connect only once everything that serves them runs, and on
 * stop they are turned away first and the database is closed last.
 *
 * This module imports only what the first two need; the components from the forwarder on are in
 * serving.ts, loaded once the commit writer thread is starting, so that the thread loads its modules and
 * opens its connection on the other core while this one loads the broker, HTTP and forwarder modules.
 */
export type { RunningGateway, StartGatewayOptions } from './running-gateway.ts';

export async function startGateway(input: GatewayConfig | GatewayConfigInput, options: StartGatewayOptions = {}): Promise<RunningGateway> {
  const config = gatewayConfigOf(input);
  const secrets = readGatewaySecrets(config);
  // The `onss` section, private key included, is read and checked once, before anything opens: a bad one
  // fails the start naming the field; relative paths start from the config file's folder.
  const onss = config.onss === undefined ? undefined : readForwardingConfig(config.onss, { messagePrefix: 'config ', ...configSourceOf(config) });
  // The badge master keys, like the TLS files, are read (and their file's mode checked) before anything opens.
  const badgeKeys = loadKeyRing({ file: config.badgeSecurity.keyFile, field: 'badgeSecurity.keyFile' });
  const releaseKey = secrets.releasePublicKey ? readReleasePublicKey(secrets.releasePublicKey, 'releases.publicKey') : undefined;
  // The terminal CA: opened (or made, at the first start) before anything listens, like the TLS files.
  const terminalCa = await openTerminalCa(config.terminalCa.cert!, config.terminalCa.key!);
  const logger = options.logger ?? createLogger('gateway', config.logLevel ? { level: config.logLevel } : {});
  if (terminalCa.created) logger.info({ cert: config.terminalCa.cert, key: config.terminalCa.key }, 'terminal CA created (keep a copy of both files: terminals paired with it need it)');
  const clock = options.clock ?? systemClock;
  const run = new Lifecycle(logger);
  try {
    // In a cluster, this instance's name: in the outage journal, on Redis and in each terminal's status.
    const instance = config.cluster ? clusterInstanceName(config.cluster.instance) : undefined;
    const storage = await run.start(database(config, clock, logger, instance));
    const commits = await run.start(commitWriter(config, storage, logger, badgeKeys, options, instance));
    // Loaded now, not when this module was: meanwhile the writer thread starts (see the comment at the top).
    const { startServing } = await import('./serving.ts');
    return await startServing({ config, secrets, onss, badgeKeys, releaseKey, terminalCa, logger, clock, options, run, instance, storage, commits });
  } catch (err) {
    await run.stop().catch((e: unknown) => logger.error({ err: e }, 'could not stop what had started'));
    throw err;
  }
}

/**
 * The gateway's store (docs/cluster.md, "The storage port"): the SQLite file of `database`, or the PostgreSQL
 * server of `store.url`, its schema brought up to date here, before the threads open their own connections.
 */
function database(config: GatewayConfig, clock: Clock, logger: Logger, instance: string | undefined): Component<OpenedStore> {
  return {
    name: 'database',
    async start() {
      // A short busy timeout on SQLite: this connection runs on the broker's thread, so it must never wait long
      // on a lock held by `ciao admin`. Taps and statuses are written by the group commit; this connection
      // writes only what people change (site data, corrections, users from the console), and a change that
      // finds the database busy past the timeout is answered 503 "try again".
      const storage = await openGatewayStore(storeLocationOf(config), {
        migrate: true,
        busyTimeoutMs: 250,
        applicationName: applicationName(instance, 'main'),
        logger,
      });
      const store = storage.store;
      // `ciao admin` and the console compute remarks and presence with the gateway's own maximum shift length.
      await saveMaxShiftHours(store, config.terminals.maxShiftHours);
      await saveReleaseHorizonDays(store, config.heldTaps.releaseHorizonDays);
      // The gateway's own stops and starts go in the outage journal, beside ONSS's and the terminals'.
      // An instance of a cluster beats under its own name: the gateway is out only while none runs.
      const runs = new GatewayRunJournal(store, () => clock.now(), instance);
      try {
        await runs.started();
      } catch (err) {
        logger.warn({ err }, 'could not journal the gateway start');
      }
      const heartbeat = setInterval(() => void runs.heartbeat(), HEARTBEAT_EVERY_MS);
      heartbeat.unref();
      return {
        value: storage,
        stop: async () => {
          clearInterval(heartbeat);
          try {
            await runs.stopped();
          } catch (err) {
            logger.warn({ err }, 'could not journal the gateway stop');
          }
          await storage.close();
        },
      };
    },
  };
}

/**
 * The gateway's one writer of taps, terminal statuses and the forwarder's state: the group commit on the
 * writer thread (gateway/ingest/commit-queue.ts). It starts before the forwarder and stops after it, so the
 * forwarder's last answers are committed.
 */
function commitWriter(config: GatewayConfig, storage: OpenedStore, logger: Logger, badgeKeys: BadgeKeyRing, options: StartGatewayOptions, instance: string | undefined): Component<CommitQueue> {
  return {
    name: 'commit-writer',
    async start() {
      const gc = config.groupCommit;
      const badges = { keys: badgeKeys, reorderToleranceMs: config.badgeSecurity.reorderToleranceSeconds * 1000, maxFutureMs: config.terminals.maxClockSkewMs };
      // The thread starts in the background (its modules, its connection) while the gateway starts its other
      // parts; tap-ingest waits for it before anything listens, so a thread that cannot start still fails the start.
      const writer = gc.writer === 'thread'
        ? ThreadWriter.begin(storeLocationOf(config), gc.busyTimeoutMs, {
            applicationName: applicationName(instance, 'writer'),
            onRestart: (reason) => logger.error({ reason }, 'commit writer thread stopped: starting a new one'),
            ...(options.spawnWriterThread ? { spawn: options.spawnWriterThread } : {}),
            badges,
          })
        : new InlineWriter(storage.store, badges);
      const queue = new CommitQueue(writer, { maxDelayMs: gc.maxDelayMs, maxBatch: gc.maxBatch, mayCommit: options.mayCommit, logger });
      return { value: queue, stop: () => queue.stop() };
    },
  };
}
