import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { InvalidInputError } from '../shared/problems.ts';
import { problemsFromZod } from '../shared/schema.ts';
import { readJsonFile } from '../shared/json-file.ts';
import { DEFAULT_MAX_SHIFT_HOURS, MAX_SHIFT_HOURS_RANGE } from '../shared/mqtt/payloads.ts';
import { POSTGRES_URL } from './store/postgres/database-key.ts';

/**
 * The gateway's JSON config, validated at start: a bad field is named with the rule it broke.
 * Relative paths are taken from the config file's folder. Environment variables may override secrets:
 * CIAO_GATEWAY_TLS_KEY (key file path), CIAO_GATEWAY_TLS_KEY_PASSPHRASE, CIAO_GATEWAY_DATABASE,
 * CIAO_GATEWAY_BADGE_KEY_FILE (badge key file path; CIAO_GATEWAY_BADGE_KEYS, the keys themselves, wins over any file),
 * CIAO_GATEWAY_TERMINAL_CA_KEY (the terminal CA's key file path).
 */
const port = z.number().int('must be a whole number').min(0, 'must be 0 (any free port) to 65535').max(65535, 'must be 0 to 65535');
const host = z.string().min(1, 'must not be empty');

export const gatewayConfigSchema = z.strictObject({
  database: z.string().min(1, 'must be the path of the SQLite database file'),
  /**
   * Where the areas on the storage port keep their data (docs/cluster.md, "The storage port"): the SQLite
   * file of `database` (the default), or a PostgreSQL server shared by a cluster's instances. The URL's
   * password is best given in CIAO_GATEWAY_DATABASE_URL, which replaces `url`.
   */
  store: z
    .strictObject({
      kind: z.enum(['sqlite', 'postgres'], 'must be "sqlite" or "postgres"').default('sqlite'),
      url: z.string().regex(POSTGRES_URL, 'must be a URL like postgres://ciao@10.0.0.5:5432/ciao').optional(),
      maxConnections: z.number().int('must be a whole number').min(1, 'must be 1 to 100').max(100, 'must be 1 to 100').default(10),
    })
    .prefault({}),
  mqtt: z
    .strictObject({
      host: host.default('0.0.0.0'),
      port: port.default(1883),
      tls: z
        .strictObject({
          host: host.optional(),
          port: port.default(8883),
          cert: z.string().min(1, 'must be the path of the PEM certificate'),
          key: z.string().min(1, 'must be the path of the PEM private key'),
          ca: z.string().optional(),
          passphrase: z.string().optional(),
        })
        .optional(),
      ws: z.strictObject({ host: host.optional(), port: port.default(8083) }).optional(),
      drainTimeoutMs: z.number().int().min(1000, 'must be at least 1000 ms').default(10_000),
      maxTopicLevels: z.number().int().min(5).max(100).default(8),
      maxPacketBytes: z.number().int().min(8192, 'must be at least 8192').max(268_435_455).default(65_536),
    })
    .prefault({}),
  http: z
    .strictObject({
      host: host.default('127.0.0.1'),
      port: port.default(8080),
      /**
       * The HTTPS listener where a terminal spends its one-time pairing code (`ciao terminal pair`). Its
       * certificate must chain to `ca`, whose fingerprint the console shows with each code.
       */
      pairing: z
        .strictObject({
          host: host.optional(),
          port: port.default(8443),
          cert: z.string().min(1, 'must be the path of the PEM certificate'),
          key: z.string().min(1, 'must be the path of the PEM private key'),
          ca: z.string().min(1, 'must be the path of the PEM CA certificate the terminals pin'),
          /** How terminals reach this listener, e.g. https://gateway.local:8443 (default: its host and port). */
          publicUrl: z.string().regex(/^https:\/\/[^\s/]+(:\d+)?\/?$/, 'must be a URL like https://gateway.local:8443').optional(),
          /** The MQTT address paired terminals use, e.g. mqtts://gateway.local:8883 (default: the gateway's host from the device's --gateway URL, TLS port). */
          mqttUrl: z.string().regex(/^(mqtts?|tls|tcp):\/\/[^\s]+$/, 'must be a URL like mqtts://gateway.local:8883').optional(),
        })
        .optional(),
    })
    .prefault({}),
  groupCommit: z
    .strictObject({
      maxDelayMs: z.number().min(0, 'must be 0 or more').max(1000, 'must be at most 1000 ms').default(2),
      maxBatch: z.number().int().min(1, 'must be at least 1').max(100_000).default(2000),
      /** thread: commits on a writer thread of their own (fsync never blocks the broker); inline: on the broker's thread. */
      writer: z.enum(['thread', 'inline'], 'must be thread or inline').default('thread'),
      /** How long a commit waits for a lock held by another process before it fails (and nothing is acked). */
      busyTimeoutMs: z.number().int().min(0).max(60_000).default(1000),
    })
    .prefault({}),
  auth: z
    .strictObject({
      maxFailures: z.number().int().min(1).default(5),
      maxFailuresPerAddress: z.number().int().min(1).default(50),
      windowSeconds: z.number().min(1).default(60),
      lockoutSeconds: z.number().min(0).default(60),
    })
    .prefault({}),
  terminals: z
    .strictObject({
      maxClockSkewMs: z.number().int().min(0).default(120_000),
      siteDataPollMs: z.number().int().min(50).max(60_000).default(1000),
      /** A working or on-break state lapses this many hours after it was set (missing OUT); sent to terminals. */
      maxShiftHours: z
        .number()
        .int('must be a whole number of hours')
        .min(MAX_SHIFT_HOURS_RANGE.min, `must be ${MAX_SHIFT_HOURS_RANGE.min} to ${MAX_SHIFT_HOURS_RANGE.max} hours`)
        .max(MAX_SHIFT_HOURS_RANGE.max, `must be ${MAX_SHIFT_HOURS_RANGE.min} to ${MAX_SHIFT_HOURS_RANGE.max} hours`)
        .default(DEFAULT_MAX_SHIFT_HOURS),
    })
    .prefault({}),
  /** Held taps sent late once their site data arrives: how far back (calendar days, the correction window). */
  heldTaps: z
    .strictObject({
      releaseHorizonDays: z.number().int('must be a whole number of days').min(1, 'must be 1 to 366 days').max(366, 'must be 1 to 366 days').default(30),
    })
    .prefault({}),
  /**
   * Secure badges (NTAG 424 DNA): where the master keys are, how late a lower read counter may come, and the
   * desk reader attached to this machine on which the console personalises blank badges (absent: the
   * console's action is off, saying so).
   */
  badgeSecurity: z
    .strictObject({
      keyFile: z.string().min(1, 'must be the path of the badge key file').optional(),
      reorderToleranceSeconds: z.number().min(0, 'must be 0 or more').max(3600, 'must be at most 3600 s').default(120),
      deskReader: z
        .strictObject({
          /** Part of the reader's PC/SC name, when several readers are attached (as `badge provision --reader`). */
          readerName: z.string().min(1, 'must be part of the desk reader\'s PC/SC name, e.g. "ACR122U"').optional(),
          /** pcscd's socket. */
          socketPath: z.string().min(1, 'must be the path of pcscd\'s socket').default('/run/pcscd/pcscd.comm'),
          /** How long the console's action waits for a badge on the reader (as `badge provision --wait`). */
          waitSeconds: z.number().int('must be a whole number of seconds').min(5, 'must be 5 to 600 s').max(600, 'must be 5 to 600 s').default(60),
        })
        .optional(),
    })
    .prefault({}),
  /**
   * The gateway's own certificate authority for terminal identities (client certificates over mutual TLS).
   * Both files are created at first start (mode 0600) unless an operator put a CA of their own there.
   * Default: `terminal-ca.pem` and `terminal-ca.key` beside the database.
   */
  terminalCa: z
    .strictObject({
      cert: z.string().min(1, 'must be the path of the PEM CA certificate').optional(),
      key: z.string().min(1, 'must be the path of the PEM CA private key').optional(),
      /** Lifetime of the client certificates it issues; terminals renew them when a third is left. */
      validityDays: z.number().int('must be a whole number of days').min(2, 'must be at least 2 days').max(825, 'must be at most 825 days').default(90),
    })
    .prefault({}),
  /** Signed terminal releases: the publisher's public key (the gateway never holds the signing key) and where bundles are kept. */
  releases: z
    .strictObject({
      /** PEM (SPKI) Ed25519 public key of `ciao release keygen`; without it, uploads are refused and terminals get no updates. */
      publicKey: z.string().min(1, 'must be the path of the release public key (PEM)').optional(),
      /** Where uploaded bundles are kept (default: `releases/` beside the database). */
      dir: z.string().min(1).optional(),
      maxBytes: z.number().int().min(1024).max(2 ** 31 - 1).default(200 * 1024 * 1024),
    })
    .prefault({}),
  /**
   * Several gateway instances as one (docs/cluster.md): their brokers exchange messages over Redis (acks for
   * a terminal connected to another instance, shift changes, Aedes' own client announcements). Without this
   * section the gateway is alone, as by default.
   */
  cluster: z
    .strictObject({
      /** Redis, e.g. redis://:password@10.0.0.5:6379/0 (the password may come from CIAO_GATEWAY_REDIS_URL instead). */
      redis: z.string().regex(/^rediss?:\/\/[^\s]+$/, 'must be a URL like redis://10.0.0.5:6379/0'),
      /** Prefix of this cluster's channels, so that several clusters may share one Redis. */
      channelPrefix: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1 to 64 letters, digits or _ . : -').default('ciao:'),
      /** How long the start waits for Redis before it fails (the gateway then exits 1 and systemd tries again). */
      connectTimeoutMs: z.number().int('must be a whole number of ms').min(100, 'must be at least 100 ms').max(300_000, 'must be at most 300000 ms').default(10_000),
      /**
       * How often each instance says it is alive on Redis; one silent for three of these is gone, and the
       * others mark offline the terminals still recorded as connected to it.
       */
      heartbeatSeconds: z.number().int('must be a whole number of seconds').min(1, 'must be 1 to 60 s').max(60, 'must be 1 to 60 s').default(5),
      /** This instance's name in logs and /health (default: host name and process id). */
      instance: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1 to 64 letters, digits or _ . : -').optional(),
    })
    .optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
  onss: z.unknown().optional(),
});

