import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { Logger } from '../shared/logging.ts';
import type { Db } from '../shared/sqlite.ts';
import type { SqlStore } from './store/sql-store.ts';
import type { Clock } from '../shared/clock.ts';
import type { GatewayConfig } from './config.ts';
import type { SpawnWriterThread } from './ingest/writers.ts';
import type { SpawnForwarderThread } from './forward/thread.ts';

/**
 * What starting a gateway takes and gives (gateway/main.ts starts it, gateway/serving.ts its serving half):
 * apart, so that both halves name them without importing each other.
 */
export interface StartGatewayOptions {
  logger?: Logger;
  /** The gateway's clock (the demo runs a virtual day); the system clock by default. */
  clock?: Clock;
  /** Serve the site manager's admin API and dashboard on the HTTP server (default true). */
  adminApi?: boolean;
  /** Further fastify plugins to register on the gateway's HTTP server. */
  httpPlugins?: Array<FastifyPluginAsync<{ store: SqlStore }>>;
  /** Consulted before each group commit; while it answers false, received taps wait (crash-window tests). */
  mayCommit?: () => boolean;
  /** How the commit writer thread is started (tests inject one they can end as a crash would). */
  spawnWriterThread?: SpawnWriterThread;
  /** How the forwarder thread is started (tests inject one they can end as a crash would). */
  spawnForwarderThread?: SpawnForwarderThread;
}

export interface RunningGateway {
  mqttPort: number;
  tlsPort?: number;
  wsPort?: number;
  httpPort: number;
  /** The HTTPS pairing listener, when configured. */
  pairingPort?: number;
  pairingUrl?: string;
  /** The gateway's storage port (SQLite or PostgreSQL). */
  store: SqlStore;
  /** The SQLite connection of a gateway on SQLite; reading it on PostgreSQL throws (use `store`). */
  readonly db: Db;
  http: FastifyInstance;
  config: GatewayConfig;
  /** The components, in the order they started. */
  components: string[];
  stop(): Promise<void>;
}
