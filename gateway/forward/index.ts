import type { Db } from '../../shared/sqlite.ts';
import type { Logger } from '../../shared/logging.ts';
import { parseWith } from '../../shared/schema.ts';
import { InvalidInputError } from '../../shared/problems.ts';
import { importPKCS8 } from 'jose';
import { forwardingConfigSchema, pemFrom, type ForwardingConfig } from './config.ts';
import { Forwarder } from './forwarder.ts';
import type { Clock } from '../../shared/clock.ts';

/**
 * The forwarder's face to the gateway: the `onss` section of the gateway config and a handle to start it.
 * It reads the gateway's `registrations` table in `seq` order and sends each registration to ONSS exactly
 * once (see forwarder.ts), keeping its own tables in the same database.
 */
export { forwardingConfigSchema, type ForwardingConfig, type ResolvedForwardingConfig } from './config.ts';
export * from './views.ts';
export { FORWARD_MIGRATIONS, type ForwardStateName, type ForwardStateRow, type OutageRow } from './schema.ts';
export { Forwarder } from './forwarder.ts';
export { ForwardStore } from './forward-store.ts';

export interface ForwarderHandle {
  /** Called after a group commit appended registrations: send soon. */
  wake(): void;
  stop(): Promise<void>;
}

export async function startForwarder(opts: { db: Db; config: ForwardingConfig; logger: Logger; clock?: Clock }): Promise<ForwarderHandle> {
  const parsed = parseWith(forwardingConfigSchema, opts.config ?? {});
  if (!parsed.ok) throw new InvalidInputError(parsed.problems.map((p) => ({ ...p, field: `onss.${p.field}`, message: `onss.${p.message}` })));
  const config = parsed.value;
  if (!config.enabled) {
    opts.logger.warn('ONSS forwarding is disabled (onss.enabled = false): registrations are kept in the database');
    return { wake() {}, async stop() {} };
  }
  // A key that cannot sign would only show up as failing calls: refuse to start instead, naming the field.
  try {
    await importPKCS8(pemFrom(process.env.CIAO_ONSS_PRIVATE_KEY ?? config.privateKey!, 'privateKey'), 'RS256');
  } catch (e) {
    throw new InvalidInputError([{ field: 'onss.privateKey', rule: 'pkcs8', message: `onss.privateKey: not a usable PKCS#8 RSA private key (-----BEGIN PRIVATE KEY-----): ${(e as Error).message}` }]);
  }
  const forwarder = new Forwarder(opts.db, config, opts.logger, opts.clock);
  forwarder.start();
  opts.logger.info({ baseUrl: config.baseUrl, batchSize: config.batchSize }, 'ONSS forwarder started');
  return {
    wake: () => forwarder.wake(),
    stop: () => forwarder.stop(),
  };
}