export type GatewayConfig = z.output<typeof gatewayConfigSchema>;
export type GatewayConfigInput = z.input<typeof gatewayConfigSchema>;

/**
 * Configs that went through `parseGatewayConfig`, with the folder their relative paths start from and the
 * environment that may override secrets: the gateway does not parse (or resolve) them again, and the
 * sections read later (`onss`) resolve their paths the same way.
 */
const parsed = new WeakMap<GatewayConfig, { baseDir: string; env: NodeJS.ProcessEnv }>();

export function parseGatewayConfig(input: unknown, baseDir = process.cwd(), env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const r = gatewayConfigSchema.safeParse(input);
  if (!r.success) throw new InvalidInputError(problemsFromZod(r.error).map((p) => ({ ...p, message: `config ${p.message}` })));
  const c = r.data;
  const abs = (p: string) => (p === ':memory:' ? p : resolve(baseDir, p));
  c.database = abs(env.CIAO_GATEWAY_DATABASE ?? c.database);
  if (c.mqtt.tls) {
    c.mqtt.tls.cert = abs(c.mqtt.tls.cert);
    c.mqtt.tls.key = abs(env.CIAO_GATEWAY_TLS_KEY ?? c.mqtt.tls.key);
    if (c.mqtt.tls.ca) c.mqtt.tls.ca = abs(c.mqtt.tls.ca);
    if (env.CIAO_GATEWAY_TLS_KEY_PASSPHRASE) c.mqtt.tls.passphrase = env.CIAO_GATEWAY_TLS_KEY_PASSPHRASE;
  }
  if (c.cluster && env.CIAO_GATEWAY_REDIS_URL) c.cluster.redis = env.CIAO_GATEWAY_REDIS_URL;
  checkStore(c, env);
  if (c.http.pairing) {
    c.http.pairing.cert = abs(c.http.pairing.cert);
    c.http.pairing.key = abs(c.http.pairing.key);
    c.http.pairing.ca = abs(c.http.pairing.ca);
  }
  // The terminal CA and the release bundles live beside the database unless placed elsewhere.
  const stateDir = c.database === ':memory:' ? baseDir : dirname(c.database);
  c.terminalCa.cert = c.terminalCa.cert ? abs(c.terminalCa.cert) : join(stateDir, 'terminal-ca.pem');
  const caKey = env.CIAO_GATEWAY_TERMINAL_CA_KEY ?? c.terminalCa.key;
  c.terminalCa.key = caKey ? abs(caKey) : join(stateDir, 'terminal-ca.key');
  if (c.releases.publicKey) c.releases.publicKey = abs(c.releases.publicKey);
  c.releases.dir = c.releases.dir ? abs(c.releases.dir) : join(stateDir, 'releases');
  const badgeKeyFile = env.CIAO_GATEWAY_BADGE_KEY_FILE ?? c.badgeSecurity.keyFile;
  if (badgeKeyFile) c.badgeSecurity.keyFile = abs(badgeKeyFile);
  parsed.set(c, { baseDir, env });
  return c;
}

