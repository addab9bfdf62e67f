import { threadId } from 'node:worker_threads';
import type { SqlStore } from '../store/sql-store.ts';
import { SqliteStore } from '../store/sqlite-store.ts';
import type { Logger } from '../../shared/logging.ts';
import type { Clock } from '../../shared/clock.ts';
import { createOnssPort, type OnssPort } from '../onss/port.ts';
import { readForwardingConfig, type ForwardingConfig, type ForwardingSettings } from './config.ts';
import { Forwarder } from './forwarder.ts';
import type { LockHoldSummary } from './short-writes.ts';
import type { ForwarderFence, ForwarderLease } from './lease.ts';
import type { ForwardWriter } from './forward-writes.ts';
import { SqliteForwarderLease } from './sqlite-lease.ts';
import { PostgresForwarderLease } from './postgres-lease.ts';
import { ForwarderLeadership, type ForwarderRole } from './leadership.ts';

/**
 * The forwarder's face to the gateway: the `onss` section of the gateway config (read once, key included,
 * by readForwardingConfig) and startForwarder. It reads the gateway's `registrations` table in `seq` order
 * and sends each registration to ONSS exactly once (see forwarder.ts), keeping its own tables in the same
 * database; forwardingFacts and the view functions are the only readers of those tables.
 */
export { forwardingConfigSchema, readForwardingConfig, type ForwardingConfig, type ForwardingSettings, type ForwarderTuning, type LeaseSettings } from './config.ts';
export { LeaseLostError, type ForwarderLease, type LeaseHolder } from './lease.ts';
export { SqliteForwarderLease } from './sqlite-lease.ts';
export { PostgresForwarderLease } from './postgres-lease.ts';
export type { ForwarderRole } from './leadership.ts';
export * from './read-model.ts';
export { type ForwardStateName, type ForwardStateRow, type OutageRow } from './schema.ts';
export type { LockHoldSummary } from './short-writes.ts';
export { DirectForwardWriter, applyForwardWrite, type ForwardWrite, type ForwardWriter } from './forward-writes.ts';
export interface ForwarderHandle {
  /** Called after a group commit appended registrations: send soon. */
  wake(): void;
  /** `forwarding` while this process holds the forwarder lease, `standby` while another does, `off` when disabled. */
  role(): ForwarderRole | 'off';
  /** The lease holder this process last saw (itself while forwarding). */
  holder(): string | undefined;
  /** How long the forwarder's write transactions held the database's write lock. */
  lockHold(): LockHoldSummary;
  stop(): Promise<void>;
}

export interface StartForwarderOptions {
  /**
   * Where the forwarder reads (the storage port): on its own thread, the store of its own connection
   * (`SqliteStore.of(db)`); the SQLite lease and the default writer need a SQLite store.
   */
  store: SqlStore;
  /** The section as read by readForwardingConfig; or `config`, the section as written, read here. */
  settings?: ForwardingSettings;
  config?: ForwardingConfig;
  logger: Logger;
  clock?: Clock;
  /** The ONSS port; by default the HTTPS adapter built from the settings' connection (a new one each term). */
  port?: OnssPort;
  /** Who may forward; by default the lease the settings name (a row in the SQLite database, or a PostgreSQL advisory lock). */
  lease?: ForwarderLease;
  /**
   * Where the forwarder's changes are committed: in the gateway, the group commit of the taps (one writer,
   * one fsync for both); by default short transactions of its own on the SQLite connection of `store`.
   */
  writer?: ForwardWriter;
  /** Told when the role or the holder seen changed (see ForwarderLeadership). */
  onRoleChange?: (role: ForwarderRole, holder: string | undefined) => void;
}

/**
 * Starts forwarding (or logs that it is off). A bad section throws an InvalidInputError naming the field,
 * before anything is started. The forwarder runs only while this process holds the forwarder lease
 * (leadership.ts); the first attempt to take it is made before this returns.
 */
export async function startForwarder(opts: StartForwarderOptions): Promise<ForwarderHandle> {
  const settings = opts.settings ?? readForwardingConfig(opts.config ?? {});
  if (!settings.enabled) {
    opts.logger.warn('ONSS forwarding is disabled (onss.enabled = false): registrations are kept in the database');
    return { wake() {}, role: () => 'off', holder: () => undefined, lockHold: () => ({ transactions: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 }), async stop() {} };
  }
  const { connection, tuning } = settings;
  const timing = { ttlMs: settings.lease.ttlMs, renewMs: settings.lease.renewMs };
  const lease = opts.lease ?? (settings.lease.store === 'postgres'
    ? await PostgresForwarderLease.open({ url: settings.lease.url, lockId: settings.lease.lockId, timing, logger: opts.logger })
    : new SqliteForwarderLease(sqliteStoreForLease(opts.store), timing));
  // Checked when each batch is marked in flight; a lease kept in this database is checked again in that transaction.
  const fence: ForwarderFence = { assertHeld: () => lease.assertHeld(), ...(lease.store === 'sqlite' ? { holderInDatabase: lease.holderId } : {}), ...advisoryFence(lease, opts.store) };
  let port = opts.port;
  const leadership = new ForwarderLeadership({
    lease,
    timing,
    logger: opts.logger,
    ...(opts.onRoleChange ? { onChange: opts.onRoleChange } : {}),
    makeForwarder: () => {
      // The given port serves the first term; each later term (after a lost lease) gets a port of its own.
      const p = port ?? createOnssPort(connection);
      port = undefined;
      try {
        return new Forwarder(opts.store, p, tuning, opts.logger, opts.clock, opts.writer, fence);
      } catch (e) {
        p.close();
        throw e;
      }
    },
  });
  await leadership.start();
  opts.logger.info({ threadId, baseUrl: connection.baseUrl, batchSize: tuning.batchSize, lease: lease.store, holder: lease.holderId, role: leadership.role }, 'ONSS forwarder started');
  return {
    wake: () => leadership.wake(),
    role: () => leadership.role,
    holder: () => leadership.holder,
    lockHold: () => leadership.lockHold(),
    stop: async () => {
      await leadership.stop();
      port?.close();
    },
  };
}

/**
 * An advisory lock taken on the database the forwarder's data is in is checked again in the transaction that
 * marks a batch in flight (lease.ts, ForwarderFence); one taken on another database cannot be seen from it.
 */
function advisoryFence(lease: ForwarderLease, store: SqlStore): Pick<ForwarderFence, 'advisoryLockInDatabase'> {
  // The store's key, read without loading the PostgreSQL adapter (and `pg`) into a gateway on SQLite.
  const storeKey = store.dialect === 'postgres' ? (store as SqlStore & { databaseKey?: string }).databaseKey : undefined;
  if (!(lease instanceof PostgresForwarderLease) || storeKey === undefined || lease.databaseKey !== storeKey) return {};
  return { advisoryLockInDatabase: () => lease.heldLock() };
}

/** The lease kept as a row needs the SQLite file: on PostgreSQL the lease is its advisory lock. */
function sqliteStoreForLease(store: SqlStore): SqliteStore {
  if (store instanceof SqliteStore) return store;
  throw new Error('onss.lease.store "sqlite" keeps the forwarder lease in the SQLite gateway database: with a PostgreSQL store, set onss.lease.store to "postgres"');
}
