import { readFileSync } from 'node:fs';
import { z } from 'zod';

/**
 * The `onss` section of the gateway config. `privateKey` and `ca` take either PEM text or a file path;
 * the environment variable CIAO_ONSS_PRIVATE_KEY (PEM) overrides `privateKey`, so the key can stay out of
 * the config file.
 */
const ms = (def: number, min = 0) => z.number().int().min(min).default(def);

export const forwardingConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    baseUrl: z.string().url('must be a URL such as https://services-sim.socialsecurity.be').optional(),
    clientId: z.string().min(1, 'must not be empty').optional(),
    privateKey: z.string().min(1, 'must be PEM text or a path to a PEM file').optional(),
    keyId: z.string().min(1).optional(),
    tokenAudience: z.string().url('must be the token endpoint URL').optional(),
    ca: z.string().min(1).optional(),
    batchSize: z.number().int().min(1, 'must be at least 1').max(200, 'must be at most 200 (ONSS limit)').default(100),
    /** Calls on the wire at once; 1 keeps strict arrival order at ONSS. */
    maxBatchesInFlight: z.number().int().min(1).max(8).default(2),
    requestTimeoutMs: ms(30_000, 100),
    tokenTimeoutMs: ms(10_000, 100),
    /**
     * After an unanswered call, ONSS is asked what it holds no earlier than requestTimeoutMs + this after the
     * call was sent (a call the gateway gave up on may still be processed meanwhile); default: requestTimeoutMs.
     */
    reconcileDelayMs: z.number().int().min(0).optional(),
    reconcileConcurrency: z.number().int().min(1).max(32).default(8),
    /** How often created registrations are polled until ONSS has validated them; 0 turns polling off. */
    validityPollIntervalMs: ms(60_000),
    validityPollBatch: z.number().int().min(1).max(1000).default(500),
    /** Look for new registrations this often even without a wake-up. */
    idlePollMs: ms(2_000, 10),
    backoffInitialMs: ms(1_000, 1),
    backoffMaxMs: ms(300_000, 1),
    circuitFailureThreshold: z.number().int().min(1).default(5),
    circuitOpenMs: ms(60_000),
  })
  .superRefine((c, ctx) => {
    if (!c.enabled) return;
    for (const field of ['baseUrl', 'clientId', 'privateKey'] as const) {
      if (c[field] === undefined && !(field === 'privateKey' && process.env.CIAO_ONSS_PRIVATE_KEY)) {
        ctx.addIssue({ code: 'custom', path: [field], message: 'is required when forwarding is enabled' });
      }
    }
  });
export type ForwardingConfig = z.input<typeof forwardingConfigSchema>;
export type ResolvedForwardingConfig = z.output<typeof forwardingConfigSchema>;

/** PEM text as given, or the content of the file it names. */
export function pemFrom(value: string, field: string): string {
  if (value.includes('-----BEGIN')) return value;
  try {
    return readFileSync(value, 'utf8');
  } catch (e) {
    throw new Error(`onss.${field}: cannot read PEM file ${value}: ${(e as Error).message}`);
  }
}