/** `store.url` belongs to PostgreSQL, which needs one (from the file or CIAO_GATEWAY_DATABASE_URL). */
function checkStore(c: GatewayConfig, env: NodeJS.ProcessEnv): void {
  const fromEnv = env.CIAO_GATEWAY_DATABASE_URL;
  if (c.store.kind === 'sqlite') {
    if (c.store.url !== undefined) throw new InvalidInputError([{ field: 'store.url', rule: 'only-with-postgres', message: 'config store.url: is only for store.kind "postgres"; the SQLite store is the file of `database`' }]);
    return;
  }
  if (fromEnv !== undefined) {
    if (!POSTGRES_URL.test(fromEnv)) throw new InvalidInputError([{ field: 'store.url', rule: 'format', message: 'config store.url: CIAO_GATEWAY_DATABASE_URL must be a URL like postgres://ciao@10.0.0.5:5432/ciao' }]);
    c.store.url = fromEnv;
  }
  if (c.store.url === undefined) throw new InvalidInputError([{ field: 'store.url', rule: 'required', message: 'config store.url: is required with store.kind "postgres" (or CIAO_GATEWAY_DATABASE_URL in the environment)' }]);
  // The forwarder lease of gateways on PostgreSQL is an advisory lock of that database (unless the section
  // names another); a lease row would be in a SQLite file no other instance sees.
  const onss = c.onss as { lease?: { store?: unknown } } | undefined;
  if (onss !== null && typeof onss === 'object') {
    // A copy: the section as given (an object of the caller's) is left as it was.
    if (onss.lease === undefined) c.onss = { ...onss, lease: { store: 'postgres', url: c.store.url } };
    else if (onss.lease !== null && typeof onss.lease === 'object' && onss.lease.store === 'sqlite') {
      throw new InvalidInputError([{ field: 'onss.lease.store', rule: 'with-postgres-store', message: 'config onss.lease.store: "sqlite" keeps the forwarder lease in a SQLite file; with store.kind "postgres" it must be "postgres" (or left out: an advisory lock of store.url)' }]);
    }
  }
}

