import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { InvalidInputError } from '../shared/problems.ts';
import { DEFAULT_MAX_SHIFT_HOURS, LANGUAGES, MAX_SHIFT_HOURS_RANGE } from '../shared/mqtt/payloads.ts';
import { UNKNOWN_SITE } from './core/state.ts';
import { parseTerminalId } from '../shared/mqtt/topics.ts';
import { parseWith, refineWith } from '../shared/schema.ts';
import { readJsonFile } from '../shared/json-file.ts';

/**
 * `ciao terminal --config FILE`: the terminal's own settings (how to reach the gateway, which reader and
 * panel, where the outbox lives, the wiring). Site settings come from the gateway's retained config; the
 * `defaults` here apply until the first one arrives.
 */
export const SECRET_ENV = 'CIAO_TERMINAL_SECRET';

const pin = z.union([z.number().int().min(0).max(127), z.string().regex(/^A[0-9]{1,2}$/, 'must be a pin number or an analog pin name like A0')]);
export type Pin = z.infer<typeof pin>;

const lcdSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('parallel'),
    /** RS, EN, D4, D5, D6, D7 */
    pins: z.tuple([pin, pin, pin, pin, pin, pin]).default([7, 8, 9, 10, 11, 12]),
  }),
  z.strictObject({
    kind: z.literal('i2c'),
    controller: z.enum(['PCF8574', 'PCF8574A', 'PCF8574AT', 'PCF8574T', 'MJKDZ', 'LCM1602', 'JHD1313M1']).default('PCF8574'),
    address: z.number().int().min(0).max(127).optional(),
  }),
]);

export const boardSchema = z.strictObject({
  /** Serial device of the Arduino, e.g. /dev/ttyACM0 (a udev symlink like /dev/ciao-panel is best). */
  port: z.string().min(1),
  baudRate: z.number().int().positive().default(57600),
  pins: z
    .strictObject({
      greenLed: pin.default(2),
      redLed: pin.default(4),
      piezo: pin.default(3),
      buttons: z.strictObject({ in: pin.default('A0'), out: pin.default('A1'), break: pin.default('A2') }).default({ in: 'A0', out: 'A1', break: 'A2' }),
      lcd: lcdSchema.default({ kind: 'parallel', pins: [7, 8, 9, 10, 11, 12] }),
    })
    .default({ greenLed: 2, redLed: 4, piezo: 3, buttons: { in: 'A0', out: 'A1', break: 'A2' }, lcd: { kind: 'parallel', pins: [7, 8, 9, 10, 11, 12] } }),
  /** Buttons are wired to ground with the internal pull-up; presses shorter than this are bounce. */
  buttonDebounceMs: z.number().int().min(0).max(1000).default(50),
  /** How long the board may stay silent before it counts as unplugged. */
  heartbeatTimeoutMs: z.number().int().min(500).default(5000),
  reconnectSeconds: z.number().min(1).default(5),
});
export type BoardConfig = z.output<typeof boardSchema>;

export const pcscSchema = z.strictObject({
  socketPath: z.string().default('/run/pcscd/pcscd.comm'),
  retrySeconds: z.number().min(0.1).default(5),
  /** A card pulled away mid-read gives up after this long. */
  readTimeoutMs: z.number().int().min(50).default(1000),
  /** Use the ACR122U's own LED and buzzer to confirm a read. */
  acr122Feedback: z.boolean().default(false),
  /**
   * NTAG 424 DNA badges: after the UID, read the badge's signed (SUN) message from its NDEF URL and pass it on
   * in the tap. The prefixes are the text right before the PICCData and SDMMAC in the URL.
   */
  sun: z
    .strictObject({
      enabled: z.boolean().default(true),
      piccPrefix: z.string().min(1).max(64).default('picc_data='),
      macPrefix: z.string().min(1).max(64).default('cmac='),
    })
    .default({ enabled: true, piccPrefix: 'picc_data=', macPrefix: 'cmac=' }),
});
export type PcscConfig = z.output<typeof pcscSchema>;

