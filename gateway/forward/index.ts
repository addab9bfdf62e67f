import { z } from 'zod';
import type { Db } from '../../shared/sqlite.ts';
import type { Logger } from '../../shared/logging.ts';

/**
 * The forwarder's face to the gateway: the `onss` section of the gateway config and a handle to start it.
 * (The forwarder itself arrives with the ONSS issue; until then the section is accepted but forwarding is off.)
 */
export const forwardingConfigSchema = z.object({}).passthrough();
export type ForwardingConfig = z.infer<typeof forwardingConfigSchema>;

export interface ForwarderHandle {
  /** Called after a group commit appended registrations: send soon. */
  wake(): void;
  stop(): Promise<void>;
}

export async function startForwarder(opts: { db: Db; config: ForwardingConfig; logger: Logger }): Promise<ForwarderHandle> {
  opts.logger.warn('ONSS forwarding is not built yet: registrations are kept in the database');
  return { wake() {}, async stop() {} };
}
