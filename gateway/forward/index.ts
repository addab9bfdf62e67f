import type { Db } from '../../shared/sqlite.ts';
import type { Logger } from '../../shared/logging.ts';
import type { Clock } from '../../shared/clock.ts';
import { createOnssPort, type OnssPort } from '../onss/port.ts';
import { readForwardingConfig, type ForwardingConfig, type ForwardingSettings } from './config.ts';
import { Forwarder } from './forwarder.ts';
import type { LockHoldSummary } from './short-writes.ts';

/**
 * The forwarder's face to the gateway: the `onss` section of the gateway config (read once, key included,
 * by readForwardingConfig) and startForwarder. It reads the gateway's `registrations` table in `seq` order
 * and sends each registration to ONSS exactly once (see forwarder.ts), keeping its own tables in the same
 * database; forwardingFacts and the view functions are the only readers of those tables.
 */
export { forwardingConfigSchema, readForwardingConfig, type ForwardingConfig, type ForwardingSettings, type ForwarderTuning } from './config.ts';
export * from './read-model.ts';
export { FORWARD_MIGRATIONS, PENDING_VALIDITY, type ForwardStateName, type ForwardStateRow, type OutageRow } from './schema.ts';
export { Forwarder } from './forwarder.ts';
export type { LockHoldSummary } from './short-writes.ts';
export { DirectForwardWriter, ForwardStatements, type ForwardWrite, type ForwardWriter } from './forward-writes.ts';
import type { ForwardWriter } from './forward-writes.ts';

export interface ForwarderHandle {
  /** Called after a group commit appended registrations: send soon. */
  wake(): void;
  /** How long the forwarder's write transactions held the database's write lock. */
  lockHold(): LockHoldSummary;
  stop(): Promise<void>;
}

export interface StartForwarderOptions {
  db: Db;
  /** The section as read by readForwardingConfig; or `config`, the section as written, read here. */
  settings?: ForwardingSettings;
  config?: ForwardingConfig;
  logger: Logger;
  clock?: Clock;
  /** The ONSS port; by default the HTTPS adapter built from the settings' connection. */
  port?: OnssPort;
  /**
   * Where the forwarder's changes are committed: in the gateway, the group commit of the taps (one writer,
   * one fsync for both); by default short transactions of its own on `db`.
   */
  writer?: ForwardWriter;
}

/**
 * Starts forwarding (or logs that it is off). A bad section throws an InvalidInputError naming the field,
 * before anything is started.
 */
export async function startForwarder(opts: StartForwarderOptions): Promise<ForwarderHandle> {
  const settings = opts.settings ?? readForwardingConfig(opts.config ?? {});
  if (!settings.enabled) {
    opts.logger.warn('ONSS forwarding is disabled (onss.enabled = false): registrations are kept in the database');
    return { wake() {}, lockHold: () => ({ transactions: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 }), async stop() {} };
  }
  const port = opts.port ?? createOnssPort(settings.connection);
  let forwarder: Forwarder;
  try {
    forwarder = new Forwarder(opts.db, port, settings.tuning, opts.logger, opts.clock, opts.writer);
  } catch (e) {
    port.close();
    throw e;
  }
  forwarder.start();
  opts.logger.info({ baseUrl: settings.connection.baseUrl, batchSize: settings.tuning.batchSize }, 'ONSS forwarder started');
  return {
    wake: () => forwarder.wake(),
    lockHold: () => forwarder.lockHold(),
    stop: () => forwarder.stop(),
  };
}