const mqttUrl = z.string().regex(/^(mqtts?|tls|tcp|wss?):\/\/[^\s]+$/, 'must be a URL like mqtts://gateway.local:8883');

/** The gateway addresses of a terminal's config, in the order they are tried. */
export function gatewayUrls(mqtt: { url: string | string[] }): string[] {
  return typeof mqtt.url === 'string' ? [mqtt.url] : mqtt.url;
}

const idSchema = z.string().transform(refineWith((v, f) => parseTerminalId(v, f)));

export const terminalFileSchema = z.strictObject({
  id: idSchema,
  /** The terminal's secret; CIAO_TERMINAL_SECRET overrides it (keep it out of the file in production). */
  secret: z.string().min(1, 'must not be empty').optional(),
  mqtt: z.strictObject({
    /**
     * The gateway's address, or a list of addresses (gateways of a cluster, or one behind a load balancer and
     * a direct one): the terminal tries the next one whenever one does not answer (docs/terminal.md).
     */
    url: z.union([
      mqttUrl,
      z.array(mqttUrl).min(1, 'must list at least one gateway address').max(16, 'must list at most 16 gateway addresses'),
    ], 'must be a URL like mqtts://gateway.local:8883, or a list of them'),
    /** PEM file of the CA that signed the gateway's certificate (pinned: only this CA is trusted). */
    ca: z.string().min(1).optional(),
    keepaliveSeconds: z.number().int().min(5).max(600).default(30),
  }),
  /**
   * The terminal's certificate identity from pairing: one PEM file (mode 0600) holding its private key and its
   * client certificate, replaced as a whole when the certificate is renewed. With it, the terminal logs in
   * with the certificate (MQTT over TLS) and needs no secret.
   */
  identity: z.strictObject({
    file: z.string().min(1),
    /** Renew when less than this share of the certificate's lifetime is left. */
    renewWhenLeft: z.number().gt(0, 'must be more than 0').lt(1, 'must be less than 1').default(1 / 3),
  }).optional(),
  /** The gateway's HTTPS listener (the one pairing used): certificate renewal and release downloads. */
  gatewayHttps: z.strictObject({
    url: z.string().regex(/^https:\/\/[^\s/]+(:\d+)?\/?$/, 'must be a URL like https://gateway.local:8443'),
    /** PEM of the CA its certificate chains to (pinned, as at pairing). */
    ca: z.string().min(1),
  }).optional(),
  /** Signed updates (docs/terminal.md, "Updates and rollback"). */
  updates: z.strictObject({
    /** The publisher's Ed25519 public key (PEM), as given at pairing: only releases it signed are installed. */
    publicKey: z.string().min(1),
    /** A new version must be online and healthy within this time, or the launcher returns to the previous one. */
    trialSeconds: z.number().int().min(30, 'must be at least 30 s').max(3600, 'must be at most 3600 s').default(300),
    /** The restart into a new version waits for this long without a tap (a worker at the door is never cut off). */
    quietSeconds: z.number().min(0).max(600).default(10),
  }).optional(),
  reader: z.enum(['pcsc', 'simulated'], 'must be "pcsc" or "simulated"'),
  panel: z.enum(['johnny-five', 'console'], 'must be "johnny-five" or "console"'),
  /** SQLite file of the outbox. */
  outbox: z.string().min(1),
  pcsc: pcscSchema.default(pcscSchema.parse({})),
  board: boardSchema.optional(),
  defaults: z
    .strictObject({
      siteId: z.string().min(1).default(UNKNOWN_SITE),
      siteName: z.string().default(''),
      language: z.enum(LANGUAGES, `must be one of ${LANGUAGES.join(', ')}`).default('fr'),
      debounceSeconds: z.number().int().min(0).max(3600).default(60),
      armSeconds: z.number().int().min(1).max(60).default(5),
      buttons: z.array(z.enum(['IN', 'OUT', 'BREAK'])).default(['IN', 'OUT', 'BREAK']),
      maxClockSkewMs: z.number().int().min(0).default(60_000),
      maxShiftHours: z.number().int().min(MAX_SHIFT_HOURS_RANGE.min).max(MAX_SHIFT_HOURS_RANGE.max).default(DEFAULT_MAX_SHIFT_HOURS),
    })
    .default({ siteId: UNKNOWN_SITE, siteName: '', language: 'fr', debounceSeconds: 60, armSeconds: 5, buttons: ['IN', 'OUT', 'BREAK'], maxClockSkewMs: 60_000, maxShiftHours: DEFAULT_MAX_SHIFT_HOURS }),
  choiceTimeoutSeconds: z.number().min(1).max(60).default(8),
  feedbackSeconds: z.number().min(0.5).max(30).default(3),
  /** Taps published and not yet acked, at most. */
  replayWindow: z.number().int().min(1).max(1000).default(64),
  statusIntervalSeconds: z.number().min(1).default(60),
  ackTimeoutSeconds: z.number().min(1).default(15),
  /** Skews below this are noise: taps keep the local time. */
  clockCorrectionThresholdMs: z.number().int().min(0).default(1000),
  /** Reconnect backoff: doubles from the min up to the max, jittered; the max bounds how long a terminal stays
   * away once the gateway is back. */
  reconnectMinMs: z.number().int().min(10).default(500),
  reconnectMaxMs: z.number().int().min(100).default(5_000),
}).superRefine((c, ctx) => {
  if (c.panel === 'johnny-five' && !c.board) ctx.addIssue({ code: 'custom', path: ['board'], message: 'is required when panel is "johnny-five" (serial port and pins)' });
  if (c.updates && !c.gatewayHttps) ctx.addIssue({ code: 'custom', path: ['gatewayHttps'], message: 'is required with updates (where releases are downloaded from)' });
});