/** The config as the gateway runs it: parsed once, whether the caller parsed it already or not. */
export function gatewayConfigOf(input: GatewayConfig | GatewayConfigInput): GatewayConfig {
  return parsed.has(input as GatewayConfig) ? (input as GatewayConfig) : parseGatewayConfig(input);
}

/** Where a parsed config's relative paths start (the config file's folder) and which environment it read. */
export function configSourceOf(c: GatewayConfig): { baseDir: string; env: NodeJS.ProcessEnv } {
  return parsed.get(c) ?? { baseDir: process.cwd(), env: process.env };
}

/** The files the config names, read once at start so that an unreadable one stops the start before anything opens. */
export interface GatewaySecrets {
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer };
  pairing?: { cert: Buffer; key: Buffer; ca: Buffer };
  /** The release public key (PEM), when configured. */
  releasePublicKey?: Buffer;
}

export function readGatewaySecrets(c: GatewayConfig): GatewaySecrets {
  const read = (field: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new InvalidInputError([{ field, rule: 'readable-file', message: `config ${field}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` }]);
    }
  };
  const tls = c.mqtt.tls;
  const p = c.http.pairing;
  return {
    ...(tls ? { tls: { cert: read('mqtt.tls.cert', tls.cert), key: read('mqtt.tls.key', tls.key), ...(tls.ca ? { ca: read('mqtt.tls.ca', tls.ca) } : {}) } } : {}),
    ...(p ? { pairing: { cert: read('http.pairing.cert', p.cert), key: read('http.pairing.key', p.key), ca: read('http.pairing.ca', p.ca) } } : {}),
    ...(c.releases.publicKey ? { releasePublicKey: read('releases.publicKey', c.releases.publicKey) } : {}),
  };
}

export function loadGatewayConfig(file: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return parseGatewayConfig(readJsonFile(file, 'gateway config'), dirname(resolve(file)), env);
}
