import { z } from 'zod';
import { InvalidInputError, type FieldProblem } from '../../shared/problems.ts';
import { problemsFromZod } from '../../shared/schema.ts';
import { POSTGRES_URL } from '../store/postgres/database-key.ts';
import { onssConnectionFields, readOnssConnection, type OnssConnection, type ReadOptions } from '../onss/config.ts';

/**
 * The `onss` section of the gateway config: how to reach ONSS (gateway/onss/config.ts) and how the
 * forwarder paces itself (below). It is read once, at start-up, by readForwardingConfig: the private key
 * is read and checked then, and every problem names its field (`onss.batchSize`, `onss.privateKey`).
 */
const ms = (def: number, min = 0) => z.number().int().min(min).default(def);

export const forwardingConfigSchema = z.strictObject({
  enabled: z.boolean().default(true),
  ...onssConnectionFields,
  batchSize: z.number().int().min(1, 'must be at least 1').max(200, 'must be at most 200 (ONSS limit)').default(100),
  /** Calls on the wire at once; 1 keeps strict arrival order at ONSS. */
  maxBatchesInFlight: z.number().int().min(1).max(8).default(2),
  /**
   * After an unanswered call, registrations ONSS did not show at the first look are asked about again no
   * earlier than requestTimeoutMs + this after the call was sent (a call the gateway gave up on may still be
   * processed meanwhile); default: requestTimeoutMs.
   */
  reconcileDelayMs: z.number().int().min(0).optional(),
  reconcileConcurrency: z.number().int().min(1).max(32).default(8),
  /**
   * How long after it was created (or last found pending) a registration's validity is asked about again,
   * until ONSS has run its checks; 0 turns the validity check off.
   */
  validityPollIntervalMs: ms(60_000),
  /** Registrations whose validity is settled per round (a round asks ONSS by period, see docs/onss.md). */
  validityPollBatch: z.number().int().min(1).max(50_000).default(5000),
  /** Period searches on the wire at once. */
  validityConcurrency: z.number().int().min(1).max(16).default(4),
  /** Look for new registrations this often even without a wake-up. */
  idlePollMs: ms(2_000, 10),
  /**
   * A batch smaller than `batchSize` waits this long for more registrations before it is sent, once: under
   * a steady trickle, calls carry tens of registrations instead of one or two (each call costs the gateway
   * about a millisecond of CPU whatever its size); 0 sends at once.
   */
  lingerMs: ms(50),
  backoffInitialMs: ms(1_000, 1),
  backoffMaxMs: ms(300_000, 1),
  circuitFailureThreshold: z.number().int().min(1).default(5),
  circuitOpenMs: ms(60_000),
  /**
   * Who may forward (lease.ts): a row with an expiry in the gateway database (default), or a PostgreSQL
   * advisory lock shared by the gateways of a cluster (docs/cluster.md).
   */
  lease: z.discriminatedUnion('store', [
    z.strictObject({
      store: z.literal('sqlite'),
      ttlMs: ms(15_000, 1000),
      renewMs: ms(3_000, 100),
    }).refine((l) => l.renewMs * 2 <= l.ttlMs, { path: ['renewMs'], message: 'must be at most half of ttlMs' }),
    z.strictObject({
      store: z.literal('postgres'),
      url: z.string().regex(POSTGRES_URL, 'must be a URL like postgres://ciao@db.internal:5432/ciao'),
      lockId: z.number().int().min(0).max(2_147_483_647).default(1),
      ttlMs: ms(10_000, 2000),
      renewMs: ms(2_000, 100),
    }).refine((l) => l.renewMs * 2 <= l.ttlMs, { path: ['renewMs'], message: 'must be at most half of ttlMs' }),
  ], 'must have store "sqlite" or "postgres"').default({ store: 'sqlite', ttlMs: 15_000, renewMs: 3_000 }),
});

/** The section as written in the config file. */
export type ForwardingConfig = z.input<typeof forwardingConfigSchema>;

/** How the forwarder paces itself (everything in the section but the connection). */
export interface ForwarderTuning {
  batchSize: number;
  maxBatchesInFlight: number;
  requestTimeoutMs: number;
  reconcileDelayMs: number;
  reconcileConcurrency: number;
  validityPollIntervalMs: number;
  validityPollBatch: number;
  validityConcurrency: number;
  idlePollMs: number;
  lingerMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  circuitFailureThreshold: number;
  circuitOpenMs: number;
}

/** Which store keeps the forwarder lease, and its timing. */
export type LeaseSettings =
  | { store: 'sqlite'; ttlMs: number; renewMs: number }
  | { store: 'postgres'; url: string; lockId: number; ttlMs: number; renewMs: number };

/** The section once read: forwarding off, or the connection (key included), the tuning and the lease. */
export type ForwardingSettings =
  | { enabled: false }
  | { enabled: true; connection: OnssConnection; tuning: ForwarderTuning; lease: LeaseSettings };

/**
 * Reads and checks the whole section once, the private key included; throws an InvalidInputError naming
 * each bad field (`onss.<field>`). Nothing is opened or started here, so a bad section fails the start
 * before any file is created.
 */
export function readForwardingConfig(section: unknown, options: ReadOptions & { messagePrefix?: string } = {}): ForwardingSettings {
  const refuse = (problems: FieldProblem[]) => new InvalidInputError(problems.map((p) => ({ ...p, message: `${options.messagePrefix ?? ''}${p.message}` })));
  const input = section ?? {};
  const parsed = forwardingConfigSchema.safeParse(input);
  if (!parsed.success) {
    throw refuse(problemsFromZod(parsed.error, input).map((p) => p.field === '(root)'
      ? { ...p, field: 'onss', message: p.message.replace('(root)', 'onss') }
      : { ...p, field: `onss.${p.field}`, message: `onss.${p.message}` }));
  }
  const c = parsed.data;
  if (!c.enabled) return { enabled: false };
  const connection = readOnssConnection(c, options);
  if (!connection.ok) throw refuse(connection.problems);
  return {
    enabled: true,
    connection: connection.value,
    tuning: {
      batchSize: c.batchSize,
      maxBatchesInFlight: c.maxBatchesInFlight,
      requestTimeoutMs: c.requestTimeoutMs,
      reconcileDelayMs: c.reconcileDelayMs ?? c.requestTimeoutMs,
      reconcileConcurrency: c.reconcileConcurrency,
      validityPollIntervalMs: c.validityPollIntervalMs,
      validityPollBatch: c.validityPollBatch,
      validityConcurrency: c.validityConcurrency,
      idlePollMs: c.idlePollMs,
      lingerMs: c.lingerMs,
      backoffInitialMs: c.backoffInitialMs,
      backoffMaxMs: c.backoffMaxMs,
      circuitFailureThreshold: c.circuitFailureThreshold,
      circuitOpenMs: c.circuitOpenMs,
    },
    lease: c.lease,
  };
}