export type TerminalFileConfig = z.output<typeof terminalFileSchema>;
export type TerminalFileInput = z.input<typeof terminalFileSchema>;

/**
 * Validates a config object; throws InvalidInputError naming each bad field. A terminal logs in with its
 * certificate (`identity`) or its secret: one of them is required.
 */
export function parseTerminalConfig(input: unknown, env: NodeJS.ProcessEnv = process.env): TerminalFileConfig {
  const parsed = parseWith(terminalFileSchema, input);
  if (!parsed.ok) throw new InvalidInputError(parsed.problems);
  const secret = env[SECRET_ENV] || parsed.value.secret;
  if (!secret && !parsed.value.identity) throw new InvalidInputError([{ field: 'secret', rule: 'required', message: `secret: is required (in the config file or the ${SECRET_ENV} environment variable), unless the terminal has a certificate (identity.file, from ciao terminal pair)` }]);
  return { ...parsed.value, ...(secret ? { secret } : {}) };
}

/** Reads and validates a config file; relative paths in it are relative to the file. */
export function loadTerminalConfig(path: string, env: NodeJS.ProcessEnv = process.env): TerminalFileConfig {
  const config = parseTerminalConfig(readJsonFile(path, 'terminal config'), env);
  const base = dirname(resolve(path));
  const rel = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  return {
    ...config,
    outbox: rel(config.outbox),
    mqtt: { ...config.mqtt, ca: config.mqtt.ca ? rel(config.mqtt.ca) : undefined },
    ...(config.identity ? { identity: { ...config.identity, file: rel(config.identity.file) } } : {}),
    ...(config.gatewayHttps ? { gatewayHttps: { ...config.gatewayHttps, ca: rel(config.gatewayHttps.ca) } } : {}),
    ...(config.updates ? { updates: { ...config.updates, publicKey: rel(config.updates.publicKey) } } : {}),
  };
}
